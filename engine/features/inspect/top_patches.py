"""The image patches that excite each unit of a layer most (Zeiler & Fergus 2013, figure 2).

For a chosen layer, :class:`TopPatches` keeps, for every channel, the ``k`` highest
activations seen so far and the patch of the input image under the unit that produced
each one: the unit's receptive field (from the layer table) clipped to the image. Each
image contributes at most one patch per channel, at the position of the channel's
spatial maximum, as in the paper.

Live frames come in near-identical runs (a still scene); without care one still scene
would fill all nine slots of every channel. Every image is therefore matched against
the scenes seen recently (a 16 x 16 gray thumbnail, mean absolute difference below
``dedupe``): an image of a known scene can only improve the slot that scene already
holds, never take a second one.

Conventions: boxes are x1 y1 x2 y2 float pixels of the source image (x2/y2 exclusive);
patches are uint8 BGR (P, P, 3), the box's pixels resized to P x P; activations are the
raw values of the layer output; slots are ordered best first.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch

from engine.core.errors import BadFormat
from engine.features.inspect.receptive_field import ReceptiveField
from engine.models.transforms import InputMapping

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# A collection holds k patches per channel: 2,048 channels x 16 x 64x64x3 is ~400 MB.
MAX_COLLECTION_BYTES = 1024 * 1024 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class CollectionFileError(BadFormat, ValueError):
    """A saved collection that cannot be read; the message names the file."""


@dataclass(frozen=True)
class Patch:
    """One slot: where it came from, its box in source pixels, its activation, its pixels."""

    source: str
    box: tuple[float, float, float, float]
    activation: float
    image: np.ndarray

    def as_dict(self) -> dict:
        return {"source": self.source, "box": [round(v, 2) for v in self.box], "activation": round(self.activation, 6)}


def patch_box(rf: ReceptiveField, row: int, col: int, geometry: InputMapping) -> tuple[float, float, float, float]:
    """The receptive field of unit (row, col), clipped to the network input, in source pixels."""
    return geometry.box_to_frame(rf.unit_box(row, col, geometry.input_height, geometry.input_width))


def crop_patch(image: np.ndarray, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """The pixels of ``box`` (rounded outwards to whole pixels) resized to (size, size, 3)."""
    height, width = image.shape[:2]
    x1, y1 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
    x2, y2 = min(width, int(math.ceil(box[2]))), min(height, int(math.ceil(box[3])))
    crop = image[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
    shrinking = crop.shape[0] > size or crop.shape[1] > size
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _thumbnail(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


class TopPatches:
    """Per channel of ``layer``, the ``k`` strongest activations and their patches.

    Thread-safe use: the live task calls :meth:`add` on the worker thread; the GUI reads
    :meth:`channel` / :meth:`values` after seeing a newer :attr:`version`. Both only read
    or replace whole numpy rows, and the GUI works on copies.

    patch_size: side of the stored patches (memory: C * k * P * P * 3 bytes, so layers
    with many channels get smaller patches unless given). dedupe: scene-match threshold
    (mean absolute gray difference in [0, 1]; None: every image is a new scene).
    """

    def __init__(self, k: int = 9, patch_size: int | None = None, dedupe: float | None = 0.04, scene_memory: int = 64) -> None:
        if k < 1:
            raise ValueError(f"k must be 1 or more, got {k}")
        self.k = int(k)
        self._patch_size = patch_size
        self.dedupe = dedupe
        self.scene_memory = scene_memory
        self.model = ""
        self.layer = ""
        self.version = 0
        self.images_seen = 0
        self._allocate(0, 1)

    # -- storage -------------------------------------------------------------------------
    def _allocate(self, channels: int, patch_size: int) -> None:
        self.patch_size = patch_size
        self._values = np.full((channels, self.k), -np.inf, np.float32)
        self._boxes = np.zeros((channels, self.k, 4), np.float32)
        self._sources = np.full((channels, self.k), -1, np.int64)
        self._scenes = np.full((channels, self.k), -1, np.int64)
        # Patches stay in physical slots (moving 9 x 64 x 64 x 3 bytes per insert would cost
        # more than the rest of the bookkeeping); _phys maps a ranked slot to its patch.
        self._patches = np.zeros((channels, self.k, patch_size, patch_size, 3), np.uint8)
        self._phys = np.tile(np.arange(self.k, dtype=np.int64), (channels, 1))
        self._source_names: list[str] = []
        self._scene_thumbs: list[tuple[int, np.ndarray]] = []
        self._next_scene = 0

    def reset(self, layer: str | None = None, model: str | None = None) -> None:
        """Forget everything (and switch to ``layer``/``model`` when given)."""
        if layer is not None:
            self.layer = layer
        if model is not None:
            self.model = model
        self._allocate(0, 1)
        self.images_seen = 0
        self.version += 1

    @property
    def channels(self) -> int:
        return int(self._values.shape[0])

    def filled(self) -> np.ndarray:
        """(C,) how many slots of each channel hold a patch."""
        return np.isfinite(self._values).sum(axis=1)

    def values(self) -> np.ndarray:
        """(C, k) activations, best first (-inf: empty slot). A copy."""
        return self._values.copy()

    def channel(self, channel: int) -> list[Patch]:
        """The filled slots of ``channel``, best first."""
        if not 0 <= channel < self.channels:
            raise IndexError(f"channel {channel} is out of range: the collection has {self.channels} channels")
        out = []
        for slot in range(self.k):
            value = float(self._values[channel, slot])
            if not math.isfinite(value):
                break
            box = tuple(float(v) for v in self._boxes[channel, slot])
            pixels = self._patches[channel, self._phys[channel, slot]].copy()
            out.append(Patch(self._source_names[int(self._sources[channel, slot])], box, value, pixels))  # type: ignore[arg-type]
        return out

    # -- collecting ----------------------------------------------------------------------
    def _scene_of(self, image: np.ndarray) -> int:
        if self.dedupe is None:
            self._next_scene += 1
            return self._next_scene - 1
        thumb = _thumbnail(image)
        for scene, known in reversed(self._scene_thumbs):
            if float(np.abs(known - thumb).mean()) < self.dedupe:
                return scene
        scene = self._next_scene
        self._next_scene += 1
        self._scene_thumbs.append((scene, thumb))
        del self._scene_thumbs[: -self.scene_memory]
        return scene

    def add(self, activation: torch.Tensor, image: np.ndarray, geometry: InputMapping, rf: ReceptiveField, source: str, layer: str | None = None) -> int:
        """Offer one image: ``activation`` (1, C, h, w) or (C, h, w) of the layer on ``image``.

        ``geometry`` maps the network input to ``image`` pixels and ``rf`` is the layer's
        receptive field. A different ``layer`` than the collection's starts a new
        collection. Returns how many channels took a patch from this image.
        """
        act = activation.detach()
        if act.dim() == 4:
            act = act[0]
        if act.dim() != 3:
            raise ValueError(f"top patches need a feature map (C, h, w); the layer outputs {tuple(activation.shape)}")
        if layer is not None and layer != self.layer:
            self.reset(layer)
        channels, _, width = act.shape
        if self.channels != channels:
            size = self._patch_size or (64 if channels <= 512 else 32)
            self._allocate(channels, size)
        # numpy, not torch: a (C, h*w) reduction is too small to gain from torch's
        # threads, and on a busy CPU waking them costs more than the work.
        flat = act.reshape(channels, -1).float().cpu().numpy()
        where_np = flat.argmax(axis=1)
        best_np = flat[np.arange(channels), where_np]
        self.images_seen += 1
        # Only channels that beat their weakest slot can change: most frames touch few.
        candidates = np.nonzero(best_np > self._values[:, -1])[0]
        if candidates.size == 0:
            return 0
        scene = self._scene_of(image)
        # The slot each candidate replaces: the one its scene already holds (only when the
        # new value beats it), else the weakest. Then every touched row is re-sorted at once.
        scenes = self._scenes[candidates]
        held = scenes == scene
        has = held.any(axis=1)
        slots = np.where(has, held.argmax(axis=1), self.k - 1)
        values = best_np[candidates]
        better = values > self._values[candidates, slots]
        rows, slots, values = candidates[better], slots[better], values[better]
        if rows.size == 0:
            return 0
        self._source_names.append(source)
        source_index = len(self._source_names) - 1
        positions = where_np[rows]
        boxes = np.empty((rows.size, 4), np.float32)
        # Fields much larger than a patch: shrink the picture once instead of every crop
        # (the patch is the same box, read from an image 1/factor the size).
        factor = int(min(rf.x.size / geometry.scale_x, rf.y.size / geometry.scale_y) // (2 * self.patch_size))
        source_image = image if factor < 2 else cv2.resize(image, (max(1, image.shape[1] // factor), max(1, image.shape[0] // factor)),
                                                           interpolation=cv2.INTER_AREA)
        shrink = image.shape[1] / source_image.shape[1], image.shape[0] / source_image.shape[0]
        for position in np.unique(positions).tolist():
            unit_row, unit_col = divmod(position, width)
            box = patch_box(rf, unit_row, unit_col, geometry)
            small = (box[0] / shrink[0], box[1] / shrink[1], box[2] / shrink[0], box[3] / shrink[1])
            pixels = crop_patch(source_image, small, self.patch_size)
            at = positions == position
            boxes[at] = box
            self._patches[rows[at], self._phys[rows[at], slots[at]]] = pixels
        self._values[rows, slots] = values
        self._boxes[rows, slots] = boxes
        self._sources[rows, slots] = source_index
        self._scenes[rows, slots] = scene
        order = np.argsort(-self._values[rows], axis=1, kind="stable")
        for array in (self._values, self._sources, self._scenes, self._phys):
            array[rows] = np.take_along_axis(array[rows], order, axis=1)
        self._boxes[rows] = np.take_along_axis(self._boxes[rows], order[:, :, None], axis=1)
        taken = int(rows.size)
        if taken:
            self.version += 1
        return taken

    # -- output --------------------------------------------------------------------------
    def as_records(self) -> Iterator[dict]:
        """One dict per channel: {"layer", "channel", "patches": [{"source", "box", "activation"}]}."""
        for c in range(self.channels):
            yield {"layer": self.layer, "channel": c, "patches": [p.as_dict() for p in self.channel(c)]}

    def unit_tile(self, channel: int, gap: int = 1) -> np.ndarray:
        """The channel's slots as one square mosaic (3 x 3 for k = 9), empty slots dark."""
        side = max(1, math.ceil(math.sqrt(self.k)))
        p = self.patch_size
        tile = np.full((side * p + (side - 1) * gap, side * p + (side - 1) * gap, 3), 24, np.uint8)
        filled = int(self.filled()[channel]) if self.channels else 0
        for slot in range(filled):
            r, col = divmod(slot, side)
            tile[r * (p + gap): r * (p + gap) + p, col * (p + gap): col * (p + gap) + p] = self._patches[channel, self._phys[channel, slot]]
        return tile

    def grid_image(self, channels: list[int] | None = None, columns: int | None = None) -> np.ndarray:
        """Every channel's unit tile in one BGR picture (the paper's figure), channel order."""
        from engine.features.inspect.render import mosaic

        chosen = list(range(self.channels)) if channels is None else list(channels)
        if not chosen:
            raise ValueError("the collection is empty: collect some images first")
        return mosaic(np.stack([self.unit_tile(c) for c in chosen]), columns=columns, gap=4, background=64)

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the collection to an .npz file (atomically: a temporary file renamed into place)."""
        path = Path(path)
        if path.suffix.lower() != ".npz":
            path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
        meta = {"format": FORMAT_VERSION, "model": self.model, "layer": self.layer, "k": self.k, "images_seen": self.images_seen,
                "sources": self._source_names}
        from engine.core.safe_files import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), values=self._values,
                                boxes=self._boxes, sources=self._sources,
                                patches=np.take_along_axis(self._patches, self._phys[:, :, None, None, None], axis=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "TopPatches":
        """Read a collection written by :meth:`save`; CollectionFileError names what is wrong."""
        from engine.models.npz_files import NpzFileError, load_npz

        path = Path(path)
        if not os.path.lexists(path):
            raise CollectionFileError(f"collection '{path}' does not exist")
        try:
            arrays = load_npz(path, ("meta", "values", "boxes", "sources", "patches"), max_bytes=MAX_COLLECTION_BYTES,
                              what="collection")
        except NpzFileError as exc:
            raise CollectionFileError(str(exc)) from None
        try:
            meta = json.loads(arrays["meta"].tobytes().decode())
        except (OSError, ValueError, KeyError, UnicodeDecodeError, RecursionError) as exc:
            raise CollectionFileError(f"'{path}' is not a top-patches collection ({type(exc).__name__}: {exc})") from None
        values, boxes, sources, patches = arrays["values"], arrays["boxes"], arrays["sources"], arrays["patches"]
        try:
            k = int(meta["k"])
            channels = values.shape[0]
            ok = (values.shape == (channels, k) and boxes.shape == (channels, k, 4) and sources.shape == (channels, k)
                  and patches.ndim == 5 and patches.shape[:2] == (channels, k) and patches.shape[4] == 3 and patches.dtype == np.uint8
                  and isinstance(meta["sources"], list) and int(sources.max(initial=-1)) < len(meta["sources"]))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok or meta.get("format") != FORMAT_VERSION:
            raise CollectionFileError(f"'{path}' is not a top-patches collection of format {FORMAT_VERSION} (shapes or metadata do not agree)")
        out = cls(k=k, patch_size=int(patches.shape[2]))
        out._allocate(channels, int(patches.shape[2]))
        out._values, out._boxes, out._sources, out._patches = values.astype(np.float32), boxes.astype(np.float32), sources.astype(np.int64), patches
        out._scenes = np.where(np.isfinite(out._values), -2, -1)  # loaded slots belong to no live scene
        out._source_names = [str(s) for s in meta["sources"]]
        out.model, out.layer, out.images_seen = str(meta.get("model", "")), str(meta["layer"]), int(meta.get("images_seen", 0))
        out.version = 1
        return out


def image_files(folder: str | Path) -> list[Path]:
    """The images of ``folder`` (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"'{folder}' is not a folder of images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"'{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def collect_folder(model, layer: str, folder: str | Path, *, k: int = 9, input_size: int | None = None,
                   device: torch.device | str = "cpu", collection: TopPatches | None = None):
    """A job: run ``model`` (an InspectModel) over every image of ``folder`` and collect top patches.

    Yields (done, total, file name) after each image; returns the TopPatches. Unreadable
    images are skipped with a warning (their count is in the last progress report's
    name as "skipped N"). Images are not deduplicated (each file is its own scene).
    """
    from engine.core.errors import SourceError
    from engine.features.inspect.activations import LayerTap
    from engine.features.inspect.layer_table import build_layer_table
    from engine.io.images import read_image
    from engine.models.transforms import InputResolver

    files = image_files(folder)
    transforms = model.input_transforms(input_size)
    resolve = InputResolver(transforms, device=device)
    module = model.module.to(device).eval()
    width, height = transforms.size
    table = build_layer_table(module, (transforms.channels, height, width), model.name)
    row = table.row(layer)
    if row.receptive_field is None or row.output_shape is None or len(row.output_shape) != 3:
        raise ValueError(f"layer '{layer}' of {model.name} has no feature map: choose a convolutional layer")
    out = collection if collection is not None else TopPatches(k=k, dedupe=None)
    out.reset(layer, model.name)
    skipped = 0
    with LayerTap(module, layer, model.name) as tap, torch.inference_mode():
        for i, path in enumerate(files):
            try:
                image = read_image(path)
            except SourceError as exc:
                skipped += 1
                log.warning("skipped %s", exc)
            else:
                x, geometry = resolve(image)
                module(x)
                out.add(tap.output, image, geometry, row.receptive_field, path.name)
            yield (i + 1, len(files), path.name if not skipped else f"{path.name} (skipped {skipped})")
    return out
