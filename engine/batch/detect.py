"""`batch detect`: the detect feature's step, mapped over one input at a time.

This is the whole task-specific part of a batch run: what a worker loads once
(``load``), what one input becomes (``process`` -> named Arrow tables) and what the run
records about its settings (``describe``). ``batch segment`` is one more class like this
one with its own row schema (engine/batch/segment.py); the runner, the resume logic and
the output folder are shared (engine/batch/runner.py, engine/batch/store.py).

Tables of one input (``source`` is the input's absolute path; ``frame`` the 0-based
frame index in it, 0 for an image; ``time`` seconds into a video, frame / its fps, null
for an image):

- "detections": one row per detection: source, frame, time, class_id, label, score
  (0..1), x1, y1, x2, y2 (float32 pixels of the original frame, top-left origin), and
  track_id (int64, null when no confirmed track owns the box) with ``track``;
- "frames": one row per frame processed: source, frame, time, width, height, detections
  (how many rows that frame has in "detections").

The detections of a frame are what ``detect INPUT --json`` reports for it: the same
builder, options and per-frame step (``engine.runtime.sync.run_task``), and with
``track`` the same tracker, fed every processed frame of one video in order.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from engine.batch.inputs import frames_of
from engine.core.errors import SourceError
from engine.features.detect.options import DetectorOptions

log = logging.getLogger(__name__)


def detection_schema(track: bool) -> pa.Schema:
    fields = [("source", pa.string()), ("frame", pa.int64()), ("time", pa.float64()), ("class_id", pa.int32()),
              ("label", pa.string()), ("score", pa.float32()), ("x1", pa.float32()), ("y1", pa.float32()),
              ("x2", pa.float32()), ("y2", pa.float32())]
    if track:
        fields.append(("track_id", pa.int64()))
    return pa.schema(fields)


FRAME_SCHEMA = pa.schema([("source", pa.string()), ("frame", pa.int64()), ("time", pa.float64()),
                          ("width", pa.int32()), ("height", pa.int32()), ("detections", pa.int32())])


@dataclass(frozen=True)
class DetectJob:
    """What every worker builds: a catalog model with ``options`` (as ``detect --model``),
    or with ``model_dir`` your own model folder or weights file (as ``detect --model-dir``,
    ``names`` its class-names file; ``model`` is then the folder's or file's name and
    ``model_stamp`` the size and modification time of its weights, so that a resume with
    another model, or with the same path retrained, is refused), reporting scores >= ``conf``
    of ``classes`` (names; None: all), every ``every``-th frame of a video, tracked with
    ``track``. Picklable: it travels to the workers, which must read ``model_dir`` at the
    same absolute path (shared storage on a cluster)."""

    model: str
    options: DetectorOptions = DetectorOptions()
    conf: float = 0.25
    classes: tuple[str, ...] | None = None
    track: bool = False
    every: int = 1
    model_dir: str | None = None
    names: str | None = None
    model_stamp: tuple[tuple[str, int, int], ...] | None = None

    name = "detect"
    tables = ("detections", "frames")

    @classmethod
    def create(cls, model: str | None, *, conf: float = 0.25, iou: float | None = None,
               size: tuple[int, int] | None = None, precision: str = "auto", classes: tuple[str, ...] | None = None,
               track: bool = False, every: int = 1, model_dir: str | None = None,
               names: str | None = None) -> "DetectJob":
        """Checked as ``detect`` checks its flags (CapabilityError naming the flag), before any worker starts.

        With ``model_dir`` the model is opened here once (on the CPU, then released), as
        ``detect --model-dir`` opens it: a bad path, names file or option is reported
        before Ray starts, in the same words."""
        from engine.features.detect.options import CLI_FLAGS
        from engine.models.catalog import CapabilityError, catalog

        if every < 1:
            raise ValueError(f"--every {every}: give a whole number of at least 1")
        # Tracking: the detector also reports the unsure detections, which keep tracks
        # alive (ByteTrack's second stage), exactly as `detect --track` does.
        options = DetectorOptions(input_size=size, precision=precision, conf_threshold=min(conf, 0.1) if track else conf,
                                  iou_threshold=iou)
        if model_dir:
            if model:
                raise ValueError("give one of --model or --model-dir")
            from engine.features.detect.model_dir import open_model_dir

            path = Path(model_dir).expanduser().resolve()
            names_path = str(Path(names).expanduser().resolve()) if names else None
            detector = open_model_dir(path, names_path, options=options, device="cpu")
            capabilities = getattr(detector, "capabilities", None)
            if track and capabilities is not None and not capabilities.tracks:
                raise CapabilityError(f"{detector.name} gives no boxes the tracker can follow; --track needs a model that does")
            if classes:
                detector.class_ids_for(list(classes))  # an unknown class name: refused here, not on every worker
            options = options.resolve(capabilities)[0] if capabilities is not None else options
            del detector
            return cls(path.name, options, conf, classes, track, every, str(path), names_path,
                       _stamp(path, names_path))
        if names:
            raise ValueError("--names only applies to --model-dir (catalog models know their classes)")
        entry = catalog().get(model or catalog().default("detect").name)
        if entry.task != "detect":
            raise CapabilityError(f"'{entry.name}' is a {entry.task} model, not an object detector")
        options.check(entry.capabilities, entry.name, CLI_FLAGS)
        if track and not entry.capabilities.tracks:
            raise CapabilityError(f"{entry.name} gives no boxes the tracker can follow; --track needs a model that does")
        return cls(entry.name, options.resolve(entry.capabilities)[0], conf, classes, track, every)

    def describe(self) -> dict[str, Any]:
        """The settings a run is made of (a resumed run must have the same)."""
        described = asdict(self)
        described["task"] = self.name
        described["classes"] = list(self.classes) if self.classes is not None else None
        described["options"]["input_size"] = list(self.options.input_size) if self.options.input_size else None
        if self.model_stamp is not None:
            described["model_stamp"] = [list(item) for item in self.model_stamp]
        return described

    def start(self, device: str | None = None) -> "DetectWorker":
        """Build the detector (weights from this machine's cache) once per worker process."""
        return DetectWorker(self, device)


class DetectWorker:
    """A loaded ``DetectJob``: ``process(path)`` turns one input into its tables."""

    def __init__(self, job: DetectJob, device: str | None = None) -> None:
        from engine.features.detect.factory import load_detector
        from engine.features.detect.task import DetectionTask
        from engine.runtime.device import choose_device

        self.job = job
        self.device = choose_device(device)
        if job.model_dir:
            from engine.features.detect.model_dir import open_model_dir

            detector = open_model_dir(job.model_dir, job.names, options=job.options, device=self.device)
        else:
            detector = load_detector(job.model, device=self.device, options=job.options)
        if job.classes:
            detector.class_filter = detector.class_ids_for(list(job.classes))
        self.detector = detector
        self.task = DetectionTask.for_detector(detector)
        self.task.load(self.device)

    def close(self) -> None:
        self.task.close()

    def process(self, path: str) -> dict[str, pa.Table]:
        """The tables of one input; SourceError (or another UserError) when it cannot be read."""
        from engine.runtime.sync import run_task

        wanted, fps = frames_of(path, self.job.every)
        analyzer = None
        job = self.job
        if job.track:
            from engine.features.detect.scene_analysis import SceneAnalyzer
            from engine.features.detect.tracking import config_for_confidence

            analyzer = SceneAnalyzer(None, tuple(self.detector.class_names), config_for_confidence(job.conf))
        det: dict[str, list] = {name: [] for name in detection_schema(job.track).names}
        frames: dict[str, list] = {name: [] for name in FRAME_SCHEMA.names}
        for step in run_task(self.task, wanted, device=self.device, load=False):
            index, found = step.frame.index, step.result
            time = index / fps if fps else None
            track_ids = None
            if analyzer is not None:
                tracked = analyzer.step(found.boxes, found.scores, found.class_ids, index / (fps or 1.0), index)
                shown = found.scores >= job.conf
                found, track_ids = found.select(shown), tracked.track_ids[shown]
            n = len(found)
            det["source"] += [path] * n
            det["frame"] += [index] * n
            det["time"] += [time] * n
            det["class_id"] += found.class_ids.astype(int).tolist()
            det["label"] += list(found.labels)
            det["score"] += found.scores.tolist()
            for i, column in enumerate(("x1", "y1", "x2", "y2")):
                det[column] += found.boxes[:, i].tolist()
            if track_ids is not None:
                det["track_id"] += [int(t) if t >= 0 else None for t in track_ids.tolist()]
            width, height = found.frame_size
            for column, value in zip(FRAME_SCHEMA.names, (path, index, time, width, height, n)):
                frames[column].append(value)
        if not frames["frame"]:
            raise SourceError(f"{path}: no frame could be decoded", "check that the file is a complete video")
        return {"detections": pa.table(det, schema=detection_schema(job.track)),
                "frames": pa.table(frames, schema=FRAME_SCHEMA)}


def _stamp(model: Path, names: str | None) -> tuple[tuple[str, int, int], ...]:
    """(file name, bytes, modification time in ns) of every file of the model (a folder's
    files, not walked below it) and of the names file: what tells a retrained model at
    the same path from the one a run started with, without reading the weights."""
    files = sorted(p for p in model.iterdir() if p.is_file()) if model.is_dir() else [model]
    if names:
        files.append(Path(names))
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
