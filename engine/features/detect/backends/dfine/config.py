"""D-FINE hyper-parameters read from a transformers ``config.json`` (model_type "d_fine").

Only what inference needs is read; training-only keys (losses, matcher, denoising noise)
are ignored. A missing key takes the default that transformers' ``DFineConfig`` /
``HGNetV2Config`` give it, because ``save_pretrained`` leaves defaults out of some files.
A present key of the wrong type is refused naming the key (``BadFormat``); a value we do
not implement (another activation, the "discrete" sampling method) is refused as
``Unsupported``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.core.errors import BadFormat, Unsupported

#: Activations by the names transformers' configs use; "gelu" is the exact (erf) form.
ACTIVATIONS = ("relu", "silu", "swish", "gelu")


@dataclass(frozen=True)
class BackboneSpec:
    """HGNetV2: a stem, then stages of blocks; ``out_stages`` are the 1-based stages whose
    outputs feed the encoder (D-FINE N: (3, 4), S and up: (2, 3, 4))."""

    stem_channels: tuple[int, int, int]
    stem_strides: tuple[int, ...]
    stage_in: tuple[int, ...]
    stage_mid: tuple[int, ...]
    stage_out: tuple[int, ...]
    stage_blocks: tuple[int, ...]
    stage_downsample: tuple[bool, ...]
    stage_strides: tuple[int, ...]
    stage_light: tuple[bool, ...]
    stage_kernel: tuple[int, ...]
    stage_layers: tuple[int, ...]
    use_lab: bool
    act: str
    out_stages: tuple[int, ...]

    @property
    def out_channels(self) -> tuple[int, ...]:
        return tuple(self.stage_out[i - 1] for i in self.out_stages)


@dataclass(frozen=True)
class DFineSpec:
    """Everything that fixes D-FINE's module tree and its inference arithmetic."""

    backbone: BackboneSpec
    num_labels: int
    freeze_backbone_bn: bool
    # hybrid encoder
    encoder_hidden_dim: int
    encoder_in_channels: tuple[int, ...]
    feat_strides: tuple[int, ...]
    encoder_layers: int
    encoder_ffn_dim: int
    encoder_heads: int
    encode_proj_layers: tuple[int, ...]
    pe_temperature: float
    encoder_act: str
    act: str
    eval_size: Any
    normalize_before: bool
    hidden_expansion: float
    depth_mult: float
    # decoder
    d_model: int
    num_queries: int
    decoder_in_channels: tuple[int, ...]
    decoder_ffn_dim: int
    num_levels: int
    n_points: tuple[int, ...]
    decoder_layers: int
    decoder_heads: int
    decoder_act: str
    num_denoising: int
    learn_initial_query: bool
    eval_idx: int
    layer_scale: float
    max_num_bins: int
    reg_scale: float
    top_prob_values: int
    lqe_hidden_dim: int
    lqe_layers: int
    offset_scale: float
    up: float
    layer_norm_eps: float
    batch_norm_eps: float

    @property
    def eval_layer(self) -> int:
        """0-based index of the decoder layer whose output is the prediction."""
        return self.eval_idx if self.eval_idx >= 0 else self.decoder_layers + self.eval_idx


def _get(cfg: dict, key: str, default: Any, kind: type | tuple[type, ...], where: str) -> Any:
    value = cfg.get(key, default)
    if value is None and default is None:
        return None
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float, (int, float)))
    if not ok:
        raise BadFormat(f"{where}: '{key}' is {value!r}",
                        "this is not a D-FINE config.json as transformers writes it")
    return value


def _ints(cfg: dict, key: str, default: tuple, where: str, *, kind: type = int) -> tuple:
    value = cfg.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool) and kind is int:
        return (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, kind) for v in value):
        raise BadFormat(f"{where}: '{key}' is {value!r}", f"expected a list of {kind.__name__}")
    return tuple(value)


def _act(name: Any, key: str, where: str) -> str:
    if name not in ACTIVATIONS:
        raise Unsupported(f"{where}: activation '{key}' = {name!r}",
                          f"supported: {', '.join(ACTIVATIONS)}")
    return "silu" if name == "swish" else str(name)


def _backbone(cfg: dict, where: str) -> BackboneSpec:
    bb = cfg.get("backbone_config") or {}
    if not isinstance(bb, dict):
        raise BadFormat(f"{where}: 'backbone_config' is not an object", "expected the HGNetV2 settings")
    if bb.get("model_type", "hgnet_v2") != "hgnet_v2":
        raise Unsupported(f"{where}: backbone '{bb.get('model_type')}'", "only HGNetV2 backbones are supported")
    w = f"{where} (backbone_config)"
    names = ["stem", "stage1", "stage2", "stage3", "stage4"]
    if bb.get("out_indices") is not None:
        out = _ints(bb, "out_indices", (), w)
    elif bb.get("out_features") is not None:
        feats = bb["out_features"]
        if not isinstance(feats, list) or any(f not in names for f in feats):
            raise BadFormat(f"{w}: 'out_features' is {feats!r}", "expected names like 'stage2'")
        out = tuple(names.index(f) for f in feats)
    else:
        out = (2, 3, 4)
    spec = BackboneSpec(
        stem_channels=_ints(bb, "stem_channels", (3, 32, 48), w),
        stem_strides=_ints(bb, "stem_strides", (2, 1, 1, 2, 1), w),
        stage_in=_ints(bb, "stage_in_channels", (48, 128, 512, 1024), w),
        stage_mid=_ints(bb, "stage_mid_channels", (48, 96, 192, 384), w),
        stage_out=_ints(bb, "stage_out_channels", (128, 512, 1024, 2048), w),
        stage_blocks=_ints(bb, "stage_num_blocks", (1, 1, 3, 1), w),
        stage_downsample=_ints(bb, "stage_downsample", (False, True, True, True), w, kind=bool),
        stage_strides=_ints(bb, "stage_downsample_strides", (2, 2, 2, 2), w),
        stage_light=_ints(bb, "stage_light_block", (False, False, True, True), w, kind=bool),
        stage_kernel=_ints(bb, "stage_kernel_size", (3, 3, 5, 5), w),
        stage_layers=_ints(bb, "stage_numb_of_layers", (6, 6, 6, 6), w),
        use_lab=_get(bb, "use_learnable_affine_block", False, bool, w),
        act=_act(bb.get("hidden_act", "relu"), "hidden_act", w),
        out_stages=out,
    )
    n = len(spec.stage_in)
    lists = (spec.stage_mid, spec.stage_out, spec.stage_blocks, spec.stage_downsample, spec.stage_strides,
             spec.stage_light, spec.stage_kernel, spec.stage_layers)
    if n == 0 or any(len(v) != n for v in lists) or len(spec.stem_channels) != 3 or len(spec.stem_strides) != 5:
        raise BadFormat(f"{w}: the stage lists differ in length", "every stage_* list needs one value per stage")
    if any(not 1 <= i <= n for i in out):
        raise BadFormat(f"{w}: out_indices {list(out)}", f"stages are numbered 1..{n}")
    return spec


def parse_config(cfg: dict, where: str = "config.json") -> DFineSpec:
    """Read a D-FINE ``config.json`` dict into a ``DFineSpec``; ``where`` names the file in
    messages. Raises ``BadFormat`` / ``Unsupported`` (both ``UserError``)."""
    if not isinstance(cfg, dict):
        raise BadFormat(f"{where}: not a JSON object", "expected a transformers config.json")
    backbone = _backbone(cfg, where)
    labels = cfg.get("id2label")
    num_labels = len(labels) if isinstance(labels, dict) and labels else _get(cfg, "num_labels", 80, int, where)
    method = cfg.get("decoder_method", "default")
    if method != "default":
        raise Unsupported(f"{where}: decoder_method '{method}'", "only the default (bilinear) sampling is supported")
    num_levels = _get(cfg, "num_feature_levels", 3, int, where)
    points = cfg.get("decoder_n_points", 4)
    n_points = (points,) * num_levels if isinstance(points, int) else _ints(cfg, "decoder_n_points", (), where)
    spec = DFineSpec(
        backbone=backbone,
        num_labels=num_labels,
        freeze_backbone_bn=_get(cfg, "freeze_backbone_batch_norms", True, bool, where),
        encoder_hidden_dim=_get(cfg, "encoder_hidden_dim", 256, int, where),
        encoder_in_channels=_ints(cfg, "encoder_in_channels", (512, 1024, 2048), where),
        feat_strides=_ints(cfg, "feat_strides", (8, 16, 32), where),
        encoder_layers=_get(cfg, "encoder_layers", 1, int, where),
        encoder_ffn_dim=_get(cfg, "encoder_ffn_dim", 1024, int, where),
        encoder_heads=_get(cfg, "encoder_attention_heads", 8, int, where),
        encode_proj_layers=_ints(cfg, "encode_proj_layers", (2,), where),
        pe_temperature=float(_get(cfg, "positional_encoding_temperature", 10000, (int, float), where)),
        encoder_act=_act(cfg.get("encoder_activation_function", "gelu"), "encoder_activation_function", where),
        act=_act(cfg.get("activation_function", "silu"), "activation_function", where),
        eval_size=cfg.get("eval_size"),
        normalize_before=_get(cfg, "normalize_before", False, bool, where),
        hidden_expansion=float(_get(cfg, "hidden_expansion", 1.0, (int, float), where)),
        depth_mult=float(_get(cfg, "depth_mult", 1.0, (int, float), where)),
        d_model=_get(cfg, "d_model", 256, int, where),
        num_queries=_get(cfg, "num_queries", 300, int, where),
        decoder_in_channels=_ints(cfg, "decoder_in_channels", (256, 256, 256), where),
        decoder_ffn_dim=_get(cfg, "decoder_ffn_dim", 1024, int, where),
        num_levels=num_levels,
        n_points=n_points,
        decoder_layers=_get(cfg, "decoder_layers", 6, int, where),
        decoder_heads=_get(cfg, "decoder_attention_heads", 8, int, where),
        decoder_act=_act(cfg.get("decoder_activation_function", "relu"), "decoder_activation_function", where),
        num_denoising=_get(cfg, "num_denoising", 100, int, where),
        learn_initial_query=_get(cfg, "learn_initial_query", False, bool, where),
        eval_idx=_get(cfg, "eval_idx", -1, int, where),
        layer_scale=float(_get(cfg, "layer_scale", 1.0, (int, float), where)),
        max_num_bins=_get(cfg, "max_num_bins", 32, int, where),
        reg_scale=float(_get(cfg, "reg_scale", 4.0, (int, float), where)),
        top_prob_values=_get(cfg, "top_prob_values", 4, int, where),
        lqe_hidden_dim=_get(cfg, "lqe_hidden_dim", 64, int, where),
        lqe_layers=_get(cfg, "lqe_layers", 2, int, where),
        offset_scale=float(_get(cfg, "decoder_offset_scale", 0.5, (int, float), where)),
        up=float(_get(cfg, "up", 0.5, (int, float), where)),
        layer_norm_eps=float(_get(cfg, "layer_norm_eps", 1e-5, (int, float), where)),
        batch_norm_eps=float(_get(cfg, "batch_norm_eps", 1e-5, (int, float), where)),
    )
    _check(spec, where)
    return spec


def _check(s: DFineSpec, where: str) -> None:
    problems = []
    if len(s.encoder_in_channels) != len(s.backbone.out_stages):
        problems.append(f"encoder_in_channels has {len(s.encoder_in_channels)} entries for "
                        f"{len(s.backbone.out_stages)} backbone outputs")
    if len(s.feat_strides) != len(s.encoder_in_channels):
        problems.append("feat_strides and encoder_in_channels differ in length")
    if len(s.decoder_in_channels) != len(s.encoder_in_channels):
        problems.append("decoder_in_channels and encoder_in_channels differ in length")
    if s.num_levels < len(s.decoder_in_channels):
        problems.append("num_feature_levels is below the number of encoder outputs")
    if len(s.n_points) != s.num_levels:
        problems.append("decoder_n_points needs one value per feature level")
    if any(not 0 <= i < len(s.encoder_in_channels) for i in s.encode_proj_layers):
        problems.append("encode_proj_layers names a level that does not exist")
    if s.d_model % s.decoder_heads or s.encoder_hidden_dim % s.encoder_heads or s.encoder_hidden_dim % 4:
        problems.append("a hidden size is not divisible by its number of attention heads (or by 4)")
    if not 0 <= s.eval_layer < s.decoder_layers:
        problems.append(f"eval_idx {s.eval_idx} is outside the {s.decoder_layers} decoder layers")
    if s.max_num_bins < 4 or s.max_num_bins % 2 or s.top_prob_values > s.max_num_bins + 1:
        problems.append("max_num_bins must be even and >= 4, top_prob_values <= max_num_bins + 1")
    if s.num_queries < 1 or s.num_labels < 1 or s.decoder_layers < 1:
        problems.append("num_queries, num_labels and decoder_layers must be positive")
    if problems:
        raise BadFormat(f"{where}: inconsistent D-FINE settings ({'; '.join(problems)})",
                        "the file does not describe a D-FINE model we can build")
