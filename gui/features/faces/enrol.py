"""The Enrol page of the Faces tab: name, number of shots, capture/photos/save, the shot strip."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.features.faces.shots import ShotStrip


def ask_existing_dialog(parent: QWidget, name: str, people: list[str]) -> str | None:
    """'name' exists: add the shots to them, merge into someone else, or cancel (None)."""
    box = QMessageBox(QMessageBox.Icon.Question, "Enrol",
                      f"'{name}' is already in the gallery. Add these shots to {name}, or merge them into "
                      "another person?", QMessageBox.StandardButton.Cancel, parent)
    add = box.addButton(f"Add shots to {name}", QMessageBox.ButtonRole.AcceptRole)
    merge = box.addButton("Merge into…", QMessageBox.ButtonRole.ActionRole)
    box.exec()
    if box.clickedButton() is add:
        return name
    if box.clickedButton() is merge:
        target, ok = QInputDialog.getItem(parent, "Merge", "Add the shots to:", people, 0, False)
        return target if ok else None
    return None


class EnrolPanel(QWidget):
    """The enrol widgets and the guided capture's display; the tab owns the commands."""

    def __init__(self, shots: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("facesName")
        self.name_edit.setPlaceholderText("Name of the person to enrol")
        self.shots_spin = QSpinBox()
        self.shots_spin.setRange(1, 20)
        self.shots_spin.setValue(max(1, min(shots, 20)))
        self.capture_button = QPushButton("Start capture")
        self.capture_button.setObjectName("facesCapture")
        self.photos_button = QPushButton("From photos…")
        self.photos_button.setObjectName("facesFromPhotos")
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("facesSave")
        self.save_button.setEnabled(False)
        self.hint_label = QLabel("Type a name, then start the capture and look at the camera.")
        self.hint_label.setObjectName("facesHint")
        self.hint_label.setWordWrap(True)
        self.shot_strip = ShotStrip()
        top = QHBoxLayout()
        top.addWidget(self.name_edit, 1)
        top.addWidget(QLabel("shots"))
        top.addWidget(self.shots_spin)
        buttons = QHBoxLayout()
        for b in (self.capture_button, self.photos_button, self.save_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(buttons)
        layout.addWidget(self.hint_label)
        layout.addWidget(self.shot_strip)

    def reset(self, hint: str) -> None:
        self.shot_strip.set_chips([])
        self.save_button.setEnabled(False)
        self.capture_button.setText("Start capture")
        self.hint_label.setText(hint)

    def show_offer(self, capture, kept: bool) -> bool:
        """Update after a shot was offered to ``capture`` (a GuidedCapture); True when it is complete."""
        self.hint_label.setText(f"{len(capture.chips)}/{capture.target} — {capture.hint}")
        if kept:
            self.shot_strip.set_chips(capture.chips)
        if capture.done:
            self.capture_button.setText("Start capture")
            self.save_button.setEnabled(True)
        return capture.done

    def show_rejected(self, capture, capturing: bool) -> None:
        self.shot_strip.set_chips(capture.chips)
        self.save_button.setEnabled(bool(capture.chips))
        if capturing:
            self.capture_button.setText("Stop capture")
            self.hint_label.setText(f"{len(capture.chips)}/{capture.target} — shot rejected, capturing another "
                                    "(a different pose)")
        else:
            self.capture_button.setText("Start capture")
            self.hint_label.setText(f"{len(capture.chips)}/{capture.target} — shot rejected. Save the others, "
                                    "or Start capture to take more.")

    def show_stopped(self, capture) -> None:
        self.capture_button.setText("Start capture")
        if capture is None:
            return
        self.save_button.setEnabled(bool(capture.chips))
        if not capture.done:  # the capture's prompt ("turn your head…") no longer applies
            self.hint_label.setText(f"Capture stopped: {len(capture.chips)} of {capture.target} shots kept. "
                                    "Save them, or Start capture to take more.")
