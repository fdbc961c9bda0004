"""A Teach project on disk: named classes, their samples, the backbone and the settings.

Layout of a project folder::

    project.json                       the index (written atomically, see engine.features.teach.atomic)
    samples/<class id>/<sample id>.png the images as captured (uint8 BGR on load)
    features/<backbone key>.npz        cached embeddings (re-creatable)
    model/                             the last trained classifier (a model dir, engine.features.teach.model)

Class ids never change, so renaming a class moves no file. Ids are exactly what this
module generates (``c`` + 8 hex digits, ``s`` + 12 hex digits), so each is one plain path
component; an index whose ids, names or folders would reach outside the project is refused
as a whole before anything on disk is touched. A sample file is written
(atomically) before the index lists it; a PNG the index does not list — left by a
process killed between the two writes — is adopted again when the project opens, so
nothing the user recorded is lost. Methods are thread-safe (the GUI records samples
while a training job reads a snapshot).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from engine.core import paths
from engine.core.errors import SourceError, UserError
from engine.features.teach import atomic
from engine.features.teach.backbone_specs import DEFAULT_BACKBONE
from engine.features.teach.backbones import backbone_spec
from engine.features.teach.settings import TrainSettings
from engine.io.images import IMAGE_SUFFIXES, read_image

log = logging.getLogger(__name__)

FORMAT = "cnn-studio-teach-project"
VERSION = 1
MAX_CLASSES = 20
MIN_CLASSES = 2
_BAD_NAME = re.compile(r'[/\\:*?"<>|\x00-\x1f]')
_CLASS_ID = re.compile(r"c[0-9a-f]{8}")
_SAMPLE_ID = re.compile(r"s[0-9a-f]{12}")
#: The folders of a project that must stay inside it (checked through links when it opens).
_SUBFOLDERS = ("samples", "features", "model")


class ProjectError(UserError, ValueError):
    """Bad input for a project (a name, a file, a folder); the message says what to do."""


@dataclass(frozen=True)
class Sample:
    """One image of a class. path: its PNG file."""

    id: str
    class_id: str
    path: Path


@dataclass(frozen=True)
class ClassInfo:
    """A class: stable id, display name, sample ids in recording order."""

    id: str
    name: str
    samples: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportReport:
    """What ``import_folder`` did: samples added per class name, files skipped with the reason."""

    added: dict[str, int] = field(default_factory=dict)
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def total(self) -> int:
        return sum(self.added.values())


def default_projects_dir() -> Path:
    folder = paths.data_dir() / "teach"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_class_name(name: str) -> str:
    """``name`` stripped, or ProjectError saying why it cannot name a class (and a folder)."""
    clean = " ".join(str(name).split())
    if not clean:
        raise ProjectError("a class name cannot be empty")
    if len(clean) > 60:
        raise ProjectError(f"class name '{clean[:20]}…' is too long (60 characters at most)")
    if _BAD_NAME.search(clean) or clean in (".", ".."):
        raise ProjectError(f"class name '{clean}' cannot contain / \\ : * ? \" < > | (it also names a folder on export)")
    return clean


def _is_class_id(value: object) -> bool:
    return isinstance(value, str) and _CLASS_ID.fullmatch(value) is not None


def _is_sample_id(value: object) -> bool:
    return isinstance(value, str) and _SAMPLE_ID.fullmatch(value) is not None


def _shown(value: object) -> str:
    """``value`` for a message: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, links followed, lies in the folder ``root`` (already resolved)."""
    return path.resolve().is_relative_to(root)


def _checked_classes(root: Path, data: dict) -> list[ClassInfo]:
    """The classes of index ``data`` of project ``root``; ProjectError naming the bad value.

    Reads the disk (to follow links) but changes nothing on it.
    """
    index = root / "project.json"
    entries = data.get("classes")
    if not isinstance(entries, list):
        raise ProjectError(f"{index} is not a Teach project index (no list of classes)")
    what_to_do = "fix or remove that entry in project.json; the project was not opened and nothing was changed"
    classes: list[ClassInfo] = []
    seen_ids: set[str] = set()
    seen_names: set[str] = set()
    seen_samples: set[str] = set()
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise ProjectError(f"{index}: class {number} is {_shown(entry)}, not an object with an id and a name; "
                               f"{what_to_do}")
        class_id, name, samples = entry.get("id"), entry.get("name"), entry.get("samples", [])
        if not _is_class_id(class_id):
            raise ProjectError(f"{index}: class {number} has the id {_shown(class_id)}, not one CNN Studio writes "
                               f"('c' and 8 hex digits); {what_to_do}")
        if class_id in seen_ids:
            raise ProjectError(f"{index}: the class id {_shown(class_id)} is used twice; {what_to_do}")
        try:
            clean = check_class_name(name) if isinstance(name, str) else None
        except ProjectError as exc:
            raise ProjectError(f"{index}: class {class_id} has the name {_shown(name)}: {exc}; {what_to_do}") from None
        if clean is None:
            raise ProjectError(f"{index}: class {class_id} has the name {_shown(name)}, not a text; {what_to_do}")
        if clean.casefold() in seen_names:
            raise ProjectError(f"{index}: the class name {_shown(clean)} is used twice; {what_to_do}")
        if not isinstance(samples, list):
            raise ProjectError(f"{index}: the samples of class {class_id} are {_shown(samples)}, not a list; {what_to_do}")
        for sample_id in samples:
            if not _is_sample_id(sample_id):
                raise ProjectError(f"{index}: class {class_id} lists the sample {_shown(sample_id)}, not a sample id "
                                   f"CNN Studio writes ('s' and 12 hex digits); {what_to_do}")
            if sample_id in seen_samples:
                raise ProjectError(f"{index}: the sample {sample_id} is listed twice; {what_to_do}")
            seen_samples.add(sample_id)
        seen_ids.add(class_id)
        seen_names.add(clean.casefold())
        classes.append(ClassInfo(class_id, clean, tuple(samples)))
    real_root = root.resolve()
    folders = [root / sub for sub in _SUBFOLDERS] + [root / "samples" / c.id for c in classes]
    files = [root / "samples" / c.id / f"{s}.png" for c in classes for s in c.samples]
    for path in folders + files:
        if os.path.lexists(path) and not _inside(path, real_root):
            raise ProjectError(f"{index}: {path} leads outside the project (to {path.resolve()}); move the files "
                               "into the project folder instead of linking them. The project was not opened and "
                               "nothing was changed")
    return classes


class Project:
    """An open project folder. ``Project.create(folder)`` or ``Project.open(folder)``.

    ``notice`` is a line for the user when opening repaired something (adopted or
    missing samples), else None.
    """

    def __init__(self, root: Path, data: dict, notice: str | None = None) -> None:
        """``data``: the parsed project.json; ProjectError naming the value when it is not valid."""
        self.root = root
        self._lock = threading.RLock()
        self._classes: list[ClassInfo] = _checked_classes(root, data)
        index = root / "project.json"
        backbone = data.get("backbone", DEFAULT_BACKBONE)
        try:
            backbone_spec(backbone)
            self.train_settings = TrainSettings.from_json(data.get("train"))
        except (ValueError, TypeError, KeyError) as exc:
            raise ProjectError(f"{index}: {exc}; fix that value in project.json (the project was not opened)") from None
        self.backbone: str = backbone
        self.untrained: bool = bool(data.get("untrained", False))
        self.notice = notice

    # -- create / open ---------------------------------------------------------------
    @classmethod
    def create(cls, root: str | os.PathLike[str], classes: tuple[str, ...] = ("Class 1", "Class 2"),
               backbone: str = DEFAULT_BACKBONE, untrained: bool = False) -> "Project":
        root = Path(root)
        if (root / "project.json").exists():
            raise ProjectError(f"{root} already holds a project: open it instead")
        backbone_spec(backbone)
        root.mkdir(parents=True, exist_ok=True)
        project = cls(root, {"classes": [], "backbone": backbone, "untrained": untrained})
        for name in classes:
            project.add_class(name)
        project.save()
        return project

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> "Project":
        root = Path(root)
        index = root / "project.json"
        if not index.is_file():
            raise ProjectError(f"{root} is not a Teach project (no project.json): create a project or choose another folder")
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProjectError(f"{index} cannot be read ({exc}); the samples under {root / 'samples'} are untouched") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("classes"), list):
            raise ProjectError(f"{index} is not a Teach project index")
        version = data.get("version", 0)
        if not isinstance(version, int):
            raise ProjectError(f"{index}: the version {_shown(version)} is not a whole number; fix it in project.json")
        if version > VERSION:
            raise ProjectError(f"{root} was saved by a newer CNN Studio (project version {data.get('version')}, "
                               f"this one reads {VERSION}): update CNN Studio to open it")
        project = cls(root, data)  # checks the index before anything is cleaned up or repaired
        atomic.remove_stale_temps(root)
        project.notice = project._repair()
        if project.notice:
            log.warning("%s: %s", root, project.notice)
            project.save()
        return project

    def _repair(self) -> str | None:
        """Adopt sample files the index missed; drop entries whose file is gone."""
        adopted = missing = 0
        real_root = self.root.resolve()
        with self._lock:
            fixed = []
            for info in self._classes:
                folder = self._class_folder(info.id)
                atomic.remove_stale_temps(folder)
                # Only files named like our samples, and not links out of the project, are adopted;
                # anything else is left alone.
                on_disk = ({p.stem for p in folder.glob("*.png") if _is_sample_id(p.stem) and _inside(p, real_root)}
                           if folder.is_dir() else set())
                kept = tuple(s for s in info.samples if s in on_disk)
                missing += len(info.samples) - len(kept)
                extra = sorted(on_disk - set(kept), key=lambda s: (folder / f"{s}.png").stat().st_mtime)
                adopted += len(extra)
                fixed.append(replace(info, samples=kept + tuple(extra)))
            self._classes = fixed
        parts = []
        if adopted:
            parts.append(f"{adopted} sample(s) saved just before the app stopped were added back")
        if missing:
            parts.append(f"{missing} sample(s) whose files are gone were removed from the index")
        return "; ".join(parts) or None

    # -- persistence -----------------------------------------------------------------
    def to_json(self) -> dict:
        with self._lock:
            return {
                "format": FORMAT,
                "version": VERSION,
                "backbone": self.backbone,
                "untrained": self.untrained,
                "train": self.train_settings.to_json(),
                "classes": [{"id": c.id, "name": c.name, "samples": list(c.samples)} for c in self._classes],
            }

    def save(self) -> None:
        """Write the index atomically (sample files are written as they are added)."""
        with self._lock:
            atomic.write_json(self.root / "project.json", self.to_json())

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    # -- classes ---------------------------------------------------------------------
    @property
    def classes(self) -> list[ClassInfo]:
        with self._lock:
            return list(self._classes)

    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def get_class(self, key: str) -> ClassInfo:
        """The class with id or name ``key``."""
        with self._lock:
            for info in self._classes:
                if key in (info.id, info.name):
                    return info
        raise ProjectError(f"no class '{key}' in project {self.name} (classes: {', '.join(self.class_names()) or 'none'})")

    def _check_unique(self, name: str, except_id: str | None = None) -> None:
        for info in self._classes:
            if info.id != except_id and info.name.casefold() == name.casefold():
                raise ProjectError(f"there is already a class called '{info.name}'")

    def add_class(self, name: str) -> ClassInfo:
        clean = check_class_name(name)
        with self._lock:
            if len(self._classes) >= MAX_CLASSES:
                raise ProjectError(f"a project has at most {MAX_CLASSES} classes: delete one first")
            self._check_unique(clean)
            info = ClassInfo(f"c{uuid.uuid4().hex[:8]}", clean)
            self._classes.append(info)
            self.save()
            return info

    def rename_class(self, key: str, new_name: str) -> ClassInfo:
        clean = check_class_name(new_name)
        with self._lock:
            info = self.get_class(key)
            self._check_unique(clean, except_id=info.id)
            renamed = replace(info, name=clean)
            self._classes = [renamed if c.id == info.id else c for c in self._classes]
            self.save()
            return renamed

    def delete_class(self, key: str) -> None:
        """Remove the class and its samples (index first, so a crash leaves no half class)."""
        with self._lock:
            info = self.get_class(key)
            folder = self._class_folder(info.id)
            self._classes = [c for c in self._classes if c.id != info.id]
            self.save()
            shutil.rmtree(folder, ignore_errors=True)

    # -- samples ---------------------------------------------------------------------
    def _class_folder(self, class_id: str) -> Path:
        """``samples/<class_id>``; ProjectError for an id this module would not generate."""
        if not _is_class_id(class_id):
            raise ProjectError(f"{_shown(class_id)} is not a class id of project {self.name}")
        return self.root / "samples" / class_id

    def sample_path(self, class_id: str, sample_id: str) -> Path:
        """``samples/<class_id>/<sample_id>.png``; ProjectError when either id could leave that folder."""
        if not _is_sample_id(sample_id):
            raise ProjectError(f"{_shown(sample_id)} is not a sample id of project {self.name}")
        return self._class_folder(class_id) / f"{sample_id}.png"

    def samples(self, key: str | None = None) -> list[Sample]:
        """Samples of class ``key`` (id or name), or of every class, in order."""
        with self._lock:
            infos = [self.get_class(key)] if key is not None else list(self._classes)
            return [Sample(s, c.id, self.sample_path(c.id, s)) for c in infos for s in c.samples]

    def counts(self) -> dict[str, int]:
        """Samples per class name."""
        return {c.name: len(c.samples) for c in self.classes}

    def add_sample(self, key: str, image: np.ndarray) -> Sample:
        """Store ``image`` (uint8 BGR (H, W, 3)) as a new PNG sample of class ``key``."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ProjectError("a sample must be a uint8 BGR image of shape (H, W, 3)")
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image))
        if not ok:
            raise ProjectError("the image could not be encoded as PNG")
        with self._lock:
            info = self.get_class(key)
            sample_id = f"s{uuid.uuid4().hex[:12]}"
            path = atomic.write_bytes(self.sample_path(info.id, sample_id), encoded.tobytes())
            self._classes = [replace(c, samples=c.samples + (sample_id,)) if c.id == info.id else c for c in self._classes]
            self.save()
            return Sample(sample_id, info.id, path)

    def add_files(self, key: str, files: list[str | os.PathLike[str]]) -> ImportReport:
        """Add image files to class ``key``; files that are not images are skipped with the reason."""
        name = self.get_class(key).name
        added, skipped = 0, []
        for file in files:
            try:
                image = read_image(file)
            except SourceError as exc:
                skipped.append((str(file), str(exc)))
                continue
            self.add_sample(key, image)
            added += 1
        return ImportReport({name: added}, tuple(skipped))

    def delete_sample(self, sample_id: str) -> None:
        with self._lock:
            for info in self._classes:
                if sample_id in info.samples:
                    self._classes = [replace(c, samples=tuple(s for s in c.samples if s != sample_id)) if c.id == info.id else c
                                     for c in self._classes]
                    self.save()
                    self.sample_path(info.id, sample_id).unlink(missing_ok=True)
                    return
        raise ProjectError(f"no sample '{sample_id}' in project {self.name}")

    def load_sample(self, sample: Sample) -> np.ndarray:
        """The sample's image, uint8 BGR; SourceError naming the file when it is damaged."""
        return read_image(sample.path)

    # -- settings --------------------------------------------------------------------
    def set_backbone(self, name: str, untrained: bool) -> None:
        backbone_spec(name)
        with self._lock:
            self.backbone, self.untrained = name, bool(untrained)
            self.save()

    def set_train_settings(self, settings: TrainSettings) -> None:
        with self._lock:
            self.train_settings = settings
            self.save()

    # -- ImageFolder layout ----------------------------------------------------------
    def import_folder_job(self, folder: str | os.PathLike[str]) -> Iterator[tuple[int, int]]:
        """Import ``folder/<class name>/<image>`` (ImageFolder layout); yields (done, total).

        Classes are created as needed; files that are not images (or are damaged) are
        skipped and reported in the returned ImportReport.
        """
        root = Path(folder)
        if not root.is_dir():
            raise ProjectError(f"{root} is not a folder: give a folder with one sub-folder of images per class")
        class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not class_dirs:
            raise ProjectError(f"{root} has no class sub-folders: put each class's images in a folder named after the class")
        if len(class_dirs) + sum(1 for c in self.classes if c.name not in {d.name for d in class_dirs}) > MAX_CLASSES:
            raise ProjectError(f"{root} has {len(class_dirs)} class folders; a project has at most {MAX_CLASSES} classes")
        jobs = [(d, f) for d in class_dirs for f in sorted(d.iterdir()) if f.is_file() and not f.name.startswith(".")]
        added: dict[str, int] = {}
        skipped: list[tuple[str, str]] = []
        for done, (class_dir, file) in enumerate(jobs, 1):
            name = check_class_name(class_dir.name)
            try:
                self.get_class(name)
            except ProjectError:
                self.add_class(name)
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append((str(file), f"{file}: not an image file (expected {', '.join(sorted(IMAGE_SUFFIXES))})"))
            else:
                try:
                    self.add_sample(name, read_image(file))
                    added[name] = added.get(name, 0) + 1
                except SourceError as exc:
                    skipped.append((str(file), str(exc)))
            yield done, len(jobs)
        for file, reason in skipped:
            log.warning("import skipped %s", reason)
        return ImportReport(added, tuple(skipped))

    def import_folder(self, folder: str | os.PathLike[str]) -> ImportReport:
        job = self.import_folder_job(folder)
        while True:
            try:
                next(job)
            except StopIteration as stop:
                return stop.value

    def export_folder(self, folder: str | os.PathLike[str]) -> int:
        """Write every sample as ``folder/<class name>/<sample id>.png``; returns the count.

        ProjectError, before anything is written, when a class name is not a plain folder
        name or its folder would lead (through a link) outside ``folder``.
        """
        target = Path(folder)
        real_target = target.resolve()
        classes = self.classes
        for info in classes:
            try:
                safe = check_class_name(info.name) == info.name
            except ProjectError:
                safe = False
            out = target / info.name
            if not safe or out.resolve().parent != real_target:
                raise ProjectError(f"cannot export class {_shown(info.name)}: its folder would not be a plain folder "
                                   f"inside {target}; rename the class (nothing was exported)")
        count = 0
        for info in classes:
            out = target / info.name
            out.mkdir(parents=True, exist_ok=True)
            for sample_id in info.samples:
                src = self.sample_path(info.id, sample_id)
                if src.is_file():
                    shutil.copyfile(src, out / src.name)
                    count += 1
        return count
