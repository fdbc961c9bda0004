"""The main window's menus, actions and keyboard shortcuts (one table, used by Help too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMessageBox

if TYPE_CHECKING:
    from gui.shell.main_window import MainWindow

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
    add_action(window, file_menu, "Open snapshots folder", lambda: open_folder(window.output.snapshot_dir()))
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
    add_action(window, help_menu, "&Keyboard shortcuts", lambda: show_shortcuts(window))
    add_action(window, help_menu, "&About CNN Studio", lambda: show_about(window))


def _message_box(window: "MainWindow", icon: QMessageBox.Icon, title: str, text: str) -> None:
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, window)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()  # window-modal but non-blocking: the video keeps running behind it


def show_about(window: "MainWindow") -> None:
    where = window.status_panel.device_text()
    _message_box(window, QMessageBox.Icon.Information, "About CNN Studio",
                 "<b>CNN Studio</b><br>See convolutional networks work on a live camera: object detection, face "
                 f"recognition, style transfer, feature maps and your own classifiers.<br><br>Models run on: {where}")


def show_shortcuts(window: "MainWindow") -> None:
    rows = "".join(f"<tr><td><b>{key}</b></td><td>&nbsp;&nbsp;{what}</td></tr>" for key, what in SHORTCUTS)
    _message_box(window, QMessageBox.Icon.NoIcon, "Keyboard shortcuts", f"<table>{rows}</table>")


def open_folder(folder: Path) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
