"""Pages of the Feature maps tab that only show data and report what the user picked:
the channel grid with its enlarged channel, the kernels of a layer, and the explanation
(saliency) settings. The tab connects their signals to its controller.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QSpinBox, QSplitter, QVBoxLayout, QWidget

from engine.features.inspect.task import MODE_TITLES, MODES
from gui.features.inspect.views import ChannelGrid, ChannelZoom, TileStrip

log = logging.getLogger(__name__)

COLORMAPS = ("viridis", "inferno", "magma", "jet", "gray")


class ChannelsPage(QWidget):
    """The strongest channels of the layer, one enlarged (hover a unit to see its field)."""

    channels_changed = Signal(int)
    colours_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.channels_spin = QSpinBox()
        self.channels_spin.setRange(1, 64)
        self.channels_spin.setValue(16)
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(COLORMAPS)
        self.norm_combo = QComboBox()
        self.norm_combo.addItem("Per channel", "channel")
        self.norm_combo.addItem("Shared", "shared")
        self.layer_label = QLabel()
        self.layer_label.setWordWrap(True)
        controls = QHBoxLayout()
        for label, widget in (("Channels", self.channels_spin), ("Colours", self.colormap_combo), ("Scale", self.norm_combo)):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addStretch(1)
        self.grid = ChannelGrid()
        self.zoom = ChannelZoom()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.grid)
        split.addWidget(self.zoom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.layer_label)
        layout.addLayout(controls)
        layout.addWidget(split, 1)
        self.channels_spin.valueChanged.connect(self.channels_changed)
        self.colormap_combo.currentTextChanged.connect(self._on_colours)
        self.norm_combo.currentIndexChanged.connect(self._on_colours)

    def _on_colours(self, *_args) -> None:
        self.grid.colormap = self.zoom.colormap = self.colormap_combo.currentText()
        self.grid.normalisation = str(self.norm_combo.currentData())
        self.colours_changed.emit()

    def show_result(self, r) -> None:
        if r.channels is not None:
            self.grid.set_maps(r.channels.maps, r.channels.channels)
            shape = "×".join(str(s) for s in r.channels.shape)
            text = f"<b>{r.layer}</b> {shape} — strongest {len(r.channels.channels)} channels by mean"
            if text != self.layer_label.text():  # a new text re-lays the panel out: only on change
                self.layer_label.setText(text)
        if r.pinned is not None:
            self.zoom.set_map(r.pinned, f"{r.layer} channel {r.pinned_channel} ({r.pinned.shape[0]}×{r.pinned.shape[1]}) — hover a unit")

    def clear(self) -> None:
        self.grid.clear()
        self.grid.selected = None
        self.zoom.set_map(None, "Click a channel to enlarge it")


class FiltersPage(QWidget):
    """A convolution's kernels: RGB tiles for a first layer, one slice per kernel deeper."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = None
        self.tiles = TileStrip()
        self.kernel_spin = QSpinBox()
        self.kernel_spin.setRange(-1, 0)
        self.kernel_spin.setSpecialValueText("first slice of each")
        self.kernel_spin.setValue(-1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Deeper layers: kernel"))
        row.addWidget(self.kernel_spin)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.tiles, 1)
        self.kernel_spin.valueChanged.connect(lambda _v: self.show(self.view))

    def show(self, view) -> None:  # noqa: A003 - a FilterView, not QWidget.show()
        from engine.features.inspect.render import filter_tiles_gray, filter_tiles_rgb

        self.view = view
        if view is None:
            return
        out_channels = view.weight_shape[0]
        self.kernel_spin.setRange(-1, out_channels - 1)
        kernel = self.kernel_spin.value()
        shape = "×".join(str(s) for s in view.weight_shape)
        if view.rgb is not None and kernel < 0:
            self.tiles.set_tiles(filter_tiles_rgb(view.rgb), f"{view.layer}: {out_channels} kernels as RGB tiles ({shape}); gray = 0")
        elif kernel < 0:
            self.tiles.set_tiles(filter_tiles_gray(view.slices), f"{view.layer} ({shape}): first input-channel slice of each kernel")
        else:
            self.tiles.set_tiles(filter_tiles_gray(view.slices, kernel), f"{view.layer} kernel {kernel}: one slice per input channel")


class SaliencyPage(QWidget):
    """Which explanation to paint over the video, for which class, at which layer, how opaque.

    The class box takes an index or a class name (typed or picked), as the CLI does;
    ``class_entered(str)`` carries the text, the controller resolves it.
    """

    mode_chosen = Signal(str)
    class_entered = Signal(str)
    cam_layer_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("featuresMode")
        for key in MODES:
            self.mode_combo.addItem(MODE_TITLES[key], key)
        self.class_combo = QComboBox()
        self.class_combo.setObjectName("featuresClass")
        self.class_combo.setEditable(True)
        self.class_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.cam_layer_combo = QComboBox()
        self.cam_layer_combo.setObjectName("featuresCamLayer")
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setObjectName("featuresOpacity")
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(50)
        self.label = QLabel()
        self.label.setWordWrap(True)
        layout = QVBoxLayout(self)
        for label, widget in (("Method", self.mode_combo), ("Class", self.class_combo), ("Grad-CAM layer", self.cam_layer_combo), ("Opacity", self.opacity_slider)):
            row = QHBoxLayout()
            row.addWidget(QLabel(label))
            row.addWidget(widget, 1)
            layout.addLayout(row)
        layout.addWidget(self.label)
        layout.addStretch(1)
        self.mode_combo.currentIndexChanged.connect(lambda _i: self.mode_chosen.emit(str(self.mode_combo.currentData())))
        self.class_combo.activated.connect(lambda _i: self.class_entered.emit(self.class_combo.currentText()))
        self.class_combo.lineEdit().returnPressed.connect(lambda: self.class_entered.emit(self.class_combo.currentText()))
        self.cam_layer_combo.currentIndexChanged.connect(lambda _i: self.cam_layer_chosen.emit(self.cam_layer_combo.currentData() or ""))

    @property
    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_classes(self, categories: tuple[str, ...]) -> None:
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("Top prediction", None)
        for i, name in enumerate(categories):
            self.class_combo.addItem(f"{i}: {name}", i)
        self.class_combo.blockSignals(False)

    def set_layers(self, names: list[str]) -> None:
        self.cam_layer_combo.blockSignals(True)
        self.cam_layer_combo.clear()
        self.cam_layer_combo.addItem("Last convolution", None)
        for name in names:
            self.cam_layer_combo.addItem(name, name)
        self.cam_layer_combo.blockSignals(False)

    def show_class(self, index: int | None) -> None:
        """Show the resolved class in the box."""
        self.class_combo.blockSignals(True)
        self.class_combo.setCurrentIndex(max(0, self.class_combo.findData(index)) if index is not None else 0)
        self.class_combo.blockSignals(False)

    def describe(self, r) -> None:
        if r.saliency is None:
            self.label.setText("")
            return
        what = f"Grad-CAM at {r.saliency_layer}" if r.mode == "gradcam" else MODE_TITLES.get(r.mode, r.mode)
        cls = f"{r.saliency_class.index}: {r.saliency_class.name}" if r.saliency_class else "?"
        self.label.setText(f"{what} for class {cls}")


def heat_qimage(saliency: np.ndarray):
    """A saliency map in [0, 1] as a jet-coloured QImage."""
    from engine.features.inspect.render import colorize
    from gui.features.inspect.views import array_to_qimage

    return array_to_qimage(colorize(saliency, "jet"))
