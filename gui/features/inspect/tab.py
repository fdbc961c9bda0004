"""The Feature maps tab: look inside a CNN while it watches the camera.

A thin view over ``engine.features.inspect.controller.InspectController`` (state and commands,
no Qt): model picker, layer table, live channel grid with one channel enlarged and its
unit's receptive field painted on the video, the layer's kernels, explanations over the
video (saliency, SmoothGrad, Grad-CAM, Integrated Gradients, guided backprop,
occlusion), the top-9 patches of every unit, feature visualisation and the "convolution
explained" panel. Live settings reach the worker as one snapshot (``task_settings``);
everything heavy runs on the worker thread or in an engine job.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from gui.common import file_dialogs
from gui.common.settings import read_int, read_setting
from gui.common.tab_base import StudioTab
from gui.features.inspect.collect import CollectAndVisualise
from gui.features.inspect.conv_explainer import ConvolutionExplainer
from gui.features.inspect.overlay import FROZEN_BUTTON_STYLE, paint_features_overlay, paint_frozen_badge
from gui.features.inspect.pages import COLORMAPS, ChannelsPage, FiltersPage, SaliencyPage, heat_qimage
from gui.features.inspect.units import UnitsPage
from gui.features.inspect.views import LayerTree
from gui.features.inspect.visualise import VisualisePage

log = logging.getLogger(__name__)

SETTINGS_GROUP = "Features"
WEIGHTS_CHOICES = (("ImageNet weights", "trained"), ("Untrained (random)", "untrained"), ("From file…", "file"))


class InspectTab(StudioTab):
    """See module docstring. Public methods are what the controls call (and tests use)."""

    title = "Feature maps"

    def __init__(self, context, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        from engine.features.inspect.controller import InspectController

        s = context.store.group(SETTINGS_GROUP)
        self.controller = InspectController(context.weights_cache, s.get("model", "resnet18"), s.get("weights", "trained"))
        self.listen(self.controller.notice_changed, self._on_notice)
        self.follow(self.controller)
        self._table = None
        self._filters = None
        self._saliency_qimage: QImage | None = None
        self._predictions_shown: tuple[float, tuple] = (0.0, ())  # (time.monotonic(), (model, trained)) of the top-5 text
        self._build()
        self._restore_view_settings()

    # -- construction ------------------------------------------------------------------
    def _build(self) -> None:
        c = self.controller
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("featuresModel")
        for name in c.names:
            self.model_combo.addItem(self._title(name), name)
        self.model_combo.setCurrentIndex(self.model_combo.findData(c.model_name))
        self.weights_combo = QComboBox()
        self.weights_combo.setObjectName("featuresWeights")
        for label, key in WEIGHTS_CHOICES:
            self.weights_combo.addItem(label, key)
        for combo in (self.model_combo, self.weights_combo):
            # Long entries ("ImageNet weights (not installed)") must not widen the panel.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.freeze_button = QPushButton("Freeze frame")
        self.freeze_button.setObjectName("featuresFreeze")
        self.freeze_button.setCheckable(True)
        self.freeze_button.setToolTip("Freeze frame (F): keep explaining the frame shown")
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_combo, 2)
        top.addWidget(self.weights_combo, 1)
        top.addWidget(self.freeze_button)
        self.weights_label = self._label("featuresWeightsState")
        self.notice_label = self._label("featuresNotice")
        self.notice_label.setStyleSheet("color: #d08000")
        self.predictions_label = self._label("featuresPredictions")
        self.predictions_label.setTextFormat(Qt.TextFormat.RichText)
        self.predictions_label.setText("Top-5: waiting for frames")

        self.channels_page = ChannelsPage()
        self.grid, self.zoom = self.channels_page.grid, self.channels_page.zoom
        self.layer_tree = LayerTree()
        self.totals_label = self._label("featuresTotals")
        layers_page = QWidget()
        lay = QVBoxLayout(layers_page)
        lay.addWidget(self.layer_tree, 1)
        lay.addWidget(self.totals_label)
        self.filters_page = FiltersPage()
        self.saliency_page = SaliencyPage()
        self.units_page = UnitsPage()
        self.visualise_page = VisualisePage()
        self.explainer = ConvolutionExplainer()
        self.pages = QTabWidget()
        self.pages.setObjectName("featuresPages")
        for page, name in ((self.channels_page, "Channels"), (layers_page, "Layers"), (self.filters_page, "Filters"),
                           (self.saliency_page, "Saliency"), (self.units_page, "Top patches"), (self.visualise_page, "Visualise"),
                           (self.explainer, "Convolution explained")):
            self.pages.addTab(page, name)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        for w in (self.weights_label, self.notice_label, self.predictions_label):
            layout.addWidget(w)
        layout.addWidget(self.pages, 1)

        self.model_combo.currentIndexChanged.connect(lambda _i: self.set_model(str(self.model_combo.currentData())))
        self.weights_combo.activated.connect(self._on_weights_activated)
        self.freeze_button.toggled.connect(self.set_frozen)
        self.layer_tree.layer_chosen.connect(self.choose_layer)
        self.channels_page.channels_changed.connect(c.set_channels)
        self.channels_page.colours_changed.connect(self._on_colours)
        self.grid.channel_clicked.connect(self.enlarge_channel)
        self.zoom.unit_hovered.connect(self.show_unit)
        self.zoom.unit_left.connect(self.clear_unit)
        self.saliency_page.mode_chosen.connect(self.set_mode)
        self.saliency_page.class_entered.connect(self.set_target_class)
        self.saliency_page.cam_layer_chosen.connect(c.set_cam_layer)
        self.saliency_page.opacity_slider.valueChanged.connect(lambda _v: self.context.request_repaint())
        self.extras = CollectAndVisualise(c, self.units_page, self.visualise_page, self.context, self)
        self.extras.status.connect(self.status_message)

    @staticmethod
    def _label(name: str) -> QLabel:
        label = QLabel()
        label.setObjectName(name)
        label.setWordWrap(True)  # long texts must not widen the panel
        return label

    def _title(self, name: str) -> str:
        from engine.features.inspect.zoo import model_spec

        return model_spec(name).title

    def _restore_view_settings(self) -> None:
        s = self.context.store.group(SETTINGS_GROUP)
        self.weights_combo.setCurrentIndex(max(0, self.weights_combo.findData(self.controller.weights_choice)))
        colormap = read_setting(s, "colormap", "viridis", choices=tuple(COLORMAPS))
        self.channels_page.colormap_combo.setCurrentText(colormap)
        norm = self.channels_page.norm_combo
        norm.setCurrentIndex(max(0, norm.findData(s.get("normalisation", "channel"))))
        slider = self.saliency_page.opacity_slider
        slider.setValue(read_int(s, "opacity", 50, slider.minimum(), slider.maximum()))
        self.saliency_page.set_classes(self.controller.spec.categories)
        self.weights_label.setText(self.controller.weights_text())

    def _save_settings(self) -> None:
        s = self.context.store.group(SETTINGS_GROUP)
        s.set("model", self.model_name)
        s.set("weights", self.weights_choice)
        s.set("colormap", self.channels_page.colormap_combo.currentText())
        s.set("normalisation", self.channels_page.norm_combo.currentData())
        s.set("opacity", self.saliency_page.opacity_slider.value())

    # -- model and weights ---------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self.controller.model_name

    @property
    def weights_choice(self) -> str:
        return self.controller.weights_choice

    @property
    def result(self):
        return self.controller.result

    @property
    def unit(self):
        return self.controller.unit

    @property
    def unit_box(self):
        return self.controller.unit_box

    def set_model(self, name: str, weights: str | None = None) -> None:
        """Pick a zoo model and "trained"/"untrained" weights (emits task_changed)."""
        try:
            self.controller.set_model(name, weights)
        except ValueError as exc:
            self.context.error("Unknown model", exc)
            return
        self._sync_model_controls()
        self._reset_views()

    def set_weights_file(self, path: str | Path) -> None:
        """Use a state_dict file for the current model (if it fails to load, the previous weights stay)."""
        self.controller.set_weights_file(path)
        self._sync_model_controls()
        self._reset_views()

    def _on_weights_activated(self, _index: int) -> None:
        choice = str(self.weights_combo.currentData())
        if choice == "file":
            path = file_dialogs.open_file(self, "Weights file (state_dict)", "PyTorch weights (*.pth *.pt *.bin);;All files (*)")
            if path:
                self.set_weights_file(path)
            else:
                self._sync_model_controls()
            return
        self.controller.set_weights(choice)
        self._sync_model_controls()
        self._reset_views()

    def _sync_model_controls(self) -> None:
        c = self.controller
        for combo, value in ((self.model_combo, c.model_name), (self.weights_combo, c.weights_choice)):
            combo.blockSignals(True)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            combo.blockSignals(False)
        self.weights_label.setText(c.weights_text())
        self.saliency_page.set_classes(c.spec.categories)
        self._save_settings()

    def _reset_views(self) -> None:
        self._table = self._filters = None
        self.extras.reset()
        self.channels_page.clear()
        self.predictions_label.setText("Top-5: loading the model…")

    # -- the task ----------------------------------------------------------------------------
    def make_task(self):
        task = self.controller.make_task()
        self.notice_label.setText("")
        self.status_message.emit(f"Feature maps: loading {self.model_name}" + (" (untrained)" if task.untrained else ""))
        return task

    @property
    def task(self):
        return self.controller.task

    def task_settings(self):
        return self.controller.settings

    def on_result(self, result) -> None:
        r = result.result
        if r is None:
            return
        c = self.controller
        c.on_result(r)  # a new notice comes back through _on_notice
        if r.table is not None and r.table is not self._table:
            self._set_table(r.table, r.layer)
        self.channels_page.show_result(r)
        self._show_predictions(r)
        self.saliency_page.describe(r)
        self._saliency_qimage = heat_qimage(r.saliency) if r.saliency is not None else None
        if r.filters is not None and r.filters is not self._filters:
            self._filters = r.filters
            self.filters_page.show(r.filters)
        self.extras.on_result(r, self.pages.currentWidget() is self.units_page)

    def _on_notice(self, notice: str) -> None:
        """The task could not use the chosen weights: say so and show the choice that runs."""
        self.notice_label.setText(notice)
        self._sync_model_controls()
        self.status_message.emit(notice)

    def _set_table(self, table, layer: str) -> None:
        self._table = table
        self.layer_tree.set_table(table)
        self.layer_tree.select_layer(layer)
        ch, h, w = table.input_shape
        self.totals_label.setText(
            f"Total parameters {table.total_params:,} · mult-adds {table.total_mult_adds:,} for a {ch}×{h}×{w} input · "
            "RF = receptive field in input pixels (size, effective stride, effective padding)"
        )
        self.saliency_page.set_layers([row.name for row in table.spatial_rows()])

    PREDICTIONS_EVERY_S = 0.25  # numbers that change 20 times a second cannot be read

    def _show_predictions(self, r) -> None:
        now = time.monotonic()
        shown_at, shown_for = self._predictions_shown
        if now - shown_at < self.PREDICTIONS_EVERY_S and shown_for == (r.model, r.trained):
            return  # another model's scores are never left on screen
        self._predictions_shown = (now, (r.model, r.trained))
        tag = "" if r.trained else " <i>(untrained weights)</i>"
        if not r.predictions:
            self.predictions_label.setText(f"{r.model}: no class scores (not a classifier){tag}")
            return
        items = " · ".join(f"{p.name or p.index} <b>{100 * p.probability:.1f}%</b>" for p in r.predictions)
        self.predictions_label.setText(f"Top-{len(r.predictions)}: {items}{tag}")

    # -- live settings -------------------------------------------------------------------------
    def choose_layer(self, name: str) -> None:
        """Show ``name``'s channels; a convolution's kernels go to the Filters page."""
        try:
            self.controller.choose_layer(name)
        except KeyError as exc:
            self.status_message.emit(str(exc))
            return
        self.grid.selected = None
        self.zoom.set_map(None, "Click a channel to enlarge it")
        self.context.request_repaint()

    def enlarge_channel(self, channel: int) -> None:
        self.grid.selected = channel
        self.controller.enlarge_channel(channel)

    def set_mode(self, mode: str) -> None:
        """One of engine.features.inspect.task.MODES (the Saliency page's method)."""
        combo = self.saliency_page.mode_combo
        if combo.currentData() != mode:
            combo.setCurrentIndex(max(0, combo.findData(mode)))  # emits mode_chosen, which comes back here
            return
        self.controller.set_mode(mode)
        if mode == "activations":
            self._saliency_qimage = None
            self.saliency_page.label.setText("")
            self.context.request_repaint()

    def set_target_class(self, text) -> None:
        """A class index or name (as the CLI takes it); a bad one is reported and ignored."""
        try:
            self.controller.set_target_class(text)
        except ValueError as exc:
            self.status_message.emit(str(exc))
            self.saliency_page.label.setText(str(exc))
            return
        self.saliency_page.show_class(self.controller.settings.target_class)

    def show_unit(self, row: int, col: int) -> None:
        """The unit (row, col) of the enlarged map is under the mouse: outline its field."""
        self.controller.show_unit(row, col)
        self.context.request_repaint()

    def select_unit_at(self, x: float, y: float) -> None:
        self.controller.select_unit_at(x, y)  # a problem is shown through controller.status
        self.zoom.unit = self.controller.unit
        self.zoom.update()
        self.context.request_repaint()

    def clear_unit(self) -> None:
        self.controller.clear_unit()
        self.context.request_repaint()

    def _on_colours(self) -> None:
        self._save_settings()
        r = self.controller.result
        if r is not None and r.channels is not None:
            self.grid.set_maps(r.channels.maps, r.channels.channels)

    # -- freeze ---------------------------------------------------------------------------------
    def set_frozen(self, frozen: bool) -> None:
        """Keep analysing (and showing) the frame on the screen instead of the live feed.

        That is the picture the view shows, not the newest captured frame: the view shows
        the frame its result belongs to, a frame or two behind the capture, and freezing
        must not jump to a picture the user never saw."""
        image = self._shown_image() if frozen else None
        if frozen and image is None:
            self.status_message.emit("No frame to freeze yet: start a source first")
            frozen = False
        self.controller.freeze(image)
        if self.freeze_button.isChecked() != frozen:
            self.freeze_button.blockSignals(True)
            self.freeze_button.setChecked(frozen)
            self.freeze_button.blockSignals(False)
        self._show_frozen(frozen)
        self.status_message.emit("Frame frozen: the network keeps looking at it" if frozen else "Live")

    def _shown_image(self):
        """The BGR picture on the video view, else the newest frame; None without either."""
        view = self.context.video_view
        shown = view.current_image() if view is not None else None
        if shown is not None:
            return shown
        frame = self.context.latest_frame()
        return frame.image if frame is not None else None

    def _show_frozen(self, frozen: bool) -> None:
        """A frozen frame must not look live: the button says so in colour, and the video
        carries a badge (painted in ``paint_overlay``)."""
        self.freeze_button.setText("Frozen: back to live (F)" if frozen else "Freeze frame")
        self.freeze_button.setStyleSheet(FROZEN_BUTTON_STYLE if frozen else "")
        view = self.context.video_view
        if view is not None:
            view.update()

    @property
    def frozen(self) -> bool:
        return self.controller.frozen

    def display_image(self, frame) -> np.ndarray | None:
        return self.controller.settings.frozen_image

    # -- overlay -------------------------------------------------------------------------------
    def paint_overlay(self, painter: QPainter, frame_width: int, frame_height: int) -> None:
        paint_features_overlay(painter, frame_width, frame_height, self.controller, self._saliency_qimage,
                               self.saliency_page.opacity_slider.value() / 100.0)
        if self.controller.frozen:
            paint_frozen_badge(painter)

    # -- life cycle ----------------------------------------------------------------------------
    def tab_key(self, key: int, pressed: bool, auto_repeat: bool) -> bool:
        """F toggles Freeze frame, whatever has focus (the main window routes it)."""
        if key != Qt.Key.Key_F:
            return False
        if pressed and not auto_repeat:
            self.freeze_button.toggle()
        return True

    def activated(self) -> None:
        view = self.context.video_view
        if view is not None:
            view.frame_clicked.connect(self.select_unit_at)

    def deactivated(self) -> None:
        self.controller.clear_unit()
        view = self.context.video_view
        if view is not None:
            try:
                view.frame_clicked.disconnect(self.select_unit_at)
            except (RuntimeError, TypeError):  # was not connected
                pass

    def shutdown(self) -> None:
        self.extras.shutdown()
        self._save_settings()
        self.controller.close()
