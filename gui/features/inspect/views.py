"""Widgets of the Feature maps tab that draw engine arrays: the channel grid, the enlarged
channel (which reports the unit under the mouse), kernel tiles and the layer tree.

They only show data handed to them (numpy arrays from engine.features.inspect results) and emit
what the user points at; the tab decides what that means.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QTreeWidget, QTreeWidgetItem, QWidget

from engine.features.inspect.render import colorize, normalise_maps

log = logging.getLogger(__name__)


def array_to_qimage(image: np.ndarray) -> QImage:
    """A deep copy of a uint8 BGR (H, W, 3) array as a QImage (safe to keep after the array goes)."""
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    return QImage(image.data, width, height, image.strides[0], QImage.Format.Format_BGR888).copy()


class ChannelGrid(QWidget):
    """Channel maps in a near-square grid, each labelled with its channel index.

    ``channel_clicked(int)`` gives the channel index (in the layer) of the clicked tile.
    The maps are coloured with ``colormap`` after ``normalisation`` ("channel"/"shared").

    The grid is refreshed with every live result, so its cost is paid at the model's frame
    rate: the tiles are coloured in one table lookup and scaled into one picture by OpenCV
    (which lets the inference thread run meanwhile), numbered by OpenCV too, and a paint
    draws one image instead of 16 scaled tiles and 16 texts.
    """

    channel_clicked = Signal(int)
    BACKGROUND = 24

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("channelGrid")
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.colormap = "viridis"
        self.normalisation = "channel"
        self._tiles: np.ndarray | None = None  # (K, h, w, 3) coloured maps, BGR
        self._channels: list[int] = []
        self._mosaic: QImage | None = None
        self._mosaic_pixels: np.ndarray | None = None  # the buffer _mosaic points into
        self._mosaic_layout: tuple | None = None
        self.selected: int | None = None

    def set_maps(self, maps: np.ndarray, channels: np.ndarray) -> None:
        """maps: (K, h, w) raw activations; channels: (K,) their indices in the layer."""
        self._tiles = (colorize(normalise_maps(maps, self.normalisation), self.colormap, alpha=True)
                       if len(maps) else None)
        self._channels = [int(c) for c in channels]
        self._mosaic = None
        self.update()

    def clear(self) -> None:
        self._tiles, self._channels, self._mosaic = None, [], None
        self.update()

    @property
    def channels(self) -> list[int]:
        return list(self._channels)

    @property
    def count(self) -> int:
        return len(self._channels) if self._tiles is not None else 0

    def _layout(self) -> tuple[int, float]:
        count = max(1, self.count)
        columns = max(1, math.ceil(math.sqrt(count * self.width() / max(1, self.height()))))
        columns = min(columns, count)
        cell = min(self.width() / columns, self.height() / math.ceil(count / columns))
        return columns, cell

    def tile_rect(self, index: int) -> QRectF:
        """Where tile ``index`` is drawn, in widget coordinates."""
        columns, cell = self._layout()
        row, col = divmod(index, columns)
        return QRectF(col * cell + 1, row * cell + 1, cell - 2, cell - 2)

    def _compose(self) -> QImage:
        """Every tile at its on-screen size, numbered, in one 32-bit picture of the widget's
        size (device pixels), drawn by OpenCV (numbers in its Hershey font, with a shadow).
        The picture's buffer is kept: only the tiles are written again for the next result."""
        ratio = self.devicePixelRatioF()
        w, h = max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio))
        canvas = self._mosaic_pixels
        columns, cell = self._layout()
        layout = (w, h, columns, cell, self.count)
        if canvas is None or self._mosaic_layout != layout:
            canvas = self._mosaic_pixels = np.full((h, w, 4), (self.BACKGROUND,) * 3 + (255,), np.uint8)
            self._mosaic_layout = layout
        numbered = cell - 2 >= 28
        scale, thickness = 0.4 * ratio, max(1, round(ratio))
        for i, (tile, channel) in enumerate(zip(self._tiles, self._channels)):
            row, col = divmod(i, columns)
            x0, y0 = round((col * cell + 1) * ratio), round((row * cell + 1) * ratio)
            x1, y1 = min(w, round((col * cell + cell - 1) * ratio)), min(h, round((row * cell + cell - 1) * ratio))
            if x1 <= x0 or y1 <= y0:
                continue
            # Nearest neighbour: one activation stays one crisp square.
            canvas[y0:y1, x0:x1] = cv2.resize(tile, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
            if numbered:
                origin = (x0 + round(3 * ratio), y0 + round(12 * ratio))
                cv2.putText(canvas, str(channel), (origin[0] + 1, origin[1] + 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                            (0, 0, 0, 255), thickness, cv2.LINE_AA)
                cv2.putText(canvas, str(channel), origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255, 255),
                            thickness, cv2.LINE_AA)
        # Bytes B, G, R, 255: Format_RGB32 on little-endian machines (see video_view.canvas_qimage).
        image = QImage(canvas.data, w, h, canvas.strides[0], QImage.Format.Format_RGB32)
        image.setDevicePixelRatio(ratio)
        return image

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        if self._tiles is None:
            painter.fillRect(self.rect(), QColor(self.BACKGROUND, self.BACKGROUND, self.BACKGROUND))
            painter.setPen(QColor(160, 160, 160))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Waiting for the first frame…")
            return
        if self._mosaic is None:
            self._mosaic = self._compose()
        painter.drawImage(QPointF(0, 0), self._mosaic)
        if self.selected in self._channels:
            painter.setPen(QPen(QColor(255, 200, 0), 2))
            painter.drawRect(self.tile_rect(self._channels.index(self.selected)))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._mosaic = None  # composed again at the new size on the next paint

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        for i in range(self.count):
            if self.tile_rect(i).contains(event.position()):
                self.selected = self._channels[i]
                self.channel_clicked.emit(self._channels[i])
                self.update()
                return
        super().mousePressEvent(event)


class ChannelZoom(QWidget):
    """One channel map enlarged, with the unit under the mouse outlined.

    ``unit_hovered(row, col)`` reports the grid cell under the mouse; ``unit_left()``
    when the mouse leaves. Cells keep their aspect ratio (map drawn letterboxed).
    """

    unit_hovered = Signal(int, int)
    unit_left = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("channelZoom")
        self.setMouseTracking(True)
        self.setMinimumSize(160, 160)
        self.colormap = "viridis"
        self._image: QImage | None = None
        self._shape = (0, 0)
        self.unit: tuple[int, int] | None = None
        self.caption = "Click a channel to enlarge it"

    def set_map(self, values: np.ndarray | None, caption: str = "") -> None:
        """values: (h, w) raw activations of one channel, or None to clear."""
        if values is None:
            self._image, self._shape = None, (0, 0)
        else:
            unit = normalise_maps(values[None], "channel")[0]
            self._image = array_to_qimage(colorize(unit, self.colormap))
            self._shape = values.shape
        self.caption = caption or self.caption
        self.update()

    def map_rect(self) -> QRectF:
        h, w = self._shape
        if not h or not w:
            return QRectF()
        scale = min(self.width() / w, (self.height() - 18) / h)
        return QRectF((self.width() - w * scale) / 2, 18 + (self.height() - 18 - h * scale) / 2, w * scale, h * scale)

    def cell_at(self, point: QPointF) -> tuple[int, int] | None:
        """(row, col) of the map cell under ``point`` (widget coordinates), or None."""
        rect = self.map_rect()
        if rect.isEmpty() or not rect.contains(point):
            return None
        h, w = self._shape
        col = min(w - 1, int((point.x() - rect.left()) / rect.width() * w))
        row = min(h - 1, int((point.y() - rect.top()) / rect.height() * h))
        return row, col

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 24))
        painter.setPen(QColor(220, 220, 220))
        painter.drawText(QRectF(4, 0, self.width() - 8, 18), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.caption)
        if self._image is None:
            return
        rect = self.map_rect()
        painter.drawImage(rect, self._image)
        if self.unit is not None:
            h, w = self._shape
            row, col = self.unit
            cell = QRectF(rect.left() + col * rect.width() / w, rect.top() + row * rect.height() / h, rect.width() / w, rect.height() / h)
            painter.setPen(QPen(QColor(255, 60, 60), 2))
            painter.drawRect(cell)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        cell = self.cell_at(event.position())
        if cell != self.unit:
            self.unit = cell
            if cell is None:
                self.unit_left.emit()
            else:
                self.unit_hovered.emit(*cell)
            self.update()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self.unit is not None:
            self.unit = None
            self.unit_left.emit()
            self.update()
        super().leaveEvent(event)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(240, 240)


class TileStrip(QWidget):
    """Small images (kernels) in a grid, drawn with crisp nearest-neighbour scaling."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filterTiles")
        self.setMinimumSize(200, 160)
        self._images: list[QImage] = []
        self.caption = ""

    def set_tiles(self, tiles: np.ndarray, caption: str = "") -> None:
        """tiles: (K, kh, kw, 3) uint8 BGR."""
        self._images = [array_to_qimage(t) for t in tiles]
        self.caption = caption
        self.update()

    @property
    def count(self) -> int:
        return len(self._images)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 24))
        painter.setPen(QColor(220, 220, 220))
        painter.drawText(QRectF(4, 0, self.width() - 8, 18), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.caption or "Pick a convolution in the layer table")
        if not self._images:
            return
        count = len(self._images)
        area_h = self.height() - 20
        columns = max(1, math.ceil(math.sqrt(count * self.width() / max(1, area_h))))
        cell = min(self.width() / columns, area_h / math.ceil(count / columns))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        for i, image in enumerate(self._images):
            row, col = divmod(i, columns)
            painter.drawImage(QRectF(col * cell + 1, 20 + row * cell + 1, cell - 2, cell - 2), image)


TABLE_COLUMNS = ("Layer", "Type", "Output", "Params", "Mult-adds", "RF size", "RF stride", "RF padding", "Kernel", "Stride", "Padding")


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "×".join(str(v) for v in value)
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)


class LayerTree(QTreeWidget):
    """The layer table as a tree (containers fold), one column per table field.

    ``layer_chosen(str)`` is emitted when the user selects a row; rows that did not
    run in the forward pass are greyed out.
    """

    layer_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("layerTree")
        self.setColumnCount(len(TABLE_COLUMNS))
        self.setHeaderLabels(list(TABLE_COLUMNS))
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.header().setStretchLastSection(False)
        self._items: dict[str, QTreeWidgetItem] = {}
        self.table = None
        self.itemSelectionChanged.connect(self._on_selection)

    def set_table(self, table) -> None:
        """Fill the tree from an ``engine.features.inspect.layer_table.LayerTable``."""
        self.blockSignals(True)
        self.clear()
        self._items.clear()
        self.table = table
        for row in table.rows:
            parent_name = row.name.rsplit(".", 1)[0] if "." in row.name else None
            parent = self._items.get(parent_name) if parent_name else None
            rf = row.receptive_field
            shape = "×".join(str(s) for s in row.output_shape) if row.output_shape is not None else "(not run)"
            values = [
                row.name.rsplit(".", 1)[-1] if parent is not None else row.name,
                row.type,
                shape,
                f"{row.params:,}",
                f"{row.mult_adds:,}",
                _fmt(rf.size) if rf else "",
                _fmt(rf.stride) if rf else "",
                _fmt(rf.padding) if rf else "",
                _fmt(row.kernel),
                _fmt(row.stride),
                _fmt(row.padding),
            ]
            item = QTreeWidgetItem(values)
            item.setData(0, Qt.ItemDataRole.UserRole, row.name)
            item.setToolTip(0, row.name)
            for column in range(3, len(TABLE_COLUMNS)):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight)
            if row.output_shape is None:
                for column in range(len(TABLE_COLUMNS)):
                    item.setForeground(column, QColor(140, 140, 140))
            (parent.addChild(item) if parent is not None else self.addTopLevelItem(item))
            self._items[row.name] = item
        for column in range(len(TABLE_COLUMNS)):
            self.resizeColumnToContents(column)
        self.blockSignals(False)

    def select_layer(self, name: str) -> bool:
        """Select (and reveal) ``name`` without emitting ``layer_chosen``; False if absent."""
        item = self._items.get(name)
        if item is None:
            return False
        self.blockSignals(True)
        self.setCurrentItem(item)
        self.scrollToItem(item)
        self.blockSignals(False)
        return True

    def _on_selection(self) -> None:
        item = self.currentItem()
        if item is not None:
            self.layer_chosen.emit(str(item.data(0, Qt.ItemDataRole.UserRole)))
