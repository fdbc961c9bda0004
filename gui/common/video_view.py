"""The live video view: newest frame, letterboxed, with overlays painted from result data.

Coordinates: *frame* coordinates are pixels of the image being shown, origin top-left,
x right, y down (the engine's box convention). *Widget* coordinates are this widget's
logical pixels. The picture is scaled uniformly to fit and centred (letterbox), so
``widget = offset + scale * frame``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QTransform
from PySide6.QtWidgets import QSizePolicy, QWidget

log = logging.getLogger(__name__)

#: ``painter`` already in frame pixel coordinates, then frame width and height.
OverlayPainter = Callable[[QPainter, int, int], None]

#: ``overlay(canvas, scale, frame_width, frame_height)``: draw into ``canvas``, a uint8 BGRA
#: (H, W, 4) picture of the frame scaled by ``scale`` (canvas pixel = scale x frame pixel,
#: same origin), with numpy/OpenCV; keep alpha at 255. Snapshots call it with scale 1.
RasterOverlay = Callable[[np.ndarray, float, int, int], None]

BACKGROUND = QColor(18, 18, 22)
MESSAGE_COLOR = QColor(200, 200, 210)


def bgr_to_qimage(image: np.ndarray) -> QImage:
    """Wrap a uint8 BGR (H, W, 3) array in a QImage without copying.

    The QImage points into ``image``'s buffer: the caller must keep the array alive (and
    unchanged) for as long as the QImage is used. Non-contiguous arrays are copied first.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 BGR image of shape (H, W, 3), got {image.dtype} {image.shape}")
    if not image.flags["C_CONTIGUOUS"]:
        image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    return QImage(image.data, width, height, image.strides[0], QImage.Format.Format_BGR888)


def canvas_qimage(canvas: np.ndarray) -> QImage:
    """A QImage over a uint8 BGRA (H, W, 4) array, without copying on little-endian
    machines (where those bytes are Qt's native 0xffRRGGBB words); the caller keeps the
    array alive while the QImage is used."""
    height, width = canvas.shape[:2]
    if sys.byteorder != "little":
        rgba = cv2.cvtColor(canvas, cv2.COLOR_BGRA2RGBA)
        return QImage(rgba.data, width, height, rgba.strides[0], QImage.Format.Format_RGBA8888).copy()
    return QImage(canvas.data, width, height, canvas.strides[0], QImage.Format.Format_RGB32)


def qimage_to_bgr(image: QImage) -> np.ndarray:
    """Copy a QImage into a new uint8 BGR (H, W, 3) array."""
    converted = image.convertToFormat(QImage.Format.Format_BGR888)
    height, width = converted.height(), converted.width()
    buffer = np.frombuffer(converted.constBits(), dtype=np.uint8, count=converted.sizeInBytes())
    rows = buffer.reshape(height, converted.bytesPerLine())
    return rows[:, : width * 3].reshape(height, width, 3).copy()


def display_geometry(frame_width: int, frame_height: int, area_width: int, area_height: int,
                     pixel_ratio: float = 1.0) -> tuple[int, int, int, int]:
    """Where the letterboxed picture goes: (x, y, width, height) in device pixels of an
    area of ``area_width`` x ``area_height`` logical pixels, whole pixels so that the scaled
    frame is blitted 1:1. Returns (0, 0, 0, 0) when there is nothing to place."""
    if frame_width <= 0 or frame_height <= 0 or area_width <= 0 or area_height <= 0:
        return 0, 0, 0, 0
    device_w, device_h = area_width * pixel_ratio, area_height * pixel_ratio
    scale = min(device_w / frame_width, device_h / frame_height)
    # Rounded, but never past the area (a fractional pixel ratio makes that possible).
    width = max(1, min(int(round(frame_width * scale)), int(device_w)))
    height = max(1, min(int(round(frame_height * scale)), int(device_h)))
    return int((device_w - width) // 2), int((device_h - height) // 2), width, height


class VideoView(QWidget):
    """Paints the newest frame at whatever rate frames arrive; never queues frames.

    Signals:
        frame_clicked(float x, float y): left click on the picture, in frame pixels.

    ``shown_index``: the index of the captured frame the picture comes from (None when
    unknown), so what the overlay was computed on can be checked against what is shown.

    Painting: the frame is scaled to its place on screen and converted to 32 bits by OpenCV
    (which releases the interpreter lock), the *raster overlay* draws into that picture
    with numpy/OpenCV, and the paint itself is one unscaled blit plus the QPainter overlay.
    PySide keeps the interpreter lock through every Qt call, and the inference thread
    waits for it, so per-result marks (boxes, captions) belong in the raster overlay.
    The composed picture is kept until the frame, the view size or the overlay changes
    (``refresh_overlay``).
    """

    frame_clicked = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("videoView")
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # we fill every pixel ourselves
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        # A click on the picture takes focus away from text fields, so Space reaches the window.
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._array: np.ndarray | None = None  # the frame shown, as given (BGR)
        self._frame_bgra: np.ndarray | None = None  # the frame in 32 bits, before scaling, reused
        self._canvas: np.ndarray | None = None  # what is blitted: BGRA, device pixels, reused
        self._canvas_qimage: QImage | None = None
        self._canvas_key: tuple | None = None  # what the canvas was composed from
        self._overlay: OverlayPainter | None = None
        self._raster: RasterOverlay | None = None
        self._overlay_enabled = True
        self._frame_serial = 0
        self._overlay_serial = 0
        self.shown_index: int | None = None
        self._message = "No video source.\nPick a camera, open a file or press Demo."
        self._banner: str | None = None
        self.frames_received = 0
        self.frames_painted = 0
        self.overlay_errors = 0

    # -- content ---------------------------------------------------------------------
    def show_image(self, image: np.ndarray, index: int | None = None, overlay: bool = True) -> None:
        """Show ``image`` (uint8 BGR, (H, W, 3)); keeps a reference, composed at the next paint.

        ``index``: the captured frame it comes from. ``overlay``: draw the overlays over it
        (False when the result at hand was not computed on this picture). The array must
        not be modified afterwards (frames from the engine never are).
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected a uint8 BGR image of shape (H, W, 3), got {image.dtype} {image.shape}")
        self._array = image if image.flags["C_CONTIGUOUS"] else np.ascontiguousarray(image)
        self._frame_serial += 1
        self.shown_index = index
        self._overlay_enabled = overlay
        self.frames_received += 1
        self.update()

    def clear(self, message: str | None = None) -> None:
        """Drop the picture and show ``message`` (or the default hint) centred."""
        self._array = None
        self._canvas_qimage = None
        self._canvas_key = None
        self.shown_index = None
        if message is not None:
            self._message = message
        self.update()

    def set_message(self, message: str) -> None:
        """The text shown while there is no picture."""
        self._message = message
        self.update()

    def message(self) -> str:
        return self._message

    def set_banner(self, text: str | None) -> None:
        """A notice drawn across the top of the picture (e.g. "reconnecting…"); None hides it.

        Only on screen: snapshots and recordings do not include it.
        """
        self._banner = text
        self.update()

    def banner(self) -> str | None:
        return self._banner

    def set_overlay_painter(self, overlay: OverlayPainter | None) -> None:
        """``overlay(painter, frame_width, frame_height)`` is called after the picture."""
        self._overlay = overlay
        self.update()

    def set_raster_overlay(self, overlay: "RasterOverlay | None") -> None:
        """``overlay(canvas, scale, frame_width, frame_height)`` draws into the picture itself
        (see ``RasterOverlay``) before the QPainter overlay."""
        self._raster = overlay
        self.refresh_overlay()

    def refresh_overlay(self) -> None:
        """The overlays changed (a selection, a setting): compose and paint again."""
        if self._raster is not None:  # without one, the composed picture is still right
            self._overlay_serial += 1
        self.update()

    def current_image(self) -> np.ndarray | None:
        """The array being shown (not a copy), or None."""
        return self._array

    def frame_size(self) -> QSize:
        """Size of the picture in frame pixels (empty when none)."""
        if self._array is None:
            return QSize()
        return QSize(self._array.shape[1], self._array.shape[0])

    # -- geometry ----------------------------------------------------------------------
    def _geometry(self) -> tuple[int, int, int, int]:
        """The picture's place in device pixels (see ``display_geometry``)."""
        if self._array is None:
            return 0, 0, 0, 0
        height, width = self._array.shape[:2]
        return display_geometry(width, height, self.width(), self.height(), self.devicePixelRatioF())

    def frame_to_widget(self) -> QTransform:
        """Transform from frame pixels to widget coordinates (identity with no picture)."""
        if self._array is None:
            return QTransform()
        x, y, width, height = self._geometry()
        if width == 0:
            return QTransform()
        ratio = self.devicePixelRatioF()
        fh, fw = self._array.shape[:2]
        return QTransform(width / (fw * ratio), 0.0, 0.0, height / (fh * ratio), x / ratio, y / ratio)

    def widget_to_frame(self, point: QPointF) -> QPointF | None:
        """Map a widget position to frame pixels; None outside the picture or with none."""
        if self._array is None:
            return None
        inverse, invertible = self.frame_to_widget().inverted()
        if not invertible:
            return None
        mapped = inverse.map(QPointF(point))
        if 0.0 <= mapped.x() < self._array.shape[1] and 0.0 <= mapped.y() < self._array.shape[0]:
            return mapped
        return None

    # -- painting ----------------------------------------------------------------------
    def _compose(self, width: int, height: int) -> QImage:
        """The frame at ``width`` x ``height`` device pixels with the raster overlay, as a
        QImage over ``self._canvas``; composed again only when an input changed."""
        assert self._array is not None
        key = (self._frame_serial, self._overlay_serial, width, height, self._overlay_enabled, self._raster)
        if key == self._canvas_key and self._canvas_qimage is not None:
            return self._canvas_qimage
        frame = self._array
        fh, fw = frame.shape[:2]
        if self._canvas is None or self._canvas.shape != (height, width, 4):
            self._canvas = np.empty((height, width, 4), np.uint8)
        if (width, height) == (fw, fh):
            cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA, dst=self._canvas)
        else:
            if self._frame_bgra is None or self._frame_bgra.shape != (fh, fw, 4):
                self._frame_bgra = np.empty((fh, fw, 4), np.uint8)
            cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA, dst=self._frame_bgra)
            # Enlarging: nearest neighbour, as Qt painted it before (4x cheaper than linear
            # here, and a webcam frame looks fine). Shrinking: averaged, so edges don't shimmer.
            if width >= fw:
                interpolation = cv2.INTER_NEAREST
            else:
                interpolation = cv2.INTER_AREA if width < fw * 0.5 else cv2.INTER_LINEAR
            cv2.resize(self._frame_bgra, (width, height), dst=self._canvas, interpolation=interpolation)
        if self._overlay_enabled:
            self._run_raster(self._canvas, width / fw, fw, fh)
        self._canvas_qimage = canvas_qimage(self._canvas)
        self._canvas_qimage.setDevicePixelRatio(self.devicePixelRatioF())
        self._canvas_key = key
        return self._canvas_qimage

    def _run_raster(self, canvas: np.ndarray, scale: float, width: int, height: int) -> None:
        if self._raster is None:
            return
        try:
            self._raster(canvas, scale, width, height)
        except Exception:  # as with the painter overlay: never take the video down
            self.overlay_errors += 1
            if self.overlay_errors == 1 or self.overlay_errors % 100 == 0:
                log.exception("raster overlay failed (%d times so far)", self.overlay_errors)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        x, y, width, height = self._geometry()
        if self._array is None or width == 0:
            painter.fillRect(self.rect(), BACKGROUND)
            self._paint_message(painter)
            painter.end()
            return
        image = self._compose(width, height)
        ratio = self.devicePixelRatioF()
        picture = QRectF(x / ratio, y / ratio, width / ratio, height / ratio)
        # Only the letterbox bars, each one on its own (a 1-pixel remainder may sit on one
        # side only); filling the whole view first cost as much as the picture.
        w, h = float(self.width()), float(self.height())
        for bar in (QRectF(0, 0, w, picture.top()), QRectF(0, picture.bottom(), w, h - picture.bottom()),
                    QRectF(0, picture.top(), picture.left(), picture.height()),
                    QRectF(picture.right(), picture.top(), w - picture.right(), picture.height())):
            if bar.width() > 0 and bar.height() > 0:
                painter.fillRect(bar, BACKGROUND)
        painter.drawImage(picture.topLeft(), image)
        painter.setTransform(self.frame_to_widget())
        fh, fw = self._array.shape[:2]
        self._paint_overlay(painter, fw, fh)
        if self._banner:
            painter.resetTransform()
            self._paint_banner(painter)
        painter.end()
        self.frames_painted += 1

    def _paint_banner(self, painter: QPainter) -> None:
        # Long messages wrap instead of being cut off in a narrow view.
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        text_width = max(self.width() - 24, 50)
        bounds = painter.fontMetrics().boundingRect(0, 0, text_width, 10_000, int(flags), self._banner or "")
        height = bounds.height() + 16
        painter.fillRect(QRectF(0, 0, self.width(), height), QColor(0, 0, 0, 170))
        painter.setPen(QColor(255, 210, 90))
        painter.drawText(QRectF(12, 8, text_width, bounds.height()), flags, self._banner or "")

    def _paint_overlay(self, painter: QPainter, width: int, height: int) -> None:
        if self._overlay is None or not self._overlay_enabled:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        try:
            self._overlay(painter, width, height)
        except Exception:  # a buggy overlay must not take the video down with it
            self.overlay_errors += 1
            # Every distinct failure is logged once (with its traceback); repeats are counted.
            if self.overlay_errors == 1 or self.overlay_errors % 100 == 0:
                log.exception("overlay painter failed (%d times so far)", self.overlay_errors)
        finally:
            painter.restore()

    def _paint_message(self, painter: QPainter) -> None:
        painter.setPen(MESSAGE_COLOR)
        font = painter.font()
        font.setPointSizeF(max(font.pointSizeF(), 9.0) * 1.3)
        painter.setFont(font)
        painter.drawText(QRectF(self.rect()).adjusted(16, 16, -16, -16),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)

    def render_composited(self) -> np.ndarray | None:
        """What is shown, at frame resolution: the picture plus overlays, uint8 BGR (H, W, 3).

        None when there is no picture. Used for snapshots and recordings.
        """
        if self._array is None:
            return None
        fh, fw = self._array.shape[:2]
        canvas = cv2.cvtColor(self._array, cv2.COLOR_BGR2BGRA)  # a new array: the frame stays untouched
        if self._overlay_enabled:
            self._run_raster(canvas, 1.0, fw, fh)
        if self._overlay is not None:
            image = canvas_qimage(canvas)
            painter = QPainter(image)
            self._paint_overlay(painter, fw, fh)
            painter.end()
            return qimage_to_bgr(image)
        return cv2.cvtColor(canvas, cv2.COLOR_BGRA2BGR)

    # -- mouse -------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            point = self.widget_to_frame(event.position())
            if point is not None:
                self.frame_clicked.emit(point.x(), point.y())
        super().mousePressEvent(event)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(960, 540)
