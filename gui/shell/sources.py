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

if TYPE_CHECKING:
    from gui.shell.main_window import MainWindow

log = logging.getLogger(__name__)

KEY_LAST_SOURCE = "source/last"
KEY_MIRROR = "source/mirror"


def storable_spec(spec: str) -> str:
    """What may be written to the settings: stream URLs lose their password."""
    from engine.io.stream import is_stream_url, strip_password
    return strip_password(spec) if is_stream_url(spec) else spec


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
        last = self.window.settings.value(KEY_LAST_SOURCE)
        candidates = ([last] if isinstance(last, str) and last.strip() else []) + self.window.source_bar.camera_specs()[:1]
        for spec in candidates:
            if self.open(spec, report=False):
                return
            log.info("previous source %r is not available any more", spec)
        self.open("demo")

    def open(self, spec: str, report: bool = True) -> bool:
        """Start the source named by ``spec``; True on success.

        The new source is built and started before the playing one stops, so a failure
        (reported when ``report``) leaves the playing source as it was.
        """
        from engine.io.sources import SourceError, classify, open_source

        w = self.window
        spec = str(spec).strip()
        try:
            # Videos loop in the GUI: a live view that freezes on the last frame looks broken.
            options = {"loop": True} if classify(spec) == "video" else {}
            source = w.pipeline.attach(open_source(spec, **options))
        except SourceError as exc:
            return self._failed(spec, str(exc), report)
        except Exception as exc:  # an unexpected driver/codec failure is still just a bad source
            log.debug("opening %s failed", spec, exc_info=True)
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

    def _failed(self, spec: str, message: str, report: bool) -> bool:
        w = self.window
        playing = w.pipeline.running
        if report:
            tail = "" if spec == "demo" else (
                "\n\nThe current source keeps playing." if playing else "\n\nShowing the demo source instead.")
            w.context.error("Cannot open the video source", message + tail)
        if not playing and spec != "demo" and report:
            self.open("demo", report=True)
        elif spec == "demo" and not playing:
            w.view.clear(f"No video.\n{message}")
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
            w.context.error("The video source failed", f"{message}\n\nShowing the demo source instead.")
            if self.current_spec != "demo":
                self.open("demo")
