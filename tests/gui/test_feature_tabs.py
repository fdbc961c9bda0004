"""The main window's tab bar, Ctrl+N shortcuts and Help table are generated from the
feature registry: a plugin feature gets its tab (running its own task), a broken one a
placeholder, with no edit to a shared file."""

from __future__ import annotations

import inspect

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from engine.features import registry as reg
from gui.common.placeholder_tab import PlaceholderTab
from gui.common.tab_base import StudioTab
from gui.shell.menus import shortcut_rows, show_about, show_shortcuts
from tests.registry.plugins import plugin_folder, write_broken, write_toy  # noqa: F401

BUILTIN_TITLES = ["Detect", "Faces", "Style", "Feature maps", "Teach", "Segment"]


def tab_titles(window) -> list[str]:
    return [window.tab_widget.tabText(i) for i in range(window.tab_widget.count())]


def test_every_builtin_tab_reference_is_a_studio_tab():
    for feature in reg.features():
        cls = reg.resolve(feature.tab)
        assert inspect.isclass(cls) and issubclass(cls, StudioTab), feature.key


def test_the_shortcut_and_help_tables_list_every_feature(qtbot, make_window):
    window = make_window("demo")
    titles = [feature.title for feature in reg.features()]
    assert tab_titles(window) == titles == BUILTIN_TITLES
    rows = shortcut_rows(window)
    assert [row for row in rows if row[1].endswith(" tab")] == [(f"Ctrl+{i + 1}", f"the {t} tab") for i, t in enumerate(titles)]
    assert ("Ctrl+M", "model manager") in rows and ("Space", "start / stop the video") in rows
    assert [action.shortcut().toString() for action in window.tab_actions] == [f"Ctrl+{i + 1}" for i in range(len(titles))]
    show_shortcuts(window)
    show_about(window)
    boxes = {box.windowTitle(): box.text() for box in window.findChildren(QMessageBox)}
    assert all(f"the {title} tab" in boxes["Keyboard shortcuts"] for title in titles)
    assert all(feature.summary in boxes["About CNN Studio"] for feature in reg.features())


def test_a_plugin_feature_gets_a_tab_its_shortcut_and_runs_its_task(qtbot, make_window, plugin_folder):
    write_toy(plugin_folder)
    reg.reload(env={"CNN_STUDIO_FEATURES": "toyfeat"})
    window = make_window("demo")
    assert tab_titles(window) == BUILTIN_TITLES + ["Toy"]
    toy = window.tabs[-1]
    assert type(toy).__name__ == "ToyTab" and toy.title == "Toy"
    assert ("Ctrl+7", "the Toy tab") in shortcut_rows(window)
    with qtbot.waitActive(window):
        window.activateWindow()
    QTest.keyClick(window.view, Qt.Key.Key_7, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.active_tab is toy, timeout=3000)
    qtbot.waitUntil(lambda: len(toy.results) >= 2, timeout=20000)
    assert type(toy.results[-1].result).__name__ == "ToyResult"


def test_a_broken_feature_becomes_a_placeholder_tab(qtbot, make_window, plugin_folder):
    write_broken(plugin_folder)
    write_toy(plugin_folder)
    reg.reload(env={"CNN_STUDIO_FEATURES": "brokenfeat,toyfeat"})
    window = make_window("demo")
    assert tab_titles(window) == BUILTIN_TITLES + ["Toy", "brokenfeat"]
    placeholder = window.tabs[-1]
    assert isinstance(placeholder, PlaceholderTab) and placeholder.make_task() is None
    assert "this_module_does_not_exist_anywhere" in placeholder.reason
    assert ("Ctrl+8", "the brokenfeat tab") in shortcut_rows(window)
