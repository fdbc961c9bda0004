"""`detect`: YOLO / torchvision object detection on an image, a folder or a video.

    python main.py detect INPUT [--model NAME | --cfg CFG --weights W [--names FILE] | --model-dir DIR|FILE [--names FILE]]
        [--conf 0.25] [--iou 0.45] [--size WxH] [--classes person,car] [--precision auto|fp32|bf16|int8]
        [--json] [-o OUT]
        [--track [--line X1,Y1,X2,Y2[:NAME]]... [--zone X,Y,X,Y,X,Y,...[:NAME]]... [--events FILE]]

--json prints one JSON object per image or frame on stdout:
{"source", "frame", "width", "height", "detections": [{"class_id", "label", "score",
"box": [x1, y1, x2, y2]}]} (box in pixels of the input); with --track each detection also
has "track_id" (null when no confirmed track owns it). -o writes annotated output: an
image file for an image, a folder for a folder, a .mp4/.avi for a video (with --track:
ids, trails, lines and zones). --line/--zone/--events imply --track; times of events are
frame / the video's fps, in seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path

from cli.common import fail, number, print_json
from cli.regions_args import add_region_options, parse_regions, report_counting
from engine.features.detect.options import PRECISION_CHOICES

log = logging.getLogger(__name__)


def _size(text: str) -> tuple[int, int]:
    """"416x416" (or "416" for a square) -> (416, 416); what sizes a model takes is its
    catalog entry's to say (checked when the model is known)."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) == 1:
        parts = parts * 2
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not WIDTHxHEIGHT (e.g. 416x416)") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"{text}: width and height must be positive (e.g. 416x416)")
    from engine.core import limits

    bound = limits.current()
    if max(width, height) > bound.max_network_side:
        raise argparse.ArgumentTypeError(f"{text}: the network size limit is {bound.max_network_side} pixels a side "
                                         f"({bound.hint('max_network_side')})")
    return width, height


def _auto_label() -> str:
    """What --precision auto means on this machine for a model with bf16 (Darknet YOLO):
    "auto (fp32: no bf16 on this CPU)" or "auto (bf16: AMX)"."""
    from engine.runtime.precision import resolve_precision

    return resolve_precision("auto", ("fp32", "bf16")).label


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "detect", help="detect objects in an image, a folder or a video",
        description="Object detection with a catalog model (default: the Detect default, yolov4-tiny) "
                    "or your own Darknet cfg + weights.")
    parser.add_argument("input", metavar="INPUT", help="an image, a folder of images or a video file")
    parser.add_argument("--model", metavar="NAME", help="catalog model (see `models list --task detect`)")
    parser.add_argument("--cfg", metavar="CFG", help="a Darknet .cfg file (with --weights)")
    parser.add_argument("--weights", metavar="W", help="the Darknet .weights file for --cfg")
    parser.add_argument("--model-dir", metavar="DIR|FILE",
                        help="your own model: a transformers folder (config.json + model.safetensors) of RT-DETR, "
                             "RT-DETRv2 or D-FINE, or a YOLOX .pth checkpoint (with --names)")
    parser.add_argument("--names", metavar="FILE", help="class names, one per line (default: COCO for 80 classes)")
    parser.add_argument("--conf", type=number(0, 1), default=0.25, help="minimum score, 0..1 (default 0.25)")
    parser.add_argument("--iou", type=number(0, 1), help="NMS IoU threshold, 0..1 (default 0.45; models that use NMS)")
    parser.add_argument("--size", type=_size, metavar="WxH",
                        help="network input size, for models whose input size can change: Darknet YOLO takes "
                             "multiples of 32 (default: the model's)")
    parser.add_argument("--classes", metavar="LIST", help="only these classes, comma-separated (e.g. person,car)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                        help="for models that offer them (Darknet YOLO), on the CPU: auto (default: the fastest mode that "
                             f"agrees with fp32; here {_auto_label()}); fp32 (exact); bf16 (fast on CPUs with "
                             "AVX512-BF16/AMX) or int8 (quantised convolutions, VNNI/AMX; the first 4 frames calibrate "
                             "it and run in fp32) move scores and boxes slightly. Here every frame runs uncompiled "
                             "(a compile would only compete with the work); the live app compiles where it pays, in the "
                             "background (its status bar says \"compiling…\", then \"compiled\")")
    parser.add_argument("--json", action="store_true", help="one JSON object per image/frame on stdout")
    parser.add_argument("-o", "--output", metavar="OUT", help="annotated image / folder / video to write")
    parser.add_argument("--track", action="store_true", help="follow objects with ids across frames (ByteTrack-style)")
    add_region_options(parser)
    parser.set_defaults(func=run)


def _build_detector(args: argparse.Namespace):
    from engine.features.detect.backends.darknet.capabilities import darknet_capabilities
    from engine.features.detect.factory import detector_from_files, load_detector
    from engine.features.detect.options import CLI_FLAGS, DetectorOptions
    from engine.models.catalog import CapabilityError, catalog

    # Tracking: the detector also reports the unsure detections, which keep tracks alive
    # (ByteTrack's second stage); only those >= --conf are shown.
    tracking = bool(args.track or args.line or args.zone or args.events)
    conf = min(args.conf, 0.1) if tracking else args.conf
    options = DetectorOptions(input_size=args.size, precision=getattr(args, "precision", "auto"),
                              conf_threshold=conf, iou_threshold=args.iou)
    model_dir = getattr(args, "model_dir", None)
    if model_dir:
        if args.model or args.cfg or args.weights:
            raise ValueError("give one of --model, --cfg/--weights or --model-dir")
        from engine.features.detect.model_dir import open_model_dir

        detector = open_model_dir(model_dir, args.names, options=options)
        capabilities = getattr(detector, "capabilities", None)
        if tracking and capabilities is not None and not capabilities.tracks:
            raise CapabilityError(f"{detector.name} gives no boxes the tracker can follow; --track, --line and "
                                  "--zone need a model that does")
        return detector
    if args.cfg or args.weights:
        if args.model:
            raise ValueError("give either --model or --cfg/--weights, not both")
        if not (args.cfg and args.weights):
            raise ValueError("--cfg and --weights go together (the .weights file trained with that cfg)")
        model, capabilities = Path(args.cfg).name, darknet_capabilities()
    else:
        if args.names:
            raise ValueError("--names only applies to --cfg/--weights or --model-dir (catalog models know their classes)")
        entry = catalog().get(args.model or catalog().default("detect").name)
        model, capabilities = entry.name, entry.capabilities
    # Checked here, with the flags' own names, before any weights are read.
    options.check(capabilities, model, CLI_FLAGS)
    if tracking and not capabilities.tracks:
        raise CapabilityError(f"{model} gives no boxes the tracker can follow; --track, --line and --zone "
                              "need a model that does")
    if args.cfg:
        return detector_from_files(args.cfg, args.weights, args.names, options=options)
    return load_detector(model, options=options)


def _output_plan(args: argparse.Namespace, kind: str) -> Path | None:
    from engine.io.images import IMAGE_SUFFIXES
    from engine.io.video import VIDEO_SUFFIXES

    if not args.output:
        return None
    out = Path(args.output).expanduser()
    if kind == "folder":
        if out.exists() and not out.is_dir():
            raise ValueError(f"-o {out}: the input is a folder, so the output must be a folder")
        out.mkdir(parents=True, exist_ok=True)
    elif kind == "image":
        if out.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"-o {out}: give an image file name (.jpg, .png, ...) for an image input")
    elif out.suffix.lower() not in (".mp4", ".avi"):
        raise ValueError(f"-o {out}: give a .mp4 or .avi file for a video input"
                         + (" (other video types cannot be written)" if out.suffix.lower() in VIDEO_SUFFIXES else ""))
    if kind != "folder" and not out.parent.is_dir():
        raise ValueError(f"-o {out}: the folder {out.parent} does not exist")
    from cli.common import refuse_same_file

    refuse_same_file(_inputs(args), out)
    return out


def _inputs(args: argparse.Namespace) -> list[str]:
    """Every file the command reads (no output may be one of them)."""
    return [p for p in (args.input, args.cfg, args.weights, args.names, getattr(args, "model_dir", None)) if p]


def run(args: argparse.Namespace) -> int:
    import cv2

    from engine.core.errors import UserError
    from engine.features.detect.annotate import draw_detections
    from engine.features.detect.export import detections_record
    from engine.features.detect.task import DetectionTask
    from engine.io import classify, iter_frames
    from engine.io.recorder import VideoRecorder
    from engine.io.video import video_fps
    from engine.runtime.sync import run_task

    tracking = args.track or bool(args.line or args.zone or args.events)
    try:
        # --events must be none of the inputs, nor -o.
        regions = parse_regions(args, [*_inputs(args), *([args.output] if args.output else [])]) if tracking else None
        kind = classify(args.input)
        if kind in ("demo", "camera"):
            raise ValueError(f"{args.input}: give an image, a folder or a video file (live cameras are for the GUI)")
        out = _output_plan(args, kind)
        detector = _build_detector(args)
        if args.classes:
            labels = [c for c in args.classes.split(",") if c.strip()]
            detector.class_filter = detector.class_ids_for(labels)
    except (UserError, ValueError) as exc:
        return fail(exc)

    analyzer = None
    fps = video_fps(args.input) if kind == "video" else 1.0
    if tracking:
        from engine.features.detect.annotate_tracks import draw_tracks
        from engine.features.detect.scene_analysis import SceneAnalyzer
        from engine.features.detect.tracking import config_for_confidence
        analyzer = SceneAnalyzer(regions, tuple(detector.class_names), config_for_confidence(args.conf))
    recorder = None
    total = frames = 0
    try:
        with contextlib.ExitStack() as video:
            for step in run_task(DetectionTask.for_detector(detector), iter_frames(args.input), device=detector.device):
                frame, found = step.frame, step.result
                tracked = track_ids = None
                if analyzer is not None:
                    tracked = analyzer.step(found.boxes, found.scores, found.class_ids, frame.index / fps, frame.index)
                    shown = found.scores >= args.conf
                    found, track_ids = found.select(shown), tracked.track_ids[shown]
                frames += 1
                total += len(found)
                source = frame.source if kind != "video" else str(args.input)
                if args.json:
                    record = detections_record(found, source, frame.index)
                    if track_ids is not None:
                        for det, tid in zip(record["detections"], track_ids.tolist()):
                            det["track_id"] = tid if tid >= 0 else None
                    print_json(record)
                elif kind != "video":
                    summary = ", ".join(f"{label} {score:.2f}" for label, score in zip(found.labels, found.scores))
                    print(f"{frame.source}: {len(found)} object(s)" + (f": {summary}" if summary else ""))
                if out is not None:
                    if tracked is not None:
                        annotated = draw_tracks(frame.image.copy(), tracked, regions, tuple(detector.class_names))
                    else:
                        annotated = draw_detections(frame.image, found)
                    if kind == "image":
                        _write_image(cv2, out, annotated)
                    elif kind == "folder":
                        _write_image(cv2, out / frame.source, annotated)
                    else:
                        if recorder is None:
                            # Written under a temporary name, renamed over -o only when the
                            # stack closes without an error (engine.core.safe_files.atomic_path).
                            from cli.common import output_file

                            recorder = VideoRecorder(video.enter_context(output_file(out)), fps=fps)
                            video.callback(recorder.close)
                        recorder.write(annotated)
            if recorder is not None:
                recorder.close()
                if recorder.error:
                    raise _VideoUnfinished()  # the temporary goes, -o stays as it was
    except _VideoUnfinished:
        pass  # reported after the counts, which are still worth writing
    except (UserError, OSError) as exc:
        return fail(exc)
    if kind == "video" and not args.json:
        print(f"{args.input}: {frames} frame(s), {total} detection(s)" + (f"; wrote {out}" if out else ""))
    if analyzer is not None and (code := report_counting(analyzer, args)) != 0:
        return code
    if recorder is not None and recorder.error:
        return fail(f"{out}: {recorder.error}")
    return 0


class _VideoUnfinished(Exception):
    """The video writer failed: leave the output stack with an error, so -o is not replaced."""


def _write_image(cv2, path: Path, image) -> None:
    from cli.common import output_file

    with output_file(path) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise OSError(f"{path}: could not write the annotated image (check the suffix and the folder)")
