"""The gallery manager: people with a thumbnail, rename, merge, delete, export, import.

The public methods take explicit arguments (new name, target, path) so they can be
driven by code and tests; the buttons ask the user through dialogs and call them.
Every failure is reported through ``error(title, message)``; nothing raises to Qt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QInputDialog,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.features.faces.gallery import Gallery
from engine.features.faces.gallery_records import GalleryError
from gui.common import file_dialogs
from gui.features.faces.thumbs import chip_icon

log = logging.getLogger(__name__)


def _people_and_shots(summary: dict) -> str:
    """"1 person (1 shot)", "3 people (12 shots)"."""
    people, shots = int(summary["people"]), int(summary["shots"])
    return f"{people} {'person' if people == 1 else 'people'} ({shots} {'shot' if shots == 1 else 'shots'})"


class GalleryManager(QWidget):
    """List of enrolled people. Signals: changed() after any change made here."""

    changed = Signal()

    def __init__(self, error: Callable[[str, str | BaseException], None], status: Callable[[str], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gallery: Gallery | None = None
        self._error = error
        self._status = status
        self.list = QListWidget()
        self.list.setObjectName("facesGalleryList")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setIconSize(QSize(64, 64))
        self.list.setGridSize(QSize(96, 96))
        self.list.setMovement(QListView.Movement.Static)
        buttons = {}
        grid = QGridLayout()
        for i, (key, text, slot) in enumerate((
            ("rename", "Rename…", self._ask_rename), ("merge", "Merge into…", self._ask_merge),
            ("delete", "Delete", self._ask_delete), ("export", "Export…", self._ask_export),
            ("import", "Import…", self._ask_import),
        )):
            button = QPushButton(text)
            button.setObjectName(f"facesGallery{key.title()}")
            button.clicked.connect(slot)
            grid.addWidget(button, i // 3, i % 3)
            buttons[key] = button
        self.buttons = buttons
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(grid)

    # -- data --------------------------------------------------------------------------
    def set_gallery(self, gallery: Gallery | None) -> None:
        self.gallery = gallery
        read_only = gallery is None or gallery.read_only
        for key in ("rename", "merge", "delete", "import"):
            self.buttons[key].setEnabled(not read_only)
        self.buttons["export"].setEnabled(gallery is not None)
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        if self.gallery is None:
            return
        try:
            for person in self.gallery.people():
                thumb = self.gallery.thumbnail(person.name)
                item = QListWidgetItem(f"{person.name}\n{person.shots} shot(s)")
                item.setData(Qt.ItemDataRole.UserRole, person.name)
                if thumb is not None:
                    item.setIcon(chip_icon(thumb, 64))
                self.list.addItem(item)
        except GalleryError as exc:
            self._error("Face gallery", exc)

    def names(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def select(self, name: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(i)
                return

    # -- actions (explicit arguments) ------------------------------------------------
    def _run(self, title: str, action: Callable[[], str]) -> bool:
        if self.gallery is None:
            self._error(title, "no face gallery is open")
            return False
        try:
            message = action()
        except (GalleryError, ValueError, OSError) as exc:
            self._error(title, exc)
            return False
        self.refresh()
        self._status(message)
        self.changed.emit()
        return True

    def rename(self, old: str, new: str) -> bool:
        return self._run("Rename", lambda: f"renamed {old} to {self.gallery.rename(old, new).name}")

    def merge(self, source: str, target: str) -> bool:
        return self._run("Merge", lambda: f"merged {source} into {self.gallery.merge(source, target).name}")

    def delete(self, name: str) -> bool:
        return self._run("Delete", lambda: f"deleted {self.gallery.remove(name).name} and all their shots")

    def export_to(self, path: str) -> bool:
        from engine.features.faces.gallery_io import export_zip

        def action() -> str:
            summary = export_zip(self.gallery, path)
            return f"exported {_people_and_shots(summary)} to {path}"

        return self._run("Export", action)

    def import_from(self, path: str, on_conflict: str = "error") -> bool:
        from engine.features.faces.gallery_io import import_zip

        def action() -> str:
            summary = import_zip(self.gallery, path, on_conflict=on_conflict)
            return f"imported {_people_and_shots(summary)} from {path}"

        return self._run("Import", action)

    # -- dialogs -----------------------------------------------------------------------
    def _need_selection(self, title: str) -> str | None:
        name = self.selected_name()
        if name is None:
            self._status(f"{title}: select a person first")
        return name

    def _ask_rename(self) -> None:
        name = self._need_selection("Rename")
        if name:
            new, ok = QInputDialog.getText(self, "Rename", f"New name for {name}:", text=name)
            if ok and new.strip() and new.strip() != name:
                self.rename(name, new)

    def _ask_merge(self) -> None:
        name = self._need_selection("Merge")
        if not name:
            return
        others = [n for n in self.names() if n != name]
        if not others:
            self._status("Merge: nobody else to merge into")
            return
        target, ok = QInputDialog.getItem(self, "Merge", f"Move all shots of {name} to:", others, 0, False)
        if ok:
            self.merge(name, target)

    def _ask_delete(self) -> None:
        name = self._need_selection("Delete")
        if name and QMessageBox.question(
            self, "Delete", f"Delete {name} and every shot of them? This cannot be undone."
        ) == QMessageBox.StandardButton.Yes:
            self.delete(name)

    def _ask_export(self) -> None:
        path = file_dialogs.save_file(self, "Export face gallery", "faces.zip", "Zip archives (*.zip)")
        if path:
            self.export_to(path)

    def _ask_import(self) -> None:
        path = file_dialogs.open_file(self, "Import face gallery", "Zip archives (*.zip)")
        if path:
            self.import_interactive(path, self._ask_conflict)

    def import_interactive(self, path: str, ask: Callable[[list[str]], str | None]) -> bool:
        """Import; when names already exist, ``ask(names)`` returns "merge", "skip" or None (cancel)."""
        from engine.features.faces.gallery_io import archive_people

        if self.gallery is None:
            return False
        try:
            existing = {p.name.casefold() for p in self.gallery.people()}
            clashes = [n for n in archive_people(path) if n.casefold() in existing]
        except (GalleryError, OSError) as exc:
            self._error("Import", exc)
            return False
        policy = "error"
        if clashes:
            policy = ask(clashes)
            if policy is None:
                return False
        return self.import_from(path, policy)

    def _ask_conflict(self, names: list[str]) -> str | None:
        shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
        box = QMessageBox(QMessageBox.Icon.Question, "Import",
                          f"Already in the gallery: {shown}.\nAdd the archive's shots to them, or skip them?",
                          QMessageBox.StandardButton.Cancel, self)
        merge = box.addButton("Add shots", QMessageBox.ButtonRole.AcceptRole)
        skip = box.addButton("Skip them", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        clicked = box.clickedButton()
        return "merge" if clicked is merge else "skip" if clicked is skip else None
