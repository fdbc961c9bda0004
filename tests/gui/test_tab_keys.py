"""Tab keys do not depend on focus: hold 2 in Teach after a click on the video, F in Feature
maps with the tab bar focused, Ctrl+N pressed while PyTorch loads opens that tab once loaded."""

from __future__ import annotations

import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest


def _show(window, title: str):
    index = [tab.title for tab in window.tabs].index(title)
    window.tab_widget.setCurrentIndex(index)
    return window.tabs[index]


def _activate(qtbot, window) -> None:
    with qtbot.waitActive(window):
        window.activateWindow()


def test_holding_a_digit_records_in_teach_after_a_click_on_the_video(qtbot, make_window, frames_waiter):
    window = make_window("demo")
    _activate(qtbot, window)
    tab = _show(window, "Teach")
    frames_waiter(qtbot, window, 2)
    card = tab.class_list.card_at(1)
    name = card.name_edit.text()
    project = tab.controller.project
    before = project.counts()[name]
    QTest.mouseClick(window.view, Qt.MouseButton.LeftButton)
    window.view.setFocus()
    qtbot.waitUntil(lambda: window.view.hasFocus(), timeout=2000)
    QTest.keyPress(window.view, Qt.Key.Key_2)
    qtbot.waitUntil(lambda: project.counts()[name] >= before + 2, timeout=10000)
    QTest.keyRelease(window.view, Qt.Key.Key_2)
    assert not tab.controller.recording
    # while a text field has focus, its digits are its own
    card.name_edit.setFocus()
    qtbot.waitUntil(lambda: card.name_edit.hasFocus(), timeout=2000)
    QTest.keyClick(card.name_edit, Qt.Key.Key_2)
    assert card.name_edit.text().endswith("2") and not tab.controller.recording


def test_f_freezes_feature_maps_when_the_tab_bar_has_focus(qtbot, make_window, settings, frames_waiter):
    settings.setValue("Features/model", "lenet5")
    settings.setValue("Features/weights", "untrained")
    window = make_window("demo")
    _activate(qtbot, window)
    tab = _show(window, "Feature maps")
    frames_waiter(qtbot, window, 2)  # Freeze frame needs a frame to freeze
    bar = window.tab_widget.tabBar()
    bar.setFocus()
    qtbot.waitUntil(lambda: bar.hasFocus(), timeout=2000)
    QTest.keyClick(bar, Qt.Key.Key_F)
    assert tab.freeze_button.isChecked()
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_F)
    assert not tab.freeze_button.isChecked()


def test_ctrl_number_pressed_while_pytorch_loads_opens_that_tab_once_loaded(qtbot, tmp_path):
    from gui.shell.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, None, source="demo", defer_tabs=True)
    qtbot.addWidget(window)
    window.show()
    try:
        _activate(qtbot, window)
        assert window.tabs == []  # still loading
        QTest.keyClick(window.view, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
        window.load_feature_tabs(torch.device("cpu"))
        assert window.tab_widget.currentIndex() == 3 and window.active_tab is window.tabs[3]
        QTest.keyClick(window.view, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)  # the real actions now
        qtbot.waitUntil(lambda: window.tab_widget.currentIndex() == 1, timeout=2000)
    finally:
        window.shutdown()
