"""The Feature maps tab's "Top patches" and "Visualise" pages bound to its controller.

:class:`CollectAndVisualise` connects the two pages to the Qt-free controller and runs
their engine jobs (collecting from a folder, feature visualisation) on a ``JobRunner``
so the GUI thread never waits; progress and results come back as signals.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from gui.common.jobs import JobRunner

log = logging.getLogger(__name__)


class CollectAndVisualise(QObject):
    """Glue of ``units_page`` (UnitsPage) and ``visualise_page`` (VisualisePage) to ``controller``.

    context: the AppContext (latest frame, error dialogs). ``status(str)``: a line for
    the status bar. ``on_result`` is called by the tab with each new InspectResult.
    """

    status = Signal(str)

    def __init__(self, controller, units_page, visualise_page, context, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller, self.units_page, self.visualise_page, self.context = controller, units_page, visualise_page, context
        self._unit_channel: int | None = None
        self._collected = -1
        self._job_kind = ""
        self._jobs = JobRunner(self, "features")
        self._jobs.progress.connect(self._on_job_progress)
        self._jobs.finished.connect(self._on_job_finished)
        self._jobs.failed.connect(lambda message: self._job_ended(f"Failed: {message}"))
        self._jobs.cancelled.connect(lambda: self._job_ended("Cancelled"))
        units_page.collect_toggled.connect(controller.set_collect)
        units_page.reset_requested.connect(self._reset_collection)
        units_page.save_requested.connect(self._save_collection)
        units_page.load_requested.connect(self._load_collection)
        units_page.folder_requested.connect(self.collect_folder)
        units_page.channel_chosen.connect(self.choose_unit_channel)
        visualise_page.start_requested.connect(self.start_visualisation)
        visualise_page.cancel_requested.connect(self._jobs.cancel)
        visualise_page.save_requested.connect(self._save_visualisation)

    @property
    def jobs(self) -> JobRunner:
        return self._jobs

    def reset(self) -> None:
        self._collected = -1

    def on_result(self, r, units_visible: bool) -> None:
        if r.collected and r.collected != self._collected and units_visible:
            self._collected = r.collected
            self.units_page.show_collection(self.controller.collection)
        if self._unit_channel is not None:
            self._show_unit_detail()

    def choose_unit_channel(self, channel: int) -> None:
        """A tile of the unit grid was clicked: its patches large, its live map, its filter."""
        self._unit_channel = channel
        self.controller.enlarge_channel(channel)
        self._show_unit_detail()

    def _show_unit_detail(self) -> None:
        from engine.features.inspect.render import filter_tiles_gray, filter_tiles_rgb

        c, channel = self.controller, self._unit_channel
        r = c.result
        live = r.pinned if r is not None and r.pinned_channel == channel else None
        tiles = None
        view = r.filters if r is not None else None
        if view is not None and view.layer == c.settings.layer and channel < view.weight_shape[0]:
            tiles = filter_tiles_rgb(view.rgb[channel:channel + 1]) if view.rgb is not None else filter_tiles_gray(view.slices, channel)
        self.units_page.show_unit(c.collection, channel, live, tiles)

    def _reset_collection(self) -> None:
        self.controller.reset_collection()
        self.units_page.show_collection(self.controller.collection)

    def _save_collection(self, path: str) -> None:
        try:
            saved = self.controller.collection.save(path)
        except OSError as exc:
            self.context.error("The collection could not be saved", f"{path}: {exc}")
            return
        self.status.emit(f"Saved the top patches to {saved}")

    def _load_collection(self, path: str) -> None:
        from engine.features.inspect.top_patches import CollectionFileError

        try:
            loaded = self.controller.load_collection(path)
        except CollectionFileError as exc:
            self.context.error("The collection could not be loaded", exc)
            return
        self.units_page.show_collection(loaded)

    def collect_folder(self, folder: str) -> None:
        """Collect the layer's top patches from a folder of images (a job with progress)."""
        try:
            job = self.controller.folder_job(folder)
        except ValueError as exc:
            self.status.emit(str(exc))
            return
        self._job_kind = "folder"
        self.units_page.set_progress(0, 1)
        self._jobs.start(job)

    def start_visualisation(self, request) -> None:
        frame = self.context.latest_frame() if request.from_frame else None
        try:
            job, objective = self.controller.visualise_job(request.kind, request.index, steps=request.steps, size=request.size,
                                                           init_image=frame.image if frame is not None else None)
        except ValueError as exc:
            self.visualise_page.caption.setText(str(exc))
            return
        self._job_kind = "visualise"
        self.visualise_page.set_running(True, f"Maximising {objective.describe()} of {self.controller.model_name}…")
        self._jobs.start(job)

    def _on_job_progress(self, value) -> None:
        if self._job_kind == "folder":
            self.units_page.set_progress(value[0], value[1])
        else:
            self.visualise_page.show_step(value.step, value.steps, value.value, value.image)

    def _on_job_finished(self, value) -> None:
        if self._job_kind == "folder":
            self.controller.adopt_collection(value)  # stops live collecting: the button says so
            self.units_page.collect_button.blockSignals(True)
            self.units_page.collect_button.setChecked(self.controller.settings.collect)
            self.units_page.collect_button.blockSignals(False)
            self.units_page.show_collection(value)
            self._job_ended(f"Collected from {value.images_seen} images")
        else:
            self.visualise_page.show_step(value.step, value.steps, value.value, value.image)
            self._job_ended("Done")

    def _job_ended(self, message: str) -> None:
        self.units_page.set_progress(None)
        self.visualise_page.set_running(False, message if self._job_kind == "visualise" else "")
        self.status.emit(f"Feature maps: {message}")

    def _save_visualisation(self, path: str) -> None:
        from engine.features.inspect.image_io import write_image

        if self.visualise_page.image is None:
            return
        try:
            write_image(path, self.visualise_page.image)
        except (OSError, ValueError) as exc:
            self.context.error("The image could not be saved", exc)


    def shutdown(self) -> None:
        self._jobs.shutdown()
