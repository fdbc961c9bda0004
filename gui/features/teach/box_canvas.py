"""A picture on which the user draws, selects, moves, resizes and deletes boxes.

Boxes are kept in picture pixels (x1, y1, x2, y2, top-left origin, as in the engine);
the widget shows the picture scaled to fit its width (aspect kept) and maps the mouse
back. Drag on empty picture: a new box of ``current_class``. Press inside a box: select
and move it; drag a handle of the selected box (corner or edge): resize it. Boxes the
tracker carried and the user has not confirmed are drawn dashed; moving or resizing one
confirms it (the user fixed it). ``edited`` is emitted after every change by the user.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.features.teach.render import class_colour
from gui.common.video_view import bgr_to_qimage

HANDLE = 7  # widget pixels around an edge that grab it
MIN_SIDE = 3.0  # picture pixels: a smaller drag is a click, not a box
MAX_HEIGHT = 420


def qcolour(index: int, alpha: int = 255) -> QColor:
    b, g, r = class_colour(index)
    return QColor(r, g, b, alpha)


class BoxCanvas(QWidget):
    """Signals: ``edited`` (boxes changed by the user), ``selection_changed(int)`` (-1: none)."""

    edited = Signal()
    selection_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("boxCanvas")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumHeight(120)
        self._pixmap = QPixmap()
        self._size = (4, 3)  # picture (width, height)
        self.boxes = np.zeros((0, 4), np.float32)
        self.class_ids = np.zeros(0, np.int64)
        self.unconfirmed: set[int] = set()
        self.class_names: tuple[str, ...] = ()
        self.current_class = 0
        self.selected = -1
        self._drag: tuple[str, QPointF, np.ndarray] | None = None  # (mode, start in picture px, box at start)
        self._draft: np.ndarray | None = None

    # -- content ---------------------------------------------------------------------
    def set_picture(self, image: np.ndarray | None, boxes=None, class_ids=None, unconfirmed=()) -> None:
        """Show ``image`` (uint8 BGR (H, W, 3); None: nothing) with its boxes (N, 4) picture pixels."""
        if image is None:
            self._pixmap = QPixmap()
        else:
            self._pixmap = QPixmap.fromImage(bgr_to_qimage(np.ascontiguousarray(image)).copy())
            self._size = (image.shape[1], image.shape[0])
        self.boxes = np.asarray(boxes if boxes is not None else np.zeros((0, 4)), np.float32).reshape(-1, 4).copy()
        self.class_ids = np.asarray(class_ids if class_ids is not None else np.zeros(0), np.int64).reshape(-1).copy()
        self.unconfirmed = set(int(i) for i in unconfirmed)
        self._select(-1)
        self._drag = self._draft = None
        self.updateGeometry()
        self.update()

    def has_picture(self) -> bool:
        return not self._pixmap.isNull()

    def set_class_names(self, names: tuple[str, ...]) -> None:
        self.class_names = tuple(names)
        self.update()

    # -- edits (also the keys' actions) ----------------------------------------------
    def delete_selected(self) -> bool:
        if not 0 <= self.selected < len(self.boxes):
            return False
        i = self.selected
        self.boxes = np.delete(self.boxes, i, 0)
        self.class_ids = np.delete(self.class_ids, i)
        self.unconfirmed = {j - (j > i) for j in self.unconfirmed if j != i}
        self._select(-1)
        self._changed()
        return True

    def confirm_all(self) -> bool:
        if not self.unconfirmed:
            return False
        self.unconfirmed = set()
        self._changed()
        return True

    def set_selected_class(self, index: int) -> bool:
        """Give the selected box class ``index`` (a fix: it is confirmed too)."""
        if not 0 <= self.selected < len(self.boxes):
            return False
        self.class_ids[self.selected] = index
        self.unconfirmed.discard(self.selected)
        self._changed()
        return True

    def _changed(self) -> None:
        self.update()
        self.edited.emit()

    def _select(self, index: int) -> None:
        if index != self.selected:
            self.selected = index
            self.selection_changed.emit(index)
        self.update()

    # -- geometry --------------------------------------------------------------------
    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt naming)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        w, h = self._size
        return max(120, min(MAX_HEIGHT, int(width * h / max(1, w))))

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, self.heightForWidth(320))

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(160, 120)

    def _frame(self) -> tuple[float, float, float]:
        """(scale, x offset, y offset): widget = offset + scale * picture."""
        w, h = self._size
        scale = min(self.width() / max(1, w), self.height() / max(1, h))
        return scale, (self.width() - w * scale) / 2, (self.height() - h * scale) / 2

    def to_picture(self, point: QPointF) -> QPointF:
        scale, ox, oy = self._frame()
        w, h = self._size
        return QPointF(min(max((point.x() - ox) / scale, 0.0), w), min(max((point.y() - oy) / scale, 0.0), h))

    def to_widget(self, x: float, y: float) -> QPointF:
        """Widget coordinates of picture pixel (x, y) (for tests and painting)."""
        scale, ox, oy = self._frame()
        return QPointF(ox + x * scale, oy + y * scale)

    def _rect(self, box: np.ndarray) -> QRectF:
        a, b = self.to_widget(box[0], box[1]), self.to_widget(box[2], box[3])
        return QRectF(a, b)

    def _hit(self, pos: QPointF) -> tuple[str, int]:
        """What a press at widget ``pos`` grabs: ("resize-<edges>", selected), ("move", i) or ("draw", -1)."""
        if 0 <= self.selected < len(self.boxes):
            r = self._rect(self.boxes[self.selected])
            near = r.adjusted(-HANDLE, -HANDLE, HANDLE, HANDLE).contains(pos)
            edges = ("l" if abs(pos.x() - r.left()) <= HANDLE else "") + ("r" if abs(pos.x() - r.right()) <= HANDLE else "")
            edges += ("t" if abs(pos.y() - r.top()) <= HANDLE else "") + ("b" if abs(pos.y() - r.bottom()) <= HANDLE else "")
            if near and edges:
                return "resize-" + edges, self.selected
        inside = [i for i in range(len(self.boxes)) if self._rect(self.boxes[i]).contains(pos)]
        if inside:  # the smallest box under the mouse: a box inside another stays reachable
            areas = [(self.boxes[i, 2] - self.boxes[i, 0]) * (self.boxes[i, 3] - self.boxes[i, 1]) for i in inside]
            return "move", inside[int(np.argmin(areas))]
        return "draw", -1

    # -- mouse -----------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton or not self.has_picture():
            return super().mousePressEvent(event)
        self.setFocus()
        mode, index = self._hit(event.position())
        start = self.to_picture(event.position())
        if mode == "draw":
            self._select(-1)
            self._draft = np.array([start.x(), start.y(), start.x(), start.y()], np.float32)
        else:
            self._select(index)
        box = self.boxes[index].copy() if index >= 0 else np.zeros(4, np.float32)
        self._drag = (mode, start, box)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None:
            mode, _ = self._hit(event.position())
            cursors = {"move": Qt.CursorShape.SizeAllCursor, "draw": Qt.CursorShape.CrossCursor}
            self.setCursor(cursors.get(mode, Qt.CursorShape.SizeFDiagCursor))
            return
        mode, start, box = self._drag
        p = self.to_picture(event.position())
        dx, dy = p.x() - start.x(), p.y() - start.y()
        if mode == "draw":
            self._draft = np.array([start.x(), start.y(), p.x(), p.y()], np.float32)
        elif mode == "move":
            w, h = self._size
            dx = min(max(dx, -box[0]), w - box[2])
            dy = min(max(dy, -box[1]), h - box[3])
            self.boxes[self.selected] = box + np.array([dx, dy, dx, dy], np.float32)
        else:
            edges = mode.split("-", 1)[1]
            new = box.copy()
            for edge, i, d in (("l", 0, dx), ("t", 1, dy), ("r", 2, dx), ("b", 3, dy)):
                if edge in edges:
                    new[i] = box[i] + d
            self.boxes[self.selected] = new
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None:
            return super().mouseReleaseEvent(event)
        mode, _start, box = self._drag
        self._drag = None
        if mode == "draw":
            draft, self._draft = self._draft, None
            if draft is not None:
                x1, x2 = sorted((float(draft[0]), float(draft[2])))
                y1, y2 = sorted((float(draft[1]), float(draft[3])))
                if x2 - x1 >= MIN_SIDE and y2 - y1 >= MIN_SIDE:
                    self.boxes = np.vstack([self.boxes, [[x1, y1, x2, y2]]]).astype(np.float32)
                    self.class_ids = np.append(self.class_ids, self.current_class).astype(np.int64)
                    self._select(len(self.boxes) - 1)
                    self._changed()
            self.update()
            return
        i = self.selected
        if 0 <= i < len(self.boxes) and not np.allclose(self.boxes[i], box):
            b = self.boxes[i]
            self.boxes[i] = [min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])]
            self.unconfirmed.discard(i)  # the user fixed it
            self._changed()

    # -- painting --------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(40, 40, 40))
        if self._pixmap.isNull():
            painter.setPen(QColor(220, 220, 220))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             "Capture a frame (C) or pick a picture below,\nthen drag boxes on it")
            painter.end()
            return
        scale, ox, oy = self._frame()
        w, h = self._size
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(QRectF(ox, oy, w * scale, h * scale), self._pixmap, QRectF(0, 0, w, h))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont()
        font.setPixelSize(11)
        painter.setFont(font)
        for i, (box, cls) in enumerate(zip(self.boxes, self.class_ids)):
            self._paint_box(painter, self._rect(box), int(cls), i in self.unconfirmed, i == self.selected)
        if self._draft is not None:
            painter.setPen(QPen(qcolour(self.current_class), 2, Qt.PenStyle.SolidLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self._rect(self._draft).normalized())
        painter.end()

    def _paint_box(self, painter: QPainter, rect: QRectF, cls: int, unconfirmed: bool, selected: bool) -> None:
        colour = qcolour(cls)
        pen = QPen(colour, 3 if selected else 2, Qt.PenStyle.DashLine if unconfirmed else Qt.PenStyle.SolidLine)
        painter.setPen(pen)
        painter.setBrush(QColor(colour.red(), colour.green(), colour.blue(), 40 if selected else 0))
        painter.drawRect(rect)
        name = self.class_names[cls] if 0 <= cls < len(self.class_names) else str(cls)
        text = f"{name}?" if unconfirmed else name
        width = painter.fontMetrics().horizontalAdvance(text) + 6
        label = QRectF(rect.left(), rect.top() - 15 if rect.top() >= 15 else rect.top(), width, 15)
        painter.fillRect(label, colour)
        painter.setPen(QColor(0, 0, 0))
        painter.drawText(label, Qt.AlignmentFlag.AlignCenter, text)
        if selected:
            painter.setPen(QPen(QColor(255, 255, 255), 1))
            painter.setBrush(colour)
            for corner in (rect.topLeft(), rect.topRight(), rect.bottomLeft(), rect.bottomRight()):
                painter.drawRect(QRectF(corner.x() - 3, corner.y() - 3, 6, 6))
