"""The Faces tab's state and commands, without Qt: the tab is a thin view over this.

State: the chosen embedder/detector, the live settings (threshold, mode, verify name,
upsampling) as one frozen ``FacesSettings`` snapshot, the gallery, the guided capture,
the latest result. Commands tell the view what changed through the events of
``engine.core.events.Controller`` (``task_changed``: rebuild the task; ``settings_changed``:
a new snapshot) and ``verdict`` (the verify-mode text of the latest result); a choice that
cannot be made raises ValueError with the message to show.

One detector and one embedder exist: those of the live ``FacesTask``. Enrolment and
triplet checks borrow them through ``models()`` under the task's lock (loading the task
in the caller's thread when the worker has not yet), so nothing is built twice and no
model is built on the GUI thread to validate a choice (that is a file check).

``store``: an ``engine.core.store.SettingsStore`` (the app's settings.ini in the GUI, a
``MemoryStore`` in tests).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np

from engine.core.events import Controller, EventField
from engine.core.store import SettingsStore
from engine.features.faces.detectors import DETECTOR_NAMES, HAAR_NAME, MMOD_NAME, default_detector_name
from engine.features.faces.embedders import distances, embedder_info, installed_embedders
from engine.features.faces.task import MODES, FacesSettings

log = logging.getLogger(__name__)

DETECTOR_TITLES = {MMOD_NAME: "dlib MMOD CNN (+ 5 landmarks)", "yunet": "YuNet (landmarks)", HAAR_NAME: "Haar cascade (offline)"}


@dataclass(frozen=True)
class Triplet:
    """d(A, P), d(A, N) and the margin d(A, N) - d(A, P) (> 0: the triplet is satisfied)."""

    d_ap: float
    d_an: float

    @property
    def margin(self) -> float:
        return self.d_an - self.d_ap

    def loss(self, alpha: float) -> float:
        """The triplet loss max(0, d(A,P) - d(A,N) + alpha) that trains such networks."""
        return max(0.0, self.d_ap - self.d_an + alpha)


class FacesController(Controller):
    verdict = EventField[str]("verify mode: the text for the latest result (match or not, and the distance)")

    def __init__(self, store: SettingsStore, cache=None, device=None) -> None:
        self.store = store
        self.cache = cache
        self.device = device
        self.gallery = None
        self.capture = None
        self.task = None
        self.last = None
        self.embedder_name = store.get("Faces/embedder", "")
        self.detector_name = store.get("Faces/detector", "")
        self.settings = FacesSettings(upsample=store.get("Faces/upsample", 0, lambda n: 0 <= n <= 2))
        self.refresh_embedders()
        if self.detector_name not in DETECTOR_NAMES or not self.detector_installed(self.detector_name):
            self.detector_name = default_detector_name(cache, self.embedder_name)

    # -- models ------------------------------------------------------------------------
    def embedders(self) -> list[tuple[str, dict]]:
        return [(name, embedder_info(name)) for name in installed_embedders(self.cache)]

    def refresh_embedders(self) -> None:
        """Re-read what is installed; ``task_changed`` when the chosen embedder had to change."""
        names = installed_embedders(self.cache)
        wanted = self.embedder_name if self.embedder_name in names else names[0]
        changed = wanted != self.embedder_name
        if changed or self.settings.threshold is None:
            self._apply_embedder(wanted)
        if changed:
            self.task_changed.emit()

    def _apply_embedder(self, name: str) -> None:
        self.embedder_name = name
        self.store.set("Faces/embedder", name)
        saved = self.store.get(f"Faces/threshold/{name}", None, lambda t: t >= 0, kind=float)
        threshold = saved if saved is not None else self.default_threshold()
        self.settings = replace(self.settings, threshold=threshold)

    def pick_embedder(self, name: str) -> None:
        """Choose the embedder (``task_changed`` when it is another one)."""
        if not name or name == self.embedder_name:
            return
        self._apply_embedder(name)
        self.task = None
        self.task_changed.emit()

    def info(self) -> dict:
        return embedder_info(self.embedder_name)

    def detector_installed(self, name: str) -> bool:
        if name == HAAR_NAME:
            return True
        from engine.features.faces.models import is_installed

        try:
            installed = is_installed(name, self.cache)
            return installed and (name != MMOD_NAME or is_installed("dlib-5pt", self.cache))
        except Exception:  # an unknown name in old settings
            return False

    def pick_detector(self, name: str) -> None:
        """Choose the detector (``task_changed`` when it is another one); ValueError when it is
        unknown, WeightsMissingError (``model`` set) when not installed; the choice stays."""
        if name == self.detector_name:
            return
        if name not in DETECTOR_NAMES:
            raise ValueError(f"unknown face detector '{name}'")
        if not self.detector_installed(name):
            from engine.models.cache import WeightsMissingError

            raise WeightsMissingError(f"the weights of '{name}' are not installed",
                                      f"run `python main.py models fetch {name}`, or `python main.py models import "
                                      f"{name} FILE` with a file you already have", model=name)
        self.detector_name = name
        self.store.set("Faces/detector", name)
        self.task = None
        self.task_changed.emit()

    # -- live settings -----------------------------------------------------------------
    @property
    def threshold(self) -> float:
        return float(self.settings.threshold if self.settings.threshold is not None else self.default_threshold())

    @property
    def mode(self) -> str:
        return self.settings.mode

    def default_threshold(self) -> float:
        return float(embedder_info(self.embedder_name)["threshold"])

    def threshold_range(self) -> float:
        """Upper end of the threshold slider: 2 for unit vectors, 1.5 for dlib's raw L2."""
        return 1.5 if self.info()["metric"] == "l2" else 2.0

    # Each setter replaces the snapshot, announces it (``settings_changed``) and returns it.
    def set_threshold(self, value: float, remember: bool = False) -> FacesSettings:
        value = max(0.0, min(self.threshold_range(), float(value)))
        self.settings = replace(self.settings, threshold=value)
        if remember:
            self.store.set(f"Faces/threshold/{self.embedder_name}", value)
        self.settings_changed.emit()
        return self.settings

    def reset_threshold(self) -> FacesSettings:
        self.store.remove(f"Faces/threshold/{self.embedder_name}")
        return self.set_threshold(self.default_threshold())

    def set_mode(self, mode: str) -> FacesSettings:
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
        self.settings = replace(self.settings, mode=mode)
        self.last = None
        self.settings_changed.emit()
        return self.settings

    def set_verify_name(self, name: str | None) -> FacesSettings:
        """Announced only when the name changes (the view re-fills its list after each enrolment)."""
        if (name or None) != self.settings.verify_name:
            self.settings = replace(self.settings, verify_name=name or None)
            self.settings_changed.emit()
        return self.settings

    def set_upsample(self, n: int) -> FacesSettings:
        self.settings = replace(self.settings, upsample=max(0, min(2, int(n))))
        self.store.set("Faces/upsample", self.settings.upsample)
        self.settings_changed.emit()
        return self.settings

    # -- the task and its models ---------------------------------------------------------
    def make_task(self):
        from engine.features.faces.task import FacesTask

        if self.gallery is None:
            return None
        self.task = FacesTask(embedder=self.embedder_name, detector=self.detector_name, gallery=self.gallery,
                              cache=self.cache, settings=self.settings)
        return self.task

    def models(self):
        """(recogniser, lock) of the live task, loading it here when the worker has not yet."""
        task = self.task if self.task is not None else self.make_task()
        if task is None:
            raise ValueError("the face gallery is not open")
        task.ensure_loaded(self.device)
        return task.recognizer, task.lock

    def enrol_photos_job(self, name: str, paths, add: bool):
        from engine.features.faces.jobs import enrol_from_files

        recognizer, lock = self.models()
        return enrol_from_files(recognizer, name, paths, add, lock)

    def enrol_capture_job(self, name: str, add: bool):
        from engine.features.faces.jobs import enrol_from_chips

        recognizer, lock = self.models()
        return enrol_from_chips(recognizer, name, list(self.capture.chips), add, lock)

    # -- results -------------------------------------------------------------------------
    def on_result(self, data) -> None:
        """Keep the latest result; in verify mode announce the verdict text (``verdict``)."""
        self.last = data
        if data.mode != "verify":
            return
        if not data.faces:
            self.verdict.emit("no face in view")
        elif data.verify_name is None:
            self.verdict.emit("choose a person")
        else:
            face = data.faces[0]
            word = "match" if face.verified else "no match"
            self.verdict.emit(f"{word} — {data.verify_name}? distance {face.distance:.3f}")

    # -- know your threshold -------------------------------------------------------------
    def calibration(self):
        """Calibration of the gallery for the current embedder (CalibrationError if not possible)."""
        from engine.features.faces.calibration import calibrate_gallery
        from engine.features.faces.jobs import reembed_gallery, run_job

        if self.gallery is None:
            raise ValueError("the face gallery is not open")
        if self.gallery.missing_embeddings(self.embedder_name) and not self.gallery.read_only:
            recognizer, lock = self.models()
            run_job(reembed_gallery(self.gallery, recognizer.embedder, lock))
        return calibrate_gallery(self.gallery, self.embedder_name, self.info()["metric"])

    # -- the Siamese view ---------------------------------------------------------------
    def shot_chips(self, name: str) -> list[np.ndarray]:
        return [s.chip for s in self.gallery.shots(name)] if self.gallery is not None else []

    def embed_chips(self, chips) -> np.ndarray:
        recognizer, lock = self.models()
        with lock:
            return recognizer.embedder.embed(list(chips))

    def triplet(self, anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> Triplet:
        """Distances of three vectors (D,) in the current embedder's metric."""
        metric = self.info()["metric"]
        d = distances(np.asarray(anchor, np.float32), np.stack([positive, negative]).astype(np.float32), metric)
        return Triplet(float(d[0]), float(d[1]))

    def live_anchor(self):
        """(chip, vector) of the largest face of the latest result, or None."""
        data = self.last
        if data is None or not data.faces or getattr(data, "vectors", None) is None or not len(data.vectors):
            return None
        return data.chips[0], data.vectors[0]


def fmt_distance(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"
