"""Catalog entries of the ImageNet weights the Feature maps tab inspects.

URLs are torchvision's published checkpoints. torchvision names each file
``<arch>-<first 8 hex digits of its SHA-256>.pth``; that prefix is kept in
``extra["sha256_prefix"]`` (the full digest is recorded by the weights cache on first
download). ``extra["approx_size_mb"]`` is torchvision's published file size, shown
before downloading; exact byte counts are not published, so ``size`` stays None.
Preprocessing is the weights' evaluation transform; class names come from
torchvision's weights metadata at run time (``engine.inspect.zoo``).

Licenses: torchvision's code and the weights it trained are BSD-3-Clause; ported
weights keep their origin's terms (named per entry). All were trained on ImageNet-1k,
whose terms restrict use to non-commercial research and education.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine.weights.catalog import CatalogEntry, ModelFile

log = logging.getLogger(__name__)

_BASE = "https://download.pytorch.org/models"
_IMAGENET_NOTE = " Trained on ImageNet-1k (1000 classes); the dataset's terms (non-commercial research) may apply to the weights."
_TORCHVISION_SOURCE = "https://github.com/pytorch/vision (torchvision.models)"

# name, title, file name, approx MB, top-1 %, license, input size, resize, interpolation, note
_WEIGHTS = [
    ("alexnet", "AlexNet (ImageNet)", "alexnet-owt-7be5be79.pth", 233.1, 56.5, "BSD-3-Clause", 224, 256, "bilinear", "Trained by torchvision."),
    ("vgg16", "VGG-16 (ImageNet)", "vgg16-397923af.pth", 527.8, 71.6, "BSD-3-Clause", 224, 256, "bilinear", "Trained by torchvision."),
    ("resnet18", "ResNet-18 (ImageNet)", "resnet18-f37072fd.pth", 44.7, 69.8, "BSD-3-Clause", 224, 256, "bilinear", "Trained by torchvision."),
    ("resnet50", "ResNet-50 (ImageNet, V2 recipe)", "resnet50-11ad3fa6.pth", 97.8, 80.9, "BSD-3-Clause", 224, 232, "bilinear", "Trained by torchvision (new recipe)."),
    ("googlenet", "GoogLeNet / Inception v1 (ImageNet)", "googlenet-1378be20.pth", 49.7, 69.8, "Apache-2.0", 224, 256, "bilinear", "Ported from the original paper's TensorFlow weights."),
    ("inception_v3", "Inception v3 (ImageNet)", "inception_v3_google-0cc3c7bd.pth", 103.9, 77.3, "Apache-2.0", 299, 342, "bilinear", "Ported from Google's TensorFlow weights."),
    ("densenet121", "DenseNet-121 (ImageNet)", "densenet121-a639ec97.pth", 30.8, 74.4, "BSD-3-Clause", 224, 256, "bilinear", "Ported from the authors' LuaTorch weights."),
    ("mobilenet_v2", "MobileNet v2 (ImageNet, V2 recipe)", "mobilenet_v2-7ebf99e0.pth", 13.6, 72.2, "BSD-3-Clause", 224, 232, "bilinear", "Trained by torchvision (new recipe)."),
    ("mobilenet_v3_large", "MobileNet v3 Large (ImageNet, V2 recipe)", "mobilenet_v3_large-5c1a4163.pth", 21.1, 75.3, "BSD-3-Clause", 224, 232, "bilinear", "Trained by torchvision (new recipe)."),
    ("efficientnet_b0", "EfficientNet-B0 (ImageNet)", "efficientnet_b0_rwightman-7f5810bc.pth", 20.5, 77.7, "Apache-2.0", 224, 256, "bicubic", "Ported from the paper's weights by Ross Wightman (timm)."),
]


def sha256_prefix(filename: str) -> str | None:
    """The hash prefix torchvision puts in a checkpoint's file name, or None."""
    tail = Path(filename).stem.rsplit("-", 1)[-1]
    return tail.lower() if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail.lower()) else None


def _validator(name: str):
    def validate(path: Path) -> None:
        # Names and shapes are compared on a "meta" model: no memory, no initialisation.
        import torch

        from engine.inspect.weights_io import check_fit, read_state_dict
        from engine.inspect.zoo import model_spec
        from engine.weights.cache import sha256_of

        spec = model_spec(name)
        with torch.device("meta"):
            module = spec.build()
        state = read_state_dict(path)
        if spec.rename_keys is not None:
            state = spec.rename_keys(state)
        check_fit(module, state, model_name=name, source=path.name, ignore_prefixes=spec.ignore_prefixes)
        prefix = sha256_prefix(_FILENAMES[name])
        if prefix:
            digest = sha256_of(path)
            if not digest.startswith(prefix):
                log.warning("%s fits %s but is not torchvision's published file (sha256 %s..., expected %s...)", path.name, name, digest[:8], prefix)

    return validate


_FILENAMES = {name: filename for name, _, filename, *_ in _WEIGHTS}

ENTRIES: list[CatalogEntry] = [
    CatalogEntry(
        name=name,
        task="inspect",
        title=title,
        files=(ModelFile(filename, f"{_BASE}/{filename}"),),
        license=license_,
        source=_TORCHVISION_SOURCE,
        description=f"{title}: ImageNet top-1 {top1:.1f} %. {note}{_IMAGENET_NOTE}",
        preprocessing={
            "input_size": size,
            "resize_size": resize,
            "interpolation": interpolation,
            "colour": "RGB",
            "mean": (0.485, 0.456, 0.406),
            "std": (0.229, 0.224, 0.225),
        },
        extra={"architecture": name, "approx_size_mb": approx_mb, "sha256_prefix": sha256_prefix(filename), "classes": "ImageNet-1k"},
        default=(name == "resnet18"),
        validator=_validator(name),
    )
    for name, title, filename, approx_mb, top1, license_, size, resize, interpolation, note in _WEIGHTS
]
