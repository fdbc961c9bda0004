"""Reading YOLOX weights files: Megvii's released ``.pth`` (a dict whose ``"model"`` entry
is the state dict) or one of your own trained with Megvii's code, with any class count.

``yolox_from_pth`` reads the file's skeleton first (``engine.models.checkpoint``: names,
shapes, no tensor data, no object ever unpickled), infers the architecture (nano, tiny,
s, m, l, x) from the shapes and the class count from the head's ``cls_preds``, checks
every key and shape, and only then reads the tensors with ``weights_only=True``.
Refused, each with one line that says why and what to use instead: an Ultralytics ``.pt``
(a pickled AGPL-3.0 model object: we never load those), a pickled whole model
(``torch.save(model)``), a file of another architecture or with the wrong shapes.
"""

from __future__ import annotations

import functools
import pickletools
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch

from engine.core.errors import Unsupported
from engine.features.detect.backends.yolox.capabilities import yolox_capabilities
from engine.features.detect.backends.yolox.detector import YoloxDetector
from engine.features.detect.detector import DetectorError
from engine.features.detect.names import coco_names, read_names
from engine.features.detect.options import DetectorOptions
from engine.models import checkpoint
from engine.models.yolox.model import ARCHITECTURES, YoloxArch, YoloxModel, build_yolox

STEM_KEY = "backbone.backbone.stem.conv.conv.weight"
CLASSES_KEY = "head.cls_preds.0.weight"
_DEPTHWISE_KEY = "backbone.backbone.dark2.0.dconv.conv.weight"
_BOTTLENECK_PREFIX = "backbone.backbone.dark2.1.m."
#: Class counts a YOLOX file may have (memory budget of the largest architecture).
MAX_CLASSES = 4096

_ULTRALYTICS_MODULES = ("ultralytics.", "models.yolo.", "models.common.")  # YOLOv8+ and YOLOv5-style pickles
# Globals a state-dict pickle names (torch.save of tensors and plain containers).
_STATE_DICT_GLOBALS = ("collections.OrderedDict", "torch._utils.", "torch._tensor.", "torch.nn.parameter.Parameter",
                       "torch.Size", "torch.device", "torch.Tensor", "_codecs.encode", "builtins.set",
                       "builtins.complex")


class UnsupportedWeightsError(DetectorError, Unsupported):
    """A weights file of a kind we do not read (Ultralytics, a pickled model, another architecture)."""


def _is_state_global(full: str) -> bool:
    if full.startswith(_STATE_DICT_GLOBALS) or (full.startswith("torch.") and full.endswith("Storage")):
        return True
    return full.startswith("torch.") and full.count(".") == 1  # dtypes: torch.float32, torch.int64, ...


def pickled_globals(path: Path) -> list[str]:
    """The ``module.name`` globals the pickle of a ``torch.save`` zip refers to, read with
    ``pickletools`` (opcodes only: nothing is imported or executed); [] when the file is
    not such a zip (the safe loader then says what it is)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile):
        return []
    with archive:
        members = [info for info in archive.infolist() if info.filename.endswith("data.pkl")]
        if len(members) != 1 or members[0].file_size > checkpoint.MAX_CHECKPOINT_PICKLE_BYTES:
            return []
        data = archive.read(members[0])
    found: list[str] = []
    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in ("GLOBAL", "INST") and isinstance(arg, str):
                found.append(arg.replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # noqa: BLE001 - a damaged pickle: the safe loader reports it
        return found
    return found


def refuse_foreign_pickle(path: Path) -> None:
    """Raise UnsupportedWeightsError for an Ultralytics checkpoint or a pickled whole model."""
    foreign = [g for g in pickled_globals(path) if not _is_state_global(g)]
    if not foreign:
        return
    if any(g.startswith(_ULTRALYTICS_MODULES) for g in foreign):
        raise UnsupportedWeightsError(
            f"{path} is an Ultralytics (YOLOv5/YOLOv8-family) checkpoint, which this app does not read",
            "it is a pickled AGPL-3.0 model object, never unpickled here; use YOLOX (.pth from "
            "Megvii-BaseDetection/YOLOX), D-FINE or RT-DETR weights instead")
    raise UnsupportedWeightsError(
        f"{path} holds a pickled whole model ({foreign[0][:80]}), not weights",
        "save its state dict instead: torch.save({'model': model.state_dict()}, path)")


def infer_architecture(state: Mapping[str, Any], source: str) -> tuple[YoloxArch, int]:
    """(architecture, class count) from a YOLOX state dict's shapes (meta tensors do)."""
    for key in (STEM_KEY, CLASSES_KEY):
        if key not in state or not hasattr(state[key], "shape"):
            raise UnsupportedWeightsError(f"{source} is not a YOLOX weights file (it has no '{key}')",
                                          "give the .pth that Megvii's YOLOX code saves (a dict with a 'model' state dict)")
    stem = int(state[STEM_KEY].shape[0])
    depthwise = _DEPTHWISE_KEY in state
    depth = len({k[len(_BOTTLENECK_PREFIX):].split(".")[0] for k in state if k.startswith(_BOTTLENECK_PREFIX)})
    for arch in ARCHITECTURES.values():
        if (arch.stem_channels, arch.base_depth, arch.depthwise) == (stem, depth, depthwise):
            return arch, int(state[CLASSES_KEY].shape[0])
    raise UnsupportedWeightsError(
        f"{source}: a YOLOX with {stem} stem channels, {depth} bottleneck(s) per stage"
        f"{', depthwise' if depthwise else ''} is not a size this app builds",
        f"use YOLOX-{', -'.join(ARCHITECTURES)} weights")


def _expected(model: YoloxModel) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def _check_skeleton(skeleton: object, source: str, arch: YoloxArch | None) -> tuple[YoloxArch, int]:
    """(architecture, class count) of a checkpoint's skeleton (tensors on the meta device),
    every key and shape checked against that architecture; raises DetectorError."""
    try:
        state = checkpoint.state_dict_of(skeleton, source)
    except checkpoint.CheckpointError as exc:
        raise DetectorError(str(exc)) from None
    inferred, classes = infer_architecture(state, source)
    if arch is not None and inferred != arch:
        raise DetectorError(f"{source} holds YOLOX-{inferred.name} weights, not YOLOX-{arch.name}",
                            f"import it as yolox-{inferred.name}, or give the YOLOX-{arch.name} file")
    if not 1 <= classes <= MAX_CLASSES:
        raise DetectorError(f"{source}: {classes} classes is not a YOLOX head this app loads")
    with torch.device("meta"):
        model = YoloxModel(inferred, classes)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    problem = checkpoint.first_mismatch(_expected(model), state)
    if problem is not None:
        raise DetectorError(f"{source} does not fit YOLOX-{inferred.name} with {classes} classes: {problem}")
    return inferred, classes


def load_yolox_state(path: str | Path, arch: YoloxArch | None = None) -> tuple[YoloxModel, dict[str, torch.Tensor]]:
    """(a model of the file's architecture, the file's checked state dict). ``arch``: the
    architecture the file must be (a catalog entry's); None: whichever its shapes say."""
    path = Path(path)
    refuse_foreign_pickle(path)
    source = str(path)
    found: dict[str, Any] = {}

    def check(skeleton: object) -> None:
        found["arch"], found["classes"] = _check_skeleton(skeleton, source, arch)

    try:
        data = checkpoint.load(path, budget_bytes=_budget(), check=check, what="YOLOX weights file")
        state = checkpoint.state_dict_of(data, source)
    except checkpoint.CheckpointError as exc:
        raise DetectorError(str(exc)) from None
    model = build_yolox(found["arch"], found["classes"])
    model.load_state_dict(state, strict=False)  # keys checked above; old files may lack BN counters
    return model.eval(), state


class _SkeletonRead(Exception):
    """Stops ``checkpoint.load`` once the skeleton is checked: no tensor data is read."""


def inspect_pth(path: str | Path) -> tuple[YoloxArch, int]:
    """(architecture, class count) of a YOLOX ``.pth`` from its skeleton alone (names and
    shapes, every key checked, no tensor data read); raises as ``load_yolox_state``."""
    path = Path(path)
    refuse_foreign_pickle(path)
    found: dict[str, Any] = {}

    def check(skeleton: object) -> None:
        found["result"] = _check_skeleton(skeleton, str(path), None)
        raise _SkeletonRead

    try:
        checkpoint.load(path, budget_bytes=_budget(), check=check, what="YOLOX weights file")
    except _SkeletonRead:
        return found["result"]
    except checkpoint.CheckpointError as exc:
        raise DetectorError(str(exc)) from None
    raise DetectorError(f"{path}: its contents could not be checked")  # check() always stops the load


@functools.cache
def _budget() -> int:
    """Bytes a YOLOX file may hold: the largest architecture with MAX_CLASSES classes
    (8 bytes a parameter: a released file also holds the optimizer's momentum)."""
    largest = max(ARCHITECTURES.values(), key=lambda a: a.width * a.depth)
    return checkpoint.budget_for(build_yolox_meta(largest, MAX_CLASSES))


def build_yolox_meta(arch: YoloxArch, num_classes: int) -> YoloxModel:
    with torch.device("meta"):
        return YoloxModel(arch, num_classes)


def yolox_from_pth(path: str | Path, names_path: str | Path | None = None, *, options: DetectorOptions | None = None,
                   device: torch.device | str | None = None, name: str | None = None,
                   arch: YoloxArch | None = None) -> YoloxDetector:
    """A ready ``YoloxDetector`` from a YOLOX ``.pth``: the class count from the weights,
    the names from ``names_path`` (one per line; it must list exactly that many), or the
    COCO names for an 80-class file given none. ``options`` are checked against YOLOX's
    capabilities (input sizes in multiples of 32, default: the architecture's test size)."""
    path = Path(path)
    label = name or path.stem
    model, _ = load_yolox_state(path, arch)
    if names_path is not None:
        names = read_names(names_path, expected=model.num_classes)
    elif model.num_classes == 80:
        names = coco_names()
    else:
        raise DetectorError(f"{path} predicts {model.num_classes} classes",
                            "give the names file (one class name per line) that goes with it (--names FILE)")
    options = options or DetectorOptions()
    capabilities = yolox_capabilities(model.arch.test_size, model.arch.depthwise)
    options.check(capabilities, label)
    options, choice = options.resolve(capabilities, torch.device(device).type if device is not None else "cpu")
    keywords: dict[str, Any] = {"conf_threshold": options.conf_threshold}
    if options.iou_threshold is not None:
        keywords["iou_threshold"] = options.iou_threshold
    detector = YoloxDetector(model, names, name=label, input_size=options.input_size or model.arch.test_size,
                             letterbox=options.letterbox, channels_last=options.channels_last,
                             compile=options.compile, precision=options.precision, device=device, **keywords)
    if choice.requested == "auto":
        detector.precision_label = choice.label
    return detector
