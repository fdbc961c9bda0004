"""A text progress bar on stderr for long CLI jobs (downloads, style optimisation)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """Redraws one stderr line at most ~10 times a second; plain lines when not a TTY."""

    def __init__(self, label: str, stream=None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self._last_percent = -10
        self._start = time.monotonic()

    def update(self, done: float, total: float | None, detail: str = "") -> None:
        now = time.monotonic()
        percent = int(100 * done / total) if total else None
        if self.tty:
            if now - self._last < 0.1 and (total is None or done < total):
                return
            width = 30
            if total:
                filled = int(width * min(done / total, 1.0))
                bar = "#" * filled + "-" * (width - filled)
                text = f"\r{self.label} [{bar}] {percent:3d}% {detail}"
            else:
                text = f"\r{self.label} {detail}"
            self.stream.write(text[:200])
            self.stream.flush()
        elif percent is not None and percent >= self._last_percent + 10:
            self._last_percent = percent - percent % 10
            self.stream.write(f"{self.label}: {self._last_percent}% {detail}\n")
            self.stream.flush()
        self._last = now

    def close(self, message: str = "") -> None:
        if self.tty:
            self.stream.write("\n")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()
