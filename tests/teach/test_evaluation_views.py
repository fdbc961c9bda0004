"""The evaluation views offscreen: mAP, AP per class, PR curves, worst pictures drawn with
their boxes; the confusion matrix view of a classifier."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from engine.features.teach.detection.draw import PREDICTION, TRUTH, draw_result
from engine.features.teach.detection.evaluate import evaluate_detector
from engine.features.teach.detection.scenes import scenes_dataset
from engine.features.teach.evaluate import ClassifierEvaluation, Misclassified
from gui.features.teach.evaluation import NO_TRUTH, ConfusionMatrixView, DetectionEvaluationView
from tests.teach.test_evaluate_detector import LabelReader


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    data = scenes_dataset(tmp_path_factory.mktemp("scenes"), count=8, seed=2)
    data = replace(data, classes=data.classes + ("star",))  # a class with no truth box
    many = [i for i, item in enumerate(data.images) if len(item.boxes) >= 2]
    other = next(i for i in range(len(data.images)) if i not in many[:2])
    detector = LabelReader(data, miss={many[0]: 2, many[1]: 1}, extra={other: 2})
    return evaluate_detector(detector, data)


def test_detection_view_shows_the_numbers_curves_and_worst_pictures(qtbot, evaluation, tmp_path):
    view = DetectionEvaluationView(worst=3)
    qtbot.addWidget(view)
    view.resize(900, 640)
    view.set_evaluation(evaluation, bad_labels="2 box outside the picture (clipped)")
    m = evaluation.metrics
    assert "Bad labels: 2 box outside the picture (clipped)." in view.summary.text()
    assert f"mAP@0.5 {m.map50:.3f}" in view.summary.text() and f"mAP@0.5:0.95 {m.map50_95:.3f}" in view.summary.text()
    assert f"{evaluation.missed} boxes missed" in view.summary.text()
    table = view.table
    assert table.rowCount() == 4
    assert [table.item(r, 0).text() for r in range(4)] == list(m.classes)
    assert [table.item(r, 2).text() for r in range(3)] == [f"{a:.3f}" for a in m.ap50[:3]]
    assert table.item(3, 2).text() == "–" and table.item(3, 2).toolTip() == NO_TRUTH
    curves = [item for item in view.plot.listDataItems() if isinstance(item, pg.PlotDataItem)]
    assert len(curves) == 3  # none for the class without truth
    x, y = curves[0].getData()
    np.testing.assert_allclose(x[1:], m.pr_curves[0][0])
    np.testing.assert_allclose(y[1:], m.pr_curves[0][1])
    worst = evaluation.worst(3)
    assert view.worst_list.count() == 3
    first = view.worst_list.item(0)
    assert not first.icon().isNull() and first.toolTip() == str(worst[0].image_path)
    assert first.text().endswith(f"missed {worst[0].missed} of {len(worst[0].truth_ids)}, {worst[0].false_positives} wrong")
    with qtbot.waitSignal(view.picture_activated) as got:
        view.worst_list.itemDoubleClicked.emit(first)
    assert got.args[0] is worst[0]
    shot = tmp_path / "detection_view.png"
    assert view.grab().save(str(shot)) and shot.stat().st_size > 0


def test_worst_picture_is_drawn_truth_green_missed_thick_predictions_red(evaluation):
    result = evaluation.worst(1)[0]
    image = cv2.imread(str(result.image_path))
    drawn = draw_result(image, result, evaluation.metrics.classes, max_side=10_000)
    assert drawn.shape == image.shape
    missed = result.truth_boxes[~result.truth_found][0].astype(int)
    x1, y1, x2, y2 = missed
    # A thick green edge around the missed box: 3 pixels wide on its left side.
    mid = (y1 + y2) // 2
    for dx in (-1, 0, 1):
        assert np.abs(drawn[mid, x1 + dx].astype(int) - TRUTH).max() < 40
    found = result.truth_boxes[result.truth_found]
    assert len(found)
    # A found box: a thin green line on the red edge of the prediction that found it.
    fx1, fy1, fx2, fy2 = found[0].astype(int)
    edge = drawn[(fy1 + fy2) // 2, fx1 - 2:fx1 + 3].astype(int)
    assert np.abs(edge[2] - TRUTH).max() < 40
    assert min(np.abs(px - PREDICTION).max() for px in edge) < 40


def test_confusion_matrix_view(qtbot, tmp_path):
    pictures = []
    for i in range(3):
        path = tmp_path / f"p{i}.png"
        cv2.imwrite(str(path), np.full((40, 60, 3), 60 * i, np.uint8))
        pictures.append(path)
    confusion = np.array([[5, 1, 0], [0, 4, 2], [0, 0, 0]])
    wrong = (Misclassified(pictures[0], "cat", "dog", 0.9), Misclassified(pictures[1], "dog", "bird", 0.7),
             Misclassified(tmp_path / "gone.png", "dog", "bird", 0.6))
    evaluation = ClassifierEvaluation(("cat", "dog", "bird"), confusion, wrong, ("zebra",))
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(700, 480)
    view.set_evaluation(evaluation)
    assert "Accuracy 75.0%" in view.summary.text() and "on 12 pictures" in view.summary.text()
    assert "'zebra'" in view.summary.text()
    assert not view.matrix.source().isNull() and view.matrix.source().width() > 100
    table = view.table
    assert [table.item(r, 3).text() for r in range(3)] == ["83.3%", "66.7%", "–"]  # recall; no bird pictures
    assert [table.item(r, 2).text() for r in range(3)] == ["100.0%", "80.0%", "0.0%"]  # precision
    assert view.wrong.count() == 3
    assert not view.wrong.item(0).icon().isNull() and view.wrong.item(0).text().startswith("cat → dog")
    assert view.wrong.item(2).icon().isNull()  # the picture went away: caption only
    assert view.wrong.item(0).data(Qt.ItemDataRole.DisplayRole).endswith("0.90")
    shot = tmp_path / "confusion_view.png"
    assert view.grab().save(str(shot)) and shot.stat().st_size > 0


def test_detection_view_stacks_the_table_above_the_plot_when_narrow(qtbot, evaluation):
    """In the ~420 px side panel the AP table keeps its full width (its numbers are not cut
    off) by going above the PR plot; in a wide window they sit side by side."""
    view = DetectionEvaluationView(worst=2)
    qtbot.addWidget(view)
    view.set_evaluation(evaluation)
    view.resize(420, 900)
    view.show()
    qtbot.waitUntil(lambda: view.table.geometry().bottom() <= view.plot.geometry().top())
    assert view.table.width() >= view.width() - 20
    view.resize(900, 700)
    qtbot.waitUntil(lambda: view.table.geometry().right() <= view.plot.geometry().left())
