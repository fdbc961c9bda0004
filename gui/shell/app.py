"""Start the GUI: ``run(source, device)`` is what ``python main.py`` calls without a command."""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback

log = logging.getLogger(__name__)

APP_NAME = "CNN Studio"
ORG_NAME = "CNN Studio"


def display_problem() -> str | None:
    """Why Qt could not open a window here, or None if it probably can.

    Qt aborts the whole process when its platform plugin cannot connect to a display, so
    the common case (a Linux box without DISPLAY/WAYLAND_DISPLAY, e.g. over ssh) is
    checked first to print a useful message instead.
    """
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display found (neither DISPLAY nor WAYLAND_DISPLAY is set). Run CNN Studio from a desktop "
            "session, use `ssh -X`, or run headless with QT_QPA_PLATFORM=offscreen (or use the CLI commands).")


def apply_dark_theme(app) -> None:
    """Fusion with a dark palette: the video is the star, the chrome should recede."""
    from PySide6.QtGui import QColor, QPalette

    app.setStyle("Fusion")
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: QColor(37, 38, 43),
        QPalette.ColorRole.WindowText: QColor(225, 225, 230),
        QPalette.ColorRole.Base: QColor(27, 28, 32),
        QPalette.ColorRole.AlternateBase: QColor(44, 45, 51),
        QPalette.ColorRole.ToolTipBase: QColor(50, 50, 56),
        QPalette.ColorRole.ToolTipText: QColor(230, 230, 235),
        QPalette.ColorRole.Text: QColor(225, 225, 230),
        QPalette.ColorRole.Button: QColor(48, 49, 56),
        QPalette.ColorRole.ButtonText: QColor(225, 225, 230),
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Highlight: QColor(64, 128, 220),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(110, 170, 255),
        QPalette.ColorRole.PlaceholderText: QColor(140, 140, 150),
    }
    for role, color in colors.items():
        palette.setColor(role, color)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 128))
    app.setPalette(palette)


def _install_excepthook() -> None:
    """Log exceptions that escape a Qt slot instead of letting them end the app."""
    previous = sys.excepthook

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        log.error("unhandled error:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))

    sys.excepthook = hook


def _quit_on_signals(app) -> None:
    """SIGINT (Ctrl+C) and SIGTERM (logout) close the window properly: settings saved,
    recording finished, camera released, threads joined.

    The C-level handler only writes the signal number to a socket; Qt's event loop reads
    it (QSocketNotifier) and closes the windows from there, so nothing runs inside a
    signal handler while Qt or PyTorch is in the middle of something.
    """
    import socket

    from PySide6.QtCore import QSocketNotifier

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda signum, frame: None)  # the wakeup fd does the work
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, app)

    def on_signal() -> None:
        try:
            received = reader.recv(64)
        except BlockingIOError:
            return
        log.info("signal %s: closing", list(received))
        app.closeAllWindows()
        app.quit()

    notifier.activated.connect(on_signal)
    app._signal_sockets = (reader, writer, notifier)  # keep them alive with the app


class _EngineLoader:
    """Imports PyTorch and the tab modules on a background thread (several seconds on a
    laptop), then calls ``done(device, warning)`` on the GUI thread.

    The window and the demo source need none of it, so they are on screen first.
    """

    def __init__(self, device: str | None, done) -> None:
        from PySide6.QtCore import QObject, Qt, Signal

        class _Relay(QObject):
            finished = Signal(object, object)

        self._relay = _Relay()
        self._relay.finished.connect(done, Qt.ConnectionType.QueuedConnection)
        self._device = device

    def start(self) -> None:
        import threading

        self.thread = threading.Thread(target=self._load, name="engine-loader", daemon=True)
        self.thread.start()

    def _load(self) -> None:
        import importlib

        warning = None
        try:
            from engine.runtime.device import DeviceError, choose_device
        except Exception as exc:  # noqa: BLE001 - a broken install: say so in the window
            self._relay.finished.emit(None, f"PyTorch could not be loaded: {type(exc).__name__}: {exc}")
            return
        try:
            device = choose_device(self._device)
        except DeviceError as exc:
            warning = f"{exc}\n\nUsing the CPU instead."
            device = choose_device("cpu")
        from gui.shell.tabs import tab_modules

        for module_name in tab_modules():
            try:  # warm the import cache; a failure shows up again (with its message) when the tab is built
                importlib.import_module(module_name)
            except Exception:  # noqa: BLE001
                log.debug("pre-importing %s failed", module_name, exc_info=True)
        self._relay.finished.emit(device, warning)


def run(source: str | None = None, device: str | None = None) -> int:
    """Open the main window on ``source`` (None: last source / first camera / demo) and run.

    ``device``: "auto"/None, "cpu", "cuda", "cuda:N", "mps". Returns the exit code.
    The window appears before PyTorch is loaded; the tabs arrive when it is.
    """
    problem = display_problem()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication, QMessageBox

    from engine.features.registry import registry
    from gui.common.settings import open_settings, set_aside_unusable
    from gui.shell.main_window import MainWindow

    # The features are found now, on this thread (cheap: no torch); this also gives the
    # model catalog its provider, so the model manager works before the tabs arrive.
    registry()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationDisplayName(APP_NAME)
    apply_dark_theme(app)
    _install_excepthook()
    _quit_on_signals(app)
    try:
        notice = set_aside_unusable()
        settings = open_settings()
    except OSError as exc:  # engine.core.paths.PathsError: CNN_STUDIO_HOME is a file, a read-only disk, ...
        print(f"error: {exc}", file=sys.stderr)
        QMessageBox.critical(None, APP_NAME, f"CNN Studio cannot start:\n\n{exc}")
        return 1
    window = MainWindow(settings, None, source=source, defer_tabs=True)
    window.show()
    log.info("window shown; loading PyTorch in the background")
    if notice:
        print(f"warning: {notice}", file=sys.stderr)
        window.show_status(notice, 30_000)

    def engine_ready(torch_device, warning) -> None:
        if warning:
            QMessageBox.warning(window, APP_NAME, warning)
        if torch_device is None:
            window.status_panel.set_device("no PyTorch")
            return
        if not window.closing:
            window.load_feature_tabs(torch_device)
            log.info("engine ready on %s", torch_device)

    loader = _EngineLoader(device, engine_ready)
    loader.start()
    code = app.exec()
    window.shutdown()
    loader.thread.join(0.2)
    if loader.thread.is_alive():
        # Quit while PyTorch was still importing: everything of the user's is saved; skip
        # the interpreter's teardown, which would race the half-imported extension modules.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code))
    return int(code)
