"""Downloadable weights for style transfer (gathered by ``engine.weights.catalog``).

* vgg19: torchvision's ImageNet VGG-19, used by the Gatys optimisation (only its
  ``features`` part is read). ``models import vgg19 FILE.pth`` takes that state_dict.
* adain-vgg / adain-decoder: the encoder (VGG-19 "normalised", up to relu4_1 is used)
  and the trained decoder of Huang & Belongie's AdaIN, as converted to PyTorch by
  naoto0804/pytorch-AdaIN (MIT licence), published as release assets.

SHA-256 digests are not pinned here (none is published alongside the files): the cache
records each file's digest on first download and checks it from then on.
"""

from __future__ import annotations

from pathlib import Path

from engine.weights.catalog import CatalogEntry, ModelFile

_ADAIN_RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"


def _validate_vgg19(path: Path) -> None:
    from engine.style.vgg import validate_vgg19_file

    validate_vgg19_file(path)


def _validate_adain_encoder(path: Path) -> None:
    from engine.style.adain import load_encoder_state

    load_encoder_state(path)


def _validate_adain_decoder(path: Path) -> None:
    from engine.style.adain import load_decoder_state

    load_decoder_state(path)


ENTRIES: list[CatalogEntry] = [
    CatalogEntry(
        name="vgg19",
        task="style",
        title="VGG-19 (ImageNet, torchvision)",
        files=(ModelFile("vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),),
        license="BSD-3-Clause (torchvision)",
        source="https://pytorch.org/vision/stable/models/generated/torchvision.models.vgg19.html",
        description="Feature extractor for photo-mode style transfer (Gatys et al.). About 548 MB; "
                    "only the convolutional part is loaded.",
        preprocessing={"color": "RGB", "range": [0, 1], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        extra={"layout": "torchvision state_dict (features.N.weight/bias)", "approx_size_mb": 548},
        default=True,
        validator=_validate_vgg19,
    ),
    CatalogEntry(
        name="adain-vgg",
        task="style",
        title="AdaIN encoder (VGG-19 normalised)",
        files=(ModelFile("vgg_normalised.pth", f"{_ADAIN_RELEASE}/vgg_normalised.pth"),),
        license="MIT (naoto0804/pytorch-AdaIN)",
        source="https://github.com/naoto0804/pytorch-AdaIN",
        description="Encoder of real-time arbitrary style transfer (Huang & Belongie 2017); layers up to relu4_1 are used.",
        preprocessing={"color": "RGB", "range": [0, 1], "mean": None, "std": None},
        extra={"layout": "nn.Sequential state_dict, keys 0.weight ... 52.bias"},
        validator=_validate_adain_encoder,
    ),
    CatalogEntry(
        name="adain-decoder",
        task="style",
        title="AdaIN decoder",
        files=(ModelFile("decoder.pth", f"{_ADAIN_RELEASE}/decoder.pth"),),
        license="MIT (naoto0804/pytorch-AdaIN)",
        source="https://github.com/naoto0804/pytorch-AdaIN",
        description="Decoder of real-time arbitrary style transfer, trained on MS-COCO and WikiArt.",
        preprocessing={"color": "RGB", "range": [0, 1]},
        extra={"layout": "nn.Sequential state_dict, keys 1.weight ... 28.bias"},
        validator=_validate_adain_decoder,
    ),
]
