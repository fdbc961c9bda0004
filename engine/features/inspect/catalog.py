"""The ImageNet classifiers of the Feature maps tab, each described once, as a catalog entry.

An entry holds everything the app knows about a model: its file (torchvision's published
checkpoint), license, ``transforms`` (the evaluation preprocessing, short side and
interpolation included, resolved by ``engine.models.transforms``), ``meta`` (categories,
num_params, accuracy, and the architecture's torchvision builder name and arguments) and
``builder``, which makes the network. The zoo, the tab, ``models list`` and the Teach tab
(which reuses ``resnet18`` and the MobileNets by name) all read these entries; nothing
else restates them.

torchvision names each file ``<arch>-<first 8 hex digits of its SHA-256>.pth``; that
prefix is ``meta["sha256_prefix"]`` (the full digest is recorded by the weights cache
on first download). ``meta["approx_size_mb"]`` is torchvision's published file size,
shown before downloading; exact byte counts are not published, so ``size`` stays None.

Licenses: torchvision's code and the weights it trained are BSD-3-Clause; ported
weights keep their origin's terms (named per entry). All were trained on ImageNet-1k,
whose terms restrict use to non-commercial research and education.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from engine.models.catalog import CatalogEntry, ModelFile, Transforms
from engine.models.imagenet import IMAGENET_MEAN, IMAGENET_STD, imagenet_categories

log = logging.getLogger(__name__)

_BASE = "https://download.pytorch.org/models"
_IMAGENET_NOTE = " Trained on ImageNet-1k (1000 classes); the dataset's terms (non-commercial research) may apply to the weights."
_TORCHVISION_SOURCE = "https://github.com/pytorch/vision (torchvision.models)"
IMAGENET_CATEGORIES = imagenet_categories()

# name, title, file, approx MB, top-1 %, top-5 %, params, license, crop, resize, interpolation,
# builder arguments (to match the published checkpoint's layout), note
_WEIGHTS: list[tuple[Any, ...]] = [
    ("alexnet", "AlexNet (ImageNet)", "alexnet-owt-7be5be79.pth", 233.1, 56.522, 79.066, 61100840, "BSD-3-Clause", 224, 256, "bilinear", {}, "Trained by torchvision."),
    ("vgg16", "VGG-16 (ImageNet)", "vgg16-397923af.pth", 527.8, 71.592, 90.382, 138357544, "BSD-3-Clause", 224, 256, "bilinear", {}, "Trained by torchvision."),
    ("resnet18", "ResNet-18 (ImageNet)", "resnet18-f37072fd.pth", 44.7, 69.758, 89.078, 11689512, "BSD-3-Clause", 224, 256, "bilinear", {}, "Trained by torchvision."),
    ("resnet50", "ResNet-50 (ImageNet, V2 recipe)", "resnet50-11ad3fa6.pth", 97.8, 80.858, 95.434, 25557032, "BSD-3-Clause", 224, 232, "bilinear", {}, "Trained by torchvision (new recipe)."),
    # Without its training-only auxiliary heads, as torchvision's pretrained builder leaves it.
    ("googlenet", "GoogLeNet / Inception v1 (ImageNet)", "googlenet-1378be20.pth", 49.7, 69.778, 89.53, 6624904, "Apache-2.0", 224, 256, "bilinear",
     {"aux_logits": False, "init_weights": True, "transform_input": True}, "Ported from the original paper's TensorFlow weights."),
    ("inception_v3", "Inception v3 (ImageNet)", "inception_v3_google-0cc3c7bd.pth", 103.9, 77.294, 93.45, 27161264, "Apache-2.0", 299, 342, "bilinear",
     {"init_weights": True, "transform_input": True}, "Ported from Google's TensorFlow weights."),
    ("densenet121", "DenseNet-121 (ImageNet)", "densenet121-a639ec97.pth", 30.8, 74.434, 91.972, 7978856, "BSD-3-Clause", 224, 256, "bilinear", {}, "Ported from the authors' LuaTorch weights."),
    ("mobilenet_v2", "MobileNet v2 (ImageNet, V2 recipe)", "mobilenet_v2-7ebf99e0.pth", 13.6, 72.154, 90.822, 3504872, "BSD-3-Clause", 224, 232, "bilinear", {}, "Trained by torchvision (new recipe)."),
    ("mobilenet_v3_large", "MobileNet v3 Large (ImageNet, V2 recipe)", "mobilenet_v3_large-5c1a4163.pth", 21.1, 75.274, 92.566, 5483032, "BSD-3-Clause", 224, 232, "bilinear", {}, "Trained by torchvision (new recipe)."),
    ("efficientnet_b0", "EfficientNet-B0 (ImageNet)", "efficientnet_b0_rwightman-7f5810bc.pth", 20.5, 77.692, 93.532, 5288548, "Apache-2.0", 224, 256, "bicubic", {}, "Ported from the paper's weights by Ross Wightman (timm)."),
]


def sha256_prefix(filename: str) -> str | None:
    """The hash prefix torchvision puts in a checkpoint's file name, or None."""
    tail = Path(filename).stem.rsplit("-", 1)[-1]
    return tail.lower() if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail.lower()) else None


def architecture(entry: CatalogEntry):
    """The entry's network with random initial weights (float32, CPU, train mode)."""
    import torchvision.models as tvm

    return tvm.get_model_builder(entry.meta["architecture"])(weights=None, **dict(entry.meta.get("builder_kwargs", {})))


def state_dict_fixups(entry: CatalogEntry):
    """(rename function or None, ignored key prefixes) that fit the published checkpoint to the network."""
    from engine.models.weights_io import rename_densenet_keys

    name = entry.meta["architecture"]
    rename = rename_densenet_keys if name.startswith("densenet") else None
    ignore = ("aux1.", "aux2.") if name == "googlenet" else ()
    return rename, ignore


def build_imagenet(entry: CatalogEntry, cache: Any = None, device: Any = None, *, weights: str | Path | None = None):
    """The network with trained weights, in eval mode on ``device`` (default CPU).

    weights: a state-dict file to load instead of the installed catalog file. Raises
    WeightsMissingError (how to install) or WeightsMismatchError (the first bad key).
    """
    from engine.models.weights_io import read_fitting_state

    if weights is None:
        if cache is None:
            from engine.models.cache import default_cache

            cache = default_cache()
        path = cache.require(entry)
    else:
        path = Path(weights)
    module = architecture(entry)
    rename, ignore = state_dict_fixups(entry)
    state = read_fitting_state(path, module, model_name=entry.name, source=str(path) if weights is not None else path.name,
                               rename=rename, ignore_prefixes=ignore)
    module.load_state_dict(state, strict=False)
    module.eval()
    return module.to(device) if device is not None else module


def _validator(name: str):
    def validate(path: Path) -> None:
        # Names and shapes are compared on a "meta" model: no memory, no initialisation.
        import torch

        from engine.models.cache import sha256_of
        from engine.models.weights_io import read_fitting_state

        entry = _BY_NAME[name]
        with torch.device("meta"):
            module = architecture(entry)
        rename, ignore = state_dict_fixups(entry)
        read_fitting_state(path, module, model_name=name, source=path.name, rename=rename, ignore_prefixes=ignore)
        prefix = entry.meta.get("sha256_prefix")
        if prefix:
            digest = sha256_of(path)
            if not digest.startswith(prefix):
                log.warning("%s fits %s but is not torchvision's published file (sha256 %s..., expected %s...)", path.name, name, digest[:8], prefix)

    return validate


ENTRIES: list[CatalogEntry] = [
    CatalogEntry(
        name=name,
        task="inspect",
        title=title,
        files=(ModelFile(filename, f"{_BASE}/{filename}"),),
        license=license_,
        source=_TORCHVISION_SOURCE,
        description=f"{title}: ImageNet top-1 {top1:.1f} %. {note}{_IMAGENET_NOTE}",
        transforms=Transforms(size=(crop, crop), resize="crop", resize_size=resize, interpolation=interpolation,
                              colour="RGB", scale=1.0 / 255.0, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        meta={
            "categories": IMAGENET_CATEGORIES,
            "num_params": params,
            "accuracy": {"ImageNet-1k top-1": top1, "ImageNet-1k top-5": top5},
            "architecture": name,
            "builder_kwargs": kwargs,
            "approx_size_mb": approx_mb,
            "sha256_prefix": sha256_prefix(filename),
        },
        default=(name == "resnet18"),
        validator=_validator(name),
        builder=build_imagenet,
    )
    for name, title, filename, approx_mb, top1, top5, params, license_, crop, resize, interpolation, kwargs, note in _WEIGHTS
]

_BY_NAME = {entry.name: entry for entry in ENTRIES}
