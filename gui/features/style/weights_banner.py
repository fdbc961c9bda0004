"""The Style tab's banner: what is missing, with Download… and Import file… buttons.

Import recognises a file by its content (``StyleController.identify_weights`` runs every
style entry's validator) and asks only when several models share one layout (the four
fast presets do). ``models_changed`` after anything was installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from gui.common import file_dialogs


class StyleWeightsBanner(QWidget):
    models_changed = Signal()

    def __init__(self, controller: Any, context: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.context = context
        self.text_label = QLabel()
        self.text_label.setObjectName("styleWeightsBanner")
        self.text_label.setWordWrap(True)
        self.text_label.setStyleSheet("QLabel { background: #4a3b12; color: #ffe9a8; padding: 6px; border-radius: 4px; }")
        self.download_button = QPushButton("Download weights…")
        self.download_button.clicked.connect(self.open_model_manager)
        self.import_button = QPushButton("Import file…")
        self.import_button.clicked.connect(self._choose_file)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.text_label, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.import_button)
        row.addLayout(buttons)

    def refresh(self) -> None:
        lines = self.controller.banner_lines()
        self.setVisible(bool(lines))
        self.text_label.setText("\n".join(lines))

    def open_model_manager(self) -> None:
        from gui.common.model_manager import ModelManagerDialog

        dialog = ModelManagerDialog(self.context.weights_cache, parent=self)
        dialog.select("vgg19" if not self.controller.has_vgg else "fast-candy")
        dialog.models_changed.connect(self.models_changed.emit)
        dialog.finished.connect(lambda _=0: self.models_changed.emit())
        dialog.open()

    def _choose_file(self) -> None:
        path = file_dialogs.open_file(self, "Import style weights", "PyTorch weights (*.pth *.pt *.zip);;All files (*)")
        if not path:
            return
        fits = self.controller.identify_weights(path)
        name = None
        if len(fits) > 1:
            name, ok = QInputDialog.getItem(self, "Which model is this?", f"{Path(path).name} fits:", fits, 0, False)
            if not ok:
                return
        self.import_weights(path, name)

    def import_weights(self, path: str, name: str | None = None) -> bool:
        """Install ``path`` as ``name`` (default: the one model whose layout it fits); False with a message if not."""
        from engine.models.cache import WeightsError

        try:
            installed = self.controller.install_weights(path, name)
        except (WeightsError, ValueError, OSError) as exc:
            self.context.error("Import failed", exc)
            return False
        self.context.status(f"Installed {Path(path).name} as '{installed}'")
        self.models_changed.emit()
        return True
