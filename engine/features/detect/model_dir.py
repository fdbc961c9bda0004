"""Your own trained detector: a model folder or a weights file -> a ready ``Detector``.

``open_model_dir(path, names=None, *, options=None, device=None)`` dispatches on what
``path`` is, never unpickling objects:

- a folder with ``config.json`` (Hugging Face transformers layout, with
  ``model.safetensors``): by its ``model_type`` through ``FOLDER_LOADERS``. A loader is
  named "module:function" and called as
  ``loader(folder, config, state, *, options, device, name) -> Detector`` with the parsed
  config dict and the safetensors tensors (CPU, as stored); it builds the network from
  the config, loads ``state`` (``hf_folder.load_state`` names the first key that does
  not fit), checks ``options`` against its capabilities and reads class names from
  ``id2label`` (``hf_folder.class_names``). ``config.json`` or ``model.safetensors``
  itself may be given for its folder.
- a ``.pth`` file (or a ``.pt`` that is not Ultralytics'): a YOLOX checkpoint through
  ``PTH_LOADER``, ``loader(path, names_path=None, *, options=None, device=None,
  name=None) -> Detector`` (class count read from the weights, checked against names).
- an Ultralytics ``.pt``: refused with why (pickled objects under AGPL-3.0) and what to
  use instead; found by the "ultralytics" module names inside the file, read as bytes.
- anything else: one line saying what is accepted.

A loader whose module is not part of this installation is reported as such.
"""

from __future__ import annotations

import importlib
import logging
import zipfile
from pathlib import Path
from typing import Callable

import torch

from engine.core.errors import NotFound, Unsupported, UserError
from engine.features.detect.detector import Detector
from engine.features.detect.options import DetectorOptions

log = logging.getLogger(__name__)

#: transformers' ``model_type`` -> the function that builds that family from a folder.
FOLDER_LOADERS: dict[str, str] = {
    "rt_detr": "engine.features.detect.backends.detr.loading:rtdetr_from_folder",
    "rt_detr_v2": "engine.features.detect.backends.detr.loading:rtdetr_v2_from_folder",
    "d_fine": "engine.features.detect.backends.dfine.loading:dfine_from_folder",
    "yolox": "engine.features.detect.backends.yolox.folder:yolox_from_folder",  # Teach's trained detectors
}
#: Builds a YOLOX detector from a Megvii-style ``.pth`` checkpoint.
PTH_LOADER = "engine.features.detect.backends.yolox.loading:yolox_from_pth"

ULTRALYTICS_TODO = ("Ultralytics checkpoints are pickled Python objects under the AGPL-3.0, which we neither "
                    "unpickle nor interface with; use a transformers folder (config.json + model.safetensors) "
                    "of RT-DETR, RT-DETRv2 or D-FINE, or a YOLOX .pth with --names")
_ACCEPTED = ("give a model folder (config.json + model.safetensors of RT-DETR, RT-DETRv2, D-FINE or a YOLOX "
             "trained in Teach) "
             "or a YOLOX .pth file with a names file")
_SNIFF_BYTES = 8 * 1024 * 1024


class ModelPathError(UserError, ValueError):
    """A path given as a model that is none of the accepted kinds; says what is."""


class UltralyticsModelError(Unsupported, ValueError):
    """An Ultralytics checkpoint: not supported, by licence and by format."""


class LoaderMissingError(Unsupported, ValueError):
    """The loader of a supported family is not part of this installation."""


def _resolve(reference: str, family: str) -> Callable[..., Detector]:
    module_name, _, attr = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise LoaderMissingError(f"{family} models are not supported by this installation",
                                     f"{_ACCEPTED} of another family") from None
        raise
    return getattr(module, attr)


def open_model_dir(path: str | Path, names: str | Path | None = None, *, options: DetectorOptions | None = None,
                   device: torch.device | str | None = None) -> Detector:
    """The detector in ``path`` (see the module docstring); ``names``: a class-names file
    for a ``.pth`` (a folder's config.json names its classes). Raises a UserError."""
    from engine.features.detect.backends.detr import hf_folder

    path = Path(path).expanduser()
    options = options or DetectorOptions()
    if not path.exists():
        raise NotFound(f"model {path}: no such file or folder", _ACCEPTED)
    if path.is_file() and path.name in (hf_folder.CONFIG_NAME, hf_folder.WEIGHTS_NAME):
        path = path.parent
    if path.is_dir():
        if names is not None:
            raise ModelPathError(f"{path}: a names file is for .pth checkpoints",
                                 "a model folder's config.json names its classes (id2label)")
        config = hf_folder.read_config(path, FOLDER_LOADERS)
        loader = _resolve(FOLDER_LOADERS[config["model_type"]], config["model_type"])
        state = hf_folder.read_state(path)
        return loader(path, config, state, options=options, device=device, name=path.name)
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth") and _looks_ultralytics(path):
        raise UltralyticsModelError(f"{path} is an Ultralytics checkpoint, which is not supported", ULTRALYTICS_TODO)
    if suffix in (".pt", ".pth"):
        loader = _resolve(PTH_LOADER, "YOLOX")
        return loader(path, names, options=options, device=device, name=path.stem)
    if suffix in (".bin", ".safetensors", ".json"):
        raise ModelPathError(f"{path}: give the folder that holds it", _ACCEPTED)
    raise ModelPathError(f"{path}: not a model this application opens", _ACCEPTED)


def _looks_ultralytics(path: Path) -> bool:
    """Whether a torch.save file pickles Ultralytics classes: their module names
    ("ultralytics.nn.tasks", "models.yolo" of YOLOv5) appear as plain text in its pickle,
    which is read as bytes here, never unpickled."""
    from engine.core.regular_files import RegularFileError, open_regular

    markers = (b"ultralytics", b"models.yolo\n", b"models.yolo\x94", b"models.common")
    try:
        with open_regular(path, None, what="weights file") as fh:
            head = fh.read(4)
            fh.seek(0)
            if head.startswith(b"PK"):
                with zipfile.ZipFile(fh) as archive:
                    member = next((i for i in archive.infolist() if i.filename.endswith("data.pkl")), None)
                    if member is None or member.file_size > _SNIFF_BYTES:
                        return False
                    data = archive.read(member)
            else:
                data = fh.read(_SNIFF_BYTES)
    except (RegularFileError, zipfile.BadZipFile, OSError):
        return False  # the loader reports what is wrong with the file
    return any(marker in data for marker in markers)

