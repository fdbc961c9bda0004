"""The source bar's "Stream URL…" and "Screen…" entries.

Recent stream URLs are remembered in the settings **without their password** (and
without secret query values): picking one again fills the box, and the user types the
password back in. Nothing secret is written to disk.
"""

from __future__ import annotations

import json

from PySide6.QtWidgets import QInputDialog, QWidget

from engine.io.stream import is_stream_url, strip_password

KEY_RECENT = "source/recent_streams"
MAX_RECENT = 8
SCREEN_CHOICES = ("screen@10", "screen:1@10", "screen:2@10", "screen@5", "screen:1@25")


def recent_streams(settings) -> list[str]:
    if settings is None:
        return []
    try:
        value = json.loads(str(settings.value(KEY_RECENT, "[]") or "[]"))
    except ValueError:
        return []
    return [str(v) for v in value if isinstance(v, str)][:MAX_RECENT]


def remember_stream(settings, url: str) -> list[str]:
    """Put ``url`` (password stripped) first in the recent list; returns the list."""
    safe = strip_password(url)
    urls = [safe] + [u for u in recent_streams(settings) if u != safe]
    urls = urls[:MAX_RECENT]
    if settings is not None:
        settings.setValue(KEY_RECENT, json.dumps(urls))
    return urls


def ask_stream_url(parent: QWidget, settings) -> str | None:
    """Ask for a stream URL (recent ones offered); None when cancelled or not a URL."""
    recent = recent_streams(settings) or ["rtsp://"]
    text, ok = QInputDialog.getItem(parent, "Open a network stream",
                                    "rtsp://, rtsps:// or http(s):// (MJPEG or video), e.g.\n"
                                    "rtsp://user:password@192.168.1.20:554/stream1", recent, 0, True)
    text = text.strip()
    if not ok or not is_stream_url(text):
        return None
    remember_stream(settings, text)
    return text


def ask_screen(parent: QWidget) -> str | None:
    """Ask which screen to capture: "screen" (all), "screen:N" (monitor N) or a region, @fps."""
    text, ok = QInputDialog.getItem(parent, "Capture the screen",
                                    "screen = all monitors, screen:N = monitor N, screen:X,Y,W,H = a region;\n"
                                    "@FPS sets the rate (e.g. screen:1@10)", list(SCREEN_CHOICES), 0, True)
    return text.strip() if ok and text.strip() else None
