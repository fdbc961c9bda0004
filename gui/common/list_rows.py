"""Keeping a QListWidget's rows in step with a list of texts without rebuilding it."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QListWidget, QListWidgetItem


def set_row_texts(widget: QListWidget, texts: Sequence[str]) -> None:
    """Make row i read ``texts[i]``: existing items are reused (and only changed where the
    text differs), missing ones added, extra ones removed.

    For lists refreshed several times a second from live results: clearing and refilling
    them was the longest burst of Qt calls left on the GUI thread, and each call holds the
    interpreter lock the inference thread needs. Items keep their other data (icons,
    colours); callers update those where a row's meaning changed.
    """
    for i, text in enumerate(texts):
        item = widget.item(i)
        if item is None:
            widget.addItem(QListWidgetItem(text))
        elif item.text() != text:
            item.setText(text)
    while widget.count() > len(texts):
        widget.takeItem(widget.count() - 1)
