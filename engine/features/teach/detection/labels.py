"""Labelled pictures for a detector, in the YOLO txt layout every labelling tool and
trainer reads::

    DATA/classes.txt            one class name per line, line i = class id i
    DATA/images/<rel>.<ext>     the pictures (any folder depth below images/)
    DATA/labels/<rel>.txt       one line per box: ``class cx cy w h``, the centre and size
                                normalised by the picture's width and height (0..1)

In memory a box is ``(x1, y1, x2, y2)`` in pixels of the picture as stored: origin at
the top-left corner, x to the right, y down, x2/y2 exclusive edges (a box of width w
covers x1 <= x < x1 + w), float32.

Bad labels are named and counted, never fatal (``LabelReport``): a class id beyond
classes.txt or a malformed line drops that box, a box reaching outside the picture is
clipped to it, a box of zero size (after clipping) is dropped, an empty label file makes
the picture a background picture (no objects: it teaches what is not an object), a
picture without a label file is left out (it is unlabelled, not empty), a label file
without a picture and a picture that cannot be read are left out.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from engine.core.errors import NotFound, UserError
from engine.io.images import IMAGE_SUFFIXES

CLASSES_FILE = "classes.txt"
IMAGES = "images"
LABELS = "labels"
MAX_CLASSES = 1000
#: Largest label file read (bytes): a picture with this many boxes is not a real label.
MAX_LABEL_BYTES = 4 * 1024 * 1024

# Problem kinds, in the order the summary lists them. Each names what was done about it.
BAD_CLASS = "class id beyond classes.txt (box dropped)"
MALFORMED = "malformed line (box dropped)"
OUTSIDE = "box outside the picture (clipped)"
ZERO_SIZE = "box of zero size (dropped)"
EMPTY_FILE = "empty label file (used as a background picture)"
NO_LABELS = "picture without a label file (left out)"
NO_IMAGE = "label file without a picture (left out)"
UNREADABLE = "picture that cannot be read (left out)"
KINDS = (BAD_CLASS, MALFORMED, OUTSIDE, ZERO_SIZE, EMPTY_FILE, NO_LABELS, NO_IMAGE, UNREADABLE)


class LabelsError(UserError, ValueError):
    """A dataset that cannot be used at all (no classes.txt, no images folder)."""


@dataclass(frozen=True)
class LabelProblem:
    """One bad label. ``path``: the file; ``line``: 1-based line in a label file or None."""

    kind: str
    path: Path
    line: int | None = None
    detail: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class LabelReport:
    """Every problem found while reading a dataset, in file order."""

    problems: tuple[LabelProblem, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Problem kind -> how many, for the kinds that occurred (in ``KINDS`` order)."""
        found = Counter(p.kind for p in self.problems)
        return {kind: found[kind] for kind in KINDS if found[kind]}

    def summary(self) -> str:
        """One line, e.g. ``"2 box outside the picture (clipped), 1 empty label file ..."``;
        ``"no problems"`` when there are none."""
        counts = self.counts
        return ", ".join(f"{n} {kind}" for kind, n in counts.items()) if counts else "no problems"

    def __bool__(self) -> bool:
        return bool(self.problems)


@dataclass(frozen=True)
class LabelledImage:
    """One picture and its boxes.

    ``boxes``: (N, 4) float32 ``x1, y1, x2, y2`` in pixels (see the module docstring);
    ``class_ids``: (N,) int64 indices into the dataset's classes; ``width``/``height``:
    the picture's size in pixels. N may be 0 (a background picture).
    """

    image_path: Path
    width: int
    height: int
    boxes: np.ndarray
    class_ids: np.ndarray

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        ids = np.asarray(self.class_ids, np.int64).reshape(-1)
        if len(boxes) != len(ids):
            raise ValueError(f"{len(boxes)} boxes but {len(ids)} class ids")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "class_ids", ids)


@dataclass(frozen=True)
class DetectionDataset:
    """Class names (index = class id), the labelled pictures, and what was wrong on reading."""

    classes: tuple[str, ...]
    images: tuple[LabelledImage, ...]
    report: LabelReport = field(default_factory=LabelReport)
    root: Path | None = None

    @property
    def box_count(self) -> int:
        return int(sum(len(item.boxes) for item in self.images))

    def boxes_per_class(self) -> np.ndarray:
        """(C,) int64: how many boxes of each class."""
        counts = np.zeros(len(self.classes), np.int64)
        for item in self.images:
            np.add.at(counts, item.class_ids, 1)
        return counts

    def split(self, val_fraction: float = 0.2, seed: int = 0) -> tuple["DetectionDataset", "DetectionDataset"]:
        """(train, held-out) with about ``val_fraction`` of the pictures held out (at least
        one of each when there are two or more pictures), chosen by ``seed``, so the same
        data and seed always hold out the same pictures."""
        n = len(self.images)
        order = np.random.default_rng(seed).permutation(n)
        held = int(round(n * val_fraction))
        if n >= 2:
            held = min(max(held, 1), n - 1)
        held_out = set(order[:held].tolist())
        train = tuple(item for i, item in enumerate(self.images) if i not in held_out)
        val = tuple(item for i, item in enumerate(self.images) if i in held_out)
        return replace(self, images=train), replace(self, images=val)


def read_classes(path: Path) -> tuple[str, ...]:
    """Class names from a classes.txt (trailing blank lines ignored)."""
    from engine.core import limits
    from engine.core.regular_files import MissingFileError, RegularFileError, read_regular_bytes

    try:
        text = read_regular_bytes(path, limits.current().max_cfg_bytes, what="classes file",
                                  hint=limits.current().hint("max_cfg_bytes")).decode("utf-8", errors="replace")
    except RegularFileError as exc:
        if isinstance(exc, MissingFileError):
            raise LabelsError(f"{path.parent}: no {CLASSES_FILE}", f"put one class name per line in {path}") from None
        raise LabelsError(exc.what, exc.todo) from None
    names = tuple(line.strip() for line in text.splitlines())
    while names and not names[-1]:
        names = names[:-1]
    if not names:
        raise LabelsError(f"{path} lists no classes", "put one class name per line, line 1 = class 0")
    if len(names) > MAX_CLASSES:
        raise LabelsError(f"{path} lists {len(names)} classes, more than {MAX_CLASSES}", "check that it is a classes file")
    if any(not name for name in names):
        blank = names.index("") + 1
        raise LabelsError(f"{path}: line {blank} is blank", "give every class id a name (one per line, no gaps)")
    return names


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of a picture as ``read_image`` decodes it (a damaged file is found
    here, not half-way through training). Raises ``SourceError`` naming the file."""
    from engine.io.images import read_image

    image = read_image(path)
    return int(image.shape[1]), int(image.shape[0])


def parse_label_text(text: str, width: int, height: int, num_classes: int, path: Path,
                     problems: list[LabelProblem]) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) float32 pixels and class ids (N,) int64 from a label file's text;
    each bad line is appended to ``problems`` (see the module docstring for what is done)."""
    boxes: list[tuple[float, float, float, float]] = []
    ids: list[int] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split()
        try:
            if len(parts) != 5:
                raise ValueError(f"{len(parts)} fields, expected 5: class cx cy w h")
            cls_value = float(parts[0])
            if not cls_value.is_integer():
                raise ValueError(f"class id {parts[0]} is not a whole number")
            cx, cy, w, h = (float(v) for v in parts[1:])
            if not all(np.isfinite((cx, cy, w, h))):
                raise ValueError("not a finite number")
        except ValueError as exc:
            problems.append(LabelProblem(MALFORMED, path, number, str(exc)))
            continue
        cls = int(cls_value)
        if not 0 <= cls < num_classes:
            problems.append(LabelProblem(BAD_CLASS, path, number, f"class {cls}, classes.txt has {num_classes}"))
            continue
        x1, y1 = (cx - w / 2) * width, (cy - h / 2) * height
        x2, y2 = (cx + w / 2) * width, (cy + h / 2) * height
        cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
        cx2, cy2 = min(max(x2, 0.0), width), min(max(y2, 0.0), height)
        if cx2 - cx1 < 1.0 or cy2 - cy1 < 1.0:
            problems.append(LabelProblem(ZERO_SIZE, path, number, f"{x2 - x1:.1f}x{y2 - y1:.1f} pixels inside the picture"
                                         if w > 0 and h > 0 else "width or height is 0"))
            continue
        if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2) and max(abs(cx1 - x1), abs(cy1 - y1), abs(cx2 - x2), abs(cy2 - y2)) > 0.5:
            problems.append(LabelProblem(OUTSIDE, path, number))
        boxes.append((cx1, cy1, cx2, cy2))
        ids.append(cls)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(ids, np.int64)


def label_text(boxes: np.ndarray, class_ids: np.ndarray, width: int, height: int) -> str:
    """The YOLO label lines for (N, 4) pixel boxes; "" for none (a background picture)."""
    lines = []
    for (x1, y1, x2, y2), cls in zip(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(class_ids).reshape(-1)):
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        lines.append(f"{int(cls)} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
    return "".join(line + "\n" for line in lines)


def _files(folder: Path, suffixes: Iterable[str]) -> dict[Path, Path]:
    """Relative path without suffix -> file, for files under ``folder`` with one of ``suffixes``.
    Hidden files (a killed writer's temporaries) and links leading outside are skipped."""
    wanted = {s.lower() for s in suffixes}
    found: dict[Path, Path] = {}
    if not folder.is_dir():
        return found
    base = folder.resolve()
    for path in sorted(folder.rglob("*")):
        if path.name.startswith(".") or path.suffix.lower() not in wanted or not path.is_file():
            continue
        if not path.resolve().is_relative_to(base):
            continue
        found.setdefault(path.relative_to(folder).with_suffix(""), path)
    return found


def read_yolo_dataset(root: str | os.PathLike[str]) -> DetectionDataset:
    """Read ``root`` in the YOLO txt layout (module docstring). Raises ``LabelsError`` /
    ``NotFound`` only when there is nothing usable (no folder, no classes.txt, no images
    folder); every other problem is in ``report``."""
    root = Path(root)
    if not root.is_dir():
        raise NotFound(f"{root}: no such folder", "give a folder with classes.txt, images/ and labels/")
    classes = read_classes(root / CLASSES_FILE)
    if not (root / IMAGES).is_dir():
        raise LabelsError(f"{root}: no {IMAGES}/ folder", f"put the pictures in {root / IMAGES} and their labels in {root / LABELS}")
    pictures = _files(root / IMAGES, IMAGE_SUFFIXES)
    label_files = _files(root / LABELS, (".txt",))
    problems: list[LabelProblem] = []
    images: list[LabelledImage] = []
    for rel, picture in pictures.items():
        label_path = label_files.get(rel)
        if label_path is None:
            problems.append(LabelProblem(NO_LABELS, picture))
            continue
        try:
            width, height = image_size(picture)
        except UserError as exc:
            problems.append(LabelProblem(UNREADABLE, picture, None, exc.what))
            continue
        try:
            if label_path.stat().st_size > MAX_LABEL_BYTES:
                raise OSError(f"larger than {MAX_LABEL_BYTES // 1024 // 1024} MB")
            text = label_path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            problems.append(LabelProblem(MALFORMED, label_path, None, f"cannot be read: {exc}"))
            continue
        if not text.strip():
            problems.append(LabelProblem(EMPTY_FILE, label_path))
        boxes, ids = parse_label_text(text, width, height, len(classes), label_path, problems)
        images.append(LabelledImage(picture, width, height, boxes, ids))
    for rel, label_path in label_files.items():
        if rel not in pictures:
            problems.append(LabelProblem(NO_IMAGE, label_path))
    return DetectionDataset(classes, tuple(images), LabelReport(tuple(problems)), root)


def write_labels(path: str | os.PathLike[str], boxes: np.ndarray, class_ids: np.ndarray, width: int, height: int) -> Path:
    """Write one label file atomically (an empty file for a background picture)."""
    from engine.features.teach import atomic

    return atomic.write_bytes(path, label_text(boxes, class_ids, width, height).encode("utf-8"))


def write_yolo_dataset(dataset: DetectionDataset, root: str | os.PathLike[str]) -> Path:
    """Write ``dataset`` to ``root`` in the YOLO txt layout: classes.txt, a copy of each
    picture under images/ and its label file under labels/ (names kept; a clash gets a
    numbered suffix). Files are written atomically; existing other files are left alone."""
    from engine.features.teach import atomic

    root = Path(root)
    atomic.write_bytes(root / CLASSES_FILE, "".join(f"{name}\n" for name in dataset.classes).encode("utf-8"))
    used: set[str] = set()
    for item in dataset.images:
        stem, suffix = item.image_path.stem, item.image_path.suffix.lower()
        name, n = stem, 1
        while name.lower() in used:
            n += 1
            name = f"{stem}_{n}"
        used.add(name.lower())
        atomic.write_bytes(root / IMAGES / f"{name}{suffix}", item.image_path.read_bytes())
        write_labels(root / LABELS / f"{name}.txt", item.boxes, item.class_ids, item.width, item.height)
    return root


def dataset_from_items(classes: Sequence[str], images: Sequence[LabelledImage]) -> DetectionDataset:
    """A dataset built in memory (the GUI's labels, synthetic scenes); no problems."""
    return DetectionDataset(tuple(classes), tuple(images))
