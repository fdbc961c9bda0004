"""Your own trained detector as a catalog-like entry the Detect tab lists beside the catalog's.

``user_entry(path, names=None)`` reads what the model is without loading its weights:

- a folder (transformers layout: config.json + model.safetensors of RT-DETR, RT-DETRv2,
  D-FINE, or a YOLOX trained in Teach): the config (family, ``id2label`` class names, input size), the safetensors
  header (every tensor's name and shape checked against the architecture the config
  describes, built on the meta device: nothing allocated, no tensor data read);
- a YOLOX ``.pth``: the pickle's skeleton (architecture and class count from the shapes,
  every key checked; no tensor data read); class names from ``names``, else from a names
  file beside it (``<stem>.names``, ``classes.txt``, ``names.txt``), else COCO's when it
  has 80 classes; otherwise ``NamesNeeded`` (the GUI then asks for the file).

The entry is a ``CatalogEntry`` named "my-<folder or file name>" with no files to install
(so the weights cache counts it as installed) whose builder is
``model_dir.open_model_dir``; ``meta["path"]``/``meta["names_path"]`` say where it is.
Everything raises the ``UserError`` family with what was wrong and what to do.

``saved``/``remember``/``forget`` keep the list of opened models in the settings store
(key ``Detect/user_models``: a list of "path" or "path|names path" strings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.core.errors import UserError
from engine.core.store import SettingsStore
from engine.models import user_model_list
from engine.models.catalog import Capabilities, CatalogEntry, Transforms
from engine.models.user_model_list import STORE_KEY, forget, saved  # noqa: F401 - part of this module's interface

PREFIX = "my-"
NAMES_BESIDE = ("{stem}.names", "classes.txt", "names.txt")
_LICENSE = "your own model (its licence is yours to check)"


class NamesNeeded(UserError, ValueError):
    """A YOLOX file whose class count is not COCO's 80 and no names file was found."""

    def __init__(self, what: str, todo: str, classes: int) -> None:
        super().__init__(what, todo)
        self.classes = classes


def _build(entry: CatalogEntry, cache: Any = None, device: Any = None, options: Any = None):
    from engine.features.detect.model_dir import open_model_dir

    names = entry.meta.get("names_path")
    return open_model_dir(entry.meta["path"], names, options=options, device=device)


def _folder_facts(folder: Path) -> tuple[tuple[str, ...], Capabilities, Transforms, str]:
    """(class names, capabilities, transforms, family) of a transformers folder."""
    from dataclasses import replace

    from engine.features.detect.backends.detr import hf_folder
    from engine.features.detect.backends.detr.capabilities import DETR_TRANSFORMS
    from engine.features.detect.model_dir import FOLDER_LOADERS

    config = hf_folder.read_config(folder, FOLDER_LOADERS)
    kind = config["model_type"]
    if kind == "yolox":
        return _yolox_folder_facts(folder, config)
    names = hf_folder.class_names(config, str(folder / hf_folder.CONFIG_NAME))
    weights = hf_folder.weights_path(folder)
    if kind == "d_fine":
        from engine.features.detect.backends.dfine.loading import dfine_capabilities

        capabilities = dfine_capabilities(config)
        family = "D-FINE"
    else:
        from engine.features.detect.backends.detr.loading import capabilities_for
        from engine.features.detect.backends.detr.spec import spec_from_config

        capabilities = capabilities_for(spec_from_config(config, len(names)))
        family = "RT-DETRv2" if kind == "rt_detr_v2" else "RT-DETR"
    _check_shapes(folder, config, kind, weights)
    return names, capabilities, replace(DETR_TRANSFORMS, size=capabilities.input_size.default), family


def _yolox_folder_facts(folder: Path, config: dict) -> tuple[tuple[str, ...], Capabilities, Transforms, str]:
    """The facts of a YOLOX model folder (Teach's): config checked, every tensor's name and
    shape in the safetensors header checked against the architecture (no data read)."""
    from engine.features.detect.backends.detr import hf_folder
    from engine.features.detect.backends.yolox.capabilities import yolox_capabilities, yolox_transforms
    from engine.models.yolox import folder as yolox_folder

    spec = yolox_folder.parse_config(config, str(folder / hf_folder.CONFIG_NAME))
    weights = hf_folder.weights_path(folder)
    yolox_folder.check_state(spec, _header(weights), weights)
    return spec.classes, yolox_capabilities(spec.input_size), yolox_transforms(spec.input_size), "YOLOX"


def _header(weights: Path) -> dict:
    """{name: meta tensor of the stored shape} from a safetensors header (no data read)."""
    import torch
    from safetensors import safe_open

    from engine.features.detect.backends.detr import hf_folder

    try:
        with safe_open(str(weights), framework="pt") as handle:
            # Meta tensors of the stored shapes: checked like real ones, nothing allocated.
            return {key: torch.empty(handle.get_slice(key).get_shape(), device="meta") for key in handle.keys()}
    except Exception as exc:  # a damaged header comes in many types
        raise hf_folder.ModelFolderError(f"{weights}: not a readable safetensors file ({str(exc)[:120]})",
                                         "save the model again") from None


def _check_shapes(folder: Path, config: dict, kind: str, weights: Path) -> None:
    """Every tensor the architecture needs is in the safetensors header with its shape
    (the header only: no tensor data is read); raises ModelFolderError naming the first
    that is missing or of another shape."""
    import torch

    from engine.features.detect.backends.detr import hf_folder
    from engine.models.checkpoint import first_mismatch

    header = _header(weights)
    with torch.device("meta"):
        if kind == "d_fine":
            from engine.features.detect.backends.dfine.config import parse_config
            from engine.features.detect.backends.dfine.loading import normalise_keys
            from engine.features.detect.backends.dfine.model import DFine

            skeleton = DFine(parse_config(config))
            header = normalise_keys(header, skeleton)
        else:
            from engine.features.detect.backends.detr.loading import _complete
            from engine.features.detect.backends.detr.rtdetr import RTDetr
            from engine.features.detect.backends.detr.spec import spec_from_config

            skeleton = RTDetr(spec_from_config(config, len(hf_folder.class_names(config))))
            header = _complete(skeleton, header)
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    problem = first_mismatch(expected, header)
    if problem is not None:
        raise hf_folder.ModelFolderError(f"{weights} does not fit the architecture in config.json: {problem}",
                                         "give the config.json that was saved with these weights")


def names_beside(path: Path) -> Path | None:
    """A names file next to a weights file (``NAMES_BESIDE``), or None."""
    for pattern in NAMES_BESIDE:
        candidate = path.parent / pattern.format(stem=path.stem)
        if candidate.is_file():
            return candidate
    return None


def _pth_facts(path: Path, names_path: Path | None) -> tuple[tuple[str, ...], Capabilities, Transforms, Path | None]:
    from engine.features.detect.backends.yolox.capabilities import yolox_capabilities, yolox_transforms
    from engine.features.detect.backends.yolox.loading import inspect_pth
    from engine.features.detect.names import coco_names, read_names

    arch, classes = inspect_pth(path)
    names_path = names_path or names_beside(path)
    if names_path is not None:
        names = read_names(names_path, expected=classes)
    elif classes == 80:
        names = coco_names()
    else:
        raise NamesNeeded(f"{path.name} predicts {classes} classes and no names file was found beside it",
                          f"choose its names file (one class name per line, {classes} lines), or put it "
                          f"beside the weights as classes.txt", classes)
    size = tuple(arch.test_size)
    return names, yolox_capabilities(size, arch.depthwise), yolox_transforms(size), names_path


def add_to(entries: list[CatalogEntry], entry: CatalogEntry) -> int:
    """Put ``entry`` into ``entries`` (in place): in the place of the entry of the same
    path, else appended, numbered when its name is taken; returns its index."""
    from dataclasses import replace

    old = next((i for i, e in enumerate(entries) if e.meta.get("path") == entry.meta["path"]), None)
    if old is not None:
        entries[old] = replace(entry, name=entries[old].name, title=entry.title.replace(entry.name, entries[old].name))
        return old
    name, n, taken = entry.name, 2, {e.name for e in entries}
    while name in taken:
        name, n = f"{entry.name}-{n}", n + 1
    entries.append(replace(entry, name=name, title=entry.title.replace(entry.name, name)))
    return len(entries) - 1


def user_entry(path: str | Path, names: str | Path | None = None, taken: tuple[str, ...] = ()) -> CatalogEntry:
    """The entry of the model at ``path`` (see the module docstring). ``taken``: entry
    names already listed; the new name gets a number when it would clash."""
    from engine.core.errors import NotFound
    from engine.features.detect.backends.detr import hf_folder
    from engine.features.detect.model_dir import _ACCEPTED, ULTRALYTICS_TODO, ModelPathError, UltralyticsModelError, _looks_ultralytics

    path = Path(path).expanduser()
    if not path.exists():
        raise NotFound(f"model {path}: no such file or folder", _ACCEPTED)
    if path.is_file() and path.name in (hf_folder.CONFIG_NAME, hf_folder.WEIGHTS_NAME):
        path = path.parent
    names_path = Path(names).expanduser() if names else None
    if path.is_dir():
        if names_path is not None:
            raise ModelPathError(f"{path}: a names file is for .pth checkpoints",
                                 "a model folder's config.json names its classes (id2label)")
        class_names, capabilities, transforms, family = _folder_facts(path)
        stem = path.name
    elif path.suffix.lower() in (".pt", ".pth"):
        if _looks_ultralytics(path):
            raise UltralyticsModelError(f"{path} is an Ultralytics checkpoint, which is not supported",
                                        ULTRALYTICS_TODO)
        class_names, capabilities, transforms, names_path = _pth_facts(path, names_path)
        family, stem = "YOLOX", path.stem
    else:
        raise ModelPathError(f"{path}: not a model this application opens", _ACCEPTED)
    name = PREFIX + stem
    n = 2
    while name in taken:
        name, n = f"{PREFIX}{stem}-{n}", n + 1
    return CatalogEntry(
        name=name, task="detect", title=f"{name} (your {family}, {len(class_names)} classes)", files=(),
        license=_LICENSE, source=str(path), description=f"Your own {family} model from {path}",
        transforms=transforms, capabilities=capabilities,
        meta={"categories": class_names, "path": str(path), "names_path": str(names_path) if names_path else None,
              "user_model": True},
        builder=_build)


def remember(store: SettingsStore, entry: CatalogEntry) -> None:
    """Add ``entry``'s path to the remembered models (once)."""
    user_model_list.remember_path(store, entry.meta["path"], entry.meta.get("names_path"))


def not_listed(store: SettingsStore, entries: list[CatalogEntry]) -> list[CatalogEntry]:
    """Entries for the remembered models whose path none of ``entries`` has; one that
    cannot be opened is left out quietly (the next start reports and forgets it)."""
    known = {e.meta.get("path") for e in entries if e.name.startswith(PREFIX)}
    found: list[CatalogEntry] = []
    for path, names in saved(store):
        if path in known:
            continue
        try:
            found.append(user_entry(path, names, tuple(e.name for e in entries + found)))
        except (UserError, OSError):
            continue
    return found


def restore(store: SettingsStore, taken: tuple[str, ...]) -> tuple[list[CatalogEntry], str | None]:
    """The remembered models' entries, and one message naming those that could not be
    opened any more (gone or broken: they are forgotten), or None."""
    entries: list[CatalogEntry] = []
    dropped: list[str] = []
    why = ""
    for path, names in saved(store):
        try:
            entries.append(user_entry(path, names, taken + tuple(e.name for e in entries)))
        except (UserError, OSError) as exc:
            dropped.append(path)
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if not dropped:
        return entries, None
    forget(store, dropped)
    listed = ", ".join(dropped[:3]) + (f" and {len(dropped) - 3} more" if len(dropped) > 3 else "")
    several = len(dropped) > 1
    return entries, (f"Your model{'s' if several else ''} {listed} could not be opened and "
                     f"{'were' if several else 'was'} removed from the Detect list ({why})")
