"""The Style tab: paint a photo (Gatys, AdaIN, a fast style), paint the live feed, train your own style.

A view over ``engine.features.style.controller.StyleController`` (state and commands, Qt-free).
Photo mode runs ``engine.features.style.jobs.photo_job`` on a JobRunner (the same job `stylize`
runs); the Train page runs ``StyleController.train_job``. Live mode returns the
controller's task from ``make_task``; every live setting change emits ``settings_changed``
and the main window hands ``task_settings()`` (one frozen snapshot) to the worker, which
applies it between frames — AdaIN's style statistics are computed there, on the worker
thread. A new model emits ``task_changed``. The stylised image of each result is what
``display_image`` returns, so it shows the moment it arrives.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from engine.features.style.controller import StyleController
from gui.common import file_dialogs
from gui.common.settings import read_bool, read_int, read_setting
from gui.common.tab_base import StudioTab
from gui.features.style.input_panel import StyleInputPanel
from gui.features.style.live_page import StyleLivePage
from gui.features.style.photo_page import METHODS, StylePhotoPage, fmt_seconds
from gui.features.style.train_page import StyleTrainPage
from gui.features.style.weights_banner import StyleWeightsBanner

if TYPE_CHECKING:
    from engine.core.frame import Frame
    from engine.runtime.worker import Task, TaskResult
    from gui.common.context import AppContext

log = logging.getLogger(__name__)

# widgets of the pages that callers (and tests) reach through the tab
_PHOTO_WIDGETS = ("method_combo", "size_spin", "steps_spin", "optimizer_combo", "colour_combo", "seed_spin", "run_button",
                  "cancel_button", "save_button", "progress_bar", "eta_label", "preview_label", "loss_plot", "show_in_view_check")
_LIVE_WIDGETS = ("live_label", "model_combo", "alpha_slider", "live_colour_check", "live_size_spin", "stabilise_check", "fps_label")


class StyleTab(StudioTab):
    title = "Style"
    photo_finished = Signal()  # a photo job ended (done, failed or cancelled)
    training_finished = Signal()

    def __init__(self, context: "AppContext", parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.setObjectName("styleTab")
        self.controller = StyleController(context.weights_cache, context.device)
        self.result_image: np.ndarray | None = None
        self.result_info: dict[str, Any] | None = None
        self.preview_image: np.ndarray | None = None
        self.live_image: np.ndarray | None = None
        self.live_method = ""
        self._result_times: list[float] = []
        self._job_started = 0.0
        self.runner = context.job_runner("style", self)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.train_runner = context.job_runner("style-train", self)
        self.train_runner.progress.connect(lambda report: self.train_page.show_progress(report))
        self.train_runner.finished.connect(self._on_trained)
        self.train_runner.failed.connect(lambda message: self._train_ended("Training failed", message))
        self.train_runner.cancelled.connect(lambda: self._train_ended(None, "Training cancelled; nothing was saved"))
        self._build()
        self._restore()
        self.refresh_weights()
        # After _restore: restoring the saved live model must not save half-restored widgets.
        self.listen(self.controller.task_changed, self._on_live_task_changed)
        self.follow(self.controller)

    @property
    def styles(self):
        return self.controller.styles

    @property
    def content_image(self) -> np.ndarray | None:
        return self.controller.content

    @property
    def content_name(self) -> str:
        return self.controller.content_name

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        self.banner_box = StyleWeightsBanner(self.controller, self.context)
        self.banner_box.models_changed.connect(self._on_models_changed)
        root.addWidget(self.banner_box)
        self.weights_banner = self.banner_box.text_label
        self.download_button, self.import_button = self.banner_box.download_button, self.banner_box.import_button

        self.inputs = StyleInputPanel(self.controller, self.context)
        self.inputs.styles_changed.connect(self._on_styles_changed)
        root.addWidget(self.inputs)
        self.content_well, self.style_well, self.gallery = self.inputs.content_well, self.inputs.style_well, self.inputs.gallery
        self.notice_label, self.blend_table = self.inputs.notice_label, self.inputs.blend_table

        self.photo = StylePhotoPage()
        self.photo.run_button.clicked.connect(self.start_photo)
        self.photo.cancel_button.clicked.connect(self.cancel_photo)
        self.photo.save_button.clicked.connect(self._choose_save_path)
        self.photo.load_settings_button.clicked.connect(self._choose_settings_image)
        self.photo.show_in_view_check.toggled.connect(lambda _c: self.context.request_repaint())
        self.live_page = StyleLivePage()
        self.live_page.model_changed.connect(self._on_live_model)
        self.live_page.settings_changed.connect(self._on_live_setting)
        self.train_page = StyleTrainPage()
        self.train_page.start_requested.connect(self.start_training)
        self.train_page.cancel_requested.connect(self.train_runner.cancel)
        self.modes = QTabWidget()
        self.modes.setObjectName("styleModes")
        self.modes.addTab(self.photo, "Photo")
        self.modes.addTab(self.live_page, "Live")
        self.modes.addTab(self.train_page, "Train")
        self.modes.currentChanged.connect(self._on_mode_changed)
        root.addWidget(self.modes)
        root.addStretch(1)
        for name in _PHOTO_WIDGETS:
            setattr(self, name, getattr(self.photo, name))
        for name in _LIVE_WIDGETS:
            setattr(self, name, getattr(self.live_page, name))

    # ------------------------------------------------------------------ settings
    def _restore(self) -> None:
        s = self.context.store
        self.gallery.set_recent(read_setting(s, "Style/recent", []))
        for key, widget, default in (("Style/size", self.photo.size_spin, 512), ("Style/steps", self.photo.steps_spin, 300),
                                     ("Style/alpha", self.live_page.alpha_slider, 100),
                                     ("Style/live_size", self.live_page.live_size_spin, self.controller.live.process_side)):
            widget.setValue(read_int(s, key, default, widget.minimum(), widget.maximum()))
        self.live_page.live_colour_check.setChecked(read_bool(s, "Style/live_preserve_color", False))
        self.live_page.stabilise_check.setChecked(read_bool(s, "Style/stabilise", False))
        model = s.get("Style/live_model", "")
        if model:
            self.controller.set_live(model=model)
            self.controller.refresh()
        self.modes.setCurrentIndex(min(read_int(s, "Style/mode", 0, 0, self.modes.count() - 1), 1))

    def _on_styles_changed(self) -> None:
        self._save()  # the controller announced the new blend (settings_changed) already

    def _save(self) -> None:
        s = self.context.store
        s.set("Style/recent", self.gallery.recent)
        s.set("Style/size", self.photo.size_spin.value())
        s.set("Style/steps", self.photo.steps_spin.value())
        s.set("Style/alpha", self.live_page.alpha_slider.value())
        s.set("Style/live_preserve_color", self.live_page.live_colour_check.isChecked())
        s.set("Style/live_size", self.live_page.live_size_spin.value())
        s.set("Style/stabilise", self.live_page.stabilise_check.isChecked())
        if self.controller.model_chosen:  # otherwise the best installed model is picked at each start
            s.set("Style/live_model", self.controller.live.model)
        s.set("Style/mode", self.modes.currentIndex())

    # ------------------------------------------------------------------ weights
    def refresh_weights(self) -> None:
        self.controller.refresh()
        self.has_vgg, self.has_adain = self.controller.has_vgg, self.controller.has_adain
        self.banner_box.refresh()
        self.live_page.set_options(self.controller.live_options(), self.controller.live.model)

    def import_weights(self, path: str, name: str | None = None) -> bool:
        """Install a weights file as ``name`` (default: the one model whose layout it fits)."""
        return self.banner_box.import_weights(path, name)

    def _on_models_changed(self) -> None:
        self.refresh_weights()
        if self.live_mode():
            self.task_changed.emit()

    # ------------------------------------------------------------------ inputs (the panel does the work)
    def set_content_file(self, path: str) -> bool:
        return self.inputs.set_content_file(path)

    def set_content_image(self, image: np.ndarray, name: str) -> bool:
        return self.inputs.set_content_image(image, name)

    def freeze_frame(self) -> bool:
        return self.inputs.freeze_frame()

    def set_style_file(self, path: str, add: bool = False) -> bool:
        return self.inputs.set_style_file(path, add)

    def set_style_image(self, image: np.ndarray, name: str) -> bool:
        return self.inputs.set_style_image(image, name)

    def set_blend_weight(self, row: int, weight: float) -> None:
        self.inputs.set_blend_weight(row, weight)

    # ------------------------------------------------------------------ photo mode
    def method(self) -> str:
        return self.photo.method()

    def apply_settings(self, info: dict[str, Any]) -> None:
        """Apply saved settings (all or none); ValueError says what is wrong."""
        self.photo.apply_settings(info)

    def load_settings_from(self, path: str) -> bool:
        """Apply the settings saved in the PNG at ``path``: the whole record, or nothing.

        Every value is checked (``engine.features.style.metadata.read_record``, then against the
        widgets' ranges) before the first widget changes; a problem shows one message
        naming the file and the value. True when applied.
        """
        from engine.features.style.metadata import MetadataError, read_record

        try:
            record = read_record(path)
            problems = self.photo.fit_problems(record)
            if problems:
                raise MetadataError(f"{path}: " + "; ".join(problems))
        except MetadataError as exc:
            self.context.error("Settings not loaded", exc, "Nothing was changed; pick a PNG saved by the Style tab or `stylize`.")
            return False
        self.photo.apply_record(record)
        self.context.status(f"Settings loaded from {Path(path).name}")
        return True

    def _choose_settings_image(self) -> None:
        path = file_dialogs.open_file(self, "Load settings from image", "PNG images (*.png);;All files (*)")
        if path:
            self.load_settings_from(path)

    def start_photo(self) -> bool:
        """Start stylising the content with the chosen method; False (with a message) if it cannot."""
        method = self.method()
        try:
            self.controller.check_photo(method)
            settings = self.photo.gatys_settings()
        except ValueError as exc:
            self.context.status(str(exc))
            return False
        if method == "gatys" and not self.has_vgg:
            self.context.error("VGG-19 weights needed", "Photo mode needs the 'vgg19' weights: use Download weights… or "
                               "Import file… above. 'Colour transfer only' works without them.")
            return False
        if method == "adain" and not self.has_adain:
            self.context.error("AdaIN weights needed", "The quick preview needs 'adain-vgg' and 'adain-decoder': "
                               "use Download weights… or Import file… above.")
            return False
        from engine.features.style.imaging import LoadedImage, style_size_notice

        side = round(settings.size * settings.style_scale)
        notices = [n for s in self.controller.styles if (n := style_size_notice(LoadedImage(s.image, s.name), side))]
        self.notice_label.setText("\n".join(notices) if method == "gatys" else "")
        self.result_image = self.result_info = None
        self.photo.start()
        self._job_started = time.monotonic()
        self.context.status(f"Stylising {self.content_name} ({dict(METHODS)[method]})…")
        self.runner.start(self.controller.photo_job(method, settings))
        return True

    def cancel_photo(self) -> None:
        self.runner.cancel()
        self.context.status("Cancelling…")

    def _show_preview(self, image: np.ndarray) -> None:
        self.preview_image = image
        self.photo.show_preview(image)
        self.context.request_repaint()

    def _on_progress(self, report: object) -> None:
        from engine.features.style.gatys import StyleProgress

        if not isinstance(report, StyleProgress):
            return
        if report.message:
            self.context.status(report.message)
            return
        self.photo.show_progress(report)
        if report.preview is not None:
            self._show_preview(report.preview)

    def _on_finished(self, result: object) -> None:
        image, info = result  # type: ignore[misc]
        self.result_image, self.result_info = image, info
        self.photo.loss_plot.redraw()
        self._show_preview(image)
        self.photo.progress_bar.setValue(100)
        self.photo.eta_label.setText(f"done in {fmt_seconds(time.monotonic() - self._job_started)}")
        self.photo.set_busy(False)
        self.photo.save_button.setEnabled(True)
        losses = info.get("losses") or {}
        suffix = f", final cost {losses['total']:.4g}" if "total" in losses else ""
        label = "colour transfer only" if info.get("method") == "palette" else info.get("method", "")
        self.context.status(f"Style transfer finished ({label}{suffix})")
        for note in info.get("notices", []):
            self.notice_label.setText(note)
        self.photo_finished.emit()

    def _on_failed(self, message: str) -> None:
        self.photo.set_busy(False)
        self.context.error("Style transfer failed", message)
        self.photo_finished.emit()

    def _on_cancelled(self) -> None:
        self.photo.set_busy(False)
        self.photo.eta_label.setText("cancelled")
        self.context.status("Style transfer cancelled")
        self.photo_finished.emit()

    def save_result(self, path: str) -> Path | None:
        """Save the result as PNG with its settings in the metadata; returns the path written."""
        from engine.features.style.metadata import save_png

        if self.result_image is None or self.result_info is None:
            self.context.status("Nothing to save yet: run Stylise first")
            return None
        info = dict(self.result_info, content=self.content_name, styles=[[s.name, s.weight] for s in self.controller.styles])
        try:
            written = save_png(path, self.result_image, info)
        except OSError as exc:
            self.context.error("Could not save", f"{path}: {exc}")
            return None
        self.context.status(f"Saved {written}")
        return written

    def _choose_save_path(self) -> None:
        path = file_dialogs.save_file(self, "Save stylised image", f"{Path(self.content_name).stem}_styled.png",
                                      "PNG images (*.png)")
        if path:
            self.save_result(path)

    # ------------------------------------------------------------------ training
    def start_training(self) -> bool:
        return self.train_page.start(self.controller, self.context, self.train_runner)

    def _on_trained(self, entry: object) -> None:
        self.train_page.ended(self.context, None, f"Saved your style as '{entry.name}': pick it on the Live page")  # type: ignore[attr-defined]
        self.refresh_weights()
        self.training_finished.emit()

    def _train_ended(self, error_title: str | None, message: str) -> None:
        self.train_page.ended(self.context, error_title, message)
        self.training_finished.emit()

    # ------------------------------------------------------------------ live mode
    def live_mode(self) -> bool:
        return self.modes.currentIndex() == 1

    def _on_mode_changed(self, _index: int) -> None:
        self.live_image = None
        self._save()
        self.task_changed.emit()

    def _on_live_model(self, name: str) -> None:
        self.controller.set_live(model=name)  # task_changed when it is another model

    def _on_live_task_changed(self, _none=None) -> None:
        self.live_image = None
        self._save()

    def _on_live_setting(self) -> None:
        page = self.live_page
        self.controller.set_live(strength=page.strength(), preserve_color=page.live_colour_check.isChecked(),
                                 process_side=page.live_size_spin.value(), stabilise=page.stabilise_check.isChecked())

    def task_settings(self):
        return self.controller.live_settings() if self.live_mode() else None

    def make_task(self) -> "Task | None":
        if not self.live_mode():
            return None
        self._on_live_setting()
        task, text = self.controller.make_live_task()
        self.live_page.live_label.setText(text)
        self._result_times.clear()
        return task

    def on_result(self, result: "TaskResult") -> None:
        from engine.features.style.task import LiveStyleResult

        out = result.result
        if not isinstance(out, LiveStyleResult) or not out.style:
            return
        self.live_image, self.live_method = out.image, out.method
        now = time.monotonic()
        self._result_times = [t for t in self._result_times if now - t < 10.0] + [now]  # a slow CPU feed still shows a rate
        shared = self.context.inference_fps()  # in the app: the status bar's number, one measure
        if shared is not None:
            self.live_page.show_fps(shared, out.process_size)
        elif len(self._result_times) >= 2:
            span = self._result_times[-1] - self._result_times[0]
            self.live_page.show_fps((len(self._result_times) - 1) / span if span > 0 else 0.0, out.process_size)

    def display_image(self, frame: "Frame") -> np.ndarray | None:
        if self.live_mode():
            return self.live_image
        if not self.photo.show_in_view_check.isChecked():
            return None
        return self.preview_image if self.runner.is_running() or self.result_image is not None else None

    # ------------------------------------------------------------------ life cycle
    def deactivated(self) -> None:
        self.live_image = None

    def shutdown(self) -> None:
        self._save()
        self.runner.shutdown()
        self.train_runner.shutdown()
        self.controller.close()
