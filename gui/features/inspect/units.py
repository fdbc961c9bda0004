"""The "Top patches" page: for every channel of the layer, the nine image patches that
excited it most (Zeiler & Fergus' figure), collected live or from a folder.

``UnitGrid`` paints one 3 x 3 tile per channel from a ``TopPatches`` collection and
reports the clicked channel; the page around it holds the Collect toggle, the collection
commands and the chosen channel's detail (its patches large, its live map, its filter).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from gui.common import file_dialogs
from gui.features.inspect.views import ChannelZoom, TileStrip, array_to_qimage

log = logging.getLogger(__name__)


class UnitGrid(QWidget):
    """One tile of top patches per channel, row-major by channel index; click to choose."""

    channel_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("unitGrid")
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._tiles: list[QImage] = []
        self.selected: int | None = None

    def set_collection(self, collection) -> None:
        self._tiles = [array_to_qimage(collection.unit_tile(c)) for c in range(collection.channels)]
        self.update()

    @property
    def count(self) -> int:
        return len(self._tiles)

    def _layout(self) -> tuple[int, float]:
        count = max(1, len(self._tiles))
        columns = max(1, math.ceil(math.sqrt(count * self.width() / max(1, self.height()))))
        cell = min(self.width() / columns, self.height() / math.ceil(count / columns))
        return columns, cell

    def tile_rect(self, channel: int) -> QRectF:
        columns, cell = self._layout()
        row, col = divmod(channel, columns)
        return QRectF(col * cell + 2, row * cell + 2, cell - 4, cell - 4)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(20, 20, 20))
        if not self._tiles:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             "Turn on Collect (or collect from a folder): each channel's nine strongest patches appear here")
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        for c, tile in enumerate(self._tiles):
            rect = self.tile_rect(c)
            painter.drawImage(rect, tile)
            if c == self.selected:
                painter.setPen(QPen(QColor(255, 200, 0), 2))
                painter.drawRect(rect)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        for c in range(len(self._tiles)):
            if self.tile_rect(c).contains(event.position()):
                self.selected = c
                self.update()
                self.channel_clicked.emit(c)
                return


class UnitsPage(QWidget):
    """Collect toggle, Reset / Save / Load / From folder, progress, the grid and one unit's detail."""

    collect_toggled = Signal(bool)
    reset_requested = Signal()
    save_requested = Signal(str)
    load_requested = Signal(str)
    folder_requested = Signal(str)
    channel_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.collect_button = QPushButton("Collect")
        self.collect_button.setObjectName("featuresCollect")
        self.collect_button.setCheckable(True)
        self.collect_button.setToolTip("Keep, for every channel of the layer, the nine frames' patches that excite it most")
        buttons = {name: QPushButton(name) for name in ("Reset", "Save…", "Load…", "From folder…")}
        self.folder_button = buttons["From folder…"]
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel("Nothing collected yet")
        self.status.setWordWrap(True)
        row = QHBoxLayout()  # two short rows: one long row would widen the whole side panel
        row.addWidget(self.collect_button)
        for name in ("Reset", "Save…", "Load…"):
            row.addWidget(buttons[name])
        row.addStretch(1)
        row2 = QHBoxLayout()
        row2.addWidget(self.folder_button)
        row2.addWidget(self.progress, 1)
        self.grid = UnitGrid()
        self.patches = TileStrip()
        self.live_map = ChannelZoom()
        self.filter = TileStrip()
        for view in (self.patches, self.live_map, self.filter):
            view.setMinimumSize(120, 90)  # the grid and the detail share a narrow side panel
        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.patches, 2)
        dl.addWidget(self.live_map, 2)
        dl.addWidget(self.filter, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.grid)
        split.addWidget(detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(row2)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        self.collect_button.toggled.connect(self.collect_toggled)
        buttons["Reset"].clicked.connect(self.reset_requested)
        buttons["Save…"].clicked.connect(self._ask_save)
        buttons["Load…"].clicked.connect(self._ask_load)
        self.folder_button.clicked.connect(self._ask_folder)
        self.grid.channel_clicked.connect(self.channel_chosen)

    def _ask_save(self) -> None:
        path = file_dialogs.save_file(self, "Save the collection", "top-patches.npz", "Top patches (*.npz)")
        if path:
            self.save_requested.emit(path)

    def _ask_load(self) -> None:
        path = file_dialogs.open_file(self, "Load a collection", "Top patches (*.npz);;All files (*)")
        if path:
            self.load_requested.emit(path)

    def _ask_folder(self) -> None:
        path = file_dialogs.open_folder(self, "Collect from a folder of images")
        if path:
            self.folder_requested.emit(path)

    def show_collection(self, collection) -> None:
        self.grid.set_collection(collection)
        filled = int((collection.filled() > 0).sum()) if collection.channels else 0
        self.status.setText(f"{collection.layer or 'no layer'}: {filled} of {collection.channels} channels have patches, "
                            f"from {collection.images_seen} images (one patch per image and channel; still scenes count once)")

    def show_unit(self, collection, channel: int, live: np.ndarray | None, filter_tiles: np.ndarray | None) -> None:
        """The chosen channel: its patches large, its live map over the video, its filter."""
        if 0 <= channel < collection.channels:
            patches = collection.channel(channel)
            if patches:
                self.patches.set_tiles(np.stack([p.image for p in patches]),
                                       f"{collection.layer}[{channel}]: best {patches[0].activation:.2f} ({patches[0].source})")
        self.live_map.set_map(live, f"channel {channel} live" if live is not None else "live map: waiting for a frame")
        if filter_tiles is not None:
            self.filter.set_tiles(filter_tiles, f"kernel of channel {channel}")

    def set_progress(self, done: int | None, total: int = 0) -> None:
        """Folder job progress; None hides the bar."""
        self.progress.setVisible(done is not None)
        self.folder_button.setEnabled(done is None)
        if done is not None:
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(done)
