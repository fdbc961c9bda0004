"""torchvision's segmentation networks behind one object: frame in, label map out.

``build_network(architecture)`` makes the torchvision architecture without downloading
anything (no weights, no backbone weights, no auxiliary head); ``load_weights`` reads a
state_dict file with the safe loader (``weights_only``, sizes checked against the
architecture before a tensor is read) and refuses another model's file naming the first
key that does not fit (``SegmentWeightsError``).

``Segmenter.segment(image_bgr)``: the frame is resized so its short side is the entry's
``short_side`` (torchvision's ``SemanticSegmentation``: long side = int(short_side * long /
short)), normalised as the entry's ``Transforms`` say, the network gives logits
(1, 21, h, w) at its input's size, those are resized bilinearly (align_corners=False) to
the frame and the label map is their argmax. ``Segmentation`` holds the label map
(H, W) uint8 class ids, the softmax probability of the chosen class (H, W) float32 and the
pixel count per class (21,) int64, all at the frame's size, pixel (row y, column x).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.core.errors import BadFormat
from engine.models.catalog import CatalogEntry, Transforms
from engine.models.transforms import InputResolver
from engine.models.weights_io import WeightsMismatchError, read_fitting_state

log = logging.getLogger(__name__)

#: Keys of the training-only auxiliary head the published DeepLabV3/FCN files carry.
AUX_PREFIX = "aux_classifier."


class SegmentWeightsError(BadFormat, ValueError):
    """A weights file that does not fit the segmentation architecture (the first bad key named)."""


def _lraspp(num_classes: int) -> nn.Module:
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large
    return lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)


def _deeplab_mobile(num_classes: int) -> nn.Module:
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large
    return deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)


def _deeplab_resnet(num_classes: int) -> nn.Module:
    from torchvision.models.segmentation import deeplabv3_resnet50
    return deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)


def _fcn(num_classes: int) -> nn.Module:
    from torchvision.models.segmentation import fcn_resnet50
    return fcn_resnet50(weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=False)


ARCHITECTURES: dict[str, Callable[[int], nn.Module]] = {
    "lraspp_mobilenet_v3_large": _lraspp,
    "deeplabv3_mobilenet_v3_large": _deeplab_mobile,
    "deeplabv3_resnet50": _deeplab_resnet,
    "fcn_resnet50": _fcn,
}


def build_network(architecture: str, num_classes: int = 21) -> nn.Module:
    """The torchvision architecture with untrained weights (eval mode); ValueError for an unknown name."""
    try:
        make = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(f"unknown segmentation architecture '{architecture}' (known: {', '.join(ARCHITECTURES)})") from None
    return make(num_classes).eval()


def load_weights(network: nn.Module, path: str | Path, *, model_name: str) -> None:
    """Load a state_dict file into ``network`` (weights_only; the auxiliary head skipped).

    Raises SegmentWeightsError naming the file and the first key that does not fit (or
    why the file cannot be read).
    """
    from engine.core.safe_files import input_file_problem

    problem = input_file_problem(Path(path))
    if problem is not None:
        raise SegmentWeightsError(problem.what, problem.todo)
    try:
        state = read_fitting_state(path, network, model_name=model_name, ignore_prefixes=(AUX_PREFIX,))
    except WeightsMismatchError as exc:
        raise SegmentWeightsError(str(exc), f"use the {model_name} weights (python main.py models fetch {model_name}), "
                                  "or pick the model these weights belong to") from None
    network.load_state_dict(state, strict=False)


def input_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) of the network input for a (width, height) frame: the short side
    made ``short_side``, the long side scaled and truncated as torchvision's resize does."""
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def resize_like_torchvision(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (height, width, 3) uint8 resized as torchvision's transform of
    these weights resizes a uint8 tensor: in float32, bilinear with antialiasing, half-pixel
    centres, rounded.

    OpenCV's bilinear resize differs by a grey level here and there (fixed-point weights,
    no antialiasing when shrinking); that is enough to move some argmax borders, so the
    resize is torch's and the label map is torchvision's own.
    """
    w, h = size
    if image.shape[:2] == (h, w):
        return image
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    out = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return out[0].round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


@dataclass(frozen=True)
class Segmentation:
    """One frame's segmentation at the frame's size.

    labels: (H, W) uint8 class ids (index into ``categories``). probability: (H, W)
    float32, softmax probability of that class. areas: (C,) int64 pixels per class.
    categories: class names. input_size: (width, height) the network ran at.
    """

    labels: np.ndarray
    probability: np.ndarray
    areas: np.ndarray
    categories: tuple[str, ...]
    input_size: tuple[int, int]

    def fractions(self) -> np.ndarray:
        """(C,) float64 share of the frame per class (sums to 1)."""
        return self.areas / max(1, int(self.labels.size))

    def counts(self) -> dict[str, int]:
        """Class name -> pixel count for the classes present (the CLI's --json)."""
        return {name: int(n) for name, n in zip(self.categories, self.areas) if n}


class Segmenter:
    """A torchvision segmentation network with its preprocessing; not thread-safe (one per worker).

    network: maps (1, 3, h, w) normalised RGB to {"out": (1, C, h, w) logits}.
    transforms: the normalisation (catalog ``Transforms``); short_side: the resize rule.
    """

    def __init__(self, network: nn.Module, *, name: str, categories: tuple[str, ...], transforms: Transforms,
                 short_side: int, device: torch.device | str | None = None) -> None:
        self.name = name
        self.categories = tuple(categories)
        self.transforms = transforms
        self.short_side = int(short_side)
        self.device = torch.device(device or "cpu")
        self.network = network.eval().to(self.device)
        # Frames arrive already at the input size: the resolver converts and normalises.
        self._resolver = InputResolver(transforms, device=self.device)

    def to(self, device: torch.device | str) -> "Segmenter":
        """Move the network (and the input buffers) to ``device``."""
        self.device = torch.device(device)
        self.network.to(self.device)
        self._resolver = InputResolver(self.transforms, device=self.device)
        return self

    @classmethod
    def from_file(cls, entry: CatalogEntry, weights: str | Path, device: torch.device | str | None = None) -> "Segmenter":
        network = build_network(entry.meta["architecture"], len(entry.meta["categories"]))
        load_weights(network, weights, model_name=entry.name)
        return cls(network, name=entry.name, categories=entry.meta["categories"], transforms=entry.transforms,
                   short_side=entry.meta["short_side"], device=device)

    @torch.inference_mode()
    def logits(self, image_bgr: np.ndarray, short_side: int | None = None) -> torch.Tensor:
        """(1, C, h, w) float32 logits at the network input's size (short side ``short_side``,
        default the entry's)."""
        h, w = image_bgr.shape[:2]
        size = input_size(w, h, int(short_side or self.short_side))
        x, _ = self._resolver(resize_like_torchvision(image_bgr, size))
        return self.network(x)["out"].float()

    @torch.inference_mode()
    def segment(self, image_bgr: np.ndarray, short_side: int | None = None) -> Segmentation:
        """The label map, probabilities and areas of one BGR uint8 (H, W, 3) frame."""
        h, w = image_bgr.shape[:2]
        logits = self.logits(image_bgr, short_side)
        return self.from_logits(logits, (w, h))

    def from_logits(self, logits: torch.Tensor, frame_size: tuple[int, int]) -> Segmentation:
        """Logits (1, C, h, w) -> the frame-sized ``Segmentation`` (bilinear resize, softmax, argmax)."""
        w, h = frame_size
        in_size = (int(logits.shape[-1]), int(logits.shape[-2]))
        if in_size != (w, h):
            logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
        probs = torch.softmax(logits[0], dim=0)
        best, labels = probs.max(dim=0)
        labels_np = labels.to(torch.uint8).cpu().numpy()
        areas = np.bincount(labels_np.ravel(), minlength=len(self.categories)).astype(np.int64)
        return Segmentation(labels_np, best.cpu().numpy().astype(np.float32), areas, self.categories, in_size)

    @torch.inference_mode()
    def class_probability(self, image_bgr: np.ndarray, class_id: int, short_side: int) -> np.ndarray:
        """(h, w) float32 softmax probability of one class at the network input's size
        (person mode: the mask is upsampled by the caller, after smoothing)."""
        logits = self.logits(image_bgr, short_side)[0]
        return torch.softmax(logits, dim=0)[class_id].cpu().numpy()
