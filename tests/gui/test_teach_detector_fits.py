"""Teach's Detector mode fits the default window (1280x800) after a training run: no
horizontal scrollbar in the side panel, and the buttons, plots and evaluation a new user
needs are inside its visible width."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QScrollArea


def test_detector_mode_after_training_fits(qtbot, make_window, tmp_path):
    from engine.features.teach.detection.scenes import write_scenes
    from engine.features.teach.detection.training import DetectorTrainSettings

    window = make_window("demo")
    assert window.size().width() == 1280
    index = [tab.title for tab in window.tabs].index("Teach")
    window.tab_widget.setCurrentIndex(index)
    scroll = window.tab_widget.widget(index)
    assert isinstance(scroll, QScrollArea)
    tab = window.tabs[index]
    tab.mode_buttons["detector"].click()
    page = tab.detector_page
    page.add_class("a class with a rather long name for the list")
    with qtbot.waitSignal(page.importer.ended, timeout=60000):  # the import runs in the background
        assert page.import_yolo(str(write_scenes(tmp_path / "scenes", count=8, seed=0, size=(160, 120))))
    page.strip.setCurrentRow(0)
    panel = page.train_panel
    with qtbot.waitSignal(panel.runner.finished, timeout=60000):  # a tiny run: the evaluation view filled
        panel.start(DetectorTrainSettings(input_size=96, epochs=1, untrained=True, augment=False, val_fraction=0.25))
    assert panel.evaluation.table.rowCount() == len(page.session.project.classes)
    for _ in range(5):
        QApplication.processEvents()
        qtbot.wait(20)
    viewport = scroll.viewport()
    assert tab.minimumSizeHint().width() <= viewport.width(), "the panel asks for more than the window gives"
    assert not scroll.horizontalScrollBar().isVisible()
    evaluation = panel.evaluation
    for widget in (page.capture_button, page.confirm_button, page.canvas, page.strip, page.delete_picture_button,
                   page.classes.remove_button, page.import_summary, panel.train_button, panel.use_button,
                   panel.minutes_spin, evaluation.table, evaluation.plot, evaluation.worst_list):
        right = widget.mapTo(viewport, QPoint(widget.width(), 0)).x()
        assert right <= viewport.width(), f"{widget.objectName() or type(widget).__name__} is cut off"
    assert page.canvas.width() >= 250  # room to draw boxes
