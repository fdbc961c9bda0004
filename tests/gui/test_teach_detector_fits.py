"""Teach's Detector mode fits the default window (1280x800): no horizontal scrollbar in
the side panel, and the buttons a new user needs are inside its visible width."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QScrollArea


def test_detector_mode_with_pictures_fits(qtbot, make_window, tmp_path):
    from engine.features.teach.detection.scenes import write_scenes

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
    assert page.import_yolo(str(write_scenes(tmp_path / "scenes", count=5, seed=0)))
    page.strip.setCurrentRow(0)
    for _ in range(5):
        QApplication.processEvents()
        qtbot.wait(20)
    viewport = scroll.viewport()
    assert tab.minimumSizeHint().width() <= viewport.width(), "the panel asks for more than the window gives"
    assert not scroll.horizontalScrollBar().isVisible()
    panel = page.train_panel
    for widget in (page.capture_button, page.confirm_button, page.canvas, page.strip, page.delete_picture_button,
                   page.classes.remove_button, page.import_summary, panel.train_button, panel.use_button,
                   panel.minutes_spin):
        right = widget.mapTo(viewport, QPoint(widget.width(), 0)).x()
        assert right <= viewport.width(), f"{widget.objectName() or type(widget).__name__} is cut off"
    assert page.canvas.width() >= 250  # room to draw boxes
