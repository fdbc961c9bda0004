"""The status bar's permanent fields: recording, capture and inference rates, latency, the
model's mode (precision, compiled or not), device.

Texts change at most twice a second (the main window's stats timer), and a label is only
touched when its text changed: a status bar that re-lays itself out at frame rate costs
the GUI thread more than the video does.
"""

from __future__ import annotations

import re

from PySide6.QtWidgets import QLabel, QStatusBar

# What "auto" chose and why, as PrecisionChoice.label writes it: "auto (fp32: no bf16 on this CPU)".
_AUTO_REASON = re.compile(r"^auto \((\w+): [^)]*\)(.*)$")


class StatusPanel:
    """Owns the labels; ``show_stats(stats, recording_text)`` updates them."""

    def __init__(self, bar: QStatusBar) -> None:
        self.record = QLabel("")
        self.record.setStyleSheet("color: #e04040; font-weight: bold;")
        self.capture = QLabel("capture – fps")
        self.capture.setToolTip("Frames per second delivered by the source")
        self.inference = QLabel("inference – fps")
        self.inference.setToolTip("Results per second of the active tab's model")
        self.latency = QLabel("latency – ms")
        self.latency.setToolTip("From capture to result (median over the last 2 s)")
        self.dropped = QLabel("dropped 0")
        self.dropped.setToolTip("Frames of this source the model skipped because it was still busy "
                                "(by design: it always takes the newest); counted from 0 for each source")
        self.mode = QLabel("")
        self._mode_tip = ("How the active tab's model runs: its precision, and whether its network is "
                          "compiled (compiling… while that runs in the background)")
        self.mode.setToolTip(self._mode_tip)
        self.device = QLabel("")
        self.device.setToolTip("Where the models run (set with --device or CNN_STUDIO_DEVICE)")
        for label in (self.record, self.capture, self.inference, self.latency, self.dropped, self.mode, self.device):
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)

    @staticmethod
    def _set(label: QLabel, text: str) -> None:
        if label.text() != text:
            label.setText(text)

    def set_device(self, text: str) -> None:
        self._set(self.device, text)

    def set_mode(self, text: str) -> None:
        """The running model's mode ("auto (fp32: no bf16 on this CPU), compiled"), shown
        short ("auto: fp32, compiled") with the whole text as its tooltip; "" hides it."""
        why = _AUTO_REASON.match(text)
        self._set(self.mode, f"auto: {why.group(1)}{why.group(2)}" if why else text)
        self.mode.setToolTip(f"{text}\n{self._mode_tip}" if text else self._mode_tip)

    def device_text(self) -> str:
        return self.device.text()

    def show_recording(self, text: str | None) -> None:
        self._set(self.record, text or "")

    def show_stats(self, stats, recording: str | None) -> None:
        """``stats``: gui.live.bridge.PipelineStats; ``recording``: "● REC mm:ss" or None."""
        self._set(self.capture, f"capture {stats.capture_fps:4.1f} fps")
        self._set(self.inference, f"inference {stats.inference_fps:4.1f} fps")
        self._set(self.latency, "latency – ms" if stats.latency_ms is None else f"latency {stats.latency_ms:4.0f} ms")
        self._set(self.dropped, f"dropped {stats.dropped}")
        self.show_recording(recording)
