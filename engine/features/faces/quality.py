"""Is this a good enrolment shot? One face, large, sharp, and not a repeat of earlier shots.

Sharpness is the variance of the Laplacian of the grey chip (a blurred or
motion-smeared face has few strong second derivatives). Size is the face box width
relative to the frame. Variety compares a small normalised grey copy of the chip
with the shots already taken, so five shots are not five copies of one pose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.core.errors import UserError
from engine.features.faces.types import FaceDetection


class EnrolmentError(UserError, ValueError):
    """A photo or shot that cannot be used for enrolment; the message says which and why."""


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian of the grey chip (unitless; larger is sharper)."""
    gray = chip if chip.ndim == 2 else cv2.cvtColor(chip, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def pose_signature(chip: np.ndarray) -> np.ndarray:
    """(24*24,) float32, zero mean and unit norm: a coarse picture of the head's pose."""
    gray = chip if chip.ndim == 2 else cv2.cvtColor(chip, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (24, 24), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    small -= small.mean()
    return small / max(float(np.linalg.norm(small)), 1e-6)


def single_face(faces: list[FaceDetection], what: str) -> FaceDetection:
    """The one face of a photo; EnrolmentError naming ``what`` when there are none or several."""
    if not faces:
        raise EnrolmentError(f"no face found in {what}: use a photo where one face is clearly visible, facing the camera")
    if len(faces) > 1:
        raise EnrolmentError(
            f"{len(faces)} faces found in {what}: enrolment needs exactly one face per photo (crop the photo to that person)"
        )
    return faces[0]


@dataclass(frozen=True)
class ShotVerdict:
    """The quality judgement of one live frame for enrolment.

    ok: usable (one face, large and sharp enough). reason: why not, or "ok".
    face_fraction: face width / frame width. sharpness: see ``sharpness``.
    """

    ok: bool
    reason: str
    face_fraction: float = 0.0
    sharpness: float = 0.0


@dataclass(frozen=True)
class ShotRules:
    """Thresholds of a good shot (defaults suit a 640x480 webcam at arm's length)."""

    min_face_fraction: float = 0.18
    min_face_pixels: int = 80
    min_sharpness: float = 40.0
    min_variety: float = 0.04  # 1 - correlation with every earlier shot
    min_interval_s: float = 0.4


def judge_shot(faces: list[FaceDetection], chip: np.ndarray | None, frame_width: int,
               rules: ShotRules = ShotRules()) -> ShotVerdict:
    """Judge one frame's detections (largest first) and the chip of the largest face."""
    if not faces:
        return ShotVerdict(False, "no face in view")
    if len(faces) > 1:
        return ShotVerdict(False, f"{len(faces)} faces in view — only the person enrolling should be visible")
    face = faces[0]
    fraction = face.width / max(frame_width, 1)
    if fraction < rules.min_face_fraction or face.width < rules.min_face_pixels:
        return ShotVerdict(False, "come closer: the face is too small", fraction)
    sharp = sharpness(chip) if chip is not None else 0.0
    if sharp < rules.min_sharpness:
        return ShotVerdict(False, "hold still: the image is blurred", fraction, sharp)
    return ShotVerdict(True, "ok", fraction, sharp)


@dataclass
class GuidedCapture:
    """Collects ``target`` good, varied shots from a stream of judged frames.

    Feed every frame's verdict and chip to ``offer``; it keeps a shot when the verdict
    is ok, enough time passed since the last kept shot, and the pose differs enough
    from every kept shot and every rejected one (a rejected pose is not taken again).
    ``reject(i)`` drops a kept shot (the user's choice); a running capture then goes on
    until ``target`` are kept, a stopped one (``stop()``) stays stopped until ``resume()``.
    """

    target: int = 5
    rules: ShotRules = field(default_factory=ShotRules)
    chips: list[np.ndarray] = field(default_factory=list)
    _signatures: list[np.ndarray] = field(default_factory=list)
    _rejected: list[np.ndarray] = field(default_factory=list)
    _last_time: float = -1e9
    hint: str = "look at the camera"
    active: bool = True

    @property
    def done(self) -> bool:
        return len(self.chips) >= self.target

    @property
    def capturing(self) -> bool:
        """Frames are being considered: started, not stopped and not complete."""
        return self.active and not self.done

    def stop(self) -> None:
        """The user stopped: ``offer`` keeps nothing until ``resume``; the kept shots stay."""
        self.active = False
        self.hint = f"stopped with {len(self.chips)} of {self.target} shots"

    def resume(self) -> None:
        self.active = True
        self.hint = "look at the camera"

    def offer(self, verdict: ShotVerdict, chip: np.ndarray | None, timestamp: float) -> bool:
        """Consider one frame; True when its chip was kept. ``hint`` says what to do next."""
        if self.done:
            self.hint = "done"
            return False
        if not self.active:
            return False
        if not verdict.ok or chip is None:
            self.hint = verdict.reason
            return False
        if timestamp - self._last_time < self.rules.min_interval_s:
            return False
        signature = pose_signature(chip)
        seen = self._signatures + self._rejected
        if seen:
            variety = min(1.0 - float(signature @ s) for s in seen)
            if variety < self.rules.min_variety:
                self.hint = "turn your head a little (left, right, up, down)"
                return False
        self.chips.append(chip.copy())
        self._signatures.append(signature)
        self._last_time = timestamp
        self.hint = "done" if self.done else f"good — {self.target - len(self.chips)} more"
        return True

    def reject(self, index: int) -> None:
        """Drop kept shot ``index``; its pose counts as seen, so the next shot differs from it."""
        del self.chips[index]
        self._rejected.append(self._signatures.pop(index))
        self.hint = f"{self.target - len(self.chips)} more"

    def reset(self) -> None:
        self.chips.clear()
        self._signatures.clear()
        self._rejected.clear()
        self._last_time = -1e9
        self.hint = "look at the camera"
