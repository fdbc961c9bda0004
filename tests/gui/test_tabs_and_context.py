"""Tab loading (with placeholders for missing or broken tabs), AppContext, settings location."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from engine.features.registry import features
from gui.common.context import AppContext
from gui.common.placeholder_tab import PlaceholderTab
from gui.common.settings import open_settings, settings_path
from gui.common.tab_base import StudioTab
from gui.shell.tabs import load_tab, load_tabs


def test_load_tabs_gives_the_tabs_in_order(qtbot, settings):
    tabs = load_tabs(AppContext(settings, torch.device("cpu")))
    for tab in tabs:
        qtbot.addWidget(tab)
    assert [tab.title for tab in tabs] == ["Detect", "Faces", "Style", "Feature maps", "Teach", "Segment"]
    assert all(isinstance(tab, StudioTab) for tab in tabs)
    assert [type(tab).__name__ for tab in tabs] == ["DetectTab", "FacesTab", "StyleTab", "InspectTab", "TeachTab", "SegmentTab"]
    assert [tab.title for tab in tabs] == [feature.title for feature in features()]


def test_missing_tab_module_becomes_placeholder(qtbot, settings):
    tab = load_tab(AppContext(settings, torch.device("cpu")), "gui.shell.tabs.no_such_tab", "NoTab", "Detect")
    qtbot.addWidget(tab)
    assert isinstance(tab, PlaceholderTab)
    assert tab.title == "Detect"
    assert "not installed" in tab.reason
    assert tab.make_task() is None


def test_broken_tab_module_becomes_placeholder_and_is_logged(qtbot, settings, tmp_path, monkeypatch, caplog):
    package = tmp_path / "brokentabs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bad_tab.py").write_text("import this_module_does_not_exist_anywhere\n")
    (package / "raising_tab.py").write_text(
        "from gui.common.tab_base import StudioTab\n"
        "class RaisingTab(StudioTab):\n"
        "    def __init__(self, context):\n"
        "        raise RuntimeError('model folder unreadable')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    context = AppContext(settings, torch.device("cpu"))
    with caplog.at_level(logging.ERROR):
        bad = load_tab(context, "brokentabs.bad_tab", "BadTab", "Faces")
        raising = load_tab(context, "brokentabs.raising_tab", "RaisingTab", "Style")
    qtbot.addWidget(bad)
    qtbot.addWidget(raising)
    assert isinstance(bad, PlaceholderTab) and "this_module_does_not_exist_anywhere" in bad.reason
    assert isinstance(raising, PlaceholderTab) and "model folder unreadable" in raising.reason
    assert "could not be imported" in caplog.text and "could not be created" in caplog.text


def test_context_reports_status_and_errors_without_a_window(settings):
    messages = []
    context = AppContext(settings, torch.device("cpu"), status_sink=messages.append)
    context.status("loading yolo")
    context.error("Cannot load", "/x/y.weights: truncated")
    assert context.last_status.startswith("Cannot load")
    assert context.last_error == ("Cannot load", "/x/y.weights: truncated")
    assert messages == ["loading yolo", "Cannot load: /x/y.weights: truncated"]
    assert context.latest_frame() is None
    assert context.weights_cache.root.is_dir()


def test_settings_live_under_cnn_studio_home():
    home = Path(os.environ["CNN_STUDIO_HOME"])
    path = settings_path()
    assert path.name == "settings.ini" and home in path.parents
    settings = open_settings()
    settings.setValue("probe/value", 3)
    settings.sync()
    assert "probe" in path.read_text()
