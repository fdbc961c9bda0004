"""`segment`: semantic segmentation (21 VOC classes) of an image, a folder or a video.

    python main.py segment INPUT [--model NAME] [--weights FILE] [-o OUT] [--mask-out LABELS.png]
        [--json] [--blur-background | --replace-background IMAGE] [--size N]

The label map is torchvision's: the frame's short side resized to the model's 520 px
(``--size`` to change it), logits resized bilinearly to the frame, argmax. -o writes the
picture with the classes tinted in (or, with --blur-background / --replace-background, the
frame with the background behind people blurred or replaced): an image file for an image,
a folder for a folder, a .mp4/.avi for a video. --mask-out writes the label map as an
8-bit PNG of class ids (0 background .. 20 tv/monitor), the input's size: a file for an
image, a folder (one PNG per image, or per video frame as frame_000000.png) otherwise.
--json prints one object per image or frame: {"source", "frame", "width", "height",
"model", "pixels": {class: count}} (the classes present). --weights loads a state_dict
file into --model's architecture instead of the installed weights.

Instance models (--model maskrcnn_resnet50_fpn, maskrcnn_resnet50_fpn_v2,
keypointrcnn_resnet50_fpn) go through cli/segment_instances.py: -o draws each instance's
mask, box, label and score (and people's skeletons), --json lists the instances (label,
score, box, mask area, keypoints), --score sets the threshold, and --mask-out writes an
INSTANCE-ID map (pixel i = the i-th listed instance, 0 none) instead of class ids.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cli.common import fail, number, print_json

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment", help="label every pixel (VOC classes), blur or replace the background",
        description="Semantic segmentation with torchvision's models (default: lraspp_mobilenet_v3_large).")
    parser.add_argument("input", metavar="INPUT", help="an image, a folder of images or a video file")
    parser.add_argument("--model", metavar="NAME", help="catalog model (see `models list --task segment`)")
    parser.add_argument("--weights", metavar="FILE", help="a state_dict file for --model's architecture")
    parser.add_argument("-o", "--output", metavar="OUT", help="picture / folder / video to write")
    parser.add_argument("--mask-out", metavar="LABELS.png", help="the label map as 8-bit class ids (PNG); instance models: "
                        "instance ids instead (i = the i-th listed instance, 0 none)")
    parser.add_argument("--json", action="store_true", help="per-class pixel counts (instance models: the instances), one JSON object per image/frame")
    parser.add_argument("--size", type=number(64, 1333, integer=True), metavar="N",
                        help="short side in px the network runs at (default: the model's, 520; 800 for instance models)")
    parser.add_argument("--score", type=number(0.0, 1.0), default=0.5, metavar="S",
                        help="instance models: keep instances scoring at least S (default 0.5)")
    background = parser.add_mutually_exclusive_group()
    background.add_argument("--blur-background", action="store_true", help="blur what is not a person (with -o)")
    background.add_argument("--replace-background", metavar="IMAGE", help="put this picture behind people (with -o)")
    parser.set_defaults(func=run)


def _entry(args: argparse.Namespace):
    from engine.models.catalog import catalog

    entry = catalog().get(args.model or catalog().default("segment").name)
    if entry.task != "segment":
        raise ValueError(f"--model {entry.name} is a {entry.task} model; see `models list --task segment`")
    return entry


def _segmenter(args: argparse.Namespace, entry):
    from engine.features.segment.model import Segmenter

    if args.size is not None and args.size > 1024:
        raise ValueError(f"--size {args.size}: semantic models run at 64..1024 px")
    if args.weights:
        return Segmenter.from_file(entry, Path(args.weights).expanduser())
    return entry.build()


def _settings(args: argparse.Namespace, short_side: int):
    from engine.features.segment.person import Background
    from engine.features.segment.task import SegmentSettings

    if not (args.blur_background or args.replace_background):
        return SegmentSettings(short_side=args.size)
    background = (Background(kind="image", image=str(Path(args.replace_background).expanduser()))
                  if args.replace_background else Background(kind="blur"))
    return SegmentSettings(mode="person", person_side=min(520, args.size or short_side), background=background,
                           labels=True, stabilise=True)


def _check_outputs(args: argparse.Namespace, kind: str) -> tuple[Path | None, Path | None]:
    from cli.common import refuse_same_file
    from engine.io.images import IMAGE_SUFFIXES

    out = mask = None
    if (args.blur_background or args.replace_background) and not args.output:
        raise ValueError("--blur-background and --replace-background change the picture: give -o OUT to write it")
    if args.output:
        out = Path(args.output).expanduser()
        if kind == "folder":
            if out.exists() and not out.is_dir():
                raise ValueError(f"-o {out}: the input is a folder, so the output must be a folder")
        elif kind == "image" and out.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"-o {out}: give an image file name (.jpg, .png, ...) for an image input")
        elif kind == "video" and out.suffix.lower() not in (".mp4", ".avi"):
            raise ValueError(f"-o {out}: give a .mp4 or .avi file for a video input")
        if kind != "folder" and not out.parent.is_dir():
            raise ValueError(f"-o {out}: the folder {out.parent} does not exist")
    if args.mask_out:
        mask = Path(args.mask_out).expanduser()
        if kind == "image":
            if mask.suffix.lower() != ".png":
                raise ValueError(f"--mask-out {mask}: give a .png file (class ids must survive exactly: no JPEG)")
            if not mask.parent.is_dir():
                raise ValueError(f"--mask-out {mask}: the folder {mask.parent} does not exist")
        elif mask.exists() and not mask.is_dir():
            raise ValueError(f"--mask-out {mask}: the input is a {kind}, so the label maps go into a folder")
    inputs = [p for p in (args.input, args.weights, args.replace_background) if p]
    for path in (out, mask):
        if path is not None:
            refuse_same_file(inputs, path)
    if out is not None and mask is not None and out.resolve() == mask.resolve():
        raise ValueError(f"-o and --mask-out are the same file ({out}): give two names")
    for folder in (out if kind == "folder" else None, mask if kind != "image" else None):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
    return out, mask


def run(args: argparse.Namespace) -> int:
    from cli.segment_outputs import SegmentOutputs
    from engine.core.errors import UserError
    from engine.features.segment.render import blend_labels
    from engine.features.segment.task import SegmentationTask
    from engine.io import classify, iter_frames
    from engine.runtime.sync import run_task

    try:
        kind = classify(args.input)
        if kind in ("demo", "camera"):
            raise ValueError(f"{args.input}: give an image, a folder or a video file (live cameras are for the GUI)")
        out, mask = _check_outputs(args, kind)
        entry = _entry(args)
        if entry.meta.get("kind") == "instances":
            from cli.segment_instances import run_instances
            return run_instances(args, entry, kind, out, mask)
        segmenter = _segmenter(args, entry)
        task = SegmentationTask(segmenter, _settings(args, segmenter.short_side))
    except (UserError, ValueError) as exc:
        return fail(exc)

    frames = 0
    totals: dict[str, int] = {}
    try:
        with SegmentOutputs(kind, args.input, out, mask) as outputs:
            from engine.runtime.device import choose_device

            for step in run_task(task, iter_frames(args.input), device=choose_device()):
                frame, result = step.frame, step.result
                seg = result.segmentation
                frames += 1
                source = frame.source if kind != "video" else str(args.input)
                counts = seg.counts()
                for name, n in counts.items():
                    totals[name] = totals.get(name, 0) + n
                if args.json:
                    h, w = frame.image.shape[:2]
                    print_json({"source": source, "frame": frame.index, "width": w, "height": h,
                                "model": segmenter.name, "pixels": counts})
                elif kind != "video":
                    share = ", ".join(f"{k} {v / seg.labels.size:.1%}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
                    print(f"{frame.source}: {share}")
                outputs.write_mask(frame, seg.labels)
                if out is None:
                    continue
                if result.image is not None:
                    picture = result.image
                else:
                    picture = frame.image.copy()
                    blend_labels(picture, seg.labels, 0.5, range(1, len(seg.categories)))
                outputs.write_picture(frame, picture)
    except (UserError, OSError) as exc:
        return fail(exc)
    if frames == 0:
        return fail(f"{args.input}: no frame could be read (is the video empty or damaged?)")
    if kind == "video" and not args.json:
        share = ", ".join(f"{k} {v / max(1, sum(totals.values())):.1%}" for k, v in sorted(totals.items(), key=lambda kv: -kv[1]))
        print(f"{args.input}: {frames} frame(s): {share}" + (f"; wrote {out}" if out else ""))
    return 0
