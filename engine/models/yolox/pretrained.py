"""Starting a YOLOX from Megvii's released COCO weights, for fine-tuning on other classes.

``pretrained_model(path, arch, num_classes)`` reads a released ``.pth`` (a dict whose
``"model"`` entry is the state dict) with ``engine.models.checkpoint`` (skeleton checked
first, tensors read with ``weights_only=True``: nothing is unpickled as code), checks that
it is ``arch`` (every key and shape of the 80-class network), and builds a network of
``num_classes`` classes holding it: everything but the class predictions, which start
afresh (``init_class_layers``) unless the class count is COCO's 80.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from engine.core.errors import BadFormat
from engine.models import checkpoint
from engine.models.yolox.model import ARCHITECTURES, YoloxModel, build_yolox

COCO_CLASSES = 80
#: Initial probability of an object / a class at every point: the loss starts near its
#: value for "nothing anywhere" instead of a flood of confident false positives.
PRIOR_PROBABILITY = 0.01


class PretrainedWeightsError(BadFormat, ValueError):
    """A weights file that is not the released YOLOX of the wanted size."""


def _skeleton(arch: str, num_classes: int) -> YoloxModel:
    with torch.device("meta"):
        return YoloxModel(ARCHITECTURES[arch], num_classes)


@torch.no_grad()
def init_class_layers(model: YoloxModel, prior: float = PRIOR_PROBABILITY, objectness: bool = True) -> None:
    """Class (and, with ``objectness``, objectness) prediction layers: small random weights,
    bias at the logit of ``prior``."""
    bias = -math.log((1 - prior) / prior)
    layers = list(model.head.cls_preds) + (list(model.head.obj_preds) if objectness else [])
    for conv in layers:
        torch.nn.init.normal_(conv.weight, std=0.01)
        conv.bias.fill_(bias)


def read_released_state(path: str | Path, arch: str) -> dict[str, torch.Tensor]:
    """The checked state dict of a released 80-class YOLOX-``arch`` ``.pth``; raises
    PretrainedWeightsError (or the checkpoint reader's error) naming the file."""
    path = Path(path)
    expected = {k: tuple(v.shape) for k, v in _skeleton(arch, COCO_CLASSES).state_dict().items()}

    def check(skeleton: object) -> None:
        state = checkpoint.state_dict_of(skeleton, str(path))
        state = {k: v for k, v in state.items() if k in expected or not k.endswith("num_batches_tracked")}
        wanted = {k: s for k, s in expected.items() if not k.endswith("num_batches_tracked") or k in state}
        problem = checkpoint.first_mismatch(wanted, state)
        if problem is not None:
            raise PretrainedWeightsError(f"{path} is not the released COCO YOLOX-{arch}: {problem}",
                                         f"give yolox_{arch}.pth from Megvii's release, or train from scratch")

    data = checkpoint.load(path, budget_bytes=checkpoint.budget_for(_skeleton(arch, COCO_CLASSES)), check=check,
                           what="YOLOX weights file")
    return checkpoint.state_dict_of(data, str(path))


def pretrained_model(path: str | Path, arch: str, num_classes: int) -> YoloxModel:
    """A trainable ``YoloxModel`` of ``num_classes`` classes started from the released
    COCO weights at ``path`` (see the module docstring)."""
    state = read_released_state(path, arch)
    model = build_yolox(arch, num_classes)
    if num_classes != COCO_CLASSES:
        state = {k: v for k, v in state.items() if not k.startswith("head.cls_preds.")}
        init_class_layers(model, objectness=False)  # "is there an object here" still holds for new classes
    model.load_state_dict(state, strict=False)  # the class layers (and old files' BN counters) may be absent
    return model
