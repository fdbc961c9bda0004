"""Evaluation results in the Teach tab.

``DetectionEvaluationView``: a detector on held-out pictures: mAP@0.5 and mAP@0.5:0.95, AP
per class, the precision-recall curve of each class at IoU 0.5, and the pictures with the
worst misses (truth boxes green, missed ones thick; the detector's boxes red).

``ConfusionMatrixView``: a classifier on a test set: accuracy, the confusion matrix (rows:
true class, columns: predicted), precision and recall per class, the misclassified pictures.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.core.errors import UserError
from engine.features.teach.detection.draw import draw_result
from engine.features.teach.detection.evaluate import DetectionEvaluation, ImageResult
from engine.features.teach.evaluate import ClassifierEvaluation
from engine.features.teach.render import class_colour, confusion_image
from engine.io.images import read_image
from gui.common.fit_picture import FitPicture
from gui.common.video_view import bgr_to_qimage

Loader = Callable[[Path], np.ndarray]
NO_TRUTH = "no truth box of this class among the evaluated pictures"


def _pixmap(image: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(bgr_to_qimage(np.ascontiguousarray(image)).copy())


def _number(value: float, percent: bool = False) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:.1%}" if percent else f"{value:.3f}"


def _table(object_name: str, headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setObjectName(object_name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for column in range(1, len(headers)):
        table.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    return table


def _fill(table: QTableWidget, rows: list[list[str]], tips: list[str | None] | None = None) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            if c:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if tips and tips[r]:
                item.setToolTip(tips[r])
            table.setItem(r, c, item)
    table.setFixedHeight(table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(len(rows))) + 4)


def _thumbnails(object_name: str, icon: QSize) -> QListWidget:
    thumbs = QListWidget()
    thumbs.setObjectName(object_name)
    thumbs.setViewMode(QListWidget.ViewMode.IconMode)
    thumbs.setIconSize(icon)
    thumbs.setResizeMode(QListWidget.ResizeMode.Adjust)
    thumbs.setMovement(QListWidget.Movement.Static)
    thumbs.setWordWrap(True)
    thumbs.setGridSize(QSize(max(icon.width(), 96) + 16, icon.height() + 40))  # room for a two-line caption
    thumbs.setMinimumHeight(icon.height() + 48)
    return thumbs


def _try_load(load: Loader, path: Path) -> np.ndarray | None:
    try:
        return load(path)
    except (UserError, OSError):
        return None  # the picture went away since the evaluation: show its caption only


class DetectionEvaluationView(QWidget):
    """Shows a ``DetectionEvaluation``; emits ``picture_activated(ImageResult)`` when one of
    the worst pictures is double-clicked (e.g. to open it for relabelling)."""

    picture_activated = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, worst: int = 8, load: Loader = read_image) -> None:
        super().__init__(parent)
        self._worst_count = worst
        self._load = load
        self._worst: tuple[ImageResult, ...] = ()
        self.summary = QLabel("Not evaluated yet.")
        self.summary.setObjectName("detectionSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.table = _table("apPerClass", ["class", "boxes", "AP@0.5", "AP@0.5:0.95"])
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("prCurves")
        self.plot.setMinimumHeight(220)
        self.plot.setLabel("bottom", "recall")
        self.plot.setLabel("left", "precision")
        self.plot.setTitle("Precision-recall at IoU 0.5", color="#333", size="9pt")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.setMouseEnabled(x=False, y=False)
        self.legend = self.plot.addLegend(offset=(-4, -4))
        self.worst_caption = QLabel("Worst pictures (truth green, thick = missed; detector red):")
        self.worst_caption.setWordWrap(True)
        self.worst_list = _thumbnails("worstPictures", QSize(160, 120))
        self.worst_list.itemActivated.connect(self._on_activated)
        self.worst_list.itemDoubleClicked.connect(self._on_activated)

        # Side by side where there is room; in a narrow side panel the table would be
        # squeezed until its numbers are cut off, so it goes above the plot.
        self.top = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.top.addWidget(self.table, 2)
        self.top.addWidget(self.plot, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addLayout(self.top)
        layout.addWidget(self.worst_caption)
        layout.addWidget(self.worst_list, 1)

    #: Narrower than this (pixels), the AP table goes above the PR plot.
    SIDE_BY_SIDE_WIDTH = 640

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt naming)
        direction = (QBoxLayout.Direction.LeftToRight if event.size().width() >= self.SIDE_BY_SIDE_WIDTH
                     else QBoxLayout.Direction.TopToBottom)
        if self.top.direction() != direction:
            self.top.setDirection(direction)
        super().resizeEvent(event)

    def clear(self) -> None:
        self.summary.setText("Not evaluated yet.")
        self.table.setRowCount(0)
        self.plot.clear()
        self.legend.clear()
        self.worst_list.clear()
        self._worst = ()

    def set_evaluation(self, evaluation: DetectionEvaluation, bad_labels: str | None = None) -> None:
        """Show ``evaluation``; ``bad_labels``: the dataset's ``LabelReport.summary()`` to show
        beside it (None: not shown)."""
        m = evaluation.metrics
        self.summary.setText(
            f"<b>mAP@0.5 {_number(m.map50)}</b> &nbsp; <b>mAP@0.5:0.95 {_number(m.map50_95)}</b> &nbsp; on "
            f"{len(evaluation.images)} pictures, {evaluation.truth_count} boxes. At score ≥ {evaluation.score_threshold:.2f}: "
            f"{evaluation.missed} boxes missed, {evaluation.false_positives} false positives."
            + (f" {len(evaluation.skipped)} unreadable pictures left out." if evaluation.skipped else "")
            + (f"<br>Bad labels: {html.escape(bad_labels)}." if bad_labels is not None else ""))
        counts = evaluation.truth_per_class()
        _fill(self.table, [[name, str(int(n)), _number(a), _number(b)] for name, n, a, b in zip(m.classes, counts, m.ap50, m.ap50_95)],
              [None if n else NO_TRUTH for n in counts])
        self._plot_curves(evaluation)
        self._show_worst(evaluation)

    def _plot_curves(self, evaluation: DetectionEvaluation) -> None:
        self.plot.clear()
        self.legend.clear()
        m = evaluation.metrics
        for c, ((recall, precision), name) in enumerate(zip(m.pr_curves, m.classes)):
            if math.isnan(m.ap50[c]):
                continue
            b, g, r = class_colour(c)
            # From recall 0 at the first precision, so a class is a line even with one prediction.
            x = np.concatenate([[0.0], recall]) if len(recall) else np.array([0.0, 0.0])
            y = np.concatenate([precision[:1], precision]) if len(precision) else np.array([0.0, 0.0])
            self.plot.plot(x, y, pen=pg.mkPen((r, g, b), width=2), name=f"{name} (AP {m.ap50[c]:.2f})")

    def _show_worst(self, evaluation: DetectionEvaluation) -> None:
        self.worst_list.clear()
        self._worst = evaluation.worst(self._worst_count)
        classes = evaluation.metrics.classes
        for result in self._worst:
            caption = f"{result.image_path.name}\nmissed {result.missed} of {len(result.truth_ids)}, {result.false_positives} wrong"
            image = _try_load(self._load, result.image_path)
            item = QListWidgetItem(caption) if image is None else QListWidgetItem(QIcon(_pixmap(draw_result(image, result, classes, 320))), caption)
            item.setToolTip(str(result.image_path))
            item.setData(Qt.ItemDataRole.UserRole, self.worst_list.count())
            self.worst_list.addItem(item)
        if not self._worst:
            self.worst_list.addItem(QListWidgetItem("none: every box found, no false positive"))

    def _on_activated(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        if index is not None:
            self.picture_activated.emit(self._worst[index])


class ConfusionMatrixView(QWidget):
    """Shows a ``ClassifierEvaluation``: accuracy, the confusion matrix, precision and recall
    per class, the misclassified pictures (most confident first)."""

    def __init__(self, parent: QWidget | None = None, *, shown: int = 24, load: Loader = read_image) -> None:
        super().__init__(parent)
        self._shown = shown
        self._load = load
        self.summary = QLabel("Not evaluated yet.")
        self.summary.setObjectName("classifierSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.matrix = FitPicture(min_width=120)
        self.matrix.setObjectName("confusionMatrix")
        self.matrix.setToolTip("Rows: true class; columns: predicted class (numbered as the rows)")
        self.table = _table("classScores", ["class", "pictures", "precision", "recall"])
        self.wrong = _thumbnails("misclassified", QSize(72, 72))

        top = QHBoxLayout()
        top.addWidget(self.matrix, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.table, 1, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addLayout(top)
        caption = QLabel("Misclassified (true → predicted, probability):")
        caption.setWordWrap(True)
        layout.addWidget(caption)
        layout.addWidget(self.wrong, 1)

    def set_evaluation(self, evaluation: ClassifierEvaluation) -> None:
        notes = []
        if evaluation.unknown_folders:
            names = ", ".join(f"'{n}'" for n in evaluation.unknown_folders)
            one = len(evaluation.unknown_folders) == 1
            notes.append(f"Left out: class folder{'' if one else 's'} {names} {'is not a class' if one else 'are not classes'} of the model.")
        if evaluation.skipped:
            notes.append(f"{len(evaluation.skipped)} files are not readable pictures.")
        self.summary.setText(f"<b>Accuracy {_number(evaluation.accuracy, percent=True)}</b> on {evaluation.total} pictures, "
                             f"{len(evaluation.misclassified)} wrong. " + " ".join(notes))
        self.matrix.set_picture(_pixmap(confusion_image(evaluation.confusion, list(evaluation.labels))))
        support = evaluation.confusion.sum(axis=1)
        _fill(self.table, [[f"{i + 1} {name}", str(int(n)), _number(p, True), _number(r, True)] for i, (name, n, p, r)
                           in enumerate(zip(evaluation.labels, support, evaluation.precision, evaluation.recall))])
        self.wrong.clear()
        for m in evaluation.misclassified[:self._shown]:
            caption = f"{m.true_label} → {m.predicted}\n{m.score:.2f}"
            image = _try_load(self._load, m.path)
            item = QListWidgetItem(caption) if image is None else QListWidgetItem(QIcon(_pixmap(image)), caption)
            item.setToolTip(str(m.path))
            self.wrong.addItem(item)
        if not evaluation.misclassified:
            self.wrong.addItem(QListWidgetItem("none: every picture is right"))
        elif len(evaluation.misclassified) > self._shown:
            self.wrong.addItem(QListWidgetItem(f"… and {len(evaluation.misclassified) - self._shown} more"))
