"""The Feature maps tab: look inside a CNN while it watches the camera.

Model picker (zoo, trained or untrained weights), layer table as a tree, a live grid of
the strongest channels of the chosen layer, one channel enlarged with the receptive
field of the unit under the mouse painted on the video, the layer's kernels, saliency
or Grad-CAM over the video with an opacity slider, freeze frame, and the "convolution
explained" panel. Everything heavy runs in ``engine.inspect.live.InspectTask`` on the
worker thread; live settings are attributes of that task, so changing the layer, the
mode or the class never reloads the model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.tabs.base import StudioTab
from gui.widgets.features_conv_explainer import ConvolutionExplainer
from gui.widgets.features_views import ChannelGrid, ChannelZoom, LayerTree, TileStrip, array_to_qimage

log = logging.getLogger(__name__)

SETTINGS_GROUP = "Features"
WEIGHTS_CHOICES = (("ImageNet weights", "trained"), ("Untrained (random)", "untrained"), ("From file…", "file"))
MODES = (("Off (activations only)", "activations"), ("Vanilla gradient", "gradient"), ("SmoothGrad", "smoothgrad"), ("Grad-CAM", "gradcam"))
COLORMAPS = ("viridis", "inferno", "magma", "jet", "gray")


class FeaturesTab(StudioTab):
    """See module docstring. Public methods are what the controls call (and tests use)."""

    title = "Feature maps"

    def __init__(self, context, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        from engine.inspect.zoo import model_names, model_spec

        self._model_spec = model_spec
        self._names = model_names()
        self.task = None
        self.result = None  # the newest InspectResult
        self._table = None
        self._filters = None
        self._weights_file: str | None = None
        self._frozen: np.ndarray | None = None
        self._saliency_qimage: QImage | None = None
        self._saliency_size = (0, 0)
        self.unit: tuple[int, int] | None = None
        self.unit_box: tuple[float, float, float, float] | None = None  # frame pixels
        self._layer: str | None = None
        self._build()
        self._restore_settings()

    # -- construction ------------------------------------------------------------------
    def _build(self) -> None:
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("featuresModel")
        for name in self._names:
            self.model_combo.addItem(self._model_spec(name).title, name)
        self.weights_combo = QComboBox()
        self.weights_combo.setObjectName("featuresWeights")
        for label, key in WEIGHTS_CHOICES:
            self.weights_combo.addItem(label, key)
        self.weights_label = QLabel()
        self.weights_label.setObjectName("featuresWeightsState")
        self.weights_label.setWordWrap(True)
        self.freeze_button = QPushButton("Freeze frame")
        self.freeze_button.setObjectName("featuresFreeze")
        self.freeze_button.setCheckable(True)
        self.freeze_button.setShortcut("F")
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        for combo in (self.model_combo, self.weights_combo):
            # Long entries ("ImageNet weights (not installed)") must not widen the panel.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        top.addWidget(self.model_combo, 2)
        top.addWidget(self.weights_combo, 1)
        top.addWidget(self.freeze_button)
        self.predictions_label = QLabel("Top-5: waiting for frames")
        self.predictions_label.setObjectName("featuresPredictions")
        self.predictions_label.setTextFormat(Qt.TextFormat.RichText)
        self.predictions_label.setWordWrap(True)  # long class names must not widen the panel

        # Layers page
        self.layer_tree = LayerTree()
        self.totals_label = QLabel()
        self.totals_label.setObjectName("featuresTotals")
        self.totals_label.setWordWrap(True)
        layers_page = QWidget()
        lay = QVBoxLayout(layers_page)
        lay.addWidget(self.layer_tree, 1)
        lay.addWidget(self.totals_label)

        # Channels page
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
        controls.addWidget(QLabel("Channels"))
        controls.addWidget(self.channels_spin)
        controls.addWidget(QLabel("Colours"))
        controls.addWidget(self.colormap_combo)
        controls.addWidget(QLabel("Scale"))
        controls.addWidget(self.norm_combo)
        self.grid = ChannelGrid()
        self.zoom = ChannelZoom()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.grid)
        split.addWidget(self.zoom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        channels_page = QWidget()
        cl = QVBoxLayout(channels_page)
        cl.addWidget(self.layer_label)
        controls.addStretch(1)
        cl.addLayout(controls)
        cl.addWidget(split, 1)

        # Filters page
        self.filters_view = TileStrip()
        self.kernel_spin = QSpinBox()
        self.kernel_spin.setRange(-1, 0)
        self.kernel_spin.setSpecialValueText("first slice of each")
        self.kernel_spin.setValue(-1)
        filters_page = QWidget()
        fl = QVBoxLayout(filters_page)
        row = QHBoxLayout()
        row.addWidget(QLabel("Deeper layers: kernel"))
        row.addWidget(self.kernel_spin)
        row.addStretch(1)
        fl.addLayout(row)
        fl.addWidget(self.filters_view, 1)

        # Saliency page
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("featuresMode")
        for label, key in MODES:
            self.mode_combo.addItem(label, key)
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
        self.saliency_label = QLabel()
        saliency_page = QWidget()
        sl = QVBoxLayout(saliency_page)
        for label, widget in (("Method", self.mode_combo), ("Class", self.class_combo), ("Grad-CAM layer", self.cam_layer_combo), ("Opacity", self.opacity_slider)):
            r = QHBoxLayout()
            r.addWidget(QLabel(label))
            r.addWidget(widget, 1)
            sl.addLayout(r)
        sl.addWidget(self.saliency_label)
        sl.addStretch(1)

        self.explainer = ConvolutionExplainer()
        self.pages = QTabWidget()
        self.pages.setObjectName("featuresPages")
        self.pages.addTab(channels_page, "Channels")
        self.pages.addTab(layers_page, "Layers")
        self.pages.addTab(filters_page, "Filters")
        self.pages.addTab(saliency_page, "Saliency")
        self.pages.addTab(self.explainer, "Convolution explained")

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.weights_label)
        layout.addWidget(self.predictions_label)
        layout.addWidget(self.pages, 1)

        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.weights_combo.activated.connect(self._on_weights_activated)
        self.freeze_button.toggled.connect(self.set_frozen)
        self.layer_tree.layer_chosen.connect(self.choose_layer)
        self.channels_spin.valueChanged.connect(self._on_channels)
        self.colormap_combo.currentTextChanged.connect(self._on_colours)
        self.norm_combo.currentIndexChanged.connect(self._on_colours)
        self.grid.channel_clicked.connect(self.enlarge_channel)
        self.zoom.unit_hovered.connect(self.show_unit)
        self.zoom.unit_left.connect(self.clear_unit)
        self.kernel_spin.valueChanged.connect(self._show_filters)
        self.mode_combo.currentIndexChanged.connect(self._on_saliency_settings)
        self.class_combo.currentIndexChanged.connect(self._on_saliency_settings)
        self.cam_layer_combo.currentIndexChanged.connect(self._on_saliency_settings)
        self.opacity_slider.valueChanged.connect(lambda _v: self.context.request_repaint())

    def _restore_settings(self) -> None:
        s = self.context.settings
        name = str(s.value(f"{SETTINGS_GROUP}/model", "resnet18"))
        index = self.model_combo.findData(name)
        self.model_combo.blockSignals(True)
        self.model_combo.setCurrentIndex(index if index >= 0 else max(0, self.model_combo.findData("resnet18")))
        self.model_combo.blockSignals(False)
        weights = str(s.value(f"{SETTINGS_GROUP}/weights", "trained"))
        self.weights_combo.setCurrentIndex(max(0, self.weights_combo.findData(weights if weights != "file" else "trained")))
        colormap = str(s.value(f"{SETTINGS_GROUP}/colormap", "viridis"))
        if colormap in COLORMAPS:
            self.colormap_combo.setCurrentText(colormap)
        self.norm_combo.setCurrentIndex(max(0, self.norm_combo.findData(str(s.value(f"{SETTINGS_GROUP}/normalisation", "channel")))))
        try:
            self.opacity_slider.setValue(int(s.value(f"{SETTINGS_GROUP}/opacity", 50)))
        except (TypeError, ValueError):
            self.opacity_slider.setValue(50)
        self._fill_classes()
        self._refresh_weights_state()

    def _save_settings(self) -> None:
        s = self.context.settings
        s.setValue(f"{SETTINGS_GROUP}/model", self.model_name)
        s.setValue(f"{SETTINGS_GROUP}/weights", self.weights_choice)
        s.setValue(f"{SETTINGS_GROUP}/colormap", self.colormap_combo.currentText())
        s.setValue(f"{SETTINGS_GROUP}/normalisation", self.norm_combo.currentData())
        s.setValue(f"{SETTINGS_GROUP}/opacity", self.opacity_slider.value())

    # -- model and weights ---------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return str(self.model_combo.currentData())

    @property
    def weights_choice(self) -> str:
        return str(self.weights_combo.currentData())

    def set_model(self, name: str, weights: str = "trained") -> None:
        """Pick a zoo model and "trained"/"untrained" weights (emits task_changed)."""
        index = self.model_combo.findData(name)
        if index < 0:
            self.context.error("Unknown model", f"'{name}' is not in the zoo; choose one of {', '.join(self._names)}")
            return
        self.weights_combo.setCurrentIndex(max(0, self.weights_combo.findData(weights)))
        if index == self.model_combo.currentIndex():
            self._on_model_changed(index)
        else:
            self.model_combo.setCurrentIndex(index)

    def set_weights_file(self, path: str | Path) -> None:
        """Use a state_dict file for the current model (a mismatch is reported when it loads)."""
        self._weights_file = str(path)
        self.weights_combo.setCurrentIndex(self.weights_combo.findData("file"))
        self._refresh_weights_state()
        self._restart()

    def _catalog_installed(self) -> bool | None:
        """True/False when the model has catalogued weights, None when it has none."""
        from engine.inspect.zoo import catalog_entry_for

        try:
            entry = catalog_entry_for(self._model_spec(self.model_name))
        except Exception:  # an unreadable catalog must not break the tab
            log.debug("catalog lookup failed", exc_info=True)
            return None
        return None if entry is None else self.context.weights_cache.is_installed(entry)

    def _refresh_weights_state(self) -> None:
        choice = self.weights_choice
        if choice == "untrained":
            text = "Untrained: random initial weights — compare their noisy filters with trained ones."
        elif choice == "file":
            text = f"Weights from {Path(self._weights_file).name}" if self._weights_file else "No weights file chosen"
        else:
            installed = self._catalog_installed()
            if installed is None:
                text = f"{self.model_name} has no catalogued weights: showing untrained weights (choose a weights file to load your own)."
            elif installed:
                text = "ImageNet weights (installed)."
            else:
                text = (f"ImageNet weights of {self.model_name} are not installed: showing untrained weights. "
                        f"Fetch them with the model manager or `python main.py models fetch {self.model_name}`.")
        self.weights_label.setText(text)

    def _on_model_changed(self, _index: int) -> None:
        self._weights_file = None if self.weights_choice == "file" else self._weights_file
        if self.weights_choice == "file":
            self.weights_combo.setCurrentIndex(self.weights_combo.findData("trained"))
        self._layer = None
        self._fill_classes()
        self._refresh_weights_state()
        self._restart()

    def _on_weights_activated(self, _index: int) -> None:
        if self.weights_choice == "file":
            path, _ = QFileDialog.getOpenFileName(self, "Weights file (state_dict)", "", "PyTorch weights (*.pth *.pt *.bin);;All files (*)")
            if not path:
                self.weights_combo.setCurrentIndex(self.weights_combo.findData("trained"))
                self._refresh_weights_state()
                return
            self.set_weights_file(path)
            return
        self._refresh_weights_state()
        self._restart()

    def _restart(self) -> None:
        self.result = None
        self._table = None
        self._filters = None
        self.unit, self.unit_box = None, None
        self.grid.clear()
        self.zoom.set_map(None, "Click a channel to enlarge it")
        self.predictions_label.setText("Top-5: loading the model…")
        self._save_settings()
        self.task_changed.emit()

    def _fill_classes(self) -> None:
        categories = self._model_spec(self.model_name).categories
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("Top prediction", None)
        for i, name in enumerate(categories):
            self.class_combo.addItem(f"{i}: {name}", i)
        self.class_combo.blockSignals(False)

    # -- the task ----------------------------------------------------------------------------
    def make_task(self):
        from engine.inspect.live import InspectTask

        choice = self.weights_choice
        untrained = choice == "untrained" or (choice == "trained" and not self._catalog_installed())
        weights = self._weights_file if choice == "file" and self._weights_file else None
        if choice == "file" and weights is None:
            untrained = True
        cam = self.cam_layer_combo.currentData()
        self.task = InspectTask(
            self.model_name,
            weights=weights,
            untrained=untrained,
            layer=self._layer,
            mode=str(self.mode_combo.currentData()),
            channels=self.channels_spin.value(),
            target_class=self.class_combo.currentData(),
            cam_layer=cam if cam else None,
            cache=self.context.weights_cache,
        )
        self.task.frozen_image = self._frozen
        self.status_message.emit(f"Feature maps: loading {self.model_name}" + (" (untrained)" if untrained else ""))
        return self.task

    def on_result(self, result) -> None:
        r = result.result
        if self.task is None or r is None or getattr(r, "model", None) != self.model_name:
            return  # a late result of a replaced task
        self.result = r
        if r.table is not None and r.table is not self._table:
            self._set_table(r.table, r.layer)
        if r.channels is not None:
            self.grid.set_maps(r.channels.maps, r.channels.channels)
            self.layer_label.setText(f"<b>{r.layer}</b> {'×'.join(str(s) for s in r.channels.shape)} — strongest {len(r.channels.channels)} channels by mean")
        if r.pinned is not None:
            self.zoom.set_map(r.pinned, f"{r.layer} channel {r.pinned_channel} ({r.pinned.shape[0]}×{r.pinned.shape[1]}) — hover a unit")
            if self.unit is not None:
                self._update_unit_box()
        self._show_predictions(r)
        self._set_saliency(r)
        if r.filters is not None and r.filters is not self._filters:
            self._filters = r.filters
            self._show_filters()

    def _set_table(self, table, layer: str) -> None:
        self._table = table
        self.layer_tree.set_table(table)
        self.layer_tree.select_layer(layer)
        self._layer = layer
        c, h, w = table.input_shape
        self.totals_label.setText(
            f"Total parameters {table.total_params:,} · mult-adds {table.total_mult_adds:,} for a {c}×{h}×{w} input · "
            "RF = receptive field in input pixels (size, effective stride, effective padding)"
        )
        self.cam_layer_combo.blockSignals(True)
        self.cam_layer_combo.clear()
        self.cam_layer_combo.addItem("Last convolution", None)
        for row in table.spatial_rows():
            self.cam_layer_combo.addItem(row.name, row.name)
        self.cam_layer_combo.blockSignals(False)
        if self.task is not None and self.task.filters_layer is None:
            convs = [r.name for r in table.rows if r.type == "Conv2d"]
            if convs:  # the Filters page starts with the first layer's colour kernels
                self.task.filters_layer = convs[0]

    def _show_predictions(self, r) -> None:
        tag = "" if r.trained else " <i>(untrained weights)</i>"
        if not r.predictions:
            self.predictions_label.setText(f"{r.model}: no class scores{tag}")
            return
        items = " · ".join(f"{p.name or p.index} <b>{100 * p.probability:.1f}%</b>" for p in r.predictions)
        self.predictions_label.setText(f"Top-{len(r.predictions)}: {items}{tag}")

    def _set_saliency(self, r) -> None:
        if r.saliency is None:
            self._saliency_qimage = None
            self.saliency_label.setText("")
            return
        from engine.inspect.render import colorize

        self._saliency_qimage = array_to_qimage(colorize(r.saliency, "jet"))
        what = {"gradient": "Vanilla gradient", "smoothgrad": "SmoothGrad", "gradcam": f"Grad-CAM at {r.saliency_layer}"}.get(r.mode, r.mode)
        cls = f"{r.saliency_class.index}: {r.saliency_class.name}" if r.saliency_class else "?"
        self.saliency_label.setText(f"{what} for class {cls}")

    # -- live settings -------------------------------------------------------------------------
    def choose_layer(self, name: str) -> None:
        """Show ``name``'s channels; a convolution's kernels go to the Filters page."""
        self._layer = name
        self.unit, self.unit_box = None, None
        self.grid.selected = None
        self.zoom.set_map(None, "Click a channel to enlarge it")
        row = None
        if self._table is not None:
            try:
                row = self._table.row(name)
            except KeyError as exc:
                self.status_message.emit(str(exc))
                return
        if self.task is not None:
            self.task.layer = name
            self.task.pinned_channel = None
            if row is not None and row.type == "Conv2d":
                self.task.filters_layer = name
        self.context.request_repaint()

    def enlarge_channel(self, channel: int) -> None:
        self.grid.selected = channel
        if self.task is not None:
            self.task.pinned_channel = int(channel)

    def show_unit(self, row: int, col: int) -> None:
        """The unit (row, col) of the enlarged map is under the mouse: outline its field."""
        self.unit = (row, col)
        self._update_unit_box()
        self.context.request_repaint()

    def select_unit_at(self, x: float, y: float) -> None:
        """A click on the video at frame point (x, y): enlarge the strongest channel (unless one
        is chosen) and outline the unit of the current layer that looks there most directly."""
        from engine.inspect.live import unit_at

        r = self.result
        if r is None or r.table is None:
            return
        try:
            self.unit = unit_at(r.table, r.layer, x, y, r.geometry)
        except (KeyError, ValueError) as exc:
            self.status_message.emit(str(exc))
            return
        if self.task is not None and self.task.pinned_channel is None and r.channels is not None:
            self.enlarge_channel(int(r.channels.channels[0]))
        self.zoom.unit = self.unit
        self.zoom.update()
        self._update_unit_box()
        self.context.request_repaint()

    def clear_unit(self) -> None:
        self.unit, self.unit_box = None, None
        self.context.request_repaint()

    def _update_unit_box(self) -> None:
        from engine.inspect.live import receptive_box

        if self.result is None or self.result.table is None or self.unit is None:
            return
        try:
            self.unit_box = receptive_box(self.result.table, self.result.layer, self.unit[0], self.unit[1], self.result.geometry)
        except (KeyError, ValueError) as exc:
            self.unit_box = None
            self.status_message.emit(str(exc))

    def _on_channels(self, value: int) -> None:
        if self.task is not None:
            self.task.channels = int(value)

    def _on_colours(self, *_args) -> None:
        self.grid.colormap = self.zoom.colormap = self.colormap_combo.currentText()
        self.grid.normalisation = str(self.norm_combo.currentData())
        self._save_settings()
        if self.result is not None and self.result.channels is not None:
            self.grid.set_maps(self.result.channels.maps, self.result.channels.channels)

    def _on_saliency_settings(self, *_args) -> None:
        if self.task is not None:
            self.task.mode = str(self.mode_combo.currentData())
            self.task.target_class = self.class_combo.currentData()
            cam = self.cam_layer_combo.currentData()
            self.task.cam_layer = cam if cam else None
        if self.mode_combo.currentData() == "activations":
            self._saliency_qimage = None
            self.saliency_label.setText("")
            self.context.request_repaint()

    def set_mode(self, mode: str) -> None:
        """"activations", "gradient", "smoothgrad" or "gradcam" (the Saliency page's method)."""
        self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(mode)))

    def _show_filters(self, *_args) -> None:
        from engine.inspect.render import filter_tiles_gray, filter_tiles_rgb

        view = self._filters
        if view is None:
            return
        out_channels = view.weight_shape[0]
        self.kernel_spin.setRange(-1, out_channels - 1)
        kernel = self.kernel_spin.value()
        shape = "×".join(str(s) for s in view.weight_shape)
        if view.rgb is not None and kernel < 0:
            self.filters_view.set_tiles(filter_tiles_rgb(view.rgb), f"{view.layer}: {out_channels} kernels as RGB tiles ({shape}); gray = 0")
        elif kernel < 0:
            self.filters_view.set_tiles(filter_tiles_gray(view.slices), f"{view.layer} ({shape}): first input-channel slice of each kernel")
        else:
            self.filters_view.set_tiles(filter_tiles_gray(view.slices, kernel), f"{view.layer} kernel {kernel}: one slice per input channel")

    # -- freeze ---------------------------------------------------------------------------------
    def set_frozen(self, frozen: bool) -> None:
        """Keep analysing (and showing) the current frame instead of the live feed."""
        if frozen:
            frame = self.context.latest_frame()
            if frame is None:
                self.status_message.emit("No frame to freeze yet: start a source first")
                self.freeze_button.blockSignals(True)
                self.freeze_button.setChecked(False)
                self.freeze_button.blockSignals(False)
                return
            self._frozen = frame.image.copy()
        else:
            self._frozen = None
        if self.freeze_button.isChecked() != frozen:
            self.freeze_button.blockSignals(True)
            self.freeze_button.setChecked(frozen)
            self.freeze_button.blockSignals(False)
        if self.task is not None:
            self.task.frozen_image = self._frozen
        self.status_message.emit("Frame frozen: the network keeps looking at it" if frozen else "Live")

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def display_image(self, frame) -> np.ndarray | None:
        return self._frozen

    # -- overlay -------------------------------------------------------------------------------
    def paint_overlay(self, painter: QPainter, frame_width: int, frame_height: int) -> None:
        r = self.result
        if r is not None and self._saliency_qimage is not None and self.mode_combo.currentData() != "activations":
            painter.save()
            painter.setOpacity(self.opacity_slider.value() / 100.0)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(QRectF(0, 0, frame_width, frame_height), self._saliency_qimage)
            painter.restore()
        line = max(1.0, frame_width / 320)
        if self.unit_box is not None:
            x1, y1, x2, y2 = self.unit_box
            painter.save()
            painter.setPen(QPen(QColor(255, 60, 60), line * 2))
            painter.drawRect(QRectF(x1, y1, x2 - x1, y2 - y1))
            if r is not None and self.unit is not None:
                font = QFont()
                font.setPixelSize(int(max(10, frame_height / 30)))
                painter.setFont(font)
                painter.drawText(QRectF(x1 + 3, y1 + 2, max(10.0, x2 - x1), font.pixelSize() * 1.4), Qt.AlignmentFlag.AlignLeft,
                                 f"{r.layer}[{r.pinned_channel}] unit {self.unit[0]},{self.unit[1]}")
            painter.restore()
        if r is not None and not r.trained:
            painter.save()
            font = QFont()
            font.setPixelSize(int(max(10, frame_height / 28)))
            painter.setFont(font)
            # Top right, on a dark plate: the bottom of a frame often carries captions.
            text = "untrained weights"
            width = painter.fontMetrics().horizontalAdvance(text) + 12
            height = font.pixelSize() * 1.5
            plate = QRectF(frame_width - width - 6, 6, width, height)
            painter.fillRect(plate, QColor(0, 0, 0, 150))
            painter.setPen(QColor(255, 210, 0))
            painter.drawText(plate, Qt.AlignmentFlag.AlignCenter, text)
            painter.restore()

    # -- life cycle ----------------------------------------------------------------------------
    def activated(self) -> None:
        view = self.context.video_view
        if view is not None:
            view.frame_clicked.connect(self.select_unit_at)

    def deactivated(self) -> None:
        self.unit, self.unit_box = None, None
        view = self.context.video_view
        if view is not None:
            try:
                view.frame_clicked.disconnect(self.select_unit_at)
            except (RuntimeError, TypeError):  # was not connected
                pass

    def shutdown(self) -> None:
        self._save_settings()
