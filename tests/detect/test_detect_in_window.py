"""The Detect tab in the real main window: weights installed while the app runs."""

from __future__ import annotations

import torch
from PySide6.QtCore import QSettings

from engine.models.catalog import catalog


def test_weights_installed_elsewhere_start_detection_after_models_changed(qtbot, tmp_path, monkeypatch, darknet_weights):
    """An install outside the tab (the model manager, a script) reaches the tab through
    ``MainWindow.models_changed``: its "not installed" banner goes and results arrive."""
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    from gui.features.detect.tab import DetectTab
    from gui.shell.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, torch.device("cpu"), source="demo")
    qtbot.addWidget(window)
    try:
        detect = next(t for t in window.tabs if isinstance(t, DetectTab))
        window.tab_widget.setCurrentIndex(window.tabs.index(detect))
        window.show()
        entry = detect.entry
        assert entry is catalog().get("yolov4-tiny")  # the default model
        assert not detect.is_installed() and window.pipeline.task is None
        _, weights = darknet_weights("yolov4-tiny")
        window.context.weights_cache.import_file(entry, weights)
        assert not detect._installed  # nothing told the tab yet
        results = []
        window.pipeline.result_ready.connect(results.append)
        window.models_changed()
        assert detect._installed
        qtbot.waitUntil(lambda: bool(results) and detect.detections is not None, timeout=60000)
        assert results[-1].task == window.pipeline.task.name
    finally:
        window.shutdown()
