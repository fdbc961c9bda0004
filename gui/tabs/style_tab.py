"""The Style tab: paint a photo in the style of a painting (Gatys), or the live feed (AdaIN).

Photo mode runs ``engine.style.gatys.stylize`` (or a one-pass AdaIN preview) as a job:
progress bar with ETA, the image updating live, content/style/total loss curves, cancel,
save as PNG with the settings in its metadata, and "load settings from image".
Live mode returns an ``AdaINTask`` from ``make_task``; the alpha slider and colour box
change attributes of the running task and a new style is swapped in by the task itself,
so neither restarts the worker. Without weights the tab says what is missing and offers
to download or import it; the only fallback is a colour-only transfer, labelled as such.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.settings import read_bool, read_int
from gui.tabs.base import StudioTab
from gui.widgets.style_inputs import IMAGE_FILTER, ImageWell, StyleGallery, bgr_pixmap
from gui.widgets.style_losses import LossPlot

if TYPE_CHECKING:
    from engine.runtime import Task, TaskResult
    from engine.sources import Frame
    from gui.context import AppContext

log = logging.getLogger(__name__)

METHODS = (("gatys", "Gatys optimisation (VGG-19)"), ("adain", "AdaIN quick preview"),
           ("palette", "Colour transfer only (no network)"))
COLOUR_MODES = (("none", "Take the style's colours"), ("luminance", "Keep the content's colours (luminance only)"),
                ("histogram", "Recolour the style to the content's palette"))


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


@dataclasses.dataclass
class StyleChoice:
    """One style of the blend: its image (BGR uint8), weight and where it came from."""

    image: np.ndarray
    name: str
    path: str | None = None
    weight: float = 1.0


class StyleTab(StudioTab):
    """Neural style transfer for photos (Gatys) and the live feed (AdaIN)."""

    title = "Style"
    photo_finished = Signal()  # a photo job ended (done, failed or cancelled); for tests and scripts

    def __init__(self, context: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.setObjectName("styleTab")
        self.content_image: np.ndarray | None = None
        self.content_name = ""
        self.styles: list[StyleChoice] = []
        self.result_image: np.ndarray | None = None
        self.result_info: dict[str, Any] | None = None
        self.preview_image: np.ndarray | None = None
        self.live_image: np.ndarray | None = None
        self.live_method = ""
        self._live_task: Task | None = None
        self._job_started = 0.0
        self.runner = context.job_runner("style", self)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self._build()
        self._restore()
        self.refresh_weights()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QVBoxLayout(self)

        self.weights_banner = QLabel()
        self.weights_banner.setObjectName("styleWeightsBanner")
        self.weights_banner.setWordWrap(True)
        self.weights_banner.setStyleSheet("QLabel { background: #4a3b12; color: #ffe9a8; padding: 6px; border-radius: 4px; }")
        self.download_button = QPushButton("Download weights…")
        self.download_button.clicked.connect(self.open_model_manager)
        self.import_button = QPushButton("Import file…")
        self.import_button.clicked.connect(self._choose_weights_file)
        banner_row = QHBoxLayout()
        banner_row.addWidget(self.weights_banner, 1)
        banner_buttons = QVBoxLayout()
        banner_buttons.addWidget(self.download_button)
        banner_buttons.addWidget(self.import_button)
        banner_row.addLayout(banner_buttons)
        self.banner_box = QWidget()
        self.banner_box.setLayout(banner_row)
        root.addWidget(self.banner_box)

        inputs = QHBoxLayout()
        content_box = QGroupBox("Content")
        content_layout = QVBoxLayout(content_box)
        self.content_well = ImageWell("Content photo")
        self.content_well.file_chosen.connect(self.set_content_file)
        self.content_well.image_dropped.connect(lambda img: self.set_content_image(img, "dropped image"))
        self.freeze_button = QPushButton("Freeze camera frame")
        self.freeze_button.setToolTip("Use the frame the camera (or video) shows now as the content")
        self.freeze_button.clicked.connect(self.freeze_frame)
        content_layout.addWidget(self.content_well)
        content_layout.addWidget(self.freeze_button)
        inputs.addWidget(content_box)

        style_box = QGroupBox("Style")
        style_layout = QVBoxLayout(style_box)
        self.style_well = ImageWell("Style image")
        self.style_well.file_chosen.connect(self.set_style_file)
        self.style_well.image_dropped.connect(lambda img: self.set_style_image(img, "dropped style"))
        self.add_style_button = QPushButton("Add to blend…")
        self.add_style_button.setToolTip("Blend several styles; set each one's weight in the table")
        self.add_style_button.clicked.connect(self._choose_blend_file)
        style_layout.addWidget(self.style_well)
        style_layout.addWidget(self.add_style_button)
        inputs.addWidget(style_box)
        root.addLayout(inputs)

        self.blend_table = QTableWidget(0, 2)
        self.blend_table.setObjectName("styleBlend")
        self.blend_table.setHorizontalHeaderLabels(["Style", "Weight"])
        self.blend_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.blend_table.verticalHeader().setVisible(False)
        self.blend_table.setMaximumHeight(90)
        self.blend_table.itemChanged.connect(self._on_blend_edited)
        root.addWidget(self.blend_table)

        root.addWidget(QLabel("Recent styles and presets:"))
        self.gallery = StyleGallery()
        self.gallery.style_chosen.connect(self.set_style_file)
        root.addWidget(self.gallery)

        self.notice_label = QLabel()
        self.notice_label.setObjectName("styleNotice")
        self.notice_label.setWordWrap(True)
        self.notice_label.setStyleSheet("color: #e0b050;")
        root.addWidget(self.notice_label)

        self.modes = QTabWidget()
        self.modes.setObjectName("styleModes")
        self.modes.addTab(self._build_photo_page(), "Photo")
        self.modes.addTab(self._build_live_page(), "Live")
        self.modes.currentChanged.connect(self._on_mode_changed)
        root.addWidget(self.modes)
        root.addStretch(1)

    def _build_photo_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        form = QFormLayout()
        self.method_combo = QComboBox()
        for key, text in METHODS:
            self.method_combo.addItem(text, key)
        self.method_combo.currentIndexChanged.connect(self._update_method_widgets)
        form.addRow("Method", self.method_combo)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(64, 4096)
        self.size_spin.setSingleStep(64)
        self.size_spin.setValue(512)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Long side of the result; above 512 px the optimisation runs coarse to fine")
        form.addRow("Size", self.size_spin)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 5000)
        self.steps_spin.setValue(300)
        form.addRow("Steps", self.steps_spin)
        self.optimizer_combo = QComboBox()
        self.optimizer_combo.addItem("L-BFGS", "lbfgs")
        self.optimizer_combo.addItem("Adam", "adam")
        form.addRow("Optimiser", self.optimizer_combo)
        self.content_weight_spin = self._weight_spin(1.0)
        form.addRow("Content weight α", self.content_weight_spin)
        self.style_weight_spin = self._weight_spin(1000.0)
        form.addRow("Style weight β", self.style_weight_spin)
        self.tv_weight_spin = self._weight_spin(1.0)
        form.addRow("Smoothness (TV)", self.tv_weight_spin)
        self.strength_spin = QDoubleSpinBox()
        self.strength_spin.setRange(0.0, 10.0)
        self.strength_spin.setSingleStep(0.1)
        self.strength_spin.setValue(1.0)
        self.strength_spin.setToolTip("Multiplies the style weight (AdaIN: the style amount, capped at 1)")
        form.addRow("Style strength", self.strength_spin)
        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setRange(0.1, 4.0)
        self.scale_spin.setSingleStep(0.1)
        self.scale_spin.setValue(1.0)
        self.scale_spin.setToolTip("Size of the style image relative to the result: larger gives bigger strokes")
        form.addRow("Style scale", self.scale_spin)
        self.colour_combo = QComboBox()
        for key, text in COLOUR_MODES:
            self.colour_combo.addItem(text, key)
        form.addRow("Colours", self.colour_combo)
        self.init_combo = QComboBox()
        self.init_combo.addItem("Content photo", "content")
        self.init_combo.addItem("Noise", "noise")
        form.addRow("Start from", self.init_combo)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        form.addRow("Seed", self.seed_spin)
        self.low_memory_check = QCheckBox("Low memory (for very large results; slower)")
        form.addRow("", self.low_memory_check)
        layout.addLayout(form)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Stylise")
        self.run_button.setObjectName("styleRun")
        self.run_button.clicked.connect(self.start_photo)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_photo)
        self.save_button = QPushButton("Save PNG…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._choose_save_path)
        self.load_settings_button = QPushButton("Load settings from image…")
        self.load_settings_button.clicked.connect(self._choose_settings_image)
        for b in (self.run_button, self.cancel_button, self.save_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        layout.addWidget(self.load_settings_button)
        self.show_in_view_check = QCheckBox("Show the result in the main view (untick to see the camera)")
        self.show_in_view_check.setChecked(True)
        self.show_in_view_check.toggled.connect(lambda _checked: self.context.request_repaint())
        layout.addWidget(self.show_in_view_check)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.eta_label = QLabel("")
        row = QHBoxLayout()
        row.addWidget(self.progress_bar, 1)
        row.addWidget(self.eta_label)
        layout.addLayout(row)
        self.preview_label = QLabel("The result appears here while it forms.")
        self.preview_label.setObjectName("stylePreview")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumHeight(200)
        layout.addWidget(self.preview_label)
        self.loss_plot = LossPlot()
        layout.addWidget(self.loss_plot)
        return page

    def _build_live_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.live_label = QLabel("The camera feed is painted in the chosen style while this page is shown.")
        self.live_label.setObjectName("styleLiveLabel")
        self.live_label.setWordWrap(True)
        layout.addWidget(self.live_label)
        form = QFormLayout()
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(100)
        self.alpha_slider.valueChanged.connect(self._on_alpha_changed)
        self.alpha_label = QLabel("1.00")
        alpha_row = QHBoxLayout()
        alpha_row.addWidget(self.alpha_slider, 1)
        alpha_row.addWidget(self.alpha_label)
        form.addRow("Style amount α", alpha_row)
        self.live_colour_check = QCheckBox("Keep the camera's colours")
        self.live_colour_check.toggled.connect(self._on_live_colour_changed)
        form.addRow("", self.live_colour_check)
        self.live_size_spin = QSpinBox()
        self.live_size_spin.setRange(128, 1920)
        self.live_size_spin.setSingleStep(32)
        # AdaIN at 640x480 is ~0.3 TFLOP a frame: fine on a GPU, seconds on a CPU
        self.live_size_spin.setValue(640 if self.context.device.type == "cuda" else 320)
        self.live_size_spin.setSuffix(" px")
        self.live_size_spin.setToolTip("Frames are stylised at this long side, then scaled to the view (lower = faster)")
        self.live_size_spin.valueChanged.connect(self._on_live_size_changed)
        form.addRow("Processing size", self.live_size_spin)
        layout.addLayout(form)
        layout.addStretch(1)
        return page

    @staticmethod
    def _weight_spin(value: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setDecimals(3)
        spin.setRange(0.0, 1e9)
        spin.setValue(value)
        return spin

    # ------------------------------------------------------------------ settings
    def _restore(self) -> None:
        s = self.context.settings
        raw = s.value("Style/recent", [])
        # the INI backend returns a one-item list as a plain string
        self.gallery.set_recent([raw] if isinstance(raw, str) else [str(p) for p in (raw or [])])
        self.size_spin.setValue(read_int(s, "Style/size", 512))
        self.steps_spin.setValue(read_int(s, "Style/steps", 300))
        self.alpha_slider.setValue(read_int(s, "Style/alpha", 100))
        self.live_colour_check.setChecked(read_bool(s, "Style/live_preserve_color", False))
        self.modes.setCurrentIndex(read_int(s, "Style/mode", 0))
        self._update_method_widgets()

    def _save(self) -> None:
        s = self.context.settings
        s.setValue("Style/recent", self.gallery.recent)
        s.setValue("Style/size", self.size_spin.value())
        s.setValue("Style/steps", self.steps_spin.value())
        s.setValue("Style/alpha", self.alpha_slider.value())
        s.setValue("Style/live_preserve_color", self.live_colour_check.isChecked())
        s.setValue("Style/mode", self.modes.currentIndex())

    # ------------------------------------------------------------------ weights
    def refresh_weights(self) -> None:
        """Show what is missing and what each mode will do without it."""
        from engine.style import models

        cache = self.context.weights_cache
        self.has_vgg = models.gatys_available(cache)
        self.has_adain = models.adain_available(cache)
        lines = []
        if not self.has_vgg:
            lines.append("Photo mode (Gatys) needs the VGG-19 weights, catalog name 'vgg19' (548 MB, BSD licence). "
                         "Download them or import vgg19-dcbb9e9d.pth if you have it.")
        if not self.has_adain:
            lines.append("Live mode and quick previews need the AdaIN weights 'adain-vgg' and 'adain-decoder' "
                         "(MIT licence). Until they are installed, live mode only transfers the style's colours, "
                         "not its brush strokes.")
        self.banner_box.setVisible(bool(lines))
        self.weights_banner.setText("\n".join(lines))
        self._update_method_widgets()

    def open_model_manager(self) -> None:
        from gui.widgets.model_manager import ModelManagerDialog

        dialog = ModelManagerDialog(self.context.weights_cache, parent=self)
        dialog.select("vgg19" if not self.has_vgg else "adain-vgg")
        dialog.models_changed.connect(self.refresh_weights)
        dialog.finished.connect(lambda _=0: self.refresh_weights())
        dialog.open()

    def _choose_weights_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import style weights", "", "PyTorch weights (*.pth *.pt);;All files (*)")
        if path:
            self.import_weights(path)

    def import_weights(self, path: str) -> bool:
        """Install a weights file, recognised by its name: vgg19*.pth, vgg_normalised*.pth or decoder*.pth."""
        from engine.weights.cache import WeightsError
        from engine.weights.catalog import catalog

        stem = Path(path).name.lower()
        name = "adain-vgg" if "normalised" in stem or "normalized" in stem else "adain-decoder" if "decoder" in stem else "vgg19"
        try:
            self.context.weights_cache.import_file(catalog().get(name), path, force=True)
        except (WeightsError, ValueError, OSError) as exc:
            self.context.error("Import failed", str(exc))
            return False
        self.context.status(f"Installed {Path(path).name} as '{name}'")
        self.refresh_weights()
        if self.modes.currentIndex() == 1:
            self.task_changed.emit()
        return True

    # ------------------------------------------------------------------ inputs
    def _report_notices(self, notices: list[str]) -> None:
        if notices:
            self.notice_label.setText("\n".join(notices))
            self.context.status(notices[-1])

    def set_content_file(self, path: str) -> bool:
        from engine.style.imaging import StyleInputError, load_input_image

        try:
            loaded = load_input_image(path, "content")
        except StyleInputError as exc:
            self.context.error("Cannot use this content image", str(exc))
            return False
        self.notice_label.clear()
        self._set_content(loaded.image, loaded.name)
        self._report_notices(loaded.notices)
        return True

    def set_content_image(self, image: np.ndarray, name: str) -> bool:
        from engine.style.imaging import StyleInputError, image_input

        try:
            loaded = image_input(image, name)
        except StyleInputError as exc:
            self.context.error("Cannot use this content image", str(exc))
            return False
        self._set_content(loaded.image, name)
        self._report_notices(loaded.notices)
        return True

    def _set_content(self, image: np.ndarray, name: str) -> None:
        self.content_image = image
        self.content_name = name
        self.content_well.show_image(image)
        self.context.status(f"Content: {name} ({image.shape[1]}x{image.shape[0]})")

    def freeze_frame(self) -> bool:
        frame = self.context.latest_frame()
        if frame is None:
            self.context.status("No camera frame yet: start a camera or video in the source bar, or open a photo")
            return False
        return self.set_content_image(frame.image.copy(), f"frame {frame.index} of {frame.source or 'camera'}")

    def set_style_file(self, path: str, add: bool = False) -> bool:
        from engine.style.imaging import StyleInputError, load_input_image

        try:
            loaded = load_input_image(path, "style")
        except StyleInputError as exc:
            self.context.error("Cannot use this style image", str(exc))
            return False
        choice = StyleChoice(loaded.image, loaded.name, str(Path(path)))
        self._set_styles(self.styles + [choice] if add else [choice])
        self.gallery.add_recent(path)
        self._save()
        self._report_notices(loaded.notices)
        return True

    def set_style_image(self, image: np.ndarray, name: str) -> bool:
        from engine.style.imaging import StyleInputError, image_input

        try:
            loaded = image_input(image, name)
        except StyleInputError as exc:
            self.context.error("Cannot use this style image", str(exc))
            return False
        self._set_styles([StyleChoice(loaded.image, name)])
        return True

    def _choose_blend_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a style to the blend", "", IMAGE_FILTER)
        if path:
            self.set_style_file(path, add=True)

    def _set_styles(self, styles: list[StyleChoice]) -> None:
        self.styles = styles
        self.style_well.show_image(styles[0].image)
        self.blend_table.blockSignals(True)
        self.blend_table.setRowCount(len(styles))
        for row, s in enumerate(styles):
            name = QTableWidgetItem(s.name)
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.blend_table.setItem(row, 0, name)
            self.blend_table.setItem(row, 1, QTableWidgetItem(f"{s.weight:g}"))
        self.blend_table.blockSignals(False)
        self.blend_table.setVisible(len(styles) > 1)
        self._push_live_styles()

    def set_blend_weight(self, row: int, weight: float) -> None:
        self.blend_table.item(row, 1).setText(f"{weight:g}")  # goes through _on_blend_edited

    def _on_blend_edited(self, item: QTableWidgetItem) -> None:
        if item.column() != 1 or item.row() >= len(self.styles):
            return
        try:
            weight = float(item.text())
            if weight < 0:
                raise ValueError
        except ValueError:
            self.context.status(f"Blend weight '{item.text()}' must be a number >= 0")
            self.blend_table.blockSignals(True)
            item.setText(f"{self.styles[item.row()].weight:g}")
            self.blend_table.blockSignals(False)
            return
        self.styles[item.row()].weight = weight
        self._push_live_styles()

    # ------------------------------------------------------------------ photo mode
    def method(self) -> str:
        return self.method_combo.currentData()

    def _update_method_widgets(self) -> None:
        gatys = self.method() == "gatys"
        for w in (self.steps_spin, self.optimizer_combo, self.content_weight_spin, self.style_weight_spin,
                  self.tv_weight_spin, self.scale_spin, self.init_combo, self.seed_spin, self.low_memory_check):
            w.setEnabled(gatys)
        busy = self.runner.is_running() and self.cancel_button.isEnabled()
        self.run_button.setEnabled(not busy)

    def gatys_settings(self):
        from engine.style.gatys import GatysSettings

        return GatysSettings(
            size=self.size_spin.value(), steps=self.steps_spin.value(), optimizer=self.optimizer_combo.currentData(),
            content_weight=self.content_weight_spin.value(), style_weight=self.style_weight_spin.value(),
            tv_weight=self.tv_weight_spin.value(), style_strength=self.strength_spin.value(),
            style_scale=self.scale_spin.value(), preserve_color=self.colour_combo.currentData(),
            init=self.init_combo.currentData(), seed=self.seed_spin.value(),
            low_memory=self.low_memory_check.isChecked())

    def apply_settings(self, info: dict[str, Any]) -> None:
        """Put saved settings (``engine.style.metadata`` info) back into the widgets."""
        from engine.style.gatys import GatysSettings

        method = info.get("method", "gatys")
        index = self.method_combo.findData(method)
        if index >= 0:
            self.method_combo.setCurrentIndex(index)
        raw = info.get("settings", {})
        if method == "gatys":
            s = GatysSettings.from_dict(raw)
            self.size_spin.setValue(s.size)
            self.steps_spin.setValue(s.steps)
            self.optimizer_combo.setCurrentIndex(self.optimizer_combo.findData(s.optimizer))
            self.content_weight_spin.setValue(s.content_weight)
            self.style_weight_spin.setValue(s.style_weight)
            self.tv_weight_spin.setValue(s.tv_weight)
            self.strength_spin.setValue(s.style_strength)
            self.scale_spin.setValue(s.style_scale)
            self.colour_combo.setCurrentIndex(self.colour_combo.findData(s.preserve_color))
            self.init_combo.setCurrentIndex(self.init_combo.findData(s.init))
            self.seed_spin.setValue(s.seed)
            self.low_memory_check.setChecked(s.low_memory)
        else:
            self.size_spin.setValue(int(raw.get("size", self.size_spin.value())))
            self.strength_spin.setValue(float(raw.get("alpha", 1.0)))
            self.colour_combo.setCurrentIndex(self.colour_combo.findData("luminance" if raw.get("preserve_color") else "none"))

    def load_settings_from(self, path: str) -> bool:
        from engine.style.metadata import MetadataError, read_info

        try:
            info = read_info(path)
            self.apply_settings(info)
        except (MetadataError, ValueError) as exc:
            self.context.error("No settings in this image", str(exc))
            return False
        self.context.status(f"Settings loaded from {Path(path).name}")
        return True

    def _choose_settings_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load settings from image", "", "PNG images (*.png);;All files (*)")
        if path:
            self.load_settings_from(path)

    def start_photo(self) -> bool:
        """Start stylising the content with the chosen method; False (with a message) if it cannot."""
        if self.content_image is None:
            self.context.status("Choose a content photo first (open, drop, or freeze a camera frame)")
            return False
        if not self.styles or sum(s.weight for s in self.styles) <= 0:
            self.context.status("Choose a style image first (open, drop, or pick one from the gallery)")
            return False
        method = self.method()
        if method == "gatys" and not self.has_vgg:
            self.context.error("VGG-19 weights needed",
                               "Photo mode needs the 'vgg19' weights: use Download weights… or Import file… above, "
                               "or run `python main.py models fetch vgg19`. 'Colour transfer only' works without them.")
            return False
        if method == "adain" and not self.has_adain:
            self.context.error("AdaIN weights needed", "The quick preview needs 'adain-vgg' and 'adain-decoder': "
                               "use Download weights… or Import file… above.")
            return False
        try:
            settings = self.gatys_settings()
        except ValueError as exc:
            self.context.error("Invalid settings", str(exc))
            return False
        from engine.style.imaging import LoadedImage, style_size_notice

        notices = [n for s in self.styles if (n := style_size_notice(LoadedImage(s.image, s.name), round(settings.size * settings.style_scale)))]
        self.notice_label.setText("\n".join(notices))
        self.loss_plot.clear()
        self.progress_bar.setValue(0)
        self.eta_label.setText("")
        self.result_image = None
        self.result_info = None
        self.save_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.run_button.setEnabled(False)
        self._job_started = time.monotonic()
        content = self.content_image
        styles = [(s.image, s.weight, s.name) for s in self.styles]
        cache, device = self.context.weights_cache, self.context.device
        if method == "gatys":
            job = _gatys_job(content, styles, settings, cache, device)
        elif method == "adain":
            job = _adain_job(content, styles, settings, cache, device)
        else:
            job = _palette_job(content, styles, settings)
        self.context.status(f"Stylising {self.content_name} ({dict(METHODS)[method]})…")
        self.runner.start(job)
        return True

    def cancel_photo(self) -> None:
        self.runner.cancel()
        self.context.status("Cancelling…")

    def _show_preview(self, image: np.ndarray) -> None:
        self.preview_image = image
        self.preview_label.setPixmap(bgr_pixmap(image, 360))
        self.context.request_repaint()

    def _on_progress(self, report: object) -> None:
        from engine.style.gatys import StyleProgress

        if not isinstance(report, StyleProgress):
            return
        if report.message:
            self.notice_label.setText(report.message)
            self.context.status(report.message)
            return
        self.progress_bar.setValue(int(100 * report.step / max(report.total_steps, 1)))
        self.eta_label.setText(f"level {report.level}/{report.levels} · ETA {_fmt_seconds(report.eta_s)}")
        self.loss_plot.add(report.step, dict(report.losses), redraw=report.step % 5 == 0 or report.preview is not None)
        if report.preview is not None:
            self._show_preview(report.preview)

    def _on_finished(self, result: object) -> None:
        image, info = result  # type: ignore[misc]
        self.result_image = image
        self.result_info = info
        self.loss_plot.redraw()
        self._show_preview(image)
        self.progress_bar.setValue(100)
        elapsed = time.monotonic() - self._job_started
        self.eta_label.setText(f"done in {_fmt_seconds(elapsed)}")
        self._job_done()
        self.save_button.setEnabled(True)
        losses = info.get("losses") or {}
        suffix = f", final cost {losses['total']:.4g}" if "total" in losses else ""
        label = "colour transfer only" if info.get("method") == "palette" else info.get("method", "")
        self.context.status(f"Style transfer finished ({label}{suffix})")
        for note in info.get("notices", []):
            self.notice_label.setText(note)
        self.photo_finished.emit()

    def _on_failed(self, message: str) -> None:
        self._job_done()
        self.context.error("Style transfer failed", message)
        self.photo_finished.emit()

    def _on_cancelled(self) -> None:
        self._job_done()
        self.eta_label.setText("cancelled")
        self.context.status("Style transfer cancelled")
        self.photo_finished.emit()

    def _job_done(self) -> None:
        self.cancel_button.setEnabled(False)
        self.run_button.setEnabled(True)

    def save_result(self, path: str) -> Path | None:
        """Save the result as PNG with its settings in the metadata; returns the path written."""
        from engine.style.metadata import save_png

        if self.result_image is None or self.result_info is None:
            self.context.status("Nothing to save yet: run Stylise first")
            return None
        info = dict(self.result_info)
        info["content"] = self.content_name
        info["styles"] = [[s.name, s.weight] for s in self.styles]
        try:
            written = save_png(path, self.result_image, info)
        except OSError as exc:
            self.context.error("Could not save", f"{path}: {exc}")
            return None
        self.context.status(f"Saved {written}")
        return written

    def _choose_save_path(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save stylised image", f"{Path(self.content_name).stem}_styled.png",
                                              "PNG images (*.png)")
        if path:
            self.save_result(path)

    # ------------------------------------------------------------------ live mode
    def live_mode(self) -> bool:
        return self.modes.currentIndex() == 1

    def _on_mode_changed(self, _index: int) -> None:
        self.live_image = None
        self._save()
        self.task_changed.emit()

    def _live_styles(self):
        from engine.style.live import StyleImage

        return [StyleImage(s.image, s.weight, s.name) for s in self.styles if s.weight > 0]

    def make_task(self) -> "Task | None":
        if not self.live_mode():
            self._live_task = None
            return None
        from engine.style.live import AdaINTask, PaletteTask

        styles = self._live_styles()
        alpha = self.alpha_slider.value() / 100.0
        if self.has_adain:
            from engine.style import models

            encoder, decoder = models.adain_paths(self.context.weights_cache)
            task: Task = AdaINTask(encoder, decoder, styles, alpha=alpha, preserve_color=self.live_colour_check.isChecked(),
                                   process_side=self.live_size_spin.value())
            self.live_label.setText("AdaIN: the feed is painted in the chosen style." if styles
                                    else "Choose a style image to paint the feed.")
        else:
            task = PaletteTask(styles, alpha=alpha)
            self.live_label.setText("Colour transfer only (no network): the AdaIN weights are not installed, so only "
                                    "the style's palette is applied. Install 'adain-vgg' and 'adain-decoder' for brush strokes.")
        self._live_task = task
        return task

    def _push_live_styles(self) -> None:
        task = self._live_task
        if task is not None and self.live_mode():
            styles = self._live_styles()
            if styles:
                task.set_styles(styles)  # computed off the frame path: the feed keeps running

    def _on_alpha_changed(self, value: int) -> None:
        self.alpha_label.setText(f"{value / 100:.2f}")
        if self._live_task is not None:
            self._live_task.alpha = value / 100.0

    def _on_live_colour_changed(self, checked: bool) -> None:
        if self._live_task is not None:
            self._live_task.preserve_color = checked

    def _on_live_size_changed(self, value: int) -> None:
        if self._live_task is not None:
            self._live_task.process_side = value

    def on_result(self, result: "TaskResult") -> None:
        from engine.style.live import LiveStyleResult

        out = result.result
        if isinstance(out, LiveStyleResult) and out.style:
            self.live_image = out.image
            self.live_method = out.method

    def display_image(self, frame: "Frame") -> np.ndarray | None:
        if self.live_mode():
            return self.live_image
        if not self.show_in_view_check.isChecked():
            return None
        return self.preview_image if self.runner.is_running() or self.result_image is not None else None

    # ------------------------------------------------------------------ life cycle
    def deactivated(self) -> None:
        self.live_image = None

    def shutdown(self) -> None:
        self._save()
        self.runner.shutdown()


# ---------------------------------------------------------------------- jobs (job thread)


def _gatys_job(content, styles, settings, cache, device):
    """Load VGG-19, then run the optimisation; returns (image, info)."""
    from engine.style import models
    from engine.style.gatys import StyleImage, stylize

    vgg = models.load_vgg19(cache)
    result = yield from stylize(content, [StyleImage(i, w, n) for i, w, n in styles], settings, vgg, device, preview_every=10)
    info = {"method": "gatys", "settings": result.settings.to_dict(), "losses": dict(result.losses),
            "notices": list(result.notices), "device": result.device, "seconds": round(result.elapsed_s, 2)}
    return result.image, info


def _adain_job(content, styles, settings, cache, device):
    """One AdaIN pass at the chosen size; returns (image, info)."""
    from engine.style import models
    from engine.style.adain import blend_stats
    from engine.style.imaging import resize_long_side

    model = models.load_adain(device, cache)
    yield None
    stats = blend_stats([(model.style_stats(i, name=n), w) for i, w, n in styles])
    image = resize_long_side(content, settings.size)
    alpha = min(settings.style_strength, 1.0)
    out = model.stylize(image, stats, alpha, settings.preserve_color != "none")
    return out, {"method": "adain", "settings": {"size": settings.size, "alpha": alpha,
                                                  "preserve_color": settings.preserve_color != "none"}}


def _palette_job(content, styles, settings):
    """Colour-only transfer of the first style's palette (no network); returns (image, info)."""
    from engine.style.imaging import reinhard_transfer, resize_long_side

    yield None
    image = resize_long_side(content, settings.size)
    return reinhard_transfer(image, styles[0][0]), {"method": "palette", "settings": {"size": settings.size}}
