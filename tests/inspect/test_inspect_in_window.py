"""The Feature maps tab inside the real main window, fed by the demo source and worker."""

from __future__ import annotations

import torch
from PySide6.QtCore import QSettings


def test_live_results_reach_the_tab_and_layer_switches_apply(qtbot, tmp_path):
    from gui.shell.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("Features/model", "lenet5")
    settings.setValue("Features/weights", "untrained")
    window = MainWindow(settings, torch.device("cpu"), source="demo")
    qtbot.addWidget(window)
    window.show()
    try:
        index = next(i for i, tab in enumerate(window.tabs) if tab.title == "Feature maps")
        tab = window.tabs[index]
        assert type(tab).__name__ == "InspectTab"
        window.tab_widget.setCurrentIndex(index)
        qtbot.waitUntil(lambda: tab.result is not None, timeout=30000)
        assert tab.result.model == "lenet5" and not tab.result.trained
        tab.choose_layer("features.3")
        qtbot.waitUntil(lambda: tab.result.layer == "features.3", timeout=15000)
        assert tab.result.channels.shape == (16, 10, 10)
        shown = window.view.current_image()
        tab.freeze_button.setChecked(True)
        assert tab.frozen
        # the picture on the screen is frozen (not a newer captured frame the user never saw)
        assert (tab.controller.settings.frozen_image == shown).all()
        frozen_view = window.view.current_image()
        qtbot.wait(300)
        assert window.view.current_image() is frozen_view or (window.view.current_image() == frozen_view).all()
        tab.freeze_button.setChecked(False)
    finally:
        window.shutdown()
