"""Catalog entries of the DETR family (RT-DETR, RT-DETRv2): two files each, the model
hub's ``config.json`` and ``model.safetensors`` (transformers layout), installed side by
side in the entry's cache folder and loaded as a model folder.

The released models were trained and exported at 640x640 (the hub configs may fix their
anchors to that size), so the entries declare a fixed input; a folder of your own gets
an adjustable one when its config does not fix it (``loading.capabilities_for``).
Class names: COCO's 80 official category names, the order of the hub's ``id2label``
(which is what the built detector reads).

Sizes: the hub lists rtdetr_r18vd's ``model.safetensors`` as 80.9 MB (decimal, rounded);
no page gives rtdetr_v2_r18vd's, so its size follows from its float32 state dict (20.2M
values, the same 80.9 MB within rounding). Exact byte counts are not published:
``ModelFile.size`` stays None and ``meta["approx_size_mb"]`` (MiB, as the model manager
prints sizes) is shown with "≈" until the files are installed.
"""

from __future__ import annotations

from pathlib import Path

from engine.features.detect.backends.detr.capabilities import DETR_TRANSFORMS, detr_capabilities
from engine.features.detect.names import coco91_names
from engine.models.catalog import CatalogEntry, ModelFile

_LICENSE = "Apache-2.0 (RT-DETR, lyuwenyu/RT-DETR; weights converted by the transformers team); trained on COCO 2017"
_FAMILIES = ("rt_detr", "rt_detr_v2")
_COCO80 = tuple(n for n in coco91_names() if n not in ("__background__", "N/A"))


def _build(entry: CatalogEntry, cache=None, device=None, options=None):
    from engine.features.detect.backends.detr import hf_folder
    from engine.features.detect.backends.detr.loading import rtdetr_from_folder
    from engine.features.detect.options import DetectorOptions
    from engine.models.cache import default_cache

    options = options or DetectorOptions()
    options.check(entry.capabilities, entry.name)
    cache = cache or default_cache()
    for f in entry.files:
        cache.require(entry, f.filename)
    folder = cache.path(entry, "config.json").parent
    config = hf_folder.read_config(folder, _FAMILIES)
    return rtdetr_from_folder(folder, config, hf_folder.read_state(folder), options=options, device=device,
                              name=entry.name)


def _validate(path: Path) -> None:
    """A config.json must be an RT-DETR one; a safetensors file must hold RT-DETR's heads
    (its header is read, not its tensors). Raises a ValueError (ModelFolderError)."""
    import json

    from engine.features.detect.backends.detr import hf_folder

    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:1] == b"{":
        try:
            config = json.loads(Path(path).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise hf_folder.ModelFolderError(f"{path}: not a valid config.json ({exc})") from None
        if not isinstance(config, dict) or config.get("model_type") not in _FAMILIES:
            raise hf_folder.ModelFolderError(f"{path}: not the config.json of an RT-DETR model")
        hf_folder.class_names(config, str(path))
        return
    keys = hf_folder.safetensors_keys(path)
    if "model.enc_score_head.weight" not in keys:
        raise hf_folder.ModelFolderError(f"{path}: not the weights of an RT-DETR model (no enc_score_head)")


def _entry(name: str, title: str, repo: str, approx_mib: float, description: str) -> CatalogEntry:
    base = f"https://huggingface.co/{repo}/resolve/main/"
    return CatalogEntry(
        name=name, task="detect", title=title,
        files=(ModelFile("config.json", base + "config.json"), ModelFile("model.safetensors", base + "model.safetensors")),
        license=_LICENSE, source=f"https://huggingface.co/{repo}", description=description,
        transforms=DETR_TRANSFORMS, capabilities=detr_capabilities((640, 640), adjustable=False),
        meta={"categories": _COCO80, "family": "rt_detr", "approx_size_mb": approx_mib},
        builder=_build, validator=_validate)


ENTRIES: list[CatalogEntry] = [
    _entry("rtdetr-r18", "RT-DETR R18 (COCO)", "PekingU/rtdetr_r18vd", 77.2,
           "Real-time DETR: ResNet-18-vd, hybrid encoder, 300 queries; set prediction, no NMS. "
           "46.5 COCO AP, about 60 GFLOPs at 640."),
    _entry("rtdetrv2-s", "RT-DETRv2 S (COCO)", "PekingU/rtdetr_v2_r18vd", 77.2,
           "RT-DETR v2 small (ResNet-18-vd): the same network with a tuned decoder sampling; "
           "48.1 COCO AP, about 60 GFLOPs at 640."),
]
