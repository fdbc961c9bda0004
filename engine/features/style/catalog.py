"""Downloadable weights for style transfer (gathered by ``engine.models.catalog``).

* vgg19: torchvision's ImageNet VGG-19, used by the Gatys optimisation (only its
  ``features`` part is read). ``models import vgg19 FILE.pth`` takes that state_dict.
* (training fast styles uses the inspect catalog's ``vgg16``, torchvision's ImageNet
  VGG-16, as its loss network: one file, one entry.)
* adain-vgg / adain-decoder: the encoder (VGG-19 "normalised", up to relu4_1 is used)
  and the trained decoder of Huang & Belongie's AdaIN, as converted to PyTorch by
  naoto0804/pytorch-AdaIN (MIT licence), published as release assets.
* fast-candy / fast-mosaic / fast-rain-princess / fast-udnie: the four TransformerNet
  models of pytorch/examples' fast_neural_style (BSD-3-Clause). They are published as one
  archive, ``saved_models.zip`` (candy.pth, mosaic.pth, rain_princess.pth, udnie.pth,
  ~6.7 MB each); each entry downloads it and reads its own member, and
  ``models import fast-candy candy.pth`` takes the bare .pth.

Each entry's ``builder`` is the one place that turns installed files into a model
object: vgg19/adain-* give checked state_dicts, fast-* give a ``FastStylizer``.
SHA-256 digests are not pinned here (none is published alongside the files): the cache
records each file's digest on first download and checks it from then on.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from engine.models.catalog import CatalogEntry, ModelFile, Transforms

_ADAIN_RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"
_FAST_ARCHIVE = "https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1"
_FAST_SOURCE = "https://github.com/pytorch/examples/tree/main/fast_neural_style"
FAST_LICENSE = "BSD-3-Clause (pytorch/examples)"

# What the networks take, stated once and read by the code that preprocesses.
IMAGENET_RGB = Transforms(size=None, resize="stretch", colour="RGB", scale=1.0 / 255.0,
                          mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
UNIT_RGB = Transforms(size=None, resize="stretch", colour="RGB", scale=1.0 / 255.0)
PIXEL_RGB = Transforms(size=None, resize="stretch", colour="RGB", scale=1.0)  # TransformerNet: RGB 0..255


def _cache(cache: Any):
    if cache is not None:
        return cache
    from engine.models.cache import default_cache

    return default_cache()


def _validate_vgg19(path: Path) -> None:
    from engine.features.style.vgg import validate_vgg19_file

    validate_vgg19_file(path)


def _build_vgg19(entry: CatalogEntry, cache: Any, device: Any) -> dict:
    from engine.features.style.vgg import load_vgg19_state_dict

    return load_vgg19_state_dict(_cache(cache).require(entry))


def _validate_adain_encoder(path: Path) -> None:
    from engine.features.style.adain import load_encoder_state

    load_encoder_state(path)


def _build_adain_encoder(entry: CatalogEntry, cache: Any, device: Any) -> dict:
    from engine.features.style.adain import load_encoder_state

    return load_encoder_state(_cache(cache).require(entry))


def _validate_adain_decoder(path: Path) -> None:
    from engine.features.style.adain import load_decoder_state

    load_decoder_state(path)


def _build_adain_decoder(entry: CatalogEntry, cache: Any, device: Any) -> dict:
    from engine.features.style.adain import load_decoder_state

    return load_decoder_state(_cache(cache).require(entry))


def read_fast_file(path: Path, stem: str) -> dict:
    """The TransformerNet state_dict in ``path``: a bare .pth, or the published archive's ``stem`` member."""
    import zipfile

    from engine.core.regular_files import RegularFileError, open_regular
    from engine.features.style.transformer_net import FastStyleWeightsError, read_state, read_state_from_zip

    path = Path(path)
    try:
        with open_regular(path, None, what="style model") as fh:
            names = zipfile.ZipFile(fh).namelist() if zipfile.is_zipfile(fh) else []
    except RegularFileError as exc:
        raise FastStyleWeightsError(str(exc)) from None
    except (zipfile.BadZipFile, OSError):
        names = []
    # a modern torch.save file is a zip too, but its members are tensors and data.pkl
    if any(Path(n).name in (f"{stem}.pth", f"{stem}.model") for n in names):
        return read_state_from_zip(path, stem)
    return read_state(path)


def validate_fast_file(path: Path, stem: str = "") -> None:
    read_fast_file(path, stem or Path(path).stem)


def build_fast(entry: CatalogEntry, cache: Any, device: Any, stem: str = ""):
    """A ``FastStylizer`` for a fast-style entry (built-in or the user's own)."""
    from engine.features.style.fast_style import FastStylizer

    path = _cache(cache).require(entry)
    state = read_fast_file(path, stem or path.stem)
    return FastStylizer(state, device or "cpu", name=entry.title)


def _fast(stem: str, title: str, slug: str) -> CatalogEntry:
    from engine.features.style.transformer_net import num_params

    return CatalogEntry(
        name=f"fast-{slug}",
        task="style",
        title=title,
        files=(ModelFile(f"{stem}.pth", _FAST_ARCHIVE),),
        license=FAST_LICENSE,
        source=_FAST_SOURCE,
        description=f"Fast feed-forward style network (Johnson et al. 2016) trained on '{stem}'; real-time on a "
                    "GPU, several fps on a laptop CPU. The download is the published saved_models.zip with all "
                    "four models (~27 MB); import the bare .pth if you have it.",
        transforms=PIXEL_RGB,
        meta={"num_params": num_params()},
        validator=functools.partial(validate_fast_file, stem=stem),
        builder=functools.partial(build_fast, stem=stem),
    )


FAST_PRESETS = (("candy", "Candy", "candy"), ("mosaic", "Mosaic", "mosaic"),
                ("rain_princess", "Rain Princess (Leonid Afremov)", "rain-princess"), ("udnie", "Udnie (Francis Picabia)", "udnie"))

ENTRIES: list[CatalogEntry] = [
    CatalogEntry(
        name="vgg19",
        task="style",
        title="VGG-19 (ImageNet, torchvision)",
        files=(ModelFile("vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),),
        license="BSD-3-Clause (torchvision)",
        source="https://pytorch.org/vision/stable/models/generated/torchvision.models.vgg19.html",
        description="Feature extractor for photo-mode style transfer (Gatys et al.). About 548 MB; only the convolutional part "
                    "(features.N.weight/bias) is loaded.",
        transforms=IMAGENET_RGB,
        meta={"num_params": 143667240},
        default=True,
        validator=_validate_vgg19,
        builder=_build_vgg19,
    ),
    CatalogEntry(
        name="adain-vgg",
        task="style",
        title="AdaIN encoder (VGG-19 normalised)",
        files=(ModelFile("vgg_normalised.pth", f"{_ADAIN_RELEASE}/vgg_normalised.pth"),),
        license="MIT (naoto0804/pytorch-AdaIN)",
        source="https://github.com/naoto0804/pytorch-AdaIN",
        description="Encoder of real-time arbitrary style transfer (Huang & Belongie 2017); layers up to relu4_1 are "
                    "used (nn.Sequential state_dict, keys 0.weight ... 52.bias).",
        transforms=UNIT_RGB,
        validator=_validate_adain_encoder,
        builder=_build_adain_encoder,
    ),
    CatalogEntry(
        name="adain-decoder",
        task="style",
        title="AdaIN decoder",
        files=(ModelFile("decoder.pth", f"{_ADAIN_RELEASE}/decoder.pth"),),
        license="MIT (naoto0804/pytorch-AdaIN)",
        source="https://github.com/naoto0804/pytorch-AdaIN",
        description="Decoder of real-time arbitrary style transfer, trained on MS-COCO and WikiArt "
                    "(nn.Sequential state_dict, keys 1.weight ... 28.bias).",
        transforms=UNIT_RGB,
        validator=_validate_adain_decoder,
        builder=_build_adain_decoder,
    ),
    *(_fast(stem, title, slug) for stem, title, slug in FAST_PRESETS),
]
