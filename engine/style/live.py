"""Live-feed stylisation tasks for ``engine.runtime.InferenceWorker``.

``AdaINTask`` stylises every frame with AdaIN; the style statistics are computed once per
style, on a background thread, so switching styles never stalls the feed (frames keep using
the previous style until the new one is ready). ``PaletteTask`` is the honest fallback
when no AdaIN weights are installed: it only moves the style's colour palette onto the
frame (Reinhard colour transfer) and says so in every result.

Live settings (``alpha``, ``preserve_color``, ``process_side``) are plain attributes read
on each frame. Results are ``LiveStyleResult`` with the image at the frame's size.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.runtime import Task
from engine.sources import Frame
from engine.style.adain import AdaINStylizer, StyleStats, blend_stats, load_decoder_state, load_encoder_state
from engine.style.imaging import StyleImage, bgr_to_tensor, combine_luminance, reinhard_transfer, resize_long_side, tensor_to_bgr

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LiveStyleResult:
    """One stylised frame. image: (H, W, 3) uint8 BGR at the frame's size.

    method: "adain" or "palette" (colour transfer only, no network). style: display name.
    """

    image: np.ndarray
    method: str
    style: str
    alpha: float


def _fit_back(image: np.ndarray, frame: Frame) -> np.ndarray:
    if image.shape[:2] != frame.image.shape[:2]:
        image = cv2.resize(image, (frame.width, frame.height), interpolation=cv2.INTER_LINEAR)
    return image


class AdaINTask(Task):
    """AdaIN on the live feed.

    encoder_path / decoder_path: the published checkpoints (or a state_dict each, for
    tests). styles: the initial styles (interpolated by weight). process_side: frames
    are stylised at most this many px on the long side (speed), then scaled back.
    on_style_ready(name) is called (on a background thread) when a new style takes effect.
    """

    name = "style-live"

    def __init__(self, encoder: Path | dict, decoder: Path | dict, styles: Sequence[StyleImage],
                 alpha: float = 1.0, preserve_color: bool = False, process_side: int = 640,
                 on_style_ready: Callable[[str], None] | None = None) -> None:
        self.encoder_source = encoder
        self.decoder_source = decoder
        self.alpha = alpha
        self.preserve_color = preserve_color
        self.process_side = process_side
        self.on_style_ready = on_style_ready
        self._pending: list[StyleImage] = list(styles)
        self._stats: StyleStats | None = None
        self._model: AdaINStylizer | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self._style_thread: threading.Thread | None = None

    @property
    def style_name(self) -> str:
        return self._stats.name if self._stats is not None else ""

    def load(self, device: torch.device) -> None:
        enc = self.encoder_source if isinstance(self.encoder_source, dict) else load_encoder_state(self.encoder_source)
        dec = self.decoder_source if isinstance(self.decoder_source, dict) else load_decoder_state(self.decoder_source)
        self._model = AdaINStylizer(enc, dec, device)
        if self._pending:
            self._stats = self._compute(self._pending)
        with torch.inference_mode():  # warm-up, so the first frame is not the slow one
            self._model.encoder(torch.zeros(1, 3, 64, 64, device=self._model.device))

    def _compute(self, styles: Sequence[StyleImage]) -> StyleStats:
        assert self._model is not None
        return blend_stats([(self._model.style_stats(s.image, name=s.name), s.weight) for s in styles])

    def set_styles(self, styles: Sequence[StyleImage]) -> None:
        """Switch to ``styles`` without stalling the feed (any thread).

        Before ``load`` they are just remembered; afterwards their statistics are computed
        on a background thread and swapped in when ready. A newer call supersedes older ones.
        """
        styles = list(styles)
        if not styles:
            return
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._pending = styles
        if self._model is None:
            return

        def work() -> None:
            try:
                stats = self._compute(styles)
            except Exception:  # a bad style must not kill the live feed
                log.exception("computing style statistics failed")
                return
            with self._lock:
                if generation != self._generation:
                    return  # a newer style was chosen meanwhile
                self._stats = stats
            log.info("live style now %s", stats.name)
            if self.on_style_ready is not None:
                self.on_style_ready(stats.name)

        thread = threading.Thread(target=work, name="adain-style-stats", daemon=True)
        self._style_thread = thread
        thread.start()

    def wait_for_style(self, timeout: float = 10.0) -> bool:
        """Block until the latest ``set_styles`` took effect (for tests and scripts)."""
        thread = self._style_thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def preprocess(self, frame: Frame) -> torch.Tensor:
        assert self._model is not None
        image = frame.image
        if self.process_side and max(image.shape[:2]) > self.process_side:
            image = resize_long_side(image, self.process_side)
        return bgr_to_tensor(image, self._model.device)

    def infer(self, inputs: torch.Tensor) -> torch.Tensor | None:
        stats = self._stats
        if stats is None or self._model is None:
            return None
        return self._model.stylize_tensor(inputs, stats, self.alpha)

    def postprocess(self, outputs: torch.Tensor | None, frame: Frame) -> LiveStyleResult:
        if outputs is None:
            return LiveStyleResult(frame.image, "adain", "", self.alpha)
        image = _fit_back(tensor_to_bgr(outputs), frame)
        if self.preserve_color:
            image = combine_luminance(image, frame.image)
        return LiveStyleResult(image, "adain", self.style_name, self.alpha)

    def close(self) -> None:
        self._model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class PaletteTask(Task):
    """Colour-only fallback for the live feed: the style's palette, no brush strokes.

    alpha blends between the frame (0) and the recoloured frame (1). Honest by design:
    every result has method "palette" and the GUI labels it "colour transfer only".
    """

    name = "style-palette"

    def __init__(self, styles: Sequence[StyleImage], alpha: float = 1.0, process_side: int = 480) -> None:
        self.alpha = alpha
        self.preserve_color = False
        self.process_side = process_side
        self._style = styles[0] if styles else None

    def set_styles(self, styles: Sequence[StyleImage]) -> None:
        if styles:
            self._style = styles[0]

    def infer(self, inputs: Frame) -> np.ndarray | None:
        style = self._style
        if style is None:
            return None
        image = inputs.image
        small = resize_long_side(image, self.process_side) if max(image.shape[:2]) > self.process_side else image
        out = reinhard_transfer(small, style.image)
        a = float(min(max(self.alpha, 0.0), 1.0))
        if a < 1.0:
            out = cv2.addWeighted(out, a, small, 1.0 - a, 0.0)
        return out

    def postprocess(self, outputs: np.ndarray | None, frame: Frame) -> LiveStyleResult:
        if outputs is None:
            return LiveStyleResult(frame.image, "palette", "", self.alpha)
        name = self._style.name if self._style is not None else ""
        return LiveStyleResult(_fit_back(outputs, frame), "palette", name, self.alpha)
