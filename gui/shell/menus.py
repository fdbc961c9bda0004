"""The main window's menus, actions and keyboard shortcuts.

The menus are the one list: each action carries its shortcut and a line saying what it
does (its status tip), and the Help table of shortcuts is read from the menus
(``shortcut_rows``). The tab actions (Ctrl+1 … Ctrl+9) are made from the window's tabs,
which come from the feature registry, so a new feature gets its shortcut and Help row
without an edit here.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMessageBox

if TYPE_CHECKING:
    from gui.shell.main_window import MainWindow

#: Tabs beyond this many have no Ctrl+N shortcut (Ctrl+0 and two-digit keys do not exist).
MAX_TAB_SHORTCUTS = 9


def add_action(window: "MainWindow", menu, text: str, slot: Callable[[], object], shortcut=None,
               context: Qt.ShortcutContext = Qt.ShortcutContext.WindowShortcut, tip: str = "") -> QAction:
    """A menu entry whose shortcut works whichever child has focus (and in full screen).

    tip: what it does, in a few words (the status bar and the Help table show it).
    """
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(context)
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(lambda checked=False: slot())
    menu.addAction(action)
    window.addAction(action)  # keeps shortcuts alive when the menu bar is hidden
    return action


def build_menus(window: "MainWindow") -> None:
    """File, View, Models and Help; stores the checkable actions on ``window``."""
    menu = window.menuBar()
    file_menu = menu.addMenu("&File")
    add_action(window, file_menu, "Open &file…", window.source_bar.choose_file, QKeySequence.StandardKey.Open,
               tip="open a video or an image")
    add_action(window, file_menu, "Open f&older…", window.source_bar.choose_folder, "Ctrl+Shift+O",
               tip="open a folder of images")
    add_action(window, file_menu, "&Demo source", lambda: window.open_source("demo"))
    file_menu.addSeparator()
    add_action(window, file_menu, "&Snapshot", window.snapshot, "Ctrl+S", tip="snapshot of what is shown (PNG)")
    window.record_action = add_action(window, file_menu, "&Record video", window.toggle_recording, "Ctrl+R",
                                      tip="start / stop recording what is shown")
    window.record_action.setCheckable(True)
    add_action(window, file_menu, "Open snapshots folder", lambda: open_folder(window.output.snapshot_dir()))
    file_menu.addSeparator()
    add_action(window, file_menu, "&Quit", window.close, QKeySequence.StandardKey.Quit, tip="quit")

    view_menu = menu.addMenu("&View")
    # Application-wide: Space must start/stop the video whatever has focus; text fields
    # still get their spaces because Qt gives a focused line edit the key first.
    window.run_action = add_action(window, view_menu, "Start / stop video", window.toggle_running, "Space",
                                   Qt.ShortcutContext.ApplicationShortcut, tip="start / stop the video")
    window.synced_action = add_action(window, view_menu, "&Synced results (each result on its own frame)",
                                      window.toggle_view_mode, "Ctrl+L", tip="synced results / live picture")
    window.synced_action.setCheckable(True)
    window.fullscreen_action = add_action(window, view_menu, "&Full screen", window.toggle_full_screen, "F11",
                                          tip="full screen")
    window.fullscreen_action.setCheckable(True)
    window.perf_action = window.perf_dock.toggleViewAction()
    window.perf_action.setText("&Performance panel")
    window.perf_action.setShortcut(QKeySequence("Ctrl+P"))
    window.perf_action.setStatusTip("performance panel")
    view_menu.addAction(window.perf_action)
    view_menu.addSeparator()
    window.tab_actions = [
        add_action(window, view_menu, tab.title, lambda i=index: window.tab_widget.setCurrentIndex(i), f"Ctrl+{index + 1}",
                   tip=f"the {tab.title} tab")
        for index, tab in enumerate(window.tabs[:MAX_TAB_SHORTCUTS])
    ]

    models_menu = menu.addMenu("&Models")
    add_action(window, models_menu, "&Model manager…", window.open_model_manager, "Ctrl+M", tip="model manager")
    help_menu = menu.addMenu("&Help")
    add_action(window, help_menu, "&Keyboard shortcuts", lambda: show_shortcuts(window))
    add_action(window, help_menu, "&About CNN Studio", lambda: show_about(window))


def _message_box(window: "MainWindow", icon: QMessageBox.Icon, title: str, text: str) -> None:
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, window)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()  # window-modal but non-blocking: the video keeps running behind it


def show_about(window: "MainWindow") -> None:
    from engine.features.registry import features

    where = window.status_panel.device_text()
    offers = html.escape(", ".join(feature.summary or feature.title for feature in features()))
    _message_box(window, QMessageBox.Icon.Information, "About CNN Studio",
                 f"<b>CNN Studio</b><br>See convolutional networks work on a live camera: {offers}.<br><br>"
                 f"Models run on: {where}")


def shortcut_rows(window: "MainWindow") -> list[tuple[str, str]]:
    """(keys, what they do) of every menu action with a shortcut, in menu order."""
    rows = []
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        for action in menu.actions() if menu is not None else ():
            if not action.shortcut().isEmpty():
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                rows.append((keys, action.statusTip() or action.text().replace("&", "")))
    return rows


def show_shortcuts(window: "MainWindow") -> None:
    rows = "".join(f"<tr><td><b>{html.escape(key)}</b></td><td>&nbsp;&nbsp;{html.escape(what)}</td></tr>"
                   for key, what in shortcut_rows(window))
    _message_box(window, QMessageBox.Icon.NoIcon, "Keyboard shortcuts", f"<table>{rows}</table>")


def open_folder(folder: Path) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
