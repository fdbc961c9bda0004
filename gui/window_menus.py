"""The main window's menus, actions and keyboard shortcuts (one table, used by Help too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

if TYPE_CHECKING:
    from gui.main_window import MainWindow

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Space", "start / stop the video"),
    ("Ctrl+1 … Ctrl+5", "the tabs, left to right"),
    ("Ctrl+S", "snapshot of what is shown (PNG)"),
    ("Ctrl+R", "start / stop recording what is shown"),
    ("Ctrl+L", "synced results / live picture"),
    ("F11", "full screen"),
    ("Ctrl+P", "performance panel"),
    ("Ctrl+M", "model manager"),
    ("Ctrl+O / Ctrl+Shift+O", "open a file / a folder"),
    ("Ctrl+Q", "quit"),
)


def add_action(window: "MainWindow", menu, text: str, slot: Callable[[], object], shortcut=None,
               context: Qt.ShortcutContext = Qt.ShortcutContext.WindowShortcut) -> QAction:
    """A menu entry whose shortcut works whichever child has focus (and in full screen)."""
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(context)
    action.triggered.connect(lambda checked=False: slot())
    menu.addAction(action)
    window.addAction(action)  # keeps shortcuts alive when the menu bar is hidden
    return action


def build_menus(window: "MainWindow") -> None:
    """File, View, Models and Help; stores the checkable actions on ``window``."""
    menu = window.menuBar()
    file_menu = menu.addMenu("&File")
    add_action(window, file_menu, "Open &file…", window.source_bar.choose_file, QKeySequence.StandardKey.Open)
    add_action(window, file_menu, "Open f&older…", window.source_bar.choose_folder, "Ctrl+Shift+O")
    add_action(window, file_menu, "&Demo source", lambda: window.open_source("demo"))
    file_menu.addSeparator()
    add_action(window, file_menu, "&Snapshot", window.snapshot, "Ctrl+S")
    window.record_action = add_action(window, file_menu, "&Record video", window.toggle_recording, "Ctrl+R")
    window.record_action.setCheckable(True)
    add_action(window, file_menu, "Open snapshots folder", lambda: window.open_folder(window.output.snapshot_dir()))
    file_menu.addSeparator()
    add_action(window, file_menu, "&Quit", window.close, QKeySequence.StandardKey.Quit)

    view_menu = menu.addMenu("&View")
    # Application-wide: Space must start/stop the video whatever has focus; text fields
    # still get their spaces because Qt gives a focused line edit the key first.
    window.run_action = add_action(window, view_menu, "Start / stop video", window.toggle_running, "Space",
                                   Qt.ShortcutContext.ApplicationShortcut)
    window.synced_action = add_action(window, view_menu, "&Synced results (each result on its own frame)",
                                      window.toggle_view_mode, "Ctrl+L")
    window.synced_action.setCheckable(True)
    window.fullscreen_action = add_action(window, view_menu, "&Full screen", window.toggle_full_screen, "F11")
    window.fullscreen_action.setCheckable(True)
    window.perf_action = window.perf_dock.toggleViewAction()
    window.perf_action.setText("&Performance panel")
    window.perf_action.setShortcut(QKeySequence("Ctrl+P"))
    view_menu.addAction(window.perf_action)
    view_menu.addSeparator()
    window.tab_actions = [
        add_action(window, view_menu, tab.title, lambda i=index: window.tab_widget.setCurrentIndex(i), f"Ctrl+{index + 1}")
        for index, tab in enumerate(window.tabs[:9])
    ]

    models_menu = menu.addMenu("&Models")
    add_action(window, models_menu, "&Model manager…", window.open_model_manager, "Ctrl+M")
    help_menu = menu.addMenu("&Help")
    add_action(window, help_menu, "&Keyboard shortcuts", window.show_shortcuts)
    add_action(window, help_menu, "&About CNN Studio", window.show_about)
