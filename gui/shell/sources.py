"""Choosing, starting and replacing the video source, and telling the user what happened.

The rules a user relies on: a source that cannot be opened is named in a message and the
one that was playing keeps playing (the demo starts only when nothing plays); an
unplugged camera shows "reconnecting…" and comes back by itself; nothing computed on the
old source is drawn on the new one (the presenter is told of every change).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Slot

from gui.common.settings import read_setting

if TYPE_CHECKING:
    from engine.core.errors import SourceError
    from gui.shell.main_window import MainWindow

log = logging.getLogger(__name__)

KEY_LAST_SOURCE = "source/last"
KEY_MIRROR = "source/mirror"


def _is_url(spec: str) -> bool:
    from engine.io.stream_url import parse_stream_url
    return parse_stream_url(spec) is not None


def storable_spec(spec: str) -> str:
    """What may be written to the settings: a URL reduced to scheme, host, port and path
    (``engine.io.stream_url.storable_url``); any other spec as it is."""
    from engine.io.stream_url import storable_url
    return storable_url(spec) if _is_url(spec) else spec


def shown_spec(spec: str) -> str:
    """What may appear in logs, the status bar and dialogs: a URL masked (``mask_url``)."""
    from engine.io.stream_url import mask_url
    return mask_url(spec) if _is_url(spec) else spec


class SourceSwitcher:
    """The window's source commands (GUI thread). ``current_spec``: what the user last opened."""

    def __init__(self, window: "MainWindow") -> None:
        self.window = window
        self.current_spec: str | None = None

    def open_initial(self, requested: str | None) -> None:
        """``--source`` if given (demo if it fails); else the last source if it still works,
        else the first camera, else the demo."""
        if requested:
            self.open(requested)
            return
        last = read_setting(self.window.settings, KEY_LAST_SOURCE, "")
        candidates = ([last] if last.strip() else []) + self.window.source_bar.camera_specs()[:1]
        for spec in candidates:
            if self.open(spec, report=False):
                return
            log.info("previous source %r is not available any more", shown_spec(spec))
        self.open("demo")

    def open(self, spec: str, report: bool = True) -> bool:
        """Start the source named by ``spec``; True on success.

        The new source is built and started before the playing one stops, so a failure
        (reported when ``report``) leaves the playing source as it was.
        """
        from engine.core.errors import SourceError
        from engine.io import classify, open_source

        w = self.window
        spec = str(spec).strip()
        try:
            # Videos loop in the GUI: a live view that freezes on the last frame looks broken.
            options = {"loop": True} if classify(spec) == "video" else {}
            source = w.pipeline.attach(open_source(spec, **options))
        except SourceError as exc:
            return self._failed(spec, exc, report)
        except Exception as exc:  # an unexpected driver/codec failure is still just a bad source
            log.debug("opening %s failed", shown_spec(spec), exc_info=not _is_url(spec))  # a traceback may quote the URL
            return self._failed(spec, f"{spec}: {type(exc).__name__}: {exc}", report)
        w.presenter.source_changed()
        w.display.sync_frame_delivery()
        self.current_spec = spec
        w.view.set_banner(None)
        w.settings.setValue(KEY_LAST_SOURCE, storable_spec(spec))
        w.source_bar.set_source_name(source.name)
        w.source_bar.set_running(True)
        w.view.set_message(f"Waiting for {source.name}…")
        w.show_status(f"Showing {source.name}")
        return True

    def _failed(self, spec: str, problem: str | SourceError, report: bool) -> bool:
        from engine.io.stream_url import hide_url_in

        w = self.window
        if _is_url(spec):  # whatever produced the message, the URL in it is shown masked
            shown = hide_url_in(str(problem), spec)
            if shown != str(problem):
                problem = shown
        playing = w.pipeline.running
        if report:
            note = "" if spec == "demo" else (
                "The current source keeps playing." if playing else "Showing the demo source instead.")
            w.context.error("Cannot open the video source", problem, note)
        if not playing and spec != "demo" and report:
            self.open("demo", report=True)
        elif spec == "demo" and not playing:
            w.view.clear(f"No video.\n{problem}")
            w.source_bar.set_running(False)
        return False

    def toggle_running(self) -> None:
        """Space: stop the running source, or start the last one again."""
        w = self.window
        if w.pipeline.running:
            w.pipeline.stop_source()
            w.source_bar.set_running(False)
            w.show_status("Stopped — press Space to start again")
        else:
            self.open(self.current_spec or "demo")

    def set_mirror(self, mirror: bool) -> None:
        """Flip frames at capture (models, overlays, snapshots and recordings agree)."""
        w = self.window
        w.pipeline.set_mirror(mirror)
        w.source_bar.set_mirror(mirror)
        w.settings.setValue(KEY_MIRROR, mirror)

    @Slot(object)
    def on_event(self, event) -> None:
        """An event of the current source (the pipeline drops those of replaced sources)."""
        w = self.window
        kind, message = event.kind, event.message
        if kind in ("disconnected", "reconnecting"):
            w.view.set_message("Camera lost — reconnecting…")
            w.view.set_banner("Camera lost — reconnecting…  (check the cable, or pick another source)")
            w.show_status(f"{message or 'camera lost'} — reconnecting…", 0)
        elif kind == "reconnected":
            w.view.set_banner(None)
            w.show_status(f"{message}: reconnected")
        elif kind == "skipped":
            w.show_status(f"Skipped {message}")
        elif kind == "ended":
            w.source_bar.set_running(False)
            w.show_status(f"{message} — press Space to play again")
        elif kind == "error":
            w.context.error("The video source failed", message, "Showing the demo source instead.")
            if self.current_spec != "demo":
                self.open("demo")
