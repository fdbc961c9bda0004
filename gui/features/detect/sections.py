"""A collapsible section of the Detect panel: a header button with an arrow, and the
content shown or hidden below it (hidden content takes no height)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QSizePolicy, QToolButton, QVBoxLayout, QWidget


class Section(QWidget):
    """``title`` over ``content``; a click on the title folds the content away or out.

    Signals: toggled(bool) with the new expanded state.
    """

    toggled = Signal(bool)

    def __init__(self, title: str, content: QWidget, expanded: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.content = content
        self.header = QToolButton()
        self.header.setText(title)
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.header.setStyleSheet("QToolButton { border: none; font-weight: bold; text-align: left; }")
        self.header.toggled.connect(self.set_expanded)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(line)
        layout.addWidget(content)
        self.header.setChecked(expanded)
        self.set_expanded(expanded)

    @property
    def expanded(self) -> bool:
        return self.header.isChecked()

    def set_expanded(self, expanded: bool) -> None:
        if self.header.isChecked() != expanded:
            self.header.setChecked(expanded)  # comes back here through toggled
            return
        self.header.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.content.setVisible(expanded)
        self.toggled.emit(expanded)


def remember_folding(sections: dict[str, Section], store, prefix: str) -> None:
    """Open or fold each of ``sections`` as the user left it (``store``: the app's settings,
    one key ``<prefix>/<name>`` a section), and keep that up to date."""
    for name, section in sections.items():
        key = f"{prefix}/{name}"
        section.set_expanded(store.get(key, section.expanded))
        section.toggled.connect(lambda on, key=key: store.set(key, bool(on)))
