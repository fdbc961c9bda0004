"""The Teach tab's state and commands, without Qt (the tab is a thin view over this).

Everything here is called on the GUI thread except the generators ``train_job`` and
``embed_job``, which a job runner drives on a background thread; they only read a
snapshot of the project and hand their result back through their return value.

The view follows the events of ``engine.core.events.Controller``: ``task_changed`` when
another project is open or a model has been trained (the live task runs another model),
``settings_changed`` when the live settings change.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engine.core.events import Controller
from engine.features.teach.backbones import Backbone, BackboneWeightsMissingError, backbone_spec, load_backbone
from engine.features.teach.features import EmbeddingCache, compute
from engine.features.teach.model import ModelDirError, TrainedModel, load_model_dir, save_model_dir
from engine.features.teach.project import Project, default_projects_dir
from engine.features.teach.task import LiveSettings, TeachTask
from engine.features.teach.training import TrainResult, dataset_from_project, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StripBlock:
    """One block of the backbone strip. state: "frozen", "trained" or "unused" (cut off)."""

    name: str
    params: int
    state: str


class TeachController(Controller):
    """Holds the open project, the chosen backbone, the trained model and the live settings."""

    def __init__(self, projects_dir: Path | None = None, weights_cache: Any = None) -> None:
        self.projects_dir = Path(projects_dir) if projects_dir is not None else default_projects_dir()
        self.weights_cache = weights_cache
        self.project: Project | None = None
        self.model: TrainedModel | None = None
        self.result: TrainResult | None = None
        self.live_settings = LiveSettings()  # replaced by set_live_settings, never mutated
        self.record_rate = 5.0  # samples per second while a record button is held
        self.recording: str | None = None  # class id being recorded
        self._last_record = 0.0
        self._backbones: dict[tuple[str, bool], Backbone] = {}
        self.open_problems: list[str] = []  # set by open_or_create

    # -- projects --------------------------------------------------------------------
    def new_project(self, name: str) -> Project:
        clean = "".join(c for c in name.strip() if c.isalnum() or c in " -_") or "project"
        root = self.projects_dir / clean
        n = 2
        while (root / "project.json").exists():
            root = self.projects_dir / f"{clean} {n}"
            n += 1
        return self._set_project(Project.create(root))

    def open_project(self, root: str | Path) -> Project:
        return self._set_project(Project.open(root))

    def open_or_create(self, last: str | None) -> Project:
        """Reopen ``last`` if it is still a project, else the most recently saved one, else a new one.

        ``open_problems`` then lists, for the user, each project that was tried and refused
        (moved, damaged, or an index that points outside its folder); empty when none was.
        """
        self.open_problems = []
        if last:
            try:
                return self.open_project(last)
            except Exception as exc:  # the last project was moved or damaged: say so, start afresh
                log.warning("last project %s cannot be reopened: %s", last, exc)
                self.open_problems.append(f"The last project {last} cannot be reopened: {exc}")
        found = sorted(self.projects_dir.glob("*/project.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for index in found:
            if last and index.parent.resolve() == Path(last).resolve():
                continue  # already tried and reported above
            try:
                return self.open_project(index.parent)
            except Exception as exc:
                log.warning("project %s cannot be opened: %s", index.parent, exc)
                self.open_problems.append(f"The project {index.parent} cannot be opened: {exc}")
        return self.new_project("My classifier")

    def _set_project(self, project: Project) -> Project:
        self.project = project
        self.result = None
        self.model = None
        self.recording = None
        if (project.model_dir / "model.json").is_file():
            try:
                self.model = load_model_dir(project.model_dir)
            except ModelDirError as exc:
                log.warning("%s", exc)
        self.task_changed.emit()
        return project

    # -- backbone --------------------------------------------------------------------
    def backbone(self) -> Backbone:
        """The project's backbone, built once; BackboneWeightsMissingError when ImageNet weights are missing."""
        assert self.project is not None
        key = (self.project.backbone, self.project.untrained)
        if key not in self._backbones:
            self._backbones[key] = load_backbone(key[0], untrained=key[1], cache=self.weights_cache)
        return self._backbones[key]

    def strip(self) -> list[StripBlock]:
        """The backbone's blocks with which ones training changes (the transfer-learning picture)."""
        backbone = self.backbone()
        k = self.project.train_settings.finetune
        used = backbone.block_params()
        blocks = [StripBlock(name, n, "trained" if i >= len(used) - k else "frozen") for i, (name, n) in enumerate(used)]
        for name in backbone.net.all_block_names[len(used):]:
            blocks.append(StripBlock(name, 0, "unused"))
        return blocks

    def trainable_summary(self) -> tuple[int, int]:
        """(parameters trained, parameters frozen) for the current settings, before training."""
        backbone = self.backbone()
        settings = self.project.train_settings
        classes = max(2, len(self.project.classes))
        dim = backbone.feature_dim
        head = dim * classes + classes if settings.head == "linear" else dim * settings.hidden + settings.hidden + settings.hidden * classes + classes
        blocks = backbone.block_params()
        tuned = sum(n for _, n in blocks[len(blocks) - settings.finetune:]) if settings.finetune else 0
        return head + tuned, sum(n for _, n in blocks) - tuned

    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.project.features_dir, self.backbone().cache_key)

    # -- recording -------------------------------------------------------------------
    def start_recording(self, class_key: str) -> None:
        self.recording = self.project.get_class(class_key).id
        self._last_record = 0.0

    def stop_recording(self) -> None:
        self.recording = None

    def offer_frame(self, image: np.ndarray, now: float | None = None) -> bool:
        """While recording, store ``image`` (BGR) at ``record_rate``; True when a sample was added."""
        if self.recording is None or self.project is None:
            return False
        now = time.monotonic() if now is None else now
        if now - self._last_record < 1.0 / self.record_rate:
            return False
        self._last_record = now
        self.project.add_sample(self.recording, image)
        return True

    # -- jobs (background thread) ----------------------------------------------------
    def embed_job(self) -> Iterator[tuple[int, int]]:
        """Embed samples not cached yet (for the PCA view); returns the number embedded."""
        backbone = self.backbone()
        cache = self.cache()
        samples = self.project.samples()
        items = [(s.id, (lambda p=s: self.project.load_sample(p)), None) for s in samples]
        yield from compute(cache, backbone, items)
        return len(cache)

    def train_job(self, device: Any = "cpu"):
        """Train with the project's settings; on success the model is saved in the project."""
        project = self.project
        backbone = self.backbone()
        cache = EmbeddingCache(project.features_dir, backbone.cache_key)
        result = yield from train(dataset_from_project(project), backbone, project.train_settings, cache=cache, device=device)
        cache.prune({s.id for s in project.samples()})
        cache.save()
        save_model_dir(result.model, project.model_dir)
        return result

    def finish_training(self, result: TrainResult) -> None:
        """Adopt a finished job's result (GUI thread); the live task runs the new model."""
        self.result = result
        self.model = result.model
        self.task_changed.emit()

    def set_live_settings(self, smoothing: float, threshold: float) -> LiveSettings:
        """New live settings (a new snapshot for the running task); returns it."""
        self.live_settings = LiveSettings(smoothing, threshold)
        self.settings_changed.emit()
        return self.live_settings

    # -- views -----------------------------------------------------------------------
    def pca_points(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """2-D PCA of the cached embeddings: points float32 (N, 2), class index (N,), class names."""
        names = self.project.class_names()
        try:
            cache = self.cache()
        except BackboneWeightsMissingError:
            return np.zeros((0, 2), np.float32), np.zeros(0, int), names
        vectors, labels = [], []
        for index, info in enumerate(self.project.classes):
            for sid in info.samples:
                v = cache.get(sid)
                if v is not None:
                    vectors.append(v)
                    labels.append(index)
        if len(vectors) < 3:
            return np.zeros((0, 2), np.float32), np.zeros(0, int), names
        x = np.stack(vectors)
        x = (x - x.mean(0)) / (x.std(0) + 1e-6)
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        return (x @ vt[:2].T).astype(np.float32), np.array(labels), names

    def make_task(self) -> TeachTask | None:
        return TeachTask(self.model, self.live_settings) if self.model is not None else None

    def backbone_title(self) -> str:
        return backbone_spec(self.project.backbone).title
