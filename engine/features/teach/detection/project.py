"""A detector project on disk: a folder in the YOLO txt layout plus the trained model.

Layout (see ``labels`` for the YOLO files)::

    detector.json            the marker and the review state (written atomically):
                             {"format", "version", "unconfirmed": {picture id: [box index, ...]}}
    classes.txt              one class name per line, line i = class id i
    images/<picture id>.png  the pictures as captured (an imported JPEG keeps its suffix)
    labels/<picture id>.txt  their boxes, ``class cx cy w h`` normalised (written atomically)
    model/                   the last trained detector (a model folder)

The YOLO files are the truth: any labelling tool or trainer reads this folder as it is.
Only what YOLO cannot say lives in ``detector.json``: which boxes the tracker carried
from the previous picture and the user has not confirmed yet (``unconfirmed``).

Picture ids are exactly what this module generates (``p`` + 16 hex digits, the first 11
the capture time in milliseconds, so sorting by id is capture order), so each is one
plain path component. Opening refuses a project whose folders or files lead (through
links) outside it, and every file read, written or deleted later is checked the same
way first: a hostile project folder cannot make us read, write or delete outside it.
Methods are thread-safe (the GUI captures while a training job reads a snapshot).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from engine.core import paths
from engine.core.errors import UserError
from engine.features.teach import atomic
from engine.features.teach.detection import labels as yolo
from engine.features.teach.detection.labels import DetectionDataset, LabelledImage, LabelProblem, LabelReport
from engine.io.images import IMAGE_SUFFIXES, read_image

log = logging.getLogger(__name__)

FORMAT = "cnn-studio-teach-detector"
VERSION = 1
MARKER = "detector.json"
MAX_NAME = 60
_PICTURE_ID = re.compile(r"p[0-9a-f]{16}")
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f]")
#: What must stay inside the project (checked through links when it opens).
_PARTS = (MARKER, yolo.CLASSES_FILE, yolo.IMAGES, yolo.LABELS, "model")


class DetectorProjectError(UserError, ValueError):
    """Bad input for a detector project (a name, a picture id, a folder); says what to do."""


@dataclass(frozen=True)
class PictureInfo:
    """One picture of the project for the review strip.

    ``boxes``: how many boxes its label file holds; ``unconfirmed``: how many of them the
    tracker carried and the user has not confirmed.
    """

    id: str
    image_path: Path
    label_path: Path
    boxes: int
    unconfirmed: int


@dataclass(frozen=True)
class Picture:
    """A picture with its boxes: ``boxes`` (N, 4) float32 x1 y1 x2 y2 pixels (top-left
    origin), ``class_ids`` (N,) int64, ``unconfirmed`` the sorted indices of carried boxes
    the user has not confirmed."""

    id: str
    image_path: Path
    width: int
    height: int
    boxes: np.ndarray
    class_ids: np.ndarray
    unconfirmed: tuple[int, ...] = ()


@dataclass(frozen=True)
class ImportSummary:
    """What ``import_yolo`` did: pictures and boxes added, classes created, and the bad
    labels of the source folder (``report``, every kind named and counted)."""

    pictures: int
    boxes: int
    new_classes: tuple[str, ...]
    report: LabelReport

    def message(self) -> str:
        added = f"Imported {self.pictures} picture(s) with {self.boxes} box(es)"
        if self.new_classes:
            added += f"; new classes: {', '.join(self.new_classes)}"
        return added + (f". Bad labels: {self.report.summary()}" if self.report else ". No bad labels.")


def default_projects_dir() -> Path:
    """Where detector projects live: beside the classifier projects (``<data>/teach``)."""
    folder = paths.data_dir() / "teach-detectors"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def list_projects(folder: Path | None = None) -> list[Path]:
    """The detector project folders in ``folder`` (default: ``default_projects_dir()``),
    most recently changed first."""
    folder = default_projects_dir() if folder is None else Path(folder)
    found = [marker.parent for marker in folder.glob(f"*/{MARKER}") if marker.is_file()]
    return sorted(found, key=lambda p: (p / MARKER).stat().st_mtime, reverse=True)


def check_class_name(name: str) -> str:
    """``name`` with its spaces tidied, or DetectorProjectError saying why it cannot name a class."""
    clean = " ".join(str(name).split())
    if not clean:
        raise DetectorProjectError("a class name cannot be empty", "type a name")
    if len(clean) > MAX_NAME:
        raise DetectorProjectError(f"class name '{clean[:20]}…' is too long", f"use {MAX_NAME} characters at most")
    if _BAD_NAME.search(clean):
        raise DetectorProjectError(f"class name {clean!r} holds a control character", "use printable characters")
    return clean


def is_picture_id(value: object) -> bool:
    return isinstance(value, str) and _PICTURE_ID.fullmatch(value) is not None


_last_stamp = [0]
_stamp_lock = threading.Lock()


def _new_picture_id() -> str:
    """``p`` + 11 hex digits of milliseconds (strictly increasing in this process) + 5 random."""
    with _stamp_lock:
        stamp = max(int(time.time() * 1000), _last_stamp[0] + 1)
        _last_stamp[0] = stamp
    return f"p{stamp:011x}{uuid.uuid4().hex[:5]}"


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, links followed, lies in the folder ``root`` (already resolved)."""
    return path.resolve().is_relative_to(root)


class DetectorProject:
    """An open detector project: ``DetectorProject.create(folder, classes)`` or ``.open(folder)``."""

    def __init__(self, root: Path, classes: Sequence[str], unconfirmed: dict[str, tuple[int, ...]]) -> None:
        self.root = root
        self._real = root.resolve()
        self._lock = threading.RLock()
        self._classes = list(classes)
        self._unconfirmed = dict(unconfirmed)
        self._sizes: dict[str, tuple[int, int]] = {}

    # -- create / open ---------------------------------------------------------------
    @classmethod
    def create(cls, root: str | os.PathLike[str], classes: Sequence[str] = ("object",)) -> "DetectorProject":
        root = Path(root)
        if (root / MARKER).exists():
            raise DetectorProjectError(f"{root} already holds a detector project", "open it instead")
        names = [check_class_name(n) for n in classes]
        if not names:
            raise DetectorProjectError("a detector project needs at least one class", "name the first class")
        if len({n.casefold() for n in names}) != len(names):
            raise DetectorProjectError("two classes have the same name", "give every class its own name")
        root.mkdir(parents=True, exist_ok=True)
        project = cls(root, names, {})
        project._check_parts()
        for sub in (yolo.IMAGES, yolo.LABELS):
            (root / sub).mkdir(exist_ok=True)
        project._write_classes()
        project._save()
        return project

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> "DetectorProject":
        root = Path(root)
        marker = root / MARKER
        if not marker.is_file():
            raise DetectorProjectError(f"{root} is not a detector project (no {MARKER})",
                                       "create a detector project, or import a YOLO folder into one")
        project = cls(root, [], {})
        project._check_parts()  # before anything is read through a link
        import json

        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DetectorProjectError(f"{marker} cannot be read ({exc})",
                                       f"delete {marker} and import {root} as a YOLO folder") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DetectorProjectError(f"{marker} is not a detector project file", "choose another folder")
        version = data.get("version", 0)
        if not isinstance(version, int) or version > VERSION:
            raise DetectorProjectError(f"{root} was saved by a newer CNN Studio (version {version!r})",
                                       "update CNN Studio to open it")
        project._classes = list(yolo.read_classes(root / yolo.CLASSES_FILE))
        project._unconfirmed = _checked_unconfirmed(data.get("unconfirmed"), marker)
        for sub in (yolo.IMAGES, yolo.LABELS):
            atomic.remove_stale_temps(root / sub)
        return project

    def _check_parts(self) -> None:
        """DetectorProjectError when a part of the project leads (through a link) outside it."""
        for part in _PARTS:
            path = self.root / part
            if os.path.lexists(path) and not _inside(path, self._real):
                raise DetectorProjectError(
                    f"{path} leads outside the project {self.root} (to {path.resolve()})",
                    "move the files into the project folder instead of linking them; nothing was changed")

    def _safe(self, path: Path) -> Path:
        """``path`` when it (links followed) stays in the project, else DetectorProjectError."""
        if os.path.lexists(path) and not _inside(path, self._real):
            raise DetectorProjectError(f"{path} leads outside the project (to {path.resolve()})",
                                       "remove that link from the project folder")
        return path

    # -- persistence -----------------------------------------------------------------
    def _save(self) -> None:
        with self._lock:
            state = {k: list(v) for k, v in sorted(self._unconfirmed.items()) if v}
            atomic.write_json(self.root / MARKER, {"format": FORMAT, "version": VERSION, "unconfirmed": state})

    def _write_classes(self) -> None:
        text = "".join(f"{name}\n" for name in self._classes)
        atomic.write_bytes(self._safe(self.root / yolo.CLASSES_FILE), text.encode("utf-8"))

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def model_dir(self) -> Path:
        return self._safe(self.root / "model")

    def model_folder(self, name: str) -> Path:
        """``model/<name>`` (``name``: one plain folder name), refused when it leads outside."""
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise DetectorProjectError(f"{name!r} is not a plain folder name", "use letters, digits and spaces")
        return self._safe(self.model_dir / name)

    # -- classes ---------------------------------------------------------------------
    @property
    def classes(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._classes)

    def class_index(self, key: str | int) -> int:
        """The index of class ``key`` (its name or its index)."""
        with self._lock:
            if isinstance(key, (int, np.integer)) and 0 <= int(key) < len(self._classes):
                return int(key)
            for i, name in enumerate(self._classes):
                if isinstance(key, str) and name.casefold() == key.casefold():
                    return i
        raise DetectorProjectError(f"no class {key!r} in {self.name}", f"classes: {', '.join(self.classes)}")

    def _check_unique(self, name: str, except_index: int | None = None) -> None:
        for i, other in enumerate(self._classes):
            if i != except_index and other.casefold() == name.casefold():
                raise DetectorProjectError(f"there is already a class called '{other}'", "choose another name")

    def add_class(self, name: str) -> int:
        """Append class ``name``; returns its index."""
        clean = check_class_name(name)
        with self._lock:
            if len(self._classes) >= yolo.MAX_CLASSES:
                raise DetectorProjectError(f"a project has at most {yolo.MAX_CLASSES} classes", "remove one first")
            self._check_unique(clean)
            self._classes.append(clean)
            self._write_classes()
            return len(self._classes) - 1

    def rename_class(self, key: str | int, new_name: str) -> str:
        clean = check_class_name(new_name)
        with self._lock:
            index = self.class_index(key)
            self._check_unique(clean, except_index=index)
            self._classes[index] = clean
            self._write_classes()
            return clean

    def boxes_of_class(self, key: str | int) -> int:
        """How many boxes of class ``key`` the pictures hold."""
        index = self.class_index(key)
        return sum(int(np.count_nonzero(p.class_ids == index)) for p in self._all_pictures())

    def remove_class(self, key: str | int, *, confirm_boxes: int | None = None) -> int:
        """Remove class ``key``; its boxes go and the later classes move up one id.

        When the class has boxes, ``confirm_boxes`` must be that number (what the user was
        told: ``boxes_of_class``), else DetectorProjectError saying how many would go.
        Returns how many boxes were removed.
        """
        with self._lock:
            index = self.class_index(key)
            name = self._classes[index]
            if len(self._classes) == 1:
                raise DetectorProjectError(f"'{name}' is the only class", "add another class before removing this one")
            pictures = self._all_pictures()
            count = sum(int(np.count_nonzero(p.class_ids == index)) for p in pictures)
            if count and confirm_boxes != count:
                raise DetectorProjectError(f"removing '{name}' would delete its {count} box(es)",
                                           f"confirm that {count} box(es) may go")
            for picture in pictures:
                keep = picture.class_ids != index
                if keep.all() and not (picture.class_ids > index).any():
                    continue
                ids = picture.class_ids[keep]
                ids = np.where(ids > index, ids - 1, ids)
                old_to_new = np.cumsum(keep) - 1
                unconfirmed = tuple(int(old_to_new[i]) for i in picture.unconfirmed if keep[i])
                self._write_boxes(picture, picture.boxes[keep], ids, unconfirmed)
            del self._classes[index]
            self._write_classes()
            self._save()
            return count

    # -- pictures --------------------------------------------------------------------
    def _picture_paths(self, picture_id: str) -> tuple[Path, Path]:
        """(image, label) paths of ``picture_id``; DetectorProjectError for an id this
        module would not generate, for a missing picture, or for a link out of the project."""
        if not is_picture_id(picture_id):
            raise DetectorProjectError(f"{str(picture_id)[:40]!r} is not a picture id of {self.name}",
                                       "pick a picture from the list")
        images = self.root / yolo.IMAGES
        found = [images / f"{picture_id}{s}" for s in _SUFFIXES if (images / f"{picture_id}{s}").is_file()]
        if not found:
            raise DetectorProjectError(f"no picture {picture_id} in {self.name}", "it was deleted; pick another")
        return self._safe(found[0]), self._safe(self.root / yolo.LABELS / f"{picture_id}.txt")

    def picture_ids(self) -> list[str]:
        """Every picture's id, in capture order (links out of the project are skipped)."""
        images = self.root / yolo.IMAGES
        if not images.is_dir():
            return []
        ids = {p.stem for p in images.iterdir() if is_picture_id(p.stem) and p.suffix in _SUFFIXES
               and p.is_file() and _inside(p, self._real)}
        return sorted(ids)

    def _size(self, picture_id: str, image_path: Path) -> tuple[int, int]:
        size = self._sizes.get(picture_id)
        if size is None:
            size = self._sizes[picture_id] = yolo.image_size(image_path)
        return size

    def picture(self, picture_id: str, problems: list[LabelProblem] | None = None) -> Picture:
        """The picture and its boxes (a label file's bad lines are dropped and appended to
        ``problems``; a missing label file is no boxes)."""
        with self._lock:
            image_path, label_path = self._picture_paths(picture_id)
            width, height = self._size(picture_id, image_path)
            text = ""
            if label_path.is_file() and label_path.stat().st_size <= yolo.MAX_LABEL_BYTES:
                text = label_path.read_text(encoding="utf-8", errors="replace")
            boxes, ids = yolo.parse_label_text(text, width, height, len(self._classes), label_path,
                                               problems if problems is not None else [])
            unconfirmed = tuple(i for i in self._unconfirmed.get(picture_id, ()) if i < len(boxes))
            return Picture(picture_id, image_path, width, height, boxes, ids, unconfirmed)

    def _all_pictures(self) -> list[Picture]:
        out = []
        for pid in self.picture_ids():
            try:
                out.append(self.picture(pid))
            except UserError as exc:  # a damaged picture: left out here, named by dataset()
                log.warning("%s", exc)
        return out

    def pictures(self) -> list[PictureInfo]:
        """Every picture with its box counts, in capture order (for the review strip)."""
        infos = []
        with self._lock:
            for pid in self.picture_ids():
                try:
                    p = self.picture(pid)
                except UserError as exc:
                    log.warning("%s", exc)
                    continue
                infos.append(PictureInfo(pid, p.image_path, self.root / yolo.LABELS / f"{pid}.txt", len(p.boxes),
                                         len(p.unconfirmed)))
        return infos

    def load_image(self, picture_id: str) -> np.ndarray:
        """The picture, uint8 BGR (H, W, 3)."""
        image_path, _ = self._picture_paths(picture_id)
        return read_image(image_path)

    def add_frame(self, image: np.ndarray, boxes: np.ndarray | None = None, class_ids: np.ndarray | None = None,
                  unconfirmed: Sequence[int] = ()) -> Picture:
        """Store ``image`` (uint8 BGR (H, W, 3)) as a new PNG picture with ``boxes`` (N, 4)
        pixels (none: a background picture until boxes are drawn)."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise DetectorProjectError("a picture must be a uint8 BGR image of shape (H, W, 3)", "pass a video frame")
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image))
        if not ok:
            raise DetectorProjectError("the frame could not be encoded as PNG", "try another frame")
        return self._add(encoded.tobytes(), ".png", (image.shape[1], image.shape[0]), boxes, class_ids, unconfirmed)

    def _add(self, data: bytes, suffix: str, size: tuple[int, int], boxes, class_ids, unconfirmed) -> Picture:
        with self._lock:
            pid = _new_picture_id()
            images = self._safe(self.root / yolo.IMAGES)
            image_path = atomic.write_bytes(images / f"{pid}{suffix}", data)
            self._sizes[pid] = size
            picture = Picture(pid, image_path, size[0], size[1], np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
            boxes = np.zeros((0, 4), np.float32) if boxes is None else boxes
            class_ids = np.zeros(0, np.int64) if class_ids is None else class_ids
            return self._set(picture, boxes, class_ids, unconfirmed)

    def set_boxes(self, picture_id: str, boxes: np.ndarray, class_ids: np.ndarray,
                  unconfirmed: Sequence[int] = ()) -> Picture:
        """Replace the boxes of a picture: ``boxes`` (N, 4) x1 y1 x2 y2 pixels (clipped to the
        picture; boxes under 1 pixel wide or high are dropped), ``class_ids`` (N,);
        ``unconfirmed``: indices of carried boxes the user has not confirmed yet."""
        with self._lock:
            return self._set(self.picture(picture_id), boxes, class_ids, unconfirmed)

    def _set(self, picture: Picture, boxes, class_ids, unconfirmed) -> Picture:
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        ids = np.asarray(class_ids, np.int64).reshape(-1)
        if len(boxes) != len(ids):
            raise DetectorProjectError(f"{len(boxes)} boxes but {len(ids)} class ids", "give one class per box")
        if not np.isfinite(boxes).all():
            raise DetectorProjectError("a box has a coordinate that is not a finite number", "draw the box again")
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self._classes)):
            raise DetectorProjectError(f"class id {int(ids.max())} is not one of the {len(self._classes)} classes",
                                       "pick a class from the list")
        x1, x2 = np.minimum(boxes[:, 0], boxes[:, 2]), np.maximum(boxes[:, 0], boxes[:, 2])
        y1, y2 = np.minimum(boxes[:, 1], boxes[:, 3]), np.maximum(boxes[:, 1], boxes[:, 3])
        boxes = np.stack([np.clip(x1, 0, picture.width), np.clip(y1, 0, picture.height),
                          np.clip(x2, 0, picture.width), np.clip(y2, 0, picture.height)], 1).reshape(-1, 4)
        keep = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
        old_to_new = np.cumsum(keep) - 1
        flagged = tuple(sorted({int(old_to_new[i]) for i in unconfirmed if 0 <= i < len(keep) and keep[i]}))
        return self._write_boxes(picture, boxes[keep], ids[keep], flagged)

    def _write_boxes(self, picture: Picture, boxes: np.ndarray, ids: np.ndarray, unconfirmed: tuple[int, ...]) -> Picture:
        label_path = self._safe(self.root / yolo.LABELS / f"{picture.id}.txt")
        yolo.write_labels(label_path, boxes, ids, picture.width, picture.height)
        if unconfirmed or picture.id in self._unconfirmed:
            if unconfirmed:
                self._unconfirmed[picture.id] = unconfirmed
            else:
                self._unconfirmed.pop(picture.id, None)
            self._save()
        return Picture(picture.id, picture.image_path, picture.width, picture.height, boxes.astype(np.float32),
                       ids.astype(np.int64), unconfirmed)

    def confirm(self, picture_id: str, indices: Sequence[int] | None = None) -> Picture:
        """Mark carried boxes as confirmed (``indices``; None: all of the picture's)."""
        with self._lock:
            p = self.picture(picture_id)
            left = () if indices is None else tuple(i for i in p.unconfirmed if i not in set(indices))
            return self._write_boxes(p, p.boxes, p.class_ids, left)

    def delete_picture(self, picture_id: str) -> None:
        """Delete the picture and its label file (review state first, so a crash leaves a
        picture without review flags rather than flags without a picture)."""
        with self._lock:
            image_path, label_path = self._picture_paths(picture_id)
            if self._unconfirmed.pop(picture_id, None) is not None:
                self._save()
            label_path.unlink(missing_ok=True)  # a link is removed itself, never what it points to
            image_path.unlink(missing_ok=True)
            self._sizes.pop(picture_id, None)

    # -- the whole data set ------------------------------------------------------------
    def dataset(self) -> DetectionDataset:
        """The labelled pictures for training (bad label lines named in ``report``)."""
        problems: list[LabelProblem] = []
        images = []
        for pid in self.picture_ids():
            try:
                p = self.picture(pid, problems)
            except UserError as exc:
                problems.append(LabelProblem(yolo.UNREADABLE, self.root / yolo.IMAGES / pid, None, exc.what))
                continue
            images.append(LabelledImage(p.image_path, p.width, p.height, p.boxes, p.class_ids))
        return DetectionDataset(self.classes, tuple(images), LabelReport(tuple(problems)), self.root)

    def import_yolo_job(self, folder: str | os.PathLike[str]) -> Iterator[tuple[int, int]]:
        """Import a YOLO-layout folder; yields (done, total), returns an ``ImportSummary``.

        Its classes are matched to the project's by name (new ones are added); bad labels
        are counted in the summary, never fatal. Raises only when there is nothing to read
        (no classes.txt, no images/ folder).
        """
        source = Path(folder)
        if source.resolve() == self._real:
            raise DetectorProjectError(f"{source} is this project", "import another folder")
        dataset = yolo.read_yolo_dataset(source)
        new = [n for n in dict.fromkeys(check_class_name(c) for c in dataset.classes)
               if n.casefold() not in {c.casefold() for c in self.classes}]
        for name in new:
            self.add_class(name)
        mapping = np.array([self.class_index(check_class_name(c)) for c in dataset.classes] or [0], np.int64)
        boxes = 0
        for done, item in enumerate(dataset.images, 1):
            suffix = item.image_path.suffix.lower()
            self._add(item.image_path.read_bytes(), suffix if suffix in _SUFFIXES else ".png",
                      (item.width, item.height), item.boxes, mapping[item.class_ids], ())
            boxes += len(item.boxes)
            yield done, len(dataset.images)
        for problem in dataset.report.problems:
            log.info("import: %s", problem)
        return ImportSummary(len(dataset.images), boxes, tuple(new), dataset.report)

    def import_yolo(self, folder: str | os.PathLike[str]) -> ImportSummary:
        job = self.import_yolo_job(folder)
        while True:
            try:
                next(job)
            except StopIteration as stop:
                return stop.value

    def export_yolo(self, folder: str | os.PathLike[str]) -> Path:
        """Write the project's pictures and labels to ``folder`` in the YOLO layout (a plain
        copy any trainer reads); refused inside the project itself."""
        from engine.core.safe_files import check_output

        target = check_output(folder, option="the export folder", kind="folder",
                              keep_out_of=[(self.root, "the detector project")], make_parents=True)
        return yolo.write_yolo_dataset(self.dataset(), target)

    def clear_model(self) -> None:
        """Remove the saved model folder (before a new one is saved)."""
        folder = self.model_dir
        if folder.is_symlink():
            folder.unlink()
        elif folder.is_dir():
            shutil.rmtree(folder)


#: Suffixes a picture file may have (an imported picture keeps its own).
_SUFFIXES = tuple(sorted(IMAGE_SUFFIXES))


def _checked_unconfirmed(value: object, marker: Path) -> dict[str, tuple[int, ...]]:
    """The review state of ``detector.json``; entries that are not a picture id and a list
    of box indices are dropped (and logged): review flags are a hint, not data."""
    out: dict[str, tuple[int, ...]] = {}
    if not isinstance(value, dict):
        if value is not None:
            log.warning("%s: 'unconfirmed' is not an object; review flags cleared", marker)
        return out
    for key, indices in value.items():
        if is_picture_id(key) and isinstance(indices, list) and all(isinstance(i, int) and 0 <= i < 100000 for i in indices):
            out[key] = tuple(sorted(set(indices)))
        else:
            log.warning("%s: review flags of %r dropped (not a picture id with box indices)", marker, str(key)[:40])
    return out
