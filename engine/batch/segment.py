"""`batch segment`: the segment feature's step, mapped over one input at a time.

The task-specific part of a batch run, as engine/batch/detect.py is for detect: the same
runner, resume logic and output folder. Tables of one input (``source``, ``frame`` and
``time`` as in engine/batch/detect.py):

- "pixels": one row per class present in a frame: source, frame, time, class_id (int32,
  the index in the model's categories, 0 background), label (the class name), pixels
  (int64, how many pixels of the frame, at its own size, have that label);
- "frames": one row per frame processed: source, frame, time, width, height, classes (how
  many rows that frame has in "pixels").

The counts of a frame are what ``segment INPUT --json`` reports for it in "pixels": the
same catalog model, settings (classes mode, the model's short side) and per-frame step
(``engine.runtime.sync.run_task`` over ``SegmentationTask``), counted by the same
``Segmentation.counts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from engine.batch.inputs import frames_of
from engine.core.errors import SourceError

PIXEL_SCHEMA = pa.schema([("source", pa.string()), ("frame", pa.int64()), ("time", pa.float64()),
                          ("class_id", pa.int32()), ("label", pa.string()), ("pixels", pa.int64())])
FRAME_SCHEMA = pa.schema([("source", pa.string()), ("frame", pa.int64()), ("time", pa.float64()),
                          ("width", pa.int32()), ("height", pa.int32()), ("classes", pa.int32())])


@dataclass(frozen=True)
class SegmentJob:
    """What every worker builds: the catalog segmentation ``model`` (installed weights, as
    ``segment --model``), run on every ``every``-th frame of a video. Picklable."""

    model: str
    every: int = 1

    name = "segment"
    tables = ("pixels", "frames")
    rows = "class count(s)"

    @classmethod
    def create(cls, model: str | None, *, every: int = 1) -> "SegmentJob":
        """Checked before any worker starts: a segmentation model of the catalog, ``every`` >= 1."""
        from engine.models.catalog import CapabilityError, catalog

        if every < 1:
            raise ValueError(f"--every {every}: give a whole number of at least 1")
        entry = catalog().get(model or catalog().default("segment").name)
        if entry.task != "segment":
            raise CapabilityError(f"--model {entry.name} is a {entry.task} model; see `models list --task segment`")
        return cls(entry.name, every)

    def describe(self) -> dict[str, Any]:
        """The settings a run is made of (a resumed run must have the same)."""
        return {"task": self.name, "model": self.model, "every": self.every}

    def start(self, device: str | None = None) -> "SegmentWorker":
        """Build the network (weights from this machine's cache) once per worker process."""
        return SegmentWorker(self, device)


class SegmentWorker:
    """A loaded ``SegmentJob``: ``process(path)`` turns one input into its tables."""

    def __init__(self, job: SegmentJob, device: str | None = None) -> None:
        from engine.features.segment.task import SegmentationTask, SegmentSettings
        from engine.models.catalog import catalog
        from engine.runtime.device import choose_device

        self.job = job
        self.device = choose_device(device)
        self.task = SegmentationTask(catalog().get(job.model), SegmentSettings())
        self.task.load(self.device)

    def close(self) -> None:
        self.task.close()

    def process(self, path: str) -> dict[str, pa.Table]:
        """The tables of one input; SourceError (or another UserError) when it cannot be read."""
        from engine.runtime.sync import run_task

        wanted, fps = frames_of(path, self.job.every)
        pixels: dict[str, list] = {name: [] for name in PIXEL_SCHEMA.names}
        frames: dict[str, list] = {name: [] for name in FRAME_SCHEMA.names}
        for step in run_task(self.task, wanted, device=self.device, load=False):
            index, seg = step.frame.index, step.result.segmentation
            time = index / fps if fps else None
            counts = seg.counts()
            ids = {name: i for i, name in enumerate(seg.categories)}
            n = len(counts)
            pixels["source"] += [path] * n
            pixels["frame"] += [index] * n
            pixels["time"] += [time] * n
            pixels["class_id"] += [ids[name] for name in counts]
            pixels["label"] += list(counts)
            pixels["pixels"] += list(counts.values())
            height, width = step.frame.image.shape[:2]
            for column, value in zip(FRAME_SCHEMA.names, (path, index, time, width, height, n)):
                frames[column].append(value)
        if not frames["frame"]:
            raise SourceError(f"{path}: no frame could be decoded", "check that the file is a complete video")
        return {"pixels": pa.table(pixels, schema=PIXEL_SCHEMA), "frames": pa.table(frames, schema=FRAME_SCHEMA)}
