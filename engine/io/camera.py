"""Webcams: open by index or device path, reconnect when unplugged, list what is attached."""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2

from engine.core.errors import SourceError
from engine.io.base import CaptureSource


@dataclass(frozen=True)
class CameraInfo:
    """A camera the platform reports: OpenCV index, device path (Linux) and a name."""

    index: int
    path: str = ""
    name: str = ""

    @property
    def label(self) -> str:
        return f"{self.name or 'Camera'} ({self.path or self.index})"


class CameraSource(CaptureSource):
    """A webcam by OpenCV index or device path; reconnects with backoff when it vanishes.

    width, height, fps: what to ask the driver for (it may give something else; the
    frames say what it gave).
    """

    kind = "camera"
    reconnects = True

    def __init__(self, device: int | str, width: int | None = None, height: int | None = None, fps: float | None = None) -> None:
        self.device: int | str = int(device) if isinstance(device, str) and device.isdigit() else device
        super().__init__(f"camera {self.device}", fps=fps or 30.0, pace=False)
        self.requested = (width, height, fps)

    def _open(self) -> None:
        cap = cv2.VideoCapture(self.device)
        if not cap.isOpened():
            cap.release()
            hint = " (no camera with that index; try 0, or `python main.py --source demo`)" if isinstance(self.device, int) else ""
            raise SourceError(f"camera {self.device} could not be opened{hint}")
        width, height, fps = self.requested
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(width))
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(height))
        if fps:
            cap.set(cv2.CAP_PROP_FPS, float(fps))
        # A small driver buffer keeps latency low; not every backend honours it.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        ok, image = cap.read()
        if not ok or image is None:
            cap.release()
            raise SourceError(f"camera {self.device} opened but gave no frame (is another program using it?)")
        self._adopt(cap, image)

    def _lost_message(self) -> str:
        return f"{self.name} stopped delivering frames (unplugged?)"


def list_cameras(max_probe: int = 4) -> list[CameraInfo]:
    """The cameras that exist, with names where the platform gives them.

    Linux: the V4L2 capture devices under /dev (names from sysfs), without opening them.
    Elsewhere: indices 0..max_probe-1 that OpenCV can open.
    """
    cameras: list[CameraInfo] = []
    if sys.platform.startswith("linux"):
        for dev in sorted(glob.glob("/dev/video*"), key=lambda d: int("".join(ch for ch in d if ch.isdigit()) or 0)):
            number = "".join(ch for ch in os.path.basename(dev) if ch.isdigit())
            if not number:
                continue
            sys_dir = Path("/sys/class/video4linux") / os.path.basename(dev)
            name = ""
            try:
                name = (sys_dir / "name").read_text().strip()
            except OSError:
                pass
            # Each UVC camera exposes a metadata node too; index 0 of the device is the capture one.
            try:
                if (sys_dir / "index").read_text().strip() not in ("", "0"):
                    continue
            except OSError:
                pass
            cameras.append(CameraInfo(int(number), dev, name))
        return cameras
    for index in range(max_probe):
        cap = cv2.VideoCapture(index)
        try:
            if cap.isOpened():
                cameras.append(CameraInfo(index, "", f"Camera {index}"))
        finally:
            cap.release()
    return cameras
