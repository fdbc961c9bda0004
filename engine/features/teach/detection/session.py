"""The Teach tab's Detector mode without Qt: the open detector project, the class being
drawn, capturing frames with the boxes carried from the previous capture, training in a
job, and handing the trained detector to Detect.

Everything is called on the GUI thread except ``train_job``'s job, which a job runner
drives on a background thread; it reads a snapshot of the project (``dataset()``) and
hands its result back through its return value.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.core.events import Controller
from engine.core.store import SettingsStore
from engine.features.teach.detection.carry import carry_boxes
from engine.features.teach.detection.project import DetectorProject, Picture, default_projects_dir, list_projects

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capture:
    """A captured frame: the new picture, how many boxes the tracker carried into it (all
    unconfirmed) and how many it lost (the object moved too far, left or was hidden)."""

    picture: Picture
    carried: int
    lost: int


def folder_name(name: str) -> str:
    """``name`` as a plain folder name (letters, digits, space, - and _), never empty."""
    clean = " ".join(re.sub(r"[^\w \-]", "", name, flags=re.UNICODE).split()).strip(" .")
    return clean[:60] or "detector"


class DetectorSession(Controller):
    """Holds the open detector project, the chosen class and the last trained detector."""

    def __init__(self, projects_dir: Path | None = None) -> None:
        self.projects_dir = Path(projects_dir) if projects_dir is not None else default_projects_dir()
        self.project: DetectorProject | None = None
        self.current_class = 0
        self.carry = True  # propose the previous capture's boxes on the next one
        self.last_capture: str | None = None
        self.trained: Any = None  # engine.features.teach.detection.training.TrainedDetector
        self.open_problems: list[str] = []

    # -- projects --------------------------------------------------------------------
    def new_project(self, name: str, classes: tuple[str, ...] = ("object",)) -> DetectorProject:
        clean = folder_name(name)
        root, n = self.projects_dir / clean, 2
        while root.exists():
            root, n = self.projects_dir / f"{clean} {n}", n + 1
        return self._set(DetectorProject.create(root, classes))

    def open_project(self, root: str | Path) -> DetectorProject:
        return self._set(DetectorProject.open(root))

    def open_or_create(self, last: str | None) -> DetectorProject:
        """Reopen ``last``, else the most recent project, else a new one; ``open_problems``
        lists, for the user, each project that was tried and refused."""
        self.open_problems = []
        candidates = ([Path(last)] if last else []) + [p for p in list_projects(self.projects_dir)
                                                       if not last or p.resolve() != Path(last).resolve()]
        for root in candidates:
            try:
                return self.open_project(root)
            except Exception as exc:  # moved, damaged or hostile: say so and go on
                log.warning("detector project %s cannot be opened: %s", root, exc)
                self.open_problems.append(f"The detector project {root} cannot be opened: {exc}")
        return self.new_project("My detector")

    def _set(self, project: DetectorProject) -> DetectorProject:
        self.project = project
        self.current_class = 0
        self.last_capture = None
        self.trained = None
        self.task_changed.emit()
        return project

    # -- labelling -------------------------------------------------------------------
    def choose_class(self, index: int) -> bool:
        """Draw new boxes as class ``index``; False when there is no such class."""
        if self.project is None or not 0 <= index < len(self.project.classes):
            return False
        self.current_class = index
        return True

    def capture(self, image: np.ndarray) -> Capture:
        """Store ``image`` (uint8 BGR) as a new picture; with ``carry`` on, the boxes of the
        previous capture are carried into it (marked unconfirmed), lost ones left out."""
        project = self.project
        assert project is not None
        previous = self._previous()
        if previous is None or not self.carry or len(previous.boxes) == 0:
            picture = project.add_frame(image)
            self.last_capture = picture.id
            return Capture(picture, 0, 0)
        before = project.load_image(previous.id)
        if before.shape != image.shape:  # another camera or size: nothing to carry
            picture = project.add_frame(image)
            self.last_capture = picture.id
            return Capture(picture, 0, len(previous.boxes))
        carried = carry_boxes(before, image, previous.boxes)
        kept = carried.kept
        picture = project.add_frame(image, carried.boxes[kept], previous.class_ids[kept], range(len(kept)))
        self.last_capture = picture.id
        return Capture(picture, len(picture.boxes), len(previous.boxes) - len(picture.boxes))

    def _previous(self) -> Picture | None:
        """The picture captured last in this session, else the project's newest."""
        ids = self.project.picture_ids() if self.project is not None else []
        pid = self.last_capture if self.last_capture in ids else (ids[-1] if ids else None)
        try:
            return self.project.picture(pid) if pid else None
        except Exception as exc:  # a damaged picture: nothing to carry
            log.warning("%s", exc)
            return None

    # -- training --------------------------------------------------------------------
    def model_folder(self) -> Path:
        """Where the trained detector is saved: ``<project>/model/<project name>`` (Detect
        lists a model folder by its name, so it shows as ``my-<project name>``)."""
        return self.project.model_folder(folder_name(self.project.name))

    def train_job(self, settings: Any, pretrained: Path | None = None) -> Callable[[Any], Any]:
        """A job (``JobRunner``'s callable form) that trains on a snapshot of the project and
        saves the detector in ``model_folder()``; returns the ``TrainedDetector``. It starts
        from the installed COCO weights of the architecture unless ``settings.untrained``
        (or ``pretrained`` names a file)."""
        from engine.features.teach.detection.training import installed_coco_weights, train_detector

        dataset = self.project.dataset()
        folder = self.model_folder()
        if pretrained is None and not settings.untrained:
            pretrained = installed_coco_weights(settings.arch)  # None: from scratch (the result says so)

        def job(control: Any) -> Any:
            trained = train_detector(dataset, settings, progress=control.report, cancel=control.cancel_event,
                                     pretrained=pretrained, situation="gui")
            self.project.clear_model()
            trained.save(folder)
            return trained

        return job

    def estimate_seconds(self, settings: Any) -> float:
        from engine.features.teach.detection.training import estimate_training_seconds

        return float(estimate_training_seconds(self.project.dataset(), settings))

    def finish_training(self, trained: Any) -> None:
        self.trained = trained
        self.task_changed.emit()

    def saved_model(self) -> Path | None:
        """The trained detector's folder when one is saved in the project, else None."""
        folder = self.model_folder()
        return folder if (folder / "config.json").is_file() else None

    def use_in_detect(self, store: SettingsStore) -> str:
        """List the saved detector in Detect (as ``my-<folder name>``); returns that name."""
        from engine.models.user_model_list import remember_path

        folder = self.saved_model()
        if folder is None:
            from engine.core.errors import NotFound

            raise NotFound(f"{self.project.name} has no trained detector yet", "press Train first")
        remember_path(store, str(folder))
        return f"my-{folder.name}"
