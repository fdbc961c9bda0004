"""Tab keys that work whatever has focus, and Ctrl+N pressed before the tabs exist.

A tab's plain keys (Teach: hold 1…9 to record; Feature maps: F freezes the frame) used
to reach the tab only when one of its own widgets had focus, so after a click on the
video or on the tab bar they did nothing. ``TabKeyRouter`` watches the key events of the
main window (an application event filter, as child widgets get the keys first) and hands
plain keys to the shown tab's ``StudioTab.tab_key`` before the focused widget sees them.
Text entry is left alone: while a line edit, spin box, text edit or editable combo box
has focus its keys are its own.

``queue_tab_keys`` makes Ctrl+1…9 work while PyTorch loads: the number is kept and the
window opens that tab once the tabs are installed, instead of dropping the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

if TYPE_CHECKING:
    from gui.shell.main_window import MainWindow

#: Modifiers that make a key a command (a shortcut), never a tab key.
COMMAND_MODIFIERS = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier


def takes_text(widget: QWidget | None) -> bool:
    """True when ``widget`` is where the user types (its keys must stay its own)."""
    if isinstance(widget, (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit)):
        return True
    return isinstance(widget, QComboBox) and widget.isEditable()


class TabKeyRouter(QObject):
    """Hands plain key presses/releases in ``window`` to its active tab (``tab_key``)."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) or not isinstance(watched, QWidget):
            return False
        focus = QApplication.focusWidget()
        # Each key event visits the focus widget first, then its parents: act on that first visit only.
        if watched is not (focus or self.window) or watched.window() is not self.window:
            return False
        assert isinstance(event, QKeyEvent)
        if event.modifiers() & COMMAND_MODIFIERS or takes_text(focus):
            return False
        tab = self.window.active_tab
        if tab is None:
            return False
        return bool(tab.tab_key(event.key(), kind == QEvent.Type.KeyPress, event.isAutoRepeat()))

    def stop(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)


def queue_tab_keys(window: "MainWindow", count: int = 9) -> list[QAction]:
    """Ctrl+1…``count`` while the tabs are loading: each remembers its tab for ``install_tabs``."""
    actions = []
    for index in range(count):
        action = QAction(f"Tab {index + 1} (once loaded)", window)
        action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
        action.triggered.connect(lambda checked=False, i=index: window.queue_tab(i))
        window.addAction(action)
        actions.append(action)
    return actions
