"""The Style tab's inputs: content photo (file, drop, frozen camera frame), the style blend
(images and weights) and the gallery of recent styles and presets.

A view over ``StyleController``: every change goes into the controller; ``styles_changed``
says the blend changed (the tab then saves it and sends new live settings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.common import file_dialogs
from gui.features.style.inputs import IMAGE_FILTER, ImageWell, StyleGallery


class StyleInputPanel(QWidget):
    styles_changed = Signal()

    def __init__(self, controller: Any, context: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.context = context
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        inputs = QHBoxLayout()
        content_box = QGroupBox("Content")
        content_layout = QVBoxLayout(content_box)
        self.content_well = ImageWell("Content photo")
        self.content_well.file_chosen.connect(self.set_content_file)
        self.content_well.image_dropped.connect(lambda img: self.set_content_image(img, "dropped image"))
        self.freeze_button = QPushButton("Freeze camera frame")
        self.freeze_button.clicked.connect(self.freeze_frame)
        content_layout.addWidget(self.content_well)
        content_layout.addWidget(self.freeze_button)
        inputs.addWidget(content_box)
        style_box = QGroupBox("Style")
        style_layout = QVBoxLayout(style_box)
        self.style_well = ImageWell("Style image")
        self.style_well.file_chosen.connect(self.set_style_file)
        self.style_well.image_dropped.connect(lambda img: self.set_style_image(img, "dropped style"))
        self.add_style_button = QPushButton("Add to blend…")
        self.add_style_button.clicked.connect(self._choose_blend_file)
        style_layout.addWidget(self.style_well)
        style_layout.addWidget(self.add_style_button)
        inputs.addWidget(style_box)
        layout.addLayout(inputs)

        self.blend_table = QTableWidget(0, 2)
        self.blend_table.setObjectName("styleBlend")
        self.blend_table.setHorizontalHeaderLabels(["Style", "Weight"])
        self.blend_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.blend_table.verticalHeader().setVisible(False)
        self.blend_table.setMaximumHeight(90)
        self.blend_table.itemChanged.connect(self._on_blend_edited)
        layout.addWidget(self.blend_table)
        layout.addWidget(QLabel("Recent styles and presets:"))
        self.gallery = StyleGallery()
        self.gallery.style_chosen.connect(self.set_style_file)
        layout.addWidget(self.gallery)
        self.notice_label = QLabel()
        self.notice_label.setObjectName("styleNotice")
        self.notice_label.setWordWrap(True)
        self.notice_label.setStyleSheet("color: #e0b050;")
        layout.addWidget(self.notice_label)


    def _report_notices(self, notices: list[str]) -> None:
        if notices:
            self.notice_label.setText("\n".join(notices))
            self.context.status(notices[-1])

    def _load(self, source: Any, name: str, role: str):
        from engine.features.style.imaging import StyleInputError, image_input, load_input_image

        try:
            return load_input_image(source, role) if name == "" else image_input(source, name)
        except StyleInputError as exc:
            self.context.error(f"Cannot use this {role} image", exc)
            return None

    def set_content_file(self, path: str) -> bool:
        loaded = self._load(path, "", "content")
        if loaded is None:
            return False
        self.notice_label.clear()
        self._set_content(loaded.image, loaded.name)
        self._report_notices(loaded.notices)
        return True

    def set_content_image(self, image: np.ndarray, name: str) -> bool:
        loaded = self._load(image, name, "content")
        if loaded is None:
            return False
        self._set_content(loaded.image, name)
        self._report_notices(loaded.notices)
        return True

    def _set_content(self, image: np.ndarray, name: str) -> None:
        self.controller.set_content(image, name)
        self.content_well.show_image(image)
        self.context.status(f"Content: {name} ({image.shape[1]}x{image.shape[0]})")

    def freeze_frame(self) -> bool:
        frame = self.context.latest_frame()
        if frame is None:
            self.context.status("No camera frame yet: start a camera or video in the source bar, or open a photo")
            return False
        return self.set_content_image(frame.image.copy(), f"frame {frame.index} of {frame.source or 'camera'}")

    def set_style_file(self, path: str, add: bool = False) -> bool:
        loaded = self._load(path, "", "style")
        if loaded is None:
            return False
        if add:
            self.controller.add_style(loaded.image, loaded.name, str(Path(path)))
        else:
            self.controller.set_styles([(loaded.image, loaded.name, str(Path(path)))])
        self.gallery.add_recent(path)
        self._styles_changed()
        self._report_notices(loaded.notices)
        return True

    def set_style_image(self, image: np.ndarray, name: str) -> bool:
        loaded = self._load(image, name, "style")
        if loaded is None:
            return False
        self.controller.set_styles([(loaded.image, name, None)])
        self._styles_changed()
        return True

    def _choose_blend_file(self) -> None:
        path = file_dialogs.open_file(self, "Add a style to the blend", IMAGE_FILTER)
        if path:
            self.set_style_file(path, add=True)

    def _styles_changed(self) -> None:
        styles = self.controller.styles
        self.style_well.show_image(styles[0].image)
        self.blend_table.blockSignals(True)
        self.blend_table.setRowCount(len(styles))
        for row, s in enumerate(styles):
            name = QTableWidgetItem(s.name)
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.blend_table.setItem(row, 0, name)
            self.blend_table.setItem(row, 1, QTableWidgetItem(f"{s.weight:g}"))
        self.blend_table.blockSignals(False)
        self.blend_table.setVisible(len(styles) > 1)
        self.styles_changed.emit()

    def set_blend_weight(self, row: int, weight: float) -> None:
        self.blend_table.item(row, 1).setText(f"{weight:g}")  # goes through _on_blend_edited

    def _on_blend_edited(self, item: QTableWidgetItem) -> None:
        if item.column() != 1 or item.row() >= len(self.controller.styles):
            return
        try:
            self.controller.set_weight(item.row(), float(item.text()))
        except ValueError:
            self.context.status(f"Blend weight '{item.text()}' must be a number >= 0")
            self.blend_table.blockSignals(True)
            item.setText(f"{self.controller.styles[item.row()].weight:g}")
            self.blend_table.blockSignals(False)
            return
        self.styles_changed.emit()

