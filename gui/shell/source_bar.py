"""The source bar: pick a camera, open a file or folder, the demo, start/stop, mirror."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QMenu, QPushButton, QToolButton, QWidget

from gui.common import file_dialogs

log = logging.getLogger(__name__)

VIDEO_FILTER = (
    "Videos and images (*.mp4 *.avi *.mkv *.mov *.webm *.m4v *.mpg *.mpeg *.wmv *.gif "
    "*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp);;All files (*)"
)


class SourceBar(QWidget):
    """Controls that choose what feeds the video view.

    Signals:
        source_requested(str): a source spec for ``engine.io.sources.open_source`` — "demo",
            a camera index ("0"), a file path or a folder path.
        start_stop_requested(): toggle the current source.
        mirror_toggled(bool): flip the picture left-right (selfie view).
    """

    source_requested = Signal(str)
    start_stop_requested = Signal()
    mirror_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None, settings=None) -> None:
        super().__init__(parent)
        self.setObjectName("sourceBar")
        self.settings = settings  # last folder of the dialogs, recent stream URLs (without passwords)
        self.camera_combo = QComboBox()
        self.camera_combo.setObjectName("cameraCombo")
        self.camera_combo.setMinimumContentsLength(18)
        self.camera_combo.setToolTip("Cameras found on this machine")
        self.camera_combo.activated.connect(self._camera_chosen)
        self.refresh_button = QPushButton("↻")
        self.refresh_button.setToolTip("Look for cameras again")
        self.refresh_button.setFixedWidth(32)
        self.refresh_button.clicked.connect(self.refresh_cameras)
        # "Open…" opens a file; its menu has the other kinds of source (one narrow button
        # keeps the bar inside small screens).
        self.file_button = QToolButton()
        self.file_button.setText("Open…")
        self.file_button.setToolTip("Play a video file or show an image; the arrow: a folder, a network stream, the screen")
        self.file_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.file_button.clicked.connect(self.choose_file)
        more = QMenu(self.file_button)
        more.addAction("Video or image file…", self.choose_file)
        self.folder_action = more.addAction("Folder of images…", self.choose_folder)
        self.stream_action = more.addAction("Stream URL… (rtsp://, http://)", self.choose_stream)
        self.screen_action = more.addAction("Screen capture…", self.choose_screen)
        self.file_button.setMenu(more)
        self.demo_button = QPushButton("Demo")
        self.demo_button.setToolTip("Synthetic moving pictures — no camera needed")
        self.demo_button.clicked.connect(lambda: self.source_requested.emit("demo"))
        self.start_button = QPushButton("Stop")
        self.start_button.setObjectName("startStopButton")
        self.start_button.setToolTip("Start or stop the video (Space)")
        self.start_button.setMinimumWidth(72)
        self.start_button.clicked.connect(self.start_stop_requested)
        self.mirror_check = QCheckBox("Mirror")
        self.mirror_check.setToolTip("Flip the picture left-right, like a mirror")
        self.mirror_check.toggled.connect(self.mirror_toggled)
        self.source_label = QLabel("")
        self.source_label.setObjectName("sourceLabel")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(QLabel("Camera:"))
        layout.addWidget(self.camera_combo)
        layout.addWidget(self.refresh_button)
        layout.addSpacing(8)
        for widget in (self.file_button, self.demo_button):
            layout.addWidget(widget)
        layout.addSpacing(8)
        layout.addWidget(self.start_button)
        layout.addWidget(self.mirror_check)
        layout.addStretch(1)
        layout.addWidget(self.source_label)
        self.set_cameras([])

    # -- cameras ---------------------------------------------------------------------
    def refresh_cameras(self) -> None:
        """Ask the engine which cameras exist and fill the picker."""
        from engine.io.sources import list_cameras

        try:
            cameras = list_cameras()
        except Exception:  # discovery is best effort: a broken driver must not stop the app
            log.exception("camera discovery failed")
            cameras = []
        self.set_cameras([(str(c.index) if not c.path else c.path, c.label) for c in cameras])

    def set_cameras(self, cameras: Sequence[tuple[str, str]]) -> None:
        """Fill the picker with (spec, label) pairs; an empty list shows "No camera found"."""
        self.camera_combo.clear()
        if not cameras:
            self.camera_combo.addItem("No camera found", None)
            self.camera_combo.setEnabled(False)
            return
        self.camera_combo.setEnabled(True)
        for spec, label in cameras:
            self.camera_combo.addItem(label, spec)

    def camera_specs(self) -> list[str]:
        return [self.camera_combo.itemData(i) for i in range(self.camera_combo.count())
                if self.camera_combo.itemData(i) is not None]

    def _camera_chosen(self, index: int) -> None:
        spec = self.camera_combo.itemData(index)
        if spec is not None:
            self.source_requested.emit(str(spec))

    # -- files -----------------------------------------------------------------------
    def choose_file(self) -> None:
        path = file_dialogs.open_file(self, "Open a video or an image", VIDEO_FILTER, self.settings)
        if path:
            self.source_requested.emit(path)

    def choose_folder(self) -> None:
        path = file_dialogs.open_folder(self, "Open a folder of images", self.settings)
        if path:
            self.source_requested.emit(path)

    def choose_stream(self) -> None:
        from gui.shell.source_stream import ask_stream_url
        url = ask_stream_url(self, self.settings)
        if url:
            self.source_requested.emit(url)

    def choose_screen(self) -> None:
        from gui.shell.source_stream import ask_screen
        spec = ask_screen(self)
        if spec:
            self.source_requested.emit(spec)

    # -- state shown -----------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.start_button.setText("Stop" if running else "Start")

    def set_source_name(self, name: str) -> None:
        self.source_label.setText(name)

    def set_mirror(self, mirror: bool) -> None:
        """Reflect the mirror state without emitting ``mirror_toggled``."""
        blocked = self.mirror_check.blockSignals(True)
        self.mirror_check.setChecked(mirror)
        self.mirror_check.blockSignals(blocked)
