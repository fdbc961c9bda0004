"""The Teach tab's training panel: Train/Cancel, progress, live curves, confusion matrix, hardest samples."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.common.fit_picture import FitPicture
from gui.common.video_view import bgr_to_qimage


def pixmap_of(image: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(bgr_to_qimage(np.ascontiguousarray(image)).copy())


def ask_about_missing_weights(parent: QWidget, what: str) -> str:
    """Training needs ImageNet weights that are not installed (``what`` says which): ask.
    "untrained" (go on with random weights), "manager" (open the model manager) or ""
    (cancelled). The buttons are the app's ways out, not the command line's."""
    box = QMessageBox(QMessageBox.Icon.Question, "ImageNet weights missing", what, parent=parent)
    box.setInformativeText("Download them in the model manager, or continue untrained "
                           "(random weights: no download, much worse accuracy).")
    untrained = box.addButton("Continue untrained", QMessageBox.ButtonRole.AcceptRole)
    manager = box.addButton("Open the model manager (download)", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    clicked = box.clickedButton()
    return "untrained" if clicked is untrained else "manager" if clicked is manager else ""


class TrainPanel(QWidget):
    """Shows a training run; emits ``train_clicked`` / ``cancel_clicked``."""

    train_clicked = Signal()
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("trainButton")
        self.train_button.clicked.connect(self._on_button)
        self.export_button = QPushButton("Export model…")
        self.export_button.setObjectName("teachExport")
        self.export_button.setToolTip("Save the trained model as ONNX or TorchScript, with its labels.txt")
        self.export_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setObjectName("trainProgress")
        self.status = QLabel("Not trained yet.")
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("curves")
        self.plot.setFixedHeight(230)
        self.plot.addLegend(offset=(-4, 4))
        self.plot.setLabel("bottom", "epoch")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.train_loss = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2), name="train loss")
        self.val_loss = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2, style=Qt.PenStyle.DashLine), name="val loss")
        self.train_acc = self.plot.plot([], [], pen=pg.mkPen("#2ca02c", width=2), name="train acc")
        self.val_acc = self.plot.plot([], [], pen=pg.mkPen("#2ca02c", width=2, style=Qt.PenStyle.DashLine), name="val acc")
        self.confusion = FitPicture(min_width=120)
        self.confusion.setObjectName("confusion")
        self.hardest = QListWidget()
        self.hardest.setObjectName("hardest")
        self.hardest.setViewMode(QListWidget.ViewMode.IconMode)
        self.hardest.setIconSize(QSize(64, 64))
        self.hardest.setFixedHeight(112)
        self._history: list[dict] = []
        self._running = False

        row = QHBoxLayout()
        row.addWidget(self.train_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.export_button)
        results = QHBoxLayout()
        results.addWidget(self.confusion)
        hard = QVBoxLayout()
        caption = QLabel("Hardest validation samples (true → predicted):")
        caption.setWordWrap(True)  # the panel's width is the window's, not the caption's
        hard.addWidget(caption)
        hard.addWidget(self.hardest)
        results.addLayout(hard, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.plot)
        layout.addLayout(results)

    def _on_button(self) -> None:
        (self.cancel_clicked if self._running else self.train_clicked).emit()

    def set_running(self, running: bool) -> None:
        self._running = running
        self.train_button.setText("Cancel" if running else "Train")

    def start(self) -> None:
        self._history = []
        for curve in (self.train_loss, self.val_loss, self.train_acc, self.val_acc):
            curve.setData([], [])
        self.progress.setValue(0)
        self.set_running(True)

    def show_progress(self, p) -> None:
        """p: engine.features.teach.training.TrainProgress."""
        self.progress.setMaximum(max(1, p.total))
        self.progress.setValue(p.done)
        self.status.setText(p.message)
        if p.stage == "epoch":
            self._history.append({"epoch": p.epoch, "train_loss": p.train_loss, "val_loss": p.val_loss,
                                  "train_accuracy": p.train_accuracy, "val_accuracy": p.val_accuracy})
            self.set_history(self._history)

    def set_history(self, history: list[dict]) -> None:
        x = [h["epoch"] for h in history]
        self.train_loss.setData(x, [h["train_loss"] for h in history])
        self.val_loss.setData(x, [h["val_loss"] for h in history])
        self.train_acc.setData(x, [h["train_accuracy"] for h in history])
        self.val_acc.setData(x, [h["val_accuracy"] for h in history])

    def show_result(self, result, confusion_image: np.ndarray, hard: list[tuple[np.ndarray, str]]) -> None:
        """result: TrainResult; hard: (image BGR, caption) of the hardest validation samples."""
        self.set_running(False)
        self.progress.setValue(self.progress.maximum())
        self.set_history(result.history)
        info = result.model.info
        warn = f"  ⚠ {'; '.join(result.warnings)}" if result.warnings else ""
        self.status.setText(f"Validation accuracy {result.val_accuracy:.1%} on {info['val_samples']} samples "
                            f"(best epoch {result.best_epoch} of {len(result.history)}).{warn}")
        self.confusion.set_picture(pixmap_of(confusion_image))
        self.hardest.clear()
        for image, caption in hard:
            item = QListWidgetItem(QIcon(pixmap_of(image)), caption)
            self.hardest.addItem(item)
        if not hard:
            self.hardest.addItem(QListWidgetItem("none: every validation sample is right"))

    def show_stopped(self, message: str) -> None:
        self.set_running(False)
        self.status.setText(message)
