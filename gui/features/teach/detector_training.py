"""Detector mode's training panel: the settings, the estimate before it starts, Train /
Cancel, live loss and mAP curves, the evaluation on the held-out pictures, and "Use in
Detect" (the saved model folder listed in Detect as ``my-<project name>``).

Training runs in a job runner's thread (``DetectorSession.train_job``), like the
classifier's; progress arrives as ``DetectorTrainProgress`` on the GUI thread.
"""

from __future__ import annotations

import logging

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 90 * 60 else f"{seconds / 3600:.1f} h"


def training_available() -> bool:
    """Whether the detector trainer is part of this build."""
    import importlib.util

    return importlib.util.find_spec("engine.features.teach.detection.training") is not None


class DetectorTrainPanel(QGroupBox):
    """Train, watch, evaluate and hand over the project's detector."""

    def __init__(self, context, session, parent: QWidget | None = None) -> None:
        super().__init__("Train the detector", parent)
        self.context = context
        self.session = session
        self.runner = context.job_runner("teach-detect-train", self)
        self.runner.progress.connect(self.show_progress)
        self.runner.finished.connect(self._trained)
        self.runner.failed.connect(lambda failure: self._stopped(f"Training failed: {failure}"))
        self.runner.cancelled.connect(lambda: self._stopped("Training cancelled; the saved model was not changed."))
        self._history: list = []

        self.arch_combo = QComboBox()
        self.arch_combo.addItem("YOLOX nano", "nano")
        self.arch_combo.addItem("YOLOX tiny", "tiny")
        self.untrained_check = QCheckBox("from scratch")
        self.untrained_check.setToolTip("Random start instead of the COCO weights (no download; needs more pictures)")
        self.minutes_spin = QSpinBox()
        self.minutes_spin.setRange(0, 120)
        self.minutes_spin.setValue(0)
        self.minutes_spin.setSpecialValueText("auto length")
        self.minutes_spin.setPrefix("≤ ")
        self.minutes_spin.setSuffix(" min")
        self.minutes_spin.setToolTip("auto: about 1200 training steps; or train for this many minutes")
        self.arch_combo.currentIndexChanged.connect(self.data_changed)
        self.untrained_check.toggled.connect(self.data_changed)
        self.minutes_spin.valueChanged.connect(self.data_changed)
        # The estimate times a few training steps: in a job, once the edits pause.
        self.estimate_runner = context.job_runner("teach-detect-estimate", self)
        self.estimate_runner.finished.connect(self._show_estimate)
        self.estimate_runner.failed.connect(lambda failure: self.estimate_label.setText(f"No estimate: {failure}"))
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(600)
        self._estimate_timer.timeout.connect(self._start_estimate)
        self._counts = ""
        self._estimated_for: tuple | None = None
        self._estimate: float | None = None
        self.estimate_label = QLabel()
        self.estimate_label.setObjectName("detectorEstimate")
        self.estimate_label.setWordWrap(True)
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("detectorTrain")
        self.train_button.clicked.connect(self._on_button)
        self.progress = QProgressBar()
        self.status = QLabel("Not trained yet.")
        self.status.setObjectName("detectorTrainStatus")
        self.status.setWordWrap(True)
        self.loss_plot = self._plot("loss", "#1f77b4")
        self.map_plot = self._plot("mAP@0.5", "#2ca02c")
        self.map_plot.widget.setYRange(0, 1)
        self.evaluation = _evaluation_view()
        self.use_button = QPushButton("Use in Detect")
        self.use_button.setObjectName("useInDetect")
        self.use_button.setToolTip("List the trained detector in the Detect tab as my-<project name>")
        self.use_button.clicked.connect(self.use_in_detect)

        settings = QHBoxLayout()
        settings.addWidget(self.arch_combo)
        settings.addWidget(self.untrained_check)
        settings.addWidget(self.minutes_spin)
        row = QHBoxLayout()
        row.addWidget(self.train_button)
        row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(settings)
        layout.addWidget(self.estimate_label)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.loss_plot.widget)
        layout.addWidget(self.map_plot.widget)
        if self.evaluation is not None:
            layout.addWidget(self.evaluation)
        layout.addWidget(self.use_button)
        self.project_changed()

    def _plot(self, name: str, colour: str):
        widget = pg.PlotWidget(background="w")
        widget.setObjectName(name.split()[0].replace("@", "") + "Plot")
        widget.setFixedHeight(130)
        widget.setLabel("left", name)
        widget.setLabel("bottom", "step")
        widget.showGrid(x=True, y=True, alpha=0.25)
        curve = widget.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o" if "mAP" in name else None,
                            symbolSize=5, symbolBrush=colour)
        curve.widget = widget
        return curve

    # -- state ------------------------------------------------------------------------
    def settings(self):
        from engine.features.teach.detection.training import DetectorTrainSettings

        minutes = self.minutes_spin.value()
        return DetectorTrainSettings(arch=self.arch_combo.currentData(), minutes=float(minutes) if minutes else None,
                                     untrained=self.untrained_check.isChecked())

    def project_changed(self) -> None:
        self.runner.cancel()
        self._running(False)
        self._history = []
        self.loss_plot.setData([], [])
        self.map_plot.setData([], [])
        if self.evaluation is not None:
            self.evaluation.clear()
        saved = self.session.project is not None and self.session.saved_model() is not None
        self.status.setText("A trained detector is saved in this project." if saved else "Not trained yet.")
        self.data_changed()

    def data_changed(self, *_args) -> None:
        """Pictures or settings changed: Train only with boxes to learn from; a new estimate soon."""
        project = self.session.project
        self.use_button.setEnabled(project is not None and self.session.saved_model() is not None)
        if project is None:
            return
        if not training_available():
            self.estimate_label.setText("Training a detector is not part of this build; export the YOLO folder "
                                        "to train elsewhere.")
            self.train_button.setEnabled(False)
            return
        dataset = project.dataset()
        self.train_button.setEnabled(self._is_running() or dataset.box_count > 0)
        if dataset.box_count == 0:
            self.estimate_label.setText("Draw boxes on a few pictures first (about 30–60 pictures train well).")
            return
        self._counts = f"{len(dataset.images)} pictures, {dataset.box_count} boxes"
        self.estimate_label.setText(f"{self._counts}: estimating the training time…")
        if not self._is_running():
            self._estimate_timer.start()

    def _start_estimate(self) -> None:
        """Time the training for the current settings, one estimate at a time: it times real
        training steps (seconds of CPU), so it is not repeated for every box drawn."""
        if self._is_running() or self.session.project is None:
            return
        try:
            settings = self.settings()
        except Exception as exc:
            self.estimate_label.setText(f"No estimate: {exc}")
            return
        # The time hardly depends on the picture count (the steps are counted, not the
        # epochs), so a new estimate only for new settings or a tenfold of pictures.
        key = (settings, len(self.session.project.picture_ids()) // 10, str(self.session.project.root))
        if key == self._estimated_for and self._estimate is not None:
            self._show_estimate(self._estimate)
            return
        if self.estimate_runner.is_running():
            self._estimate_timer.start()  # once the one running has finished
            return
        self._estimated_for, self._estimate = key, None
        session = self.session
        self.estimate_runner.start(lambda control: session.estimate_seconds(settings))

    def _show_estimate(self, seconds: float) -> None:
        self._estimate = seconds
        hint = ""
        if self.minutes_spin.value() == 0 and seconds > 15 * 60:
            hint = " Set a time limit (≤ N min) to train for less; the best model so far is kept."
        self.estimate_label.setText(f"{self._counts}: about {_minutes(seconds)} on this machine.{hint}")

    def _is_running(self) -> bool:
        return self.train_button.text() == "Cancel"

    def _running(self, on: bool) -> None:
        self.train_button.setText("Cancel" if on else "Train")
        for widget in (self.arch_combo, self.untrained_check, self.minutes_spin):
            widget.setEnabled(not on)

    # -- training ---------------------------------------------------------------------
    def _on_button(self) -> None:
        if self._is_running():
            self.runner.cancel()
        else:
            self.start()

    def start(self, settings=None) -> bool:
        """Start training on a snapshot of the project; ``settings``: a DetectorTrainSettings
        instead of the panel's (scripts, tests)."""
        try:
            settings = settings or self.settings()
            job = self.session.train_job(settings)
        except Exception as exc:
            self.context.error("Cannot train", exc)
            return False
        self._estimate_timer.stop()
        self.estimate_runner.cancel()
        self._history = []
        self.loss_plot.setData([], [])
        self.map_plot.setData([], [])
        self.progress.setValue(0)
        self.status.setText(f"Training… ({self.estimate_label.text()})")
        self._running(True)
        self.runner.start(job)
        return True

    def show_progress(self, p) -> None:
        """p: DetectorTrainProgress (step / steps count the whole run)."""
        if not hasattr(p, "loss"):
            return
        self._history.append(p)
        self.loss_plot.setData([h.step for h in self._history], [h.loss for h in self._history])
        maps = [(h.step, h.map50) for h in self._history if h.map50 is not None]
        self.map_plot.setData([m[0] for m in maps], [m[1] for m in maps])
        self.progress.setMaximum(max(1, int(p.steps)))
        self.progress.setValue(min(int(p.steps), int(p.step)))
        eta = f", about {_minutes(p.eta_s)} left" if p.eta_s else ""
        score = f", held-out mAP@0.5 {p.map50:.2f}" if p.map50 is not None else ""
        self.status.setText(f"Epoch {p.epoch}/{p.epochs}: loss {p.loss:.3f}{score}{eta}")

    def _trained(self, trained) -> None:
        self._running(False)
        self.progress.setValue(self.progress.maximum())
        self.session.finish_training(trained)
        evaluation = getattr(trained, "evaluation", None)
        start = trained.info.get("start", "") if isinstance(getattr(trained, "info", None), dict) else ""
        start = f" Started {start}." if start else ""
        if evaluation is not None:
            m = evaluation.metrics
            self.status.setText(f"Trained.{start} Held-out pictures: mAP@0.5 {m.map50:.2f}, mAP@0.5:0.95 "
                                f"{m.map50_95:.2f}. Press Use in Detect to run it live.")
            if self.evaluation is not None:
                report = self.session.project.dataset().report
                self.evaluation.set_evaluation(evaluation, report.summary())
        else:
            self.status.setText(f"Trained.{start} Too few pictures to hold some out for evaluation. "
                                "Press Use in Detect to run it live.")
        self.data_changed()

    def _stopped(self, message: str) -> None:
        self._running(False)
        self.status.setText(message)
        self.data_changed()

    def shutdown(self) -> None:
        self._estimate_timer.stop()
        self.estimate_runner.shutdown()
        self.runner.shutdown()

    def use_in_detect(self) -> str | None:
        """List the saved detector in Detect; returns its name there (my-<project name>)."""
        try:
            name = self.session.use_in_detect(self.context.store)
        except Exception as exc:
            self.context.error("Use in Detect", exc)
            return None
        self.context.status(f"Teach: your detector is {name} in the Detect tab's model list")
        return name


def _evaluation_view():
    """The held-out evaluation widget, when this build has it."""
    try:
        from gui.features.teach.evaluation import DetectionEvaluationView
    except ImportError:
        return None
    view = DetectionEvaluationView()
    view.setObjectName("detectorEvaluation")
    return view

