"""The live Segment task: every frame labelled, or (person mode) its background replaced.

Settings are one frozen snapshot, ``SegmentSettings``, replaced whole through
``InferenceWorker.update``:

* mode "classes": the label map of the 21 VOC classes at the frame's size (the network at
  short side ``short_side``; the entry's 520 is torchvision's own and exact, smaller is
  faster), the probability of each pixel's class and the area of each class
  (``SegmentResult.segmentation``, a ``model.Segmentation``).
* mode "person": only the person probability is used, at short side ``person_side``;
  ``person.PersonCompositor`` smooths and stabilises the mask and composes the frame over
  the ``background`` (blur, picture, colour): ``SegmentResult.image``, the frame's size.
  A background picture that cannot be read raises in ``configure`` (a "settings_error":
  the feed keeps the old background).

What the course teaches, from the same frames (classes mode): ``stages`` makes the forward
record the decoder's upsampling path (``stages.decoder_views``: each stage's output at its
resolution, and how the next resolution is reached); ``cam_class`` (with ``cam_layer``)
makes it a seg-CAM forward with gradients (``cam.seg_cam``; ``needs_grad`` then says so to
the worker). Both off: the plain, fast forward.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np
import torch

from engine.core.frame import Frame
from engine.features.segment.catalog import PERSON
from engine.features.segment.model import Segmentation, Segmenter, input_size, resize_like_torchvision
from engine.features.segment.person import Background, PersonCompositor
from engine.models.catalog import CatalogEntry
from engine.runtime.worker import Task

log = logging.getLogger(__name__)

MODES = ("classes", "person")


@dataclass(frozen=True)
class SegmentSettings:
    """mode: "classes" or "person". short_side: network short side in classes mode (None:
    the entry's, torchvision's 520). person_side: network short side in person mode (96..520).
    background: what replaces it (person mode). softness: mask edge blur, px at person_side.
    stabilise: flow stabilisation of the mask. labels: person mode also gives the label map
    of every class (``SegmentResult.segmentation``, from the same logits; the CLI's --json
    and --mask-out with a background). stages: classes mode records the decoder's stages.
    cam_class: classes mode computes the seg-CAM of this class id at module ``cam_layer``
    (None: the backbone's last stage)."""

    mode: str = "classes"
    short_side: int | None = None
    person_side: int = 160
    background: Background = field(default_factory=Background)
    softness: float = 1.5
    stabilise: bool = True
    labels: bool = False
    stages: bool = False
    cam_class: int | None = None
    cam_layer: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.short_side is not None and not 64 <= self.short_side <= 1024:
            raise ValueError(f"short_side must be between 64 and 1024 px, not {self.short_side}")
        if not 64 <= self.person_side <= 520:
            raise ValueError(f"person_side must be between 64 and 520 px, not {self.person_side}")
        if not 0.0 <= self.softness <= 10.0:
            raise ValueError(f"softness must be between 0 and 10 px, not {self.softness}")

    def with_(self, **changes: Any) -> "SegmentSettings":
        return replace(self, **changes)


@dataclass(frozen=True, eq=False)
class SegmentResult:
    """One frame. model: the entry's name. mode: the settings' mode.
    segmentation: classes mode (and person mode with ``labels``), at the frame's size, else None. image: person mode, the
    composed frame (H, W, 3) uint8 BGR (else None). mask: person mode, (h, w) uint8
    0..255 at the network's size. person_fraction: share of the frame that is person.
    atrous: (rate, output stride) of the model's dilated ASPP branches (``stages.atrous_taps``; () without).
    stages: the decoder's stages with previews (``stages.StageView``) when asked for. cam: the
    seg-CAM (``cam.CamResult``) when asked for."""

    model: str
    mode: str
    segmentation: Segmentation | None = None
    image: np.ndarray | None = None
    mask: np.ndarray | None = None
    person_fraction: float = 0.0
    atrous: tuple[tuple[int, int], ...] = ()
    stages: tuple[Any, ...] = ()
    cam: Any = None


class SegmentationTask(Task):
    """Segment each frame with a catalog entry's model (built in ``load``) or a ready ``Segmenter``."""

    name = "segment"

    def __init__(self, model: CatalogEntry | Segmenter, settings: SegmentSettings | None = None,
                 cache: Any = None) -> None:
        self._source = model
        self._cache = cache
        self.settings = settings or SegmentSettings()
        self.segmenter: Segmenter | None = model if isinstance(model, Segmenter) else None
        self.compositor = PersonCompositor()
        self._scene: tuple[str, int] | None = None
        self._atrous: tuple[tuple[int, int], ...] = ()
        self._check_background(self.settings)

    @property
    def needs_grad(self) -> bool:
        """Grad-CAM needs gradients; the worker runs this frame under enable_grad then."""
        return self.settings.mode == "classes" and self.settings.cam_class is not None

    @property
    def model_name(self) -> str:
        return self._source.name

    def _check_background(self, settings: SegmentSettings) -> None:
        if settings.mode == "person" and settings.background.kind == "image":
            # read now, so a bad file is refused with the snapshot (the old one stays)
            from engine.features.segment.person import read_background
            read_background(settings.background.image)

    def configure(self, settings: SegmentSettings) -> None:
        self._check_background(settings)
        if settings.mode != self.settings.mode:
            self.compositor.reset()
        self.settings = settings

    def load(self, device: torch.device) -> None:
        if self.segmenter is None:
            self.segmenter = self._source.build(self._cache, device)
        elif self.segmenter.device != device:
            self.segmenter.to(device)
        # warm up at the person size (the allocator and the kernels' first calls)
        self.segmenter.logits(np.zeros((120, 160, 3), np.uint8), 96)
        from engine.features.segment.stages import atrous_taps
        self._atrous = tuple(atrous_taps(self.segmenter))

    def preprocess(self, frame: Frame) -> np.ndarray:
        scene = (frame.source, frame.scene)
        if scene != self._scene:
            self.compositor.reset()  # the last mask belongs to another picture
            self._scene = scene
        return frame.image

    def infer(self, image: np.ndarray) -> Any:
        settings = self.settings
        if settings.mode == "classes":
            if settings.cam_class is None and not settings.stages:
                return self.segmenter.logits(image, settings.short_side)
            return self._taught(image, settings)
        h, w = image.shape[:2]
        size = input_size(w, h, settings.person_side)
        if settings.labels:
            small = resize_like_torchvision(image, size)
            logits = self.segmenter.logits(small, settings.person_side)
            return small, torch.softmax(logits[0], dim=0)[PERSON].cpu().numpy(), logits
        # the live path: OpenCV's area resize is ten times faster than torchvision's resize
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        probability = self.segmenter.class_probability(small, PERSON, settings.person_side)
        return small, probability, None

    def _taught(self, image: np.ndarray, settings: SegmentSettings) -> dict[str, Any]:
        """The forward(s) of the course views: {"logits", "stages", "cam"}."""
        out: dict[str, Any] = {"stages": (), "cam": None}
        if settings.stages:
            from engine.features.segment.stages import decoder_views
            out["logits"], views = decoder_views(self.segmenter, image, settings.short_side)
            out["stages"] = tuple(views)
        if settings.cam_class is not None:
            from engine.features.segment.cam import cam_layers_of, seg_cam
            layer = settings.cam_layer or cam_layers_of(self.segmenter)[0]
            cam = seg_cam(self.segmenter, image, settings.cam_class, layer, settings.short_side)
            out["cam"] = cam
            out.setdefault("logits", cam.logits)
        return out

    def postprocess(self, outputs: Any, frame: Frame) -> SegmentResult:
        settings = self.settings
        name = self.segmenter.name
        if settings.mode == "classes":
            h, w = frame.image.shape[:2]
            taught = outputs if isinstance(outputs, dict) else {"logits": outputs, "stages": (), "cam": None}
            seg = self.segmenter.from_logits(taught["logits"], (w, h))
            return SegmentResult(name, "classes", segmentation=seg, person_fraction=float(seg.fractions()[PERSON]),
                                 atrous=self._atrous, stages=taught["stages"], cam=taught["cam"])
        small, probability, logits = outputs
        mask = self.compositor.mask(probability, small, softness=settings.softness, stabilise=settings.stabilise)
        image = self.compositor.compose(frame.image, mask, settings.background)
        seg = None
        if logits is not None:
            h, w = frame.image.shape[:2]
            seg = self.segmenter.from_logits(logits, (w, h))
        return SegmentResult(name, "person", segmentation=seg, image=image, mask=mask,
                             person_fraction=float(mask.mean() / 255.0))

    def close(self) -> None:
        self.compositor.reset()
