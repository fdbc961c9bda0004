"""Segment tab: every pixel of the live feed labelled (VOC classes), or the background
behind people blurred / replaced.

A thin view over ``engine.features.segment.controller.SegmentController``. Classes mode:
the label map is tinted into the picture (``raster_overlay``) with the legend's colours,
at the opacity slider's strength, for the classes checked in the legend; the legend shows
each class's share of the frame; moving the pointer over the video reads the class and its
probability at that pixel (an event filter on the video view: frame coordinates through
``VideoView.widget_to_frame``); with DeepLabV3 the nine taps of each atrous branch (rates
12, 24, 36) are drawn around the pointer (or the clicked pixel) with the square they span: its receptive fields. Person mode: the composed frame is shown instead of the
camera (``display_image``). Instance models (Mask R-CNN, Keypoint R-CNN) are too slow for
live video on a CPU: the tab says so and runs them on the paused frame or an opened photo
(``run_on_frame`` / ``run_on_photo``, on a job runner with a busy bar); the picture with its
instances drawn is shown instead of the feed until Back to live.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from engine.core.errors import UserError
from engine.features.segment.controller import Probe, SegmentController
from engine.features.segment.render import blend_heat, blend_labels
from engine.features.segment.stages import tap_offsets
from gui.common import file_dialogs
from gui.common.tab_base import StudioTab
from gui.features.segment.course_box import CourseBox
from gui.features.segment.instance_box import InstanceBox
from gui.features.segment.legend import Legend
from gui.features.segment.person_box import PersonBox

log = logging.getLogger(__name__)

MODES = (("classes", "Label every pixel (21 VOC classes)"), ("person", "Person: blur or replace the background"))
SIDES = ((256, "256 px (fast)"), (320, "320 px"), (520, "520 px (torchvision's, exact)"))
KEY_MODEL = "Segment/model"
ATROUS_COLOURS = (QColor(255, 200, 0), QColor(0, 220, 255), QColor(255, 80, 200))


class SegmentTab(StudioTab):
    title = "Segment"

    def __init__(self, context, parent: QWidget | None = None, controller: SegmentController | None = None) -> None:
        super().__init__(context, parent)
        self.controller = controller or SegmentController(weights_cache=context.weights_cache,
                                                          model=context.store.get(KEY_MODEL, ""))
        self.probe: Probe | None = None
        self._watched: QObject | None = None
        self._build()
        self.follow(self.controller)
        self.listen(self.controller.overlay_changed, lambda _none: self.context.request_repaint())
        self.listen(self.controller.still_changed, lambda _none: self._still_changed())
        self._pending: np.ndarray | None = None  # the paused picture while its job runs
        self.jobs = self.context.job_runner("segment-instances", self)
        self.jobs.progress.connect(lambda text: self.instance_box.state_label.setText(str(text)))
        self.jobs.finished.connect(self._still_done)
        self.jobs.failed.connect(self._still_failed)
        self.jobs.cancelled.connect(lambda: self._still_failed(None))

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        c = self.controller
        self.model_combo = QComboBox()
        for name in c.model_names():
            self.model_combo.addItem(name, name)
        self.model_combo.setCurrentIndex(self.model_combo.findData(c.model_name))
        self.model_combo.currentIndexChanged.connect(lambda _i: self._pick_model(self.model_combo.currentData()))
        self.mode_combo = QComboBox()
        for key, text in MODES:
            self.mode_combo.addItem(text, key)
        self.mode_combo.currentIndexChanged.connect(lambda _i: self._set_mode(self.mode_combo.currentData()))

        self.classes_box = QGroupBox("Classes")
        self.size_combo = QComboBox()
        for side, text in SIDES:
            self.size_combo.addItem(text, side)
        self.size_combo.setCurrentIndex(self.size_combo.findData(c.settings.short_side))
        self.size_combo.setToolTip("Short side the network runs at; the logits are resized to the frame")
        self.size_combo.currentIndexChanged.connect(lambda _i: c.set_short_side(self.size_combo.currentData()))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(c.opacity * 100))
        self.opacity_slider.valueChanged.connect(lambda v: c.set_opacity(v / 100.0))
        self.legend = Legend()
        self.legend.toggled.connect(c.set_class_shown)
        self.hover_label = QLabel("Point at the video to read a pixel's class")
        self.hover_label.setObjectName("segmentHover")
        form = QFormLayout(self.classes_box)
        form.addRow("Network size", self.size_combo)
        form.addRow("Opacity", self.opacity_slider)
        form.addRow(self.legend)
        form.addRow(self.hover_label)

        self.person_box = PersonBox()
        self.person_box.background_kind.connect(self._set_background_kind)
        self.person_box.pick_picture.connect(self._pick_picture)
        self.person_box.pick_colour.connect(self._pick_colour)
        self.person_box.blur.connect(lambda v: c.set_background(c.settings.background.kind, blur=float(v)))
        self.person_box.side.connect(c.set_person_side)
        self.person_box.stabilise.connect(c.set_stabilise)

        self.course_box = CourseBox()
        self.course_box.stages.connect(c.set_stages)
        self.course_box.cam.connect(lambda class_id: c.set_cam(class_id, self.course_box.cam_layer_combo.currentData()))

        self.instance_box = InstanceBox()
        self.instance_box.run_frame.connect(self.run_on_frame)
        self.instance_box.open_photo.connect(self._pick_photo)
        self.instance_box.back_to_live.connect(self.back_to_live)
        self.instance_box.score.connect(c.set_score)
        self.instance_box.side.connect(c.set_still_side)

        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        top = QFormLayout()
        top.addRow("Model", self.model_combo)
        top.addRow("Mode", self.mode_combo)
        layout.addLayout(top)
        layout.addWidget(self.classes_box)
        layout.addWidget(self.course_box)
        layout.addWidget(self.person_box)
        layout.addWidget(self.instance_box)
        layout.addWidget(self.info_label)
        layout.addStretch(1)
        self._show_mode()

    def _show_mode(self) -> None:
        instances = self.controller.is_instances
        person = self.controller.settings.mode == "person" and not instances
        self.mode_combo.setEnabled(not instances)
        self.classes_box.setVisible(not person and not instances)
        self.person_box.setVisible(person)
        self.instance_box.setVisible(instances)
        self.course_box.setVisible(not person and not instances)
        self.course_box.set_layers(self.controller.cam_layers())
        entry = self.controller.entry
        self.info_label.setText(f"{entry.title}. {entry.description} Licence: {entry.license}.")

    # -- commands -------------------------------------------------------------------------
    def _pick_model(self, name: str) -> None:
        self.back_to_live()
        self.controller.set_model(name)
        self.context.store.set(KEY_MODEL, name)
        self._show_mode()

    def _set_mode(self, mode: str) -> None:
        self.controller.set_mode(mode)
        self.probe = None
        self._show_mode()
        self.context.request_repaint()

    def _set_background_kind(self, kind: str) -> None:
        if kind == "image" and not self.controller.settings.background.image:
            self._pick_picture()
            return
        self.controller.set_background(kind)

    def use_picture(self, path: str) -> bool:
        """Replace the background with the picture at ``path``; a file that cannot be read is
        refused with a message and the background stays as it was."""
        try:
            self.controller.set_background("image", image=path)
        except UserError as exc:
            self.context.error("Background picture not used", exc)
            self.person_box.show_kind(self.controller.settings.background.kind)
            return False
        self.person_box.show_kind("image")
        return True

    def use_colour(self, bgr: tuple[int, int, int]) -> None:
        self.controller.set_background("colour", colour=tuple(int(v) for v in bgr))
        self.person_box.show_kind("colour")

    def _pick_picture(self) -> None:
        path = file_dialogs.open_file(self, "Background picture", "Images (*.png *.jpg *.jpeg *.bmp *.webp)")
        if path:
            self.use_picture(path)
        else:
            self.person_box.show_kind(self.controller.settings.background.kind)

    def _pick_colour(self) -> None:
        b, g, r = self.controller.settings.background.colour
        colour = QColorDialog.getColor(QColor(r, g, b), self, "Background colour")
        if colour.isValid():
            self.use_colour((colour.blue(), colour.green(), colour.red()))

    # -- instance models on a still picture -------------------------------------------------
    def run_on_frame(self) -> bool:
        """Pause on the newest frame and run the instance model on it (False without a frame)."""
        frame = self.context.latest_frame()
        if frame is None:
            self.context.status("No frame to run on: start a camera or a video, or Open photo…")
            return False
        return self._run_still(frame.image.copy(), "paused frame")

    def run_on_photo(self, path: str) -> bool:
        """Run the instance model on the picture at ``path``; one message if it cannot be read."""
        from engine.io.images import read_image

        try:
            image = read_image(path)
        except UserError as exc:
            self.context.error("Photo not opened", exc)
            return False
        from pathlib import Path
        return self._run_still(image, f"photo {Path(path).name}")

    def _pick_photo(self) -> None:
        path = file_dialogs.open_file(self, "Photo for instances", "Images (*.png *.jpg *.jpeg *.bmp *.webp)")
        if path:
            self.run_on_photo(path)

    def _run_still(self, image: np.ndarray, source: str) -> bool:
        self._pending = image
        self.instance_box.set_busy(True, f"Starting {self.controller.model_name} on the {source}…")
        self.instance_box.set_paused(True)
        self.jobs.start(self.controller.still_job(image, source))
        self._show_now()
        return True

    def _still_done(self, result) -> None:
        self._pending = None
        self.controller.on_still(result)
        self.instance_box.set_busy(False, result.summary(self.controller.score))
        self.context.status(result.summary(self.controller.score))

    def _still_failed(self, failure) -> None:
        self._pending = None
        self.instance_box.set_busy(False, "Stopped" if failure is None else "Failed: see the message")
        self.instance_box.set_paused(self.controller.still is not None)
        if failure is not None:
            self.context.error(f"{self.controller.model_name} not run", failure)
        self._show_now()

    def back_to_live(self) -> None:
        self.jobs.cancel()
        self._pending = None
        self.controller.clear_still()
        self.instance_box.set_busy(False, "Live video")
        self.instance_box.set_paused(False)

    def _still_changed(self) -> None:
        still = self.controller.still
        if still is not None:
            self.instance_box.state_label.setText(still.summary(self.controller.score))
        self._show_now()

    def _show_now(self) -> None:
        """Put the still (or, without one, the newest frame) on the view at once: with the
        source paused, or none running (a photo), no frame would come to show it."""
        view = self.context.video_view
        if view is None or self._watched is None:  # only while this tab is the one shown
            return
        picture = self.display_image(None)
        if picture is None:
            frame = self.context.latest_frame()
            picture = frame.image if frame is not None else None
        if picture is not None:
            view.show_image(picture, None, overlay=False)

    # -- the live task --------------------------------------------------------------------
    def make_task(self):
        return self.controller.make_task()

    def task_settings(self):
        return self.controller.settings

    def on_result(self, result) -> None:
        self.controller.on_result(result.result)
        if result.result.stages:
            self.course_box.decoder_view.show_stages(result.result.stages)
        if result.result.segmentation is not None:
            self.legend.show_areas({class_id: share for class_id, _name, share in self.controller.areas()})
            if self.probe is not None:
                self.hover_at(self.probe.x, self.probe.y)

    def hover_at(self, x: float, y: float) -> Probe | None:
        """Read the class and probability at frame pixel (x, y) into the hover label."""
        self.probe = self.controller.probe(x, y)
        if self.probe is not None:
            self.hover_label.setText(self.probe.text())
        return self.probe

    # -- drawing --------------------------------------------------------------------------
    def raster_overlay(self, canvas, scale: float, frame_width: int, frame_height: int) -> None:
        result = self.controller.result
        if result is None or result.segmentation is None:
            return
        labels = result.segmentation.labels
        if labels.shape != (frame_height, frame_width):
            return  # a result of another source size: never drawn over this frame
        cam = result.cam
        if cam is not None and self.controller.settings.cam_class is not None:
            if cam.heat is not None:
                blend_heat(canvas, cam.heat, max(0.35, self.controller.opacity))
            return  # the heat map instead of the class tint: one picture at a time
        blend_labels(canvas, labels, self.controller.opacity, self.controller.visible_classes())

    def paint_overlay(self, painter: QPainter, frame_width: int, frame_height: int) -> None:
        if self.probe is None or self.controller.settings.mode != "classes":
            return
        self._paint_atrous(painter, frame_width)
        pen = QPen(QColor(255, 255, 255))
        pen.setWidthF(max(1.0, frame_width / 400))
        painter.setPen(pen)
        r = max(4.0, frame_width / 80)
        p = QPointF(self.probe.x + 0.5, self.probe.y + 0.5)
        painter.drawLine(QPointF(p.x() - r, p.y()), QPointF(p.x() + r, p.y()))
        painter.drawLine(QPointF(p.x(), p.y() - r), QPointF(p.x(), p.y() + r))
        painter.drawText(QPointF(p.x() + r, p.y() - r), self.probe.text())

    def atrous_marks(self, frame_width: int) -> list[tuple[int, np.ndarray]]:
        """(rate, (9, 2) frame-pixel tap positions) of each ASPP branch around the pointer; [] without."""
        result = self.controller.result
        if self.probe is None or result is None or result.segmentation is None or not result.atrous:
            return []
        frame_per_input = frame_width / result.segmentation.input_size[0]
        centre = np.array([self.probe.x + 0.5, self.probe.y + 0.5], np.float32)
        return [(rate, centre + tap_offsets(rate, stride, frame_per_input)) for rate, stride in result.atrous]

    def _paint_atrous(self, painter: QPainter, frame_width: int) -> None:
        """DeepLabV3's atrous rates as receptive fields: each branch's nine taps around the
        pointer, and the square they span (what one 3x3 dilated convolution sees)."""
        radius = max(2.0, frame_width / 250)
        for (rate, taps), colour in zip(self.atrous_marks(frame_width), ATROUS_COLOURS):
            painter.setPen(QPen(colour, max(1.0, frame_width / 500), Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            (x0, y0), (x1, y1) = taps.min(axis=0), taps.max(axis=0)
            painter.drawRect(QRectF(float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
            painter.setPen(QPen(colour, max(1.0, frame_width / 500)))
            painter.setBrush(colour)
            for x, y in taps:
                painter.drawEllipse(QPointF(float(x), float(y)), radius, radius)
            painter.drawText(QPointF(float(taps[2][0]) + radius, float(taps[2][1])), f"rate {rate}")
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def display_image(self, frame):
        still = self.controller.still_picture()
        if still is not None:
            return still
        if self._pending is not None:
            return self._pending
        result = self.controller.result
        if result is not None and result.image is not None and self.controller.settings.mode == "person":
            return result.image
        return None

    # -- hover on the video view ---------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self._watched and event.type() == QEvent.Type.MouseMove:
            point = watched.widget_to_frame(event.position())
            if point is not None:
                self.hover_at(point.x(), point.y())
        return False

    def activated(self) -> None:
        view = self.context.video_view
        if view is not None and self._watched is None:
            view.setMouseTracking(True)
            view.installEventFilter(self)
            view.frame_clicked.connect(self.hover_at)  # a click reads (and draws the taps at) that pixel too
            self._watched = view

    def deactivated(self) -> None:
        if self._watched is not None:
            self._watched.removeEventFilter(self)
            self._watched.frame_clicked.disconnect(self.hover_at)
            self._watched = None
        self.probe = None

    def shutdown(self) -> None:
        self.jobs.shutdown()
        self.deactivated()
        self.controller.close()
