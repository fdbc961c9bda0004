"""The source bar's "Stream URL…" and "Screen…" entries.

Recent stream URLs are remembered in the settings reduced to scheme, host, port and path
(``engine.io.stream_url.storable_url``): no user name, password, path parameters, query or
fragment. Picking one again fills the box, and the user types the rest back in. Nothing
secret is written to disk; entries an older version stored in full are reduced on reading.
"""

from __future__ import annotations

import json

from PySide6.QtWidgets import QInputDialog, QWidget

from engine.io.stream import is_stream_url
from engine.io.stream_url import remembered_url
from gui.common.settings import read_setting

KEY_RECENT = "source/recent_streams"
MAX_RECENT = 8
SCREEN_CHOICES = ("screen@10", "screen:1@10", "screen:2@10", "screen@5", "screen:1@25")


def _url_list(text: str) -> bool:
    """Whether ``text`` is what ``remember_stream`` writes: a JSON list of strings."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def recent_streams(settings) -> list[str]:
    """The remembered stream URLs, newest first, each in its stored (reduced) form."""
    if settings is None:
        return []
    try:
        value = json.loads(read_setting(settings, KEY_RECENT, "[]", valid=_url_list))
    except (ValueError, RecursionError):
        return []
    urls: list[str] = []
    for entry in value:
        safe = remembered_url(entry) if is_stream_url(entry) else None
        if safe is not None and safe not in urls:
            urls.append(safe)
    return urls[:MAX_RECENT]


def remember_stream(settings, url: str) -> list[str]:
    """Put ``url``, reduced (see the module docstring), first in the recent list; returns the list.

    A URL without a usable host and port (``remembered_url``) is not remembered.
    """
    urls = recent_streams(settings)
    safe = remembered_url(url)
    if safe is not None:
        urls = ([safe] + [u for u in urls if u != safe])[:MAX_RECENT]
    if settings is not None:
        settings.setValue(KEY_RECENT, json.dumps(urls))  # also rewrites entries stored in full before
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
