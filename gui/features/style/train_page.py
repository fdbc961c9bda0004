"""The Style tab's Train page: train a fast style on your own style image and photos.

Pure view: the tab starts ``StyleController.train_job`` on a JobRunner and feeds the
``TrainProgress`` reports to ``show_progress`` (estimate, progress, preview, loss curves).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.common import file_dialogs
from gui.features.style.inputs import bgr_pixmap
from gui.features.style.losses import LossPlot
from gui.features.style.photo_page import fmt_seconds


class StyleTrainPage(QWidget):
    """start_requested / cancel_requested: the user pressed Train / Cancel."""

    start_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        intro = QLabel("Train a fast style of your own: the style image above, and a folder of any photos you have "
                       "(a few hundred work; more give a steadier result). Needs the 'vgg16' weights.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("folder of content photos")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._choose_folder)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        form.addRow("Photos", folder_row)
        self.title_edit = QLineEdit()
        self.title_edit.setPlaceholderText("a name for your style")
        form.addRow("Name", self.title_edit)
        self.train_steps_spin = QSpinBox()
        self.train_steps_spin.setRange(1, 100000)
        self.train_steps_spin.setValue(2000)
        form.addRow("Steps", self.train_steps_spin)
        self.train_size_spin = QSpinBox()
        self.train_size_spin.setRange(32, 1024)
        self.train_size_spin.setSingleStep(32)
        self.train_size_spin.setValue(256)
        self.train_size_spin.setSuffix(" px")
        form.addRow("Crop size", self.train_size_spin)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("styleTrain")
        self.train_button.clicked.connect(self.start_requested.emit)
        self.train_cancel_button = QPushButton("Cancel")
        self.train_cancel_button.setEnabled(False)
        self.train_cancel_button.clicked.connect(self.cancel_requested.emit)
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.train_cancel_button)
        layout.addLayout(buttons)
        self.estimate_label = QLabel("")
        self.estimate_label.setWordWrap(True)
        layout.addWidget(self.estimate_label)
        self.train_progress = QProgressBar()
        self.train_progress.setRange(0, 100)
        layout.addWidget(self.train_progress)
        self.train_preview = QLabel("The network's output on one of your photos appears here while it learns.")
        self.train_preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.train_preview.setWordWrap(True)
        self.train_preview.setMinimumHeight(140)
        layout.addWidget(self.train_preview)
        self.train_plot = LossPlot()
        layout.addWidget(self.train_plot)
        layout.addStretch(1)

    def start(self, controller, context, runner) -> bool:
        """Check the inputs, then run ``controller.train_job`` on ``runner``; False (with a message) if it cannot."""
        from engine.features.style.fast_train import TrainingError, TrainSettings
        from engine.models.cache import WeightsError

        if not controller.styles:
            context.status("Choose a style image first (above)")
            return False
        style = controller.styles[0]
        folder, title = self.folder_edit.text(), self.title_edit.text()
        try:
            settings = TrainSettings(steps=self.train_steps_spin.value(), size=self.train_size_spin.value())
            controller.check_training(folder, title)
        except (TrainingError, WeightsError, ValueError, OSError) as exc:
            context.error("Cannot train", exc)
            return False
        self.set_busy(True)
        self.estimate_label.setText("measuring one step to estimate the time…")
        runner.start(lambda control: _drain(
            controller.train_job(style.image, style.name, folder, settings, title, cancel=control.cancel_event), control))
        return True

    def ended(self, context, error_title: str | None, message: str) -> None:
        self.set_busy(False)
        self.estimate_label.setText(message if error_title is None else f"{error_title}: {message}")
        if error_title:
            context.error(error_title, message)
        else:
            context.status(message)

    def _choose_folder(self) -> None:
        folder = file_dialogs.open_folder(self, "Folder of content photos")
        if folder:
            self.folder_edit.setText(folder)

    def set_busy(self, busy: bool) -> None:
        self.train_button.setEnabled(not busy)
        self.train_cancel_button.setEnabled(busy)
        if busy:
            self.train_plot.clear()
            self.train_progress.setValue(0)

    def show_progress(self, report) -> None:
        if report.message:
            self.estimate_label.setText(report.message)
        if report.step:
            self.train_progress.setValue(int(100 * report.step / max(report.steps, 1)))
            self.train_plot.add(report.step, dict(report.losses), redraw=report.step % 5 == 0 or report.preview is not None)
            if report.eta_s is not None:
                self.estimate_label.setText(f"step {report.step}/{report.steps} · ETA {fmt_seconds(report.eta_s)}")
        if report.preview is not None:
            self.train_preview.setPixmap(bgr_pixmap(report.preview, 240))


def _drain(job, control):
    """Drive the training generator on the job thread; Cancel stops it inside the step
    (its ``TrainingCancelled`` is the runner's ``JobCancelled``: one cancellation signal)."""
    while True:
        try:
            control.report(next(job))
        except StopIteration as stop:
            return stop.value
