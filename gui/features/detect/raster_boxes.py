"""Boxes and captions drawn straight into a picture's pixels with OpenCV and numpy.

The live view composes each result's picture once (``VideoView``'s raster overlay); these
functions draw the per-result marks into it. Why not QPainter: PySide holds the
interpreter lock through every Qt call, and the inference thread needs that lock between
its operators, so the boxes painted per result cost the model about a tenth of its frame
rate on two cores (measured with ``bench/gui_live.py``: 0.89 of standalone with the
QPainter boxes, 0.98 with none). ``cv2.rectangle`` releases the lock while it draws, and a
cached caption is a few small numpy copies.

Coordinates: ``canvas`` is a uint8 BGRA (H, W, 4) picture of the frame scaled by ``scale``
(canvas pixel = scale x frame pixel, origin top-left, y down); boxes are (N, 4) xyxy in
frame pixels. Everything drawn keeps alpha at 255.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import cv2
import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter

from engine.features.detect.annotate import class_color_rgb

# Captions drawn per picture, best scores first; boxes are always all drawn. Beyond about
# 25 captions a 640x480 picture is unreadable.
MAX_LABELS = 25


@functools.lru_cache(maxsize=1024)
def class_bgra(class_id: int) -> tuple[int, int, int, int]:
    """The class colour as an OpenCV BGRA scalar (opaque)."""
    r, g, b = class_color_rgb(class_id)
    return b, g, r, 255


class CaptionBitmaps:
    """Captions ("person 0.87", "#12 car") as cached BGRA bitmaps on the class colour.

    Laying out text is the expensive part (about 0.09 ms a caption in Qt), and a whole
    caption rarely repeats because its score changes every frame. So each word (class
    names, scores, track ids) is laid out once per size as a coverage mask, and a caption
    new to the cache is assembled from those masks and tinted with numpy (no layout);
    drawing a cached caption is one copy. Least recently used entries go first.
    """

    PAD_LEFT, PAD_RIGHT = 3, 4

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._masks: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._captions: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._fonts: dict[int, tuple[QFont, int, int]] = {}  # pixel size -> font, space, height
        self.rendered = 0  # words laid out so far (mask cache misses)

    def _font(self, pixel_size: int) -> tuple[QFont, int, int]:
        entry = self._fonts.get(pixel_size)
        if entry is None:
            font = QFont()
            font.setPixelSize(pixel_size)
            metrics = QFontMetricsF(font)
            entry = (font, max(1, int(round(metrics.horizontalAdvance(" ")))), int(metrics.height() + 2))
            self._fonts[pixel_size] = entry
        return entry

    def height(self, pixel_size: int) -> int:
        """A caption's height in pixels."""
        return self._font(pixel_size)[2]

    @staticmethod
    def _remember(cache: OrderedDict, key: tuple, value: np.ndarray, size: int) -> np.ndarray:
        cache[key] = value
        if len(cache) > size:
            cache.popitem(last=False)
        return value

    def mask(self, word: str, pixel_size: int) -> np.ndarray:
        """(h, w) uint8 text coverage of ``word`` (255 = ink), as tall as a caption."""
        key = (word, pixel_size)
        found = self._masks.get(key)
        if found is not None:
            self._masks.move_to_end(key)
            return found
        font, _space, height = self._font(pixel_size)
        width = max(1, int(QFontMetricsF(font).horizontalAdvance(word) + 1))
        image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setFont(font)
        painter.setPen(QColor(0, 0, 0))
        painter.drawText(QRectF(0, 0, width, height), Qt.AlignmentFlag.AlignVCenter, word)
        painter.end()
        pixels = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
        argb = pixels.reshape(height, image.bytesPerLine() // 4, 4)[:, :width]
        # The alpha byte of a premultiplied 0xAARRGGBB word, whatever the byte order.
        alpha = argb[..., 3] if np.little_endian else argb[..., 0]
        self.rendered += 1
        return self._remember(self._masks, key, np.ascontiguousarray(alpha), self.size)

    def caption(self, text: str, class_id: int, pixel_size: int) -> np.ndarray:
        """(h, w, 4) BGRA: black ``text`` on the class colour, with the caption's padding."""
        key = (text, class_id, pixel_size)
        found = self._captions.get(key)
        if found is not None:
            self._captions.move_to_end(key)
            return found
        _font, space, height = self._font(pixel_size)
        masks = [self.mask(w, pixel_size) for w in text.split()]
        width = self.PAD_LEFT + sum(m.shape[1] for m in masks) + space * max(0, len(masks) - 1) + self.PAD_RIGHT
        coverage = np.zeros((height, width), np.uint16)
        left = self.PAD_LEFT
        for m in masks:
            coverage[:, left:left + m.shape[1]] = m
            left += m.shape[1] + space
        background = np.array(class_bgra(class_id), np.uint16)
        tinted = (background * (255 - coverage[..., None]) // 255).astype(np.uint8)
        tinted[..., 3] = 255
        return self._remember(self._captions, key, tinted, self.size)

    def draw(self, canvas: np.ndarray, x: int, y: int, text: str, class_id: int, pixel_size: int) -> None:
        """The caption with its top-left corner at canvas pixel (x, y), clipped to the canvas."""
        blit(canvas, x, y, self.caption(text, class_id, pixel_size))


def blit(canvas: np.ndarray, x: int, y: int, bitmap: np.ndarray) -> None:
    """Copy ``bitmap`` with its top-left corner at canvas pixel (x, y), clipped to the canvas."""
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + bitmap.shape[1], canvas.shape[1]), min(y + bitmap.shape[0], canvas.shape[0])
    if x0 < x1 and y0 < y1:
        canvas[y0:y1, x0:x1] = bitmap[y0 - y:y1 - y, x0 - x:x1 - x]


def _outline(canvas: np.ndarray, box: list[int], color: tuple[int, int, int, int], width: int) -> None:
    """A ``width``-pixel outline centred on the box's edges, as nested one-pixel rectangles:
    OpenCV draws those with a plain line walk, a thick one through polygon filling with
    round joints (twice the time for width 2)."""
    x1, y1, x2, y2 = box
    for inset in range(-(width // 2), width - width // 2):
        cv2.rectangle(canvas, (x1 + inset, y1 + inset), (x2 - inset, y2 - inset), color, 1, cv2.LINE_8)


CAPTIONS = CaptionBitmaps()


def draw_boxes(canvas: np.ndarray, scale: float, boxes: np.ndarray, class_ids: np.ndarray,
               captions: list[str] | None, order: np.ndarray | None, frame_width: int, frame_height: int,
               selected: int | None = None, bitmaps: CaptionBitmaps = CAPTIONS, max_labels: int = MAX_LABELS) -> int:
    """Every box's outline in its class colour and at most ``max_labels`` captions, most
    important first (``order``: row indices, best first); the ``selected`` row is drawn
    thicker. captions: one per row, or None. Returns how many captions were left out.

    Line width and caption size follow the frame (1/400 and 1/50 of its longer side) times
    ``scale``, so a snapshot (scale 1) looks like the screen.
    """
    n = len(boxes)
    if n == 0:
        return 0
    ids = np.asarray(class_ids, np.int64).tolist()
    # On the canvas's last pixel at most: boxes are clipped to [0, W] in frame pixels, and
    # an edge one past the last column would not be drawn at all. NaN lands at 0.
    height_px, width_px = canvas.shape[:2]
    scaled = np.nan_to_num(np.asarray(boxes, np.float64).reshape(-1, 4) * scale)
    device = np.rint(np.clip(scaled, 0, [width_px - 1, height_px - 1] * 2)).astype(np.int64).tolist()
    line = max(1.0, max(frame_width, frame_height) / 400.0)
    width = max(1, int(round(line * scale)))
    for box, cid in zip(device, ids):
        _outline(canvas, box, class_bgra(cid), width)
    if selected is not None and 0 <= selected < n:
        _outline(canvas, device[selected], class_bgra(ids[selected]), max(2, int(round(line * 2.5 * scale))))
    if not captions:
        return 0
    pixel = max(10, int(round(max(frame_width, frame_height) / 50.0 * scale)))
    height = bitmaps.height(pixel)
    shown = (np.arange(n) if order is None else np.asarray(order))[:max_labels].tolist()
    for i in shown:
        x1, y1 = device[i][0], device[i][1]
        top = y1 - height if y1 - height >= 0 else y1  # above the box, or inside it at the top edge
        bitmaps.draw(canvas, x1, top, captions[i], ids[i], pixel)
    return n - len(shown)
