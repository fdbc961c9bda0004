"""Catalog entries of D-FINE (COCO, Apache-2.0), as transformers-layout files on the hub.

Each entry is two files, ``config.json`` and ``model.safetensors``, downloaded into the
entry's cache folder; the builder reads that folder like any model folder
(``hf_folder``) and runs our own network (``model.DFine``). AP and GFLOPs are the D-FINE
paper's (COCO val2017, 640x640).

Sizes: the model hub lists each ``model.safetensors`` rounded (15.3 MB and 41.5 MB,
decimal megabytes); exact byte counts are not published, so ``ModelFile.size`` stays None
and ``meta["approx_size_mb"]`` (MiB, as the model manager prints sizes, config.json
included) is shown with "≈" until the files are installed.

DEIM (a training recipe for the same network) is not listed, for two reasons. Its N/S
weights are published only as the original repository's ``.pth`` (Google Drive links,
``decoder.*``/``backbone.*`` keys), not as transformers folders; transformers (5.x) has
no "deim" model type, only "d_fine" and "deimv2" (DEIMv2, another architecture). And
even renamed key for key into D-FINE's layout they would not be D-FINE: DEIM's configs
set ``activation: silu`` and ``mlp_act: silu``, so the decoder FFN, the LQE MLP and the
query-position, encoder-box, pre-box and per-layer box MLPs use SiLU, where a "d_fine"
config can only change the decoder FFN (``decoder_activation_function``) and keeps ReLU
in the others (``DFineMLP``'s default, ``DFineMLPPredictionHead``): such a folder would
load without complaint and compute wrong boxes.
"""

from __future__ import annotations

from pathlib import Path

from engine.features.detect.names import bundled_path, read_names
from engine.models.catalog import CatalogEntry, ModelFile

_LICENSE = "Apache-2.0"
_SOURCE = "https://github.com/Peterande/D-FINE"
_HUB = "https://huggingface.co/ustc-community/{}/resolve/main/{}"
_KEYS = ("model.decoder.class_embed.0.weight", "model.decoder.bbox_embed.0.layers.0.weight",
         "model.backbone.model.embedder.stem1.convolution.weight", "model.enc_score_head.weight")


def _build(entry: CatalogEntry, cache=None, device=None, options=None):  # noqa: ANN001
    from engine.features.detect.backends.detr import hf_folder
    from engine.features.detect.backends.dfine.loading import dfine_from_folder
    from engine.models.cache import default_cache

    cache = cache or default_cache()
    folder = cache.require(entry, hf_folder.WEIGHTS_NAME).parent
    cache.require(entry, hf_folder.CONFIG_NAME)
    config = hf_folder.read_config(folder, ("d_fine",))
    state = hf_folder.read_state(folder)
    return dfine_from_folder(folder, config, state, options=options, device=device, name=entry.name,
                             capabilities=entry.capabilities)


def _validate(path: Path) -> None:
    """Refuse a file that cannot be a D-FINE config.json / model.safetensors (ValueError
    with the reason); ``path`` may be a temporary name, so the kind is read from the bytes
    (a safetensors header is read, not its tensors)."""
    import json

    from engine.features.detect.backends.detr import hf_folder

    head = path.read_bytes()[:1] if path.stat().st_size else b""
    if head == b"{":
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path.name}: not valid JSON ({exc})") from None
        if not isinstance(config, dict) or config.get("model_type") != "d_fine":
            found = config.get("model_type") if isinstance(config, dict) else None
            raise ValueError(f"{path.name}: model_type is {found!r}, not 'd_fine'")
        return
    keys = set(hf_folder.safetensors_keys(path))
    missing = [k for k in _KEYS if k not in keys]
    if missing:
        raise ValueError(f"{path.name}: not D-FINE weights in the transformers layout (no '{missing[0]}')")


def _entry(name: str, repo: str, title: str, ap: float, gflops: float, params_m: float, approx_mib: float,
           description: str) -> CatalogEntry:
    from engine.features.detect.backends.detr.capabilities import DETR_TRANSFORMS, detr_capabilities

    return CatalogEntry(
        name=name, task="detect", title=title,
        files=(ModelFile("model.safetensors", _HUB.format(repo, "model.safetensors")),
               ModelFile("config.json", _HUB.format(repo, "config.json"))),
        license=_LICENSE, source=f"https://huggingface.co/ustc-community/{repo}", description=description,
        # trained and measured at 640x640 (the hub config may fix the anchors to it); a
        # folder of your own gets an adjustable size when its config does not fix it
        transforms=DETR_TRANSFORMS, capabilities=detr_capabilities((640, 640), adjustable=False),
        meta={"categories": read_names(bundled_path("coco.names"), expected=80),
              "accuracy": {"COCO AP": ap}, "gflops": gflops, "num_params": int(params_m * 1e6),
              "family": "d_fine", "code": _SOURCE, "approx_size_mb": approx_mib},
        builder=_build, validator=_validate,
    )


ENTRIES: list[CatalogEntry] = [
    _entry("dfine-n", "dfine-nano-coco", "D-FINE N (COCO)", 42.8, 7.0, 4.0, 14.6,
           "Transformer detector (DETR family, no NMS): HGNetV2-B0, 2 feature levels, 3 decoder layers "
           "refining box-edge distributions. 42.8 COCO AP for 7 GFLOPs. 80 COCO classes."),
    _entry("dfine-s", "dfine-small-coco", "D-FINE S (COCO)", 48.5, 25.0, 10.0, 39.6,
           "D-FINE with HGNetV2-B0 at 3 levels and 3 decoder layers: 48.5 COCO AP for 25 GFLOPs. "
           "80 COCO classes, set prediction (no NMS)."),
]
