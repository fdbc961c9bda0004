"""The Detect tab's model box: catalog picker, install state, Download / Import file… / Cancel,
and Open model folder… / Open YOLOX .pth… (your own trained model: ``model_path_chosen``
carries the path; the tab adds it through ``DetectController.open_user_model``)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from engine.models.cache import human_size
from gui.common import file_dialogs

INSTALLED_MARK = "  ✓ installed"


class _Picker(QComboBox):
    """The model picker: re-reads which models are installed each time it opens."""

    def __init__(self, on_open: Callable[[], None]) -> None:
        super().__init__()
        self._on_open = on_open

    def showPopup(self) -> None:  # noqa: N802 (Qt naming)
        self._on_open()
        super().showPopup()


class DetectModelBox(QGroupBox):
    """Widgets only; the tab connects them to its controller and job runner.

    model_path_chosen(str): the user picked a model folder (config.json +
    model.safetensors) with Open model folder…, or a YOLOX .pth with Open YOLOX .pth….
    ``problem``: the last model that could not be opened, and why (hidden when none).
    ``is_installed(entry)``: marks installed models in the picker (``mark_installed``).
    """

    model_path_chosen = Signal(str)

    def __init__(self, entries, parent: QWidget | None = None,
                 is_installed: Callable[[object], bool] | None = None) -> None:
        super().__init__("Model", parent)
        self._entries = list(entries)
        self._is_installed = is_installed
        self.combo = _Picker(self.mark_installed)
        self.combo.setObjectName("detectModel")
        for entry in self._entries:
            self.combo.addItem(entry.title, entry.name)
        self.mark_installed()
        self.state = QLabel()
        self.state.setObjectName("detectModelState")
        self.state.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.import_button = QPushButton("Import file…")
        self.import_button.setToolTip("Install a weights file you already have (offline machines)")
        self.folder_button = QPushButton("Open model folder…")
        self.folder_button.setObjectName("detectOpenModelFolder")
        self.folder_button.setToolTip("Your own trained model: a folder with config.json and model.safetensors "
                                      "(RT-DETR, RT-DETRv2 or D-FINE, as transformers saves them)")
        self.folder_button.clicked.connect(self.choose_model_folder)
        self.pth_button = QPushButton("Open YOLOX .pth…")
        self.pth_button.setObjectName("detectOpenYoloxPth")
        self.pth_button.setToolTip("Your own trained YOLOX: the .pth Megvii's code saves; its names file "
                                   "(classes.txt beside it, or asked for) unless it has COCO's 80 classes")
        self.pth_button.clicked.connect(self.choose_pth)
        self.problem = QLabel()
        self.problem.setObjectName("detectModelProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #d04040")
        self.problem.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.combo)
        layout.addWidget(self.state)
        row = QHBoxLayout()
        row.addWidget(self.download_button)
        row.addWidget(self.import_button)
        layout.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.folder_button)
        row.addWidget(self.pth_button)
        layout.addLayout(row)
        layout.addWidget(self.problem)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)

    def show_entries(self, entries, index: int) -> None:
        """List ``entries`` (your own models appended at the end) with ``index`` selected,
        without emitting: the controller has already selected."""
        self.combo.blockSignals(True)
        for i, entry in enumerate(entries):
            if i < self.combo.count():
                self.combo.setItemText(i, entry.title)
            else:
                self.combo.addItem(entry.title, entry.name)
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)

    def show_install_state(self, entry, installed: bool, busy: bool) -> None:
        """What ``entry`` is and its licence when ``installed``; else how to install it.
        Download and Import wait while ``busy`` (a download or import runs)."""
        self.download_button.setEnabled(not installed and not busy)
        self.import_button.setEnabled(not busy and bool(entry.files))  # your own model has no file to install
        if installed:
            self.state.setText(f"{entry.description}\nLicense: {entry.license}")
        else:
            self.state.setText(
                f"<b>{entry.title} is not installed.</b> Click <b>Download</b> ({human_size(entry.size)}) or "
                f"<b>Import file…</b> if you already have <i>{entry.files[0].filename}</i>. "
                "Detection starts as soon as it is installed.")

    def mark_installed(self) -> None:
        """Mark each installed model's item (the picker shows this whenever it opens)."""
        if self._is_installed is None:
            return
        for index, entry in enumerate(self._entries):
            self.combo.setItemText(index, entry.title + (INSTALLED_MARK if self._is_installed(entry) else ""))

    def set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)

    def ask_folder(self) -> str:
        """The folder the user picks in a dialog ("" when cancelled)."""
        return file_dialogs.open_folder(self, "Open model folder (config.json + model.safetensors)")

    def choose_model_folder(self) -> None:
        path = self.ask_folder()
        if path:
            self.model_path_chosen.emit(path)

    def ask_pth(self) -> str:
        """The YOLOX weights file the user picks ("" when cancelled)."""
        return file_dialogs.open_file(self, "Open a YOLOX checkpoint", "YOLOX weights (*.pth *.pt)")

    def choose_pth(self) -> None:
        path = self.ask_pth()
        if path:
            self.model_path_chosen.emit(path)

    def ask_names(self, classes: int) -> str:
        """The class-names file the user picks for a model of ``classes`` classes ("" when cancelled)."""
        return file_dialogs.open_file(self, f"Names file of the model ({classes} class names, one a line)",
                                      "Names (*.names *.txt);;All files (*)")

    def show_problem(self, text: str) -> None:
        """Say why the last model could not be opened ("" hides it)."""
        self.problem.setText(text)
        self.problem.setVisible(bool(text))
