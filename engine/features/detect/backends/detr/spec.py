"""An RT-DETR / RT-DETRv2 config.json read into a checked, frozen spec (no torch).

Only the fields that shape the network at inference are read, with transformers'
defaults; each is checked for type and bounds so a hostile or mistaken config gives one
line naming the field instead of an allocation of any size. Features we do not run are
refused with ``UnsupportedModelError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from engine.features.detect.backends.detr.hf_folder import ModelFolderError, UnsupportedModelError
from engine.features.detect.backends.detr.resnet_vd import ACTIVATIONS, ResNetSpec

MAX_DIM = 4096
MAX_LAYERS = 64
MAX_QUERIES = 10_000
MAX_CLASSES = 100_000


@dataclass(frozen=True)
class RTDetrSpec:
    """The network's shape (names as in transformers' RTDetrConfig / RTDetrV2Config)."""

    num_labels: int
    backbone: ResNetSpec = field(default_factory=ResNetSpec)
    v2: bool = False
    d_model: int = 256
    encoder_hidden_dim: int = 256
    encoder_in_channels: tuple[int, ...] = (512, 1024, 2048)
    feat_strides: tuple[int, ...] = (8, 16, 32)
    encoder_layers: int = 1
    encoder_ffn_dim: int = 1024
    encoder_attention_heads: int = 8
    encode_proj_layers: tuple[int, ...] = (2,)
    positional_encoding_temperature: float = 10000.0
    encoder_activation_function: str = "gelu"
    activation_function: str = "silu"
    eval_size: Any = None
    normalize_before: bool = False
    hidden_expansion: float = 1.0
    num_queries: int = 300
    decoder_in_channels: tuple[int, ...] = (256, 256, 256)
    decoder_ffn_dim: int = 1024
    num_feature_levels: int = 3
    decoder_n_points: int = 4
    decoder_layers: int = 6
    decoder_attention_heads: int = 8
    decoder_activation_function: str = "relu"
    decoder_n_levels: int | None = None
    decoder_offset_scale: float = 0.5
    num_denoising: int = 100
    learn_initial_query: bool = False
    anchor_image_size: Any = None
    layer_norm_eps: float = 1e-5
    batch_norm_eps: float = 1e-5

    @property
    def decoder_levels(self) -> int:
        return self.decoder_n_levels or self.num_feature_levels

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """(width, height) the model was fixed to (anchor_image_size / eval_size), or None."""
        size = self.anchor_image_size or self.eval_size
        if size is None:
            return None
        h, w = (size, size) if isinstance(size, int) else size
        return int(w), int(h)


def _fail(key: str, value: Any, rule: str) -> ModelFolderError:
    return ModelFolderError(f"config.json: {key} = {str(value)[:60]} is not {rule}",
                            "give the config.json that was saved with the weights")


def _int(c: Mapping[str, Any], key: str, default: int, low: int = 1, high: int = MAX_DIM) -> int:
    value = c.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(key, value, f"a whole number from {low} to {high}")
    return value


def _float(c: Mapping[str, Any], key: str, default: float, low: float = 0.0, high: float = 1e9) -> float:
    value = c.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _fail(key, value, f"a number from {low} to {high}")
    return float(value)


def _ints(c: Mapping[str, Any], key: str, default: tuple[int, ...], low: int = 0, high: int = MAX_DIM * 4) -> tuple[int, ...]:
    value = c.get(key, default)
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 16 or any(
            isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high for v in value):
        raise _fail(key, value, f"a list of 1 to 16 whole numbers from {low} to {high}")
    return tuple(value)


def _act(c: Mapping[str, Any], key: str, default: str) -> str:
    value = c.get(key, default)
    if value not in ACTIVATIONS:
        raise UnsupportedModelError(f"config.json: {key} '{str(value)[:30]}' is not supported",
                                    f"supported activations: {', '.join(ACTIVATIONS)}")
    return value


def _bool(c: Mapping[str, Any], key: str, default: bool) -> bool:
    value = c.get(key, default)
    if not isinstance(value, bool):
        raise _fail(key, value, "true or false")
    return value


def _size(c: Mapping[str, Any], key: str) -> Any:
    value = c.get(key)
    if value is None:
        return None
    sides = [value] * 2 if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(sides, (list, tuple)) or len(sides) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int) or not 32 <= v <= 4096 or v % 32 for v in sides):
        raise _fail(key, value, "null or a size (multiples of 32 up to 4096)")
    return tuple(sides)


def _backbone(config: Mapping[str, Any]) -> ResNetSpec:
    b = config.get("backbone_config") or {}
    if not isinstance(b, dict):
        raise _fail("backbone_config", b, "an object")
    kind = b.get("model_type", "rt_detr_resnet")
    if kind != "rt_detr_resnet" or config.get("use_timm_backbone") or config.get("backbone"):
        raise UnsupportedModelError(f"config.json: backbone '{str(kind)[:40]}' is not supported",
                                    "RT-DETR folders with the ResNet-vd backbone (rt_detr_resnet) are")
    layer_type = b.get("layer_type", "bottleneck")
    if layer_type not in ("basic", "bottleneck"):
        raise _fail("backbone_config.layer_type", layer_type, "basic or bottleneck")
    hidden = _ints(b, "hidden_sizes", (256, 512, 1024, 2048), 1)
    depths = _ints(b, "depths", (3, 4, 6, 3), 1, MAX_LAYERS)
    if len(depths) != len(hidden):
        raise _fail("backbone_config.depths", list(depths), f"{len(hidden)} numbers, one per hidden size")
    stages = ["stem"] + [f"stage{i + 1}" for i in range(len(hidden))]
    if "out_indices" in b and b["out_indices"] is not None:
        out = _ints(b, "out_indices", (2, 3, 4), 0, len(hidden))
    else:
        names = b.get("out_features") or ["stage2", "stage3", "stage4"]
        if not isinstance(names, list) or any(n not in stages for n in names):
            raise _fail("backbone_config.out_features", names, f"a list of {', '.join(stages)}")
        out = tuple(stages.index(n) for n in names)
    return ResNetSpec(embedding_size=_int(b, "embedding_size", 64, 2), hidden_sizes=hidden, depths=depths,
                      layer_type=layer_type, hidden_act=_act(b, "hidden_act", "relu"),
                      downsample_in_first_stage=_bool(b, "downsample_in_first_stage", False),
                      downsample_in_bottleneck=_bool(b, "downsample_in_bottleneck", False),
                      out_indices=tuple(sorted(out)), num_channels=_int(b, "num_channels", 3, 3, 3))


def spec_from_config(config: Mapping[str, Any], num_labels: int) -> RTDetrSpec:
    """The spec of an "rt_detr" or "rt_detr_v2" config; raises ModelFolderError /
    UnsupportedModelError naming the field."""
    c = config
    v2 = c.get("model_type") == "rt_detr_v2"
    if v2 and c.get("decoder_method", "default") != "default":
        raise UnsupportedModelError(f"config.json: decoder_method '{str(c.get('decoder_method'))[:20]}' "
                                    "is not supported", "RT-DETRv2 folders with decoder_method 'default' are")
    backbone = _backbone(c)
    spec = RTDetrSpec(
        num_labels=num_labels, backbone=backbone, v2=v2,
        d_model=_int(c, "d_model", 256, 4), encoder_hidden_dim=_int(c, "encoder_hidden_dim", 256, 4),
        encoder_in_channels=_ints(c, "encoder_in_channels", (512, 1024, 2048), 1),
        feat_strides=_ints(c, "feat_strides", (8, 16, 32), 1, 1024),
        encoder_layers=_int(c, "encoder_layers", 1, 0, MAX_LAYERS),
        encoder_ffn_dim=_int(c, "encoder_ffn_dim", 1024, 1, MAX_DIM * 4),
        encoder_attention_heads=_int(c, "encoder_attention_heads", 8, 1, 256),
        encode_proj_layers=_ints(c, "encode_proj_layers", (2,), 0, 15),
        positional_encoding_temperature=_float(c, "positional_encoding_temperature", 10000.0, 1.0),
        encoder_activation_function=_act(c, "encoder_activation_function", "gelu"),
        activation_function=_act(c, "activation_function", "silu"),
        eval_size=_size(c, "eval_size"), normalize_before=_bool(c, "normalize_before", False),
        hidden_expansion=_float(c, "hidden_expansion", 1.0, 0.01, 16.0),
        num_queries=_int(c, "num_queries", 300, 1, MAX_QUERIES),
        decoder_in_channels=_ints(c, "decoder_in_channels", (256, 256, 256), 1),
        decoder_ffn_dim=_int(c, "decoder_ffn_dim", 1024, 1, MAX_DIM * 4),
        num_feature_levels=_int(c, "num_feature_levels", 3, 1, 8),
        decoder_n_points=_int(c, "decoder_n_points", 4, 1, 64),
        decoder_layers=_int(c, "decoder_layers", 6, 1, MAX_LAYERS),
        decoder_attention_heads=_int(c, "decoder_attention_heads", 8, 1, 256),
        decoder_activation_function=_act(c, "decoder_activation_function", "relu"),
        decoder_n_levels=_int(c, "decoder_n_levels", 3, 1, 8) if v2 else None,
        decoder_offset_scale=_float(c, "decoder_offset_scale", 0.5, 0.0, 100.0) if v2 else 0.5,
        num_denoising=_int(c, "num_denoising", 100, 0, 100_000),
        learn_initial_query=_bool(c, "learn_initial_query", False),
        anchor_image_size=_size(c, "anchor_image_size"),
        layer_norm_eps=_float(c, "layer_norm_eps", 1e-5, 0.0, 1.0), batch_norm_eps=_float(c, "batch_norm_eps", 1e-5, 0.0, 1.0),
    )
    _check_consistent(spec)
    return spec


def _check_consistent(s: RTDetrSpec) -> None:
    levels = len(s.backbone.out_indices)
    problems = [
        (len(s.encoder_in_channels) != levels, "encoder_in_channels", f"one entry per backbone output ({levels})"),
        (s.encoder_hidden_dim % s.encoder_attention_heads != 0 or s.encoder_hidden_dim % 4 != 0,
         "encoder_hidden_dim", "divisible by 4 and by encoder_attention_heads"),
        (s.d_model % s.decoder_attention_heads != 0, "d_model", "divisible by decoder_attention_heads"),
        (any(i >= levels for i in s.encode_proj_layers), "encode_proj_layers", f"levels below {levels}"),
        (len(s.decoder_in_channels) != levels or s.num_feature_levels < levels,
         "decoder_in_channels", f"one entry per encoder output ({levels}), num_feature_levels at least that"),
        (s.decoder_levels != s.num_feature_levels, "decoder_n_levels", "equal to num_feature_levels"),
        (any(c != s.encoder_hidden_dim for c in s.decoder_in_channels), "decoder_in_channels",
         "all equal to encoder_hidden_dim"),
        (s.num_queries > 0 and s.num_labels > MAX_CLASSES, "id2label", f"at most {MAX_CLASSES} classes"),
    ]
    for bad, key, rule in problems:
        if bad:
            raise _fail(key, getattr(s, key, "?"), rule)
