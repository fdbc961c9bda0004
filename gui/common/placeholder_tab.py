"""A stand-in tab shown when a feature tab is not available (not written yet, or broken)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.common.tab_base import StudioTab

if TYPE_CHECKING:
    from gui.common.context import AppContext


class PlaceholderTab(StudioTab):
    """Shows the tab's title and why the real tab could not be loaded; runs no task."""

    def __init__(self, context: "AppContext", title: str, reason: str, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.title = title  # per instance: one class stands in for several tabs
        self.reason = reason
        heading = QLabel(title)
        heading.setObjectName("placeholderTitle")
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        heading.setFont(font)
        detail = QLabel(f"This tab is not available yet.\n\n{reason}")
        detail.setObjectName("placeholderReason")
        detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        detail.setWordWrap(True)
        detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(heading)
        layout.addWidget(detail)
        layout.addStretch(2)
