"""`batch detect`, `batch segment`, `batch faces`: one model over folders, globs and videos on Ray, into Parquet, resumable.

    python main.py batch detect INPUTS... --out DIR [--model NAME | --model-dir DIR|FILE [--names FILE]]
        [--every N] [--track]
        [--conf 0.25] [--iou 0.45] [--size WxH] [--classes person,car] [--precision fp32|bf16|int8]
        [--address HOST:PORT] [--workers N] [--gpus-per-worker G]

INPUTS: image and video files, folders (walked recursively for image and video files)
and glob patterns (quoted: 'archive/**/*.mp4'). Each image or video is one unit of work,
committed to DIR once, whole (engine/batch/store.py): run the same command again after
a crash, a kill or a lost cluster and it does only what is missing. DIR/parts/*/
detections.parquet holds one row per detection (source, frame, time, class_id, label,
score, x1, y1, x2, y2 in pixels, track_id with --track), DIR/parts/*/frames.parquet one
row per frame processed; DIR/failures.json the inputs that could not be read, and why.
Without --address Ray runs inside this process with one worker per core (--workers).
Exit code 0, or 1 when some inputs failed (listed), 2 for bad arguments.

    python main.py batch segment INPUTS... --out DIR [--model NAME] [--every N] [cluster options]

INPUTS and DIR as for batch detect, with the installed catalog segmentation model
(`models list --task segment`). DIR/parts/*/pixels.parquet holds one row per class
present in a frame (source, frame, time, class_id, label, pixels: that class's pixel
count at the frame's size), the "pixels" of `segment INPUT --json`; DIR/parts/*/
frames.parquet one row per frame (source, frame, time, width, height, classes).

    python main.py batch faces INPUTS... --out DIR [--gallery DB] [--threshold T] [--every N]
        [--embedder NAME] [--detector NAME] [--upsample N] [cluster options]

INPUTS and DIR as for batch detect, with the faces feature's installed detector and
embedder (defaults as for `faces identify`). DIR/parts/*/faces.parquet holds one row per
face (source, frame, time, x1, y1, x2, y2 in pixels, score: the detector's confidence,
identity: the gallery's name or null when no one is within --threshold, distance to the
closest person and closest: their name), what `faces identify IMG --json` reports;
DIR/parts/*/frames.parquet one row per frame (source, frame, time, width, height, faces).
The --gallery file is read once, here, read-only: the workers get its vectors, never the
file (it may be on a disk they cannot see). Without --gallery faces are found, not named.

Batch is an app command (cli.SHELL_COMMANDS), not a feature: it has no tab and no models
of its own, and maps a feature's step (engine/batch/detect.py, engine/batch/segment.py) over inputs.
"""

from __future__ import annotations

import argparse
import os
import sys

from cli.common import EXIT_BAD_INPUT, fail, guarded, number, printable
from engine.core.errors import one_line
from engine.features.detect.options import PRECISION_CHOICES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch", help="run a model over many images and videos on Ray (resumable, Parquet output)",
        description="Run a model over folders, globs and video files on Ray, embedded on this machine or on a "
                    "cluster; results go to Parquet files in --out, and a rerun with the same --out resumes. "
                    "Needs the optional dependencies: pip install 'cnn-studio[scale]'.")
    tasks = parser.add_subparsers(dest="batch_task", metavar="TASK", required=True)
    detect = tasks.add_parser("detect", help="object detection: one row per detection and one per frame",
                              description=__doc__.split("\n\n")[1] if __doc__ else None,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    detect.add_argument("inputs", nargs="+", metavar="INPUT", help="image/video files, folders, quoted glob patterns")
    detect.add_argument("--out", required=True, metavar="DIR", help="output folder (created; the same one resumes a run)")
    detect.add_argument("--model", metavar="NAME", help="catalog model (default: the Detect default; `models list --task detect`)")
    detect.add_argument("--model-dir", metavar="DIR|FILE",
                        help="your own model, as for `detect`: a transformers folder (config.json + model.safetensors) "
                             "of RT-DETR, RT-DETRv2 or D-FINE, or a YOLOX .pth checkpoint (with --names); every "
                             "worker reads it at this path")
    detect.add_argument("--names", metavar="FILE", help="class names, one per line, for a .pth given with --model-dir")
    detect.add_argument("--every", type=number(1, integer=True), default=1, metavar="N",
                        help="process every N-th frame of a video (default 1: all)")
    detect.add_argument("--track", action="store_true", help="follow objects with ids within each video (track_id column)")
    detect.add_argument("--conf", type=number(0, 1), default=0.25, help="minimum score, 0..1 (default 0.25)")
    detect.add_argument("--iou", type=number(0, 1), help="NMS IoU threshold, 0..1 (models that use NMS)")
    from cli.detect import _size

    detect.add_argument("--size", type=_size, metavar="WxH", help="network input size, as for `detect`")
    detect.add_argument("--classes", metavar="LIST", help="only these classes, comma-separated (e.g. person,car)")
    detect.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                        help="as for `detect` (default auto, decided once on this machine for every worker)")
    _add_cluster_options(detect)
    # cli.add_subcommands guards the top-level parsers only; these are a level below.
    detect.set_defaults(func=guarded(run), make_job=_detect_job)

    segment = tasks.add_parser("segment", help="semantic segmentation: one row per class present in a frame",
                               description="\n\n".join(__doc__.split("\n\n")[3:5]) if __doc__ else None,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    segment.add_argument("inputs", nargs="+", metavar="INPUT", help="image/video files, folders, quoted glob patterns")
    segment.add_argument("--out", required=True, metavar="DIR", help="output folder (created; the same one resumes a run)")
    segment.add_argument("--model", metavar="NAME",
                         help="catalog model (default: the Segment default; `models list --task segment`)")
    segment.add_argument("--every", type=number(1, integer=True), default=1, metavar="N",
                         help="process every N-th frame of a video (default 1: all)")
    _add_cluster_options(segment)
    segment.set_defaults(func=guarded(run), make_job=_segment_job)

    from cli.faces import DETECTORS

    faces = tasks.add_parser("faces", help="face detection and recognition: one row per face and one per frame",
                             description="\n\n".join(__doc__.split("\n\n")[5:7]) if __doc__ else None,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    faces.add_argument("inputs", nargs="+", metavar="INPUT", help="image/video files, folders, quoted glob patterns")
    faces.add_argument("--out", required=True, metavar="DIR", help="output folder (created; the same one resumes a run)")
    faces.add_argument("--gallery", metavar="DB",
                       help="face gallery file to name the faces with (read once, read-only); default: none, no names")
    faces.add_argument("--threshold", type=number(0), metavar="T",
                       help="distance threshold for a name, a number >= 0 (default: the embedder's)")
    faces.add_argument("--every", type=number(1, integer=True), default=1, metavar="N",
                       help="process every N-th frame of a video (default 1: all)")
    faces.add_argument("--embedder", metavar="NAME",
                       help="dlib-resnet, facenet-vggface2, facenet-casia, sface or lbp; default: best installed")
    faces.add_argument("--detector", choices=DETECTORS, help="face detector (default: dlib-mmod with dlib-resnet, else haar)")
    faces.add_argument("--upsample", type=number(0, 3, integer=True), default=0, metavar="N",
                       help="dlib-mmod: double the image N times first to find small faces (default 0)")
    _add_cluster_options(faces)
    faces.set_defaults(func=guarded(run), make_job=_faces_job)


def _detect_job(args: argparse.Namespace):
    from engine.batch.detect import DetectJob

    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip()) if args.classes else None
    return DetectJob.create(args.model, conf=args.conf, iou=args.iou, size=args.size, precision=args.precision,
                            classes=classes, track=args.track, every=int(args.every), model_dir=args.model_dir,
                            names=args.names)


def _segment_job(args: argparse.Namespace):
    from engine.batch.segment import SegmentJob

    return SegmentJob.create(args.model, every=int(args.every))


def _faces_job(args: argparse.Namespace):
    from engine.batch.faces import FacesJob

    job = FacesJob.create(gallery=args.gallery, threshold=args.threshold, every=int(args.every), embedder=args.embedder,
                          detector=args.detector, upsample=int(args.upsample))
    snapshot = job.snapshot
    if snapshot is not None and not len(snapshot.keys):
        print(f"note: the gallery {printable(snapshot.path)} has no {job.embedder} faces, so no face gets a name; "
              "enrol people with `python main.py faces enrol NAME IMG...`", file=sys.stderr)
    elif snapshot is not None and snapshot.computed:
        print(f"note: {snapshot.computed} shot(s) of the gallery had no {job.embedder} vector: computed for this run "
              "(the gallery is only read; `faces identify` stores them)", file=sys.stderr)
    return job


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where it runs")
    group.add_argument("--address", metavar="HOST:PORT",
                       help="an existing Ray cluster (started with `ray start --head`); default: Ray inside this process")
    group.add_argument("--workers", type=number(1, integer=True), metavar="N",
                       help="model workers (default: one per CPU core here, or per CPU of the cluster)")
    group.add_argument("--gpus-per-worker", type=number(0, 64), default=0.0, metavar="G",
                       help="GPUs each worker takes (e.g. 1, or 0.5 to share one GPU between two); default 0: CPU")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def run(args: argparse.Namespace) -> int:
    from engine.batch import require_scale

    require_scale()  # one line naming what to install (a UserError: printed by cli.common.guarded)
    from cli.progress import ProgressBar
    from engine.batch.inputs import expand_inputs
    from engine.batch.runner import run_batch
    from engine.batch.store import BatchStore

    try:
        job = args.make_job(args)
        inputs = expand_inputs(args.inputs)
    except ValueError as exc:
        return fail(exc)
    bar = ProgressBar(f"batch {job.name}")

    def show(progress) -> None:
        bar.update(progress.done, progress.total,
                   f"{progress.done}/{progress.total} inputs, {progress.rate:.2f} inputs/s, "
                   f"ETA {_duration(progress.eta)}" + (f", {progress.failed} failed" if progress.failed else ""))

    from engine.batch.runner import ClusterLostError

    try:
        with BatchStore(args.out) as store:
            store.open(job.describe())
            progress = run_batch(job, inputs, store, address=args.address, workers=args.workers and int(args.workers),
                                 gpus_per_worker=float(args.gpus_per_worker), on_progress=show)
    except ClusterLostError as exc:
        # The store is closed and its manifest written. Leave now: Ray's exit handlers wait
        # for the head that is gone, and its background threads may end the process with
        # their own status while they do.
        bar.close()
        fail(exc)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_BAD_INPUT)
    bar.close()
    earlier = f" ({progress.skipped} done by an earlier run)" if progress.skipped else ""
    rate = f", {progress.rate:.2f} inputs/s on {progress.workers} worker(s)" if progress.done else ""
    print(f"{progress.done - progress.failed} input(s) done{earlier}, {progress.failed} failed: {progress.frames} frame(s), "
          f"{progress.detections} {getattr(job, 'rows', 'detection(s)')} in {progress.elapsed:.1f} s{rate} (+{progress.startup:.1f} s to start); "
          f"results in {printable(args.out)}")
    if progress.failed:
        for failure in store.failures[:10]:
            print(f"failed: {printable(failure['source'])}: {one_line(failure['reason'])}", file=sys.stderr)
        print(f"{progress.failed} input(s) failed; all listed in {printable(store.root / 'failures.json')}; "
              "fix them and run the same command to retry them", file=sys.stderr)
        return 1
    return 0
