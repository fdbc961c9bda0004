"""Live-feed stylisation tasks for ``engine.runtime.worker.InferenceWorker``.

Three methods share one frozen settings snapshot, ``LiveStyleSettings``, read once per
frame through ``Task.settings`` and replaced whole through ``InferenceWorker.update``:

* ``FastStyleTask``: a fast feed-forward network (a preset such as ``fast-candy`` or the
  user's own), built from its catalog entry; the cheapest real stylisation on a CPU.
* ``AdaINTask``: arbitrary styles; the style statistics are computed in ``configure``, on
  the worker thread, so no second thread ever uses the model. A style that cannot be used
  raises there, the worker reports a ``settings_error`` event and the feed keeps the old
  style.
* ``PaletteTask``: the honest fallback without any network: only the style's colour
  palette moves onto the frame (Reinhard colour transfer), and every result says so.

Every result is a ``LiveStyleResult`` holding the stylised image at the frame's size, so
the view can show it the moment it arrives. With ``stabilise`` on, a ``FlowStabiliser``
blends each output with the previous one warped by optical flow (less flicker).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from engine.core.frame import Frame
from engine.features.style.adain import AdaINStylizer, StyleStats, load_decoder_state, load_encoder_state
from engine.features.style.imaging import StyleImage, bgr_to_tensor, combine_luminance, reinhard_transfer, resize_long_side, tensor_to_bgr
from engine.features.style.stabilise import FlowStabiliser
from engine.runtime.worker import Task

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LiveStyleSettings:
    """One snapshot of the live settings.

    styles: the style images of AdaIN / palette (blended by weight; ignored by fast
    styles, whose style is the model). strength: 0 = the camera, 1 = full style.
    preserve_color: keep the camera's colours. process_side: long side in px the network
    runs at (160..1280; the result is upscaled to the frame). stabilise: flow-based
    flicker reduction.
    """

    styles: tuple[StyleImage, ...] = ()
    strength: float = 1.0
    preserve_color: bool = False
    process_side: int = 320
    stabilise: bool = False

    def with_(self, **changes: Any) -> "LiveStyleSettings":
        return replace(self, **changes)

    @property
    def style_name(self) -> str:
        return " + ".join(s.name for s in self.styles if s.weight > 0)


@dataclass(frozen=True, eq=False)
class LiveStyleResult:
    """One stylised frame. image: (H, W, 3) uint8 BGR at the frame's size.

    method: "fast", "adain" or "palette" (colour transfer only, no network). style:
    display name ("" while no style is set: ``image`` is then the camera frame).
    strength: the amount used. stabilised: the flow stabiliser was applied.
    process_size: (w, h) the network ran at, or None.
    """

    image: np.ndarray
    method: str
    style: str
    strength: float
    stabilised: bool = False
    process_size: tuple[int, int] | None = None


def _fit_back(image: np.ndarray, frame: Frame) -> np.ndarray:
    if image.shape[:2] != frame.image.shape[:2]:
        image = cv2.resize(image, (frame.width, frame.height), interpolation=cv2.INTER_CUBIC)
    return image


class LiveStyleTask(Task):
    """What the three methods share: the settings snapshot and the stabiliser."""

    method = ""

    def __init__(self, settings: LiveStyleSettings | None = None) -> None:
        self.settings = settings or LiveStyleSettings()
        self._stabiliser = FlowStabiliser()

    def configure(self, settings: LiveStyleSettings) -> None:
        old = self.settings
        self.settings = settings
        if not settings.stabilise or old is None or old.styles is not settings.styles:
            self._stabiliser.reset()  # a new style must not be blended with the old one

    def _finish(self, image: np.ndarray, frame: Frame, style: str, size: tuple[int, int] | None) -> LiveStyleResult:
        s = self.settings
        image = _fit_back(image, frame)
        if s.stabilise:
            image = self._stabiliser.apply(frame.image, image)
        return LiveStyleResult(image, self.method, style, s.strength, s.stabilise, size)

    def _unstyled(self, frame: Frame) -> LiveStyleResult:
        return LiveStyleResult(frame.image, self.method, "", self.settings.strength)


class FastStyleTask(LiveStyleTask):
    """A fast style network on the live feed.

    model: a catalog name (``fast-candy``, a user style) or a ``.pth`` path; it is built
    in ``load`` through the catalog entry's builder (or from a FastStylizer given directly,
    for tests and benchmarks). cache: the WeightsCache (None: the default one).
    """

    name = "style-fast"
    method = "fast"

    def __init__(self, model: Any, settings: LiveStyleSettings | None = None, cache: Any = None) -> None:
        super().__init__(settings)
        self.model_source = model
        self.cache = cache
        self._stylizer: Any = None

    def load(self, device: torch.device) -> None:
        from engine.features.style import models
        from engine.features.style.fast_style import FastStylizer

        if isinstance(self.model_source, FastStylizer):
            self._stylizer = self.model_source
        else:
            self._stylizer = models.fast_model(self.model_source, device, self.cache)
        self._stylizer.stylize(np.zeros((64, 64, 3), np.uint8), 64)  # warm-up: the first frame is not the slow one

    @property
    def style_name(self) -> str:
        return self._stylizer.name if self._stylizer is not None else ""

    def infer(self, inputs: Frame) -> tuple[np.ndarray, tuple[int, int]] | None:
        if self._stylizer is None:
            return None
        from engine.features.style.fast_style import processing_size

        s = self.settings
        image = inputs.image
        h, w = processing_size(image.shape[0], image.shape[1], s.process_side)
        return self._stylizer.stylize(image, s.process_side, s.strength, s.preserve_color), (w, h)

    def postprocess(self, outputs: Any, frame: Frame) -> LiveStyleResult:
        if outputs is None:
            return self._unstyled(frame)
        image, size = outputs
        return self._finish(image, frame, self.style_name, size)

    def close(self) -> None:
        self._stylizer = None


class AdaINTask(LiveStyleTask):
    """AdaIN on the live feed.

    encoder / decoder: the published checkpoints (paths) or a state_dict each (tests).
    The style statistics of ``settings.styles`` are computed in ``load`` and again in
    ``configure`` whenever the styles change, both on the worker thread.
    """

    name = "style-adain"
    method = "adain"

    def __init__(self, encoder: Path | dict, decoder: Path | dict, settings: LiveStyleSettings | None = None) -> None:
        super().__init__(settings)
        self.encoder_source = encoder
        self.decoder_source = decoder
        self._stats: StyleStats | None = None
        self._model: AdaINStylizer | None = None

    @property
    def style_name(self) -> str:
        return self._stats.name if self._stats is not None else ""

    def load(self, device: torch.device) -> None:
        enc = self.encoder_source if isinstance(self.encoder_source, dict) else load_encoder_state(self.encoder_source)
        dec = self.decoder_source if isinstance(self.decoder_source, dict) else load_decoder_state(self.decoder_source)
        self._model = AdaINStylizer(enc, dec, device)
        self._stats = self._compute(self.settings.styles)
        with torch.inference_mode():  # warm-up, so the first frame is not the slow one
            self._model.encoder(torch.zeros(1, 3, 64, 64, device=self._model.device))

    def _compute(self, styles: Sequence[StyleImage]) -> StyleStats | None:
        assert self._model is not None
        from engine.features.style.jobs import prepare_adain_stats

        chosen = [s for s in styles if s.weight > 0]
        if not chosen:
            return None
        return prepare_adain_stats(self._model, chosen)  # the same preparation as photo mode and `stylize`

    def configure(self, settings: LiveStyleSettings) -> None:
        if self._model is not None and settings.styles is not self.settings.styles:
            stats = self._compute(settings.styles)  # raises on a bad style: the old style and settings stay
            self._stats = stats
            log.info("live style now %s", stats.name if stats else "none")
        super().configure(settings)

    def preprocess(self, frame: Frame) -> torch.Tensor:
        assert self._model is not None
        image = frame.image
        side = self.settings.process_side
        if side and max(image.shape[:2]) > side:
            image = resize_long_side(image, side)
        return bgr_to_tensor(image, self._model.device)

    def infer(self, inputs: torch.Tensor) -> torch.Tensor | None:
        stats = self._stats
        if stats is None or self._model is None:
            return None
        return self._model.stylize_tensor(inputs, stats, self.settings.strength)

    def postprocess(self, outputs: torch.Tensor | None, frame: Frame) -> LiveStyleResult:
        if outputs is None:
            return self._unstyled(frame)
        size = (int(outputs.shape[-1]), int(outputs.shape[-2]))
        image = _fit_back(tensor_to_bgr(outputs), frame)
        if self.settings.preserve_color:
            image = combine_luminance(image, frame.image)
        return self._finish(image, frame, self.style_name, size)

    def close(self) -> None:
        self._model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class PaletteTask(LiveStyleTask):
    """Colour-only fallback for the live feed: the first style's palette, no brush strokes.

    strength blends between the frame (0) and the recoloured frame (1). Honest by design:
    every result has method "palette" and the GUI labels it "colour transfer only".
    """

    name = "style-palette"
    method = "palette"

    def infer(self, inputs: Frame) -> np.ndarray | None:
        s = self.settings
        styles = [st for st in s.styles if st.weight > 0]
        if not styles:
            return None
        image = inputs.image
        side = s.process_side
        small = resize_long_side(image, side) if max(image.shape[:2]) > side else image
        out = reinhard_transfer(small, styles[0].image)
        a = float(min(max(s.strength, 0.0), 1.0))
        if a < 1.0:
            out = cv2.addWeighted(out, a, small, 1.0 - a, 0.0)
        return out

    def postprocess(self, outputs: np.ndarray | None, frame: Frame) -> LiveStyleResult:
        if outputs is None:
            return self._unstyled(frame)
        styles = [st for st in self.settings.styles if st.weight > 0]
        return self._finish(outputs, frame, styles[0].name, None)
