"""Instance masks and person keypoints: torchvision's Mask R-CNN and Keypoint R-CNN.

``build_instance_network(architecture)`` makes the torchvision architecture without
downloading anything, with the normalisation layers the published files were saved from
(``FrozenBatchNorm2d`` in the ResNet of the v1 models, ``BatchNorm2d`` in v2);
``InstanceModel.from_file`` loads a state_dict with the safe loader (weights_only, keys and
shapes checked first, the first bad key named: ``SegmentWeightsError``).

``InstanceModel.run(image_bgr)`` gives torchvision's own result for the frame: the network
takes the RGB picture as float 0..1 and resizes it itself (short side ``min_size``, 800
for the published weights, long side at most 1333), and maps boxes, masks and keypoints
back to the frame. ``Instances`` holds them in frame pixels, sorted by score (highest
first), down to torchvision's score threshold 0.05; ``above(threshold)`` keeps the
confident ones. Too slow for live video on a CPU (seconds per frame): the Segment tab runs
these on a paused frame or an opened photo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from engine.features.segment.model import SegmentWeightsError
from engine.models.catalog import CatalogEntry
from engine.models.weights_io import WeightsMismatchError, read_fitting_state

log = logging.getLogger(__name__)

#: The mask head's probabilities are cut here (torchvision's paste threshold, as its references do).
MASK_THRESHOLD = 0.5


def _resnet_fpn(frozen: bool) -> nn.Module:
    from torchvision.models import resnet50
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import FrozenBatchNorm2d

    # Trainable layers only set requires_grad; inference never trains, so 0 (all frozen).
    if frozen:
        return _resnet_fpn_extractor(resnet50(weights=None, norm_layer=FrozenBatchNorm2d), 0)
    return _resnet_fpn_extractor(resnet50(weights=None), 0, norm_layer=nn.BatchNorm2d)


def _maskrcnn() -> nn.Module:
    from torchvision.models.detection import MaskRCNN
    return MaskRCNN(_resnet_fpn(frozen=True), num_classes=91)


def _maskrcnn_v2() -> nn.Module:
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, RPNHead, _default_anchorgen
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads

    anchors = _default_anchorgen()
    return MaskRCNN(_resnet_fpn(frozen=False), num_classes=91, rpn_anchor_generator=anchors,
                    rpn_head=RPNHead(256, anchors.num_anchors_per_location()[0], conv_depth=2),
                    box_head=FastRCNNConvFCHead((256, 7, 7), [256, 256, 256, 256], [1024], norm_layer=nn.BatchNorm2d),
                    mask_head=MaskRCNNHeads(256, [256, 256, 256, 256], 1, norm_layer=nn.BatchNorm2d))


def _keypointrcnn() -> nn.Module:
    from torchvision.models.detection import KeypointRCNN
    return KeypointRCNN(_resnet_fpn(frozen=True), num_classes=2, num_keypoints=17)


INSTANCE_ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {
    "maskrcnn_resnet50_fpn": _maskrcnn,
    "maskrcnn_resnet50_fpn_v2": _maskrcnn_v2,
    "keypointrcnn_resnet50_fpn": _keypointrcnn,
}


def build_instance_network(architecture: str) -> nn.Module:
    """The torchvision architecture with untrained weights, eval mode; ValueError for an unknown name."""
    try:
        make = INSTANCE_ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(f"unknown instance architecture '{architecture}' "
                         f"(known: {', '.join(INSTANCE_ARCHITECTURES)})") from None
    return make().eval()


def load_instance_weights(network: nn.Module, path: str | Path, *, model_name: str) -> None:
    """Load a state_dict file into ``network`` (weights_only). SegmentWeightsError naming the
    file and the first key that does not fit (another model's file), or why it cannot be read."""
    from engine.core.safe_files import input_file_problem

    problem = input_file_problem(Path(path))
    if problem is not None:
        raise SegmentWeightsError(problem.what, problem.todo)
    try:
        state = read_fitting_state(path, network, model_name=model_name)
    except WeightsMismatchError as exc:
        raise SegmentWeightsError(str(exc), f"use the {model_name} weights (python main.py models fetch {model_name}), "
                                  "or pick the model these weights belong to") from None
    network.load_state_dict(state, strict=False)


@dataclass(frozen=True, eq=False)
class Instances:
    """One picture's instances, highest score first, in frame pixels.

    boxes: (N, 4) float32 x1 y1 x2 y2. labels: (N,) int64 class ids (index into
    ``categories``). scores: (N,) float32 0..1. masks: (N, H, W) bool at the frame's size
    (Mask R-CNN), else None. keypoints: (N, K, 3) float32 x, y (frame pixels) and the
    keypoint's score (a logit: > 0 means the head sees it; Keypoint R-CNN), else None.
    size: (width, height) of the frame.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    masks: np.ndarray | None
    keypoints: np.ndarray | None
    categories: tuple[str, ...]
    size: tuple[int, int]

    def __len__(self) -> int:
        return int(len(self.scores))

    def above(self, threshold: float) -> "Instances":
        """Only the instances scoring at least ``threshold``."""
        keep = self.scores >= threshold
        return replace(self, boxes=self.boxes[keep], labels=self.labels[keep], scores=self.scores[keep],
                       masks=None if self.masks is None else self.masks[keep],
                       keypoints=None if self.keypoints is None else self.keypoints[keep])

    def names(self) -> list[str]:
        return [self.categories[int(i)] for i in self.labels]

    def mask_areas(self) -> list[int]:
        """Pixels of each instance's mask (0 for all without masks)."""
        if self.masks is None:
            return [0] * len(self)
        return [int(n) for n in self.masks.reshape(len(self), -1).sum(axis=1)]

    def id_map(self) -> np.ndarray:
        """(H, W) uint8 instance ids: 0 none, i + 1 where instance i (score order) is; where
        masks overlap the higher-scoring instance wins. Without masks the boxes are used.
        At most 255 instances are mapped (the rest are left out)."""
        w, h = self.size
        out = np.zeros((h, w), np.uint8)
        for i in reversed(range(min(len(self), 255))):
            out[self._region(i)] = i + 1
        return out

    def _region(self, i: int) -> Any:
        if self.masks is not None:
            return self.masks[i]
        w, h = self.size
        x1, y1, x2, y2 = self.boxes[i]
        x1, x2 = (int(np.clip(round(float(v)), 0, w)) for v in (x1, x2))
        y1, y2 = (int(np.clip(round(float(v)), 0, h)) for v in (y1, y2))
        return (slice(y1, y2), slice(x1, x2))

    def to_json(self, keypoint_names: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """One dict per instance: label, score, box [x1, y1, x2, y2], mask_area (pixels) and,
        for Keypoint R-CNN, keypoints [[x, y, score], ...] (with their ``keypoint_names`` order)."""
        out = []
        areas = self.mask_areas()
        for i in range(len(self)):
            item: dict[str, Any] = {"label": self.categories[int(self.labels[i])], "score": round(float(self.scores[i]), 4),
                                    "box": [round(float(v), 1) for v in self.boxes[i]]}
            if self.masks is not None:
                item["mask_area"] = areas[i]
            if self.keypoints is not None:
                item["keypoints"] = [[round(float(x), 1), round(float(y), 1), round(float(s), 3)]
                                     for x, y, s in self.keypoints[i]]
            out.append(item)
        return out


class InstanceModel:
    """A torchvision Mask R-CNN / Keypoint R-CNN with its labels; not thread-safe (one per job).

    network: torchvision's ``GeneralizedRCNN`` (it normalises and resizes inside).
    min_size: the short side it resizes to (800: the published weights'; smaller is faster).
    """

    def __init__(self, network: nn.Module, *, name: str, categories: tuple[str, ...],
                 keypoint_names: tuple[str, ...] = (), device: torch.device | str | None = None) -> None:
        self.name = name
        self.categories = tuple(categories)
        self.keypoint_names = tuple(keypoint_names)
        self.device = torch.device(device or "cpu")
        self.network = network.eval().to(self.device)

    @classmethod
    def from_file(cls, entry: CatalogEntry, weights: str | Path, device: torch.device | str | None = None) -> "InstanceModel":
        network = build_instance_network(entry.meta["architecture"])
        load_instance_weights(network, weights, model_name=entry.name)
        return cls(network, name=entry.name, categories=entry.meta["categories"],
                   keypoint_names=entry.meta.get("keypoint_names", ()), device=device)

    @property
    def has_masks(self) -> bool:
        return getattr(self.network.roi_heads, "mask_head", None) is not None

    @property
    def has_keypoints(self) -> bool:
        return getattr(self.network.roi_heads, "keypoint_head", None) is not None

    @property
    def min_size(self) -> int:
        return int(self.network.transform.min_size[0])

    def set_min_size(self, side: int) -> None:
        """The short side the network resizes the picture to (e.g. 480 for speed; 800 is the published one)."""
        if not 160 <= int(side) <= 1333:
            raise ValueError(f"min_size must be between 160 and 1333 px, not {side}")
        self.network.transform.min_size = (int(side),)

    @torch.inference_mode()
    def run(self, image_bgr: np.ndarray) -> Instances:
        """The instances of one BGR uint8 (H, W, 3) picture."""
        h, w = image_bgr.shape[:2]
        rgb = torch.from_numpy(np.ascontiguousarray(image_bgr[:, :, ::-1])).to(self.device)
        x = rgb.permute(2, 0, 1).float().div_(255.0)
        out = self.network([x])[0]
        return self.from_output(out, (w, h))

    def from_output(self, out: dict[str, torch.Tensor], size: tuple[int, int]) -> Instances:
        """torchvision's output dict for one picture -> ``Instances`` (masks cut at ``MASK_THRESHOLD``)."""
        masks = out.get("masks")
        keypoints = out.get("keypoints")
        if keypoints is not None:
            # torchvision's third column is a constant visibility 1; the head's score is apart
            keypoints = torch.cat([keypoints[..., :2], out["keypoints_scores"][..., None]], dim=-1)
        return Instances(
            boxes=out["boxes"].float().cpu().numpy().astype(np.float32),
            labels=out["labels"].cpu().numpy().astype(np.int64),
            scores=out["scores"].float().cpu().numpy().astype(np.float32),
            masks=None if masks is None else (masks[:, 0] > MASK_THRESHOLD).cpu().numpy(),
            keypoints=None if keypoints is None else keypoints.float().cpu().numpy().astype(np.float32),
            categories=self.categories, size=size)
