"""The mouse wheel scrolls the side panel instead of changing the control under the pointer.

A tall tab full of sliders, spin boxes and combo boxes is unusable when scrolling it
changes whichever control passes under the mouse. Such a control takes the wheel only
when it has keyboard focus (the user clicked it or tabbed to it); otherwise the wheel
event goes to the scroll area around it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSlider, QAbstractSpinBox, QApplication, QComboBox, QScrollArea, QScrollBar, QWidget

GUARDED = (QAbstractSlider, QAbstractSpinBox, QComboBox)


class WheelGuard(QObject):
    """An event filter on the controls of a panel: ``guard(panel)`` installs it on each.

    (Installed per control rather than on the whole application, so the other events of
    the app — paints at camera rate — never pass through Python.)
    """

    def guard(self, panel: QWidget) -> None:
        """Guard every slider, spin box and combo box inside ``panel`` (call again after adding some)."""
        for kind in GUARDED:
            for control in panel.findChildren(kind):
                if isinstance(control, QScrollBar):
                    continue  # scroll bars are what the wheel is for
                control.removeEventFilter(self)
                control.installEventFilter(self)
                if control.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                    control.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel must not give it focus either

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget) or watched.hasFocus():
            return False
        area = _scroll_area_of(watched)
        if area is None:
            return False
        QApplication.sendEvent(area.verticalScrollBar(), event)
        return True


def _scroll_area_of(widget: QWidget) -> QScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QScrollArea):
            return parent
        parent = parent.parentWidget()
    return None
