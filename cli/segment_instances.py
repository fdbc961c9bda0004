"""`segment --model maskrcnn_resnet50_fpn[_v2] | keypointrcnn_resnet50_fpn`: instances, not classes.

Part of the `segment` command (cli/segment.py registers the flags): each picture goes through
torchvision's Mask R-CNN or Keypoint R-CNN (short side 800, or --size), and the instances
scoring at least --score (default 0.5) are kept. -o writes the picture with each mask tinted
in its own colour, its box and "label score", and people's keypoints joined as a skeleton.
--json prints one object per image or frame: {"source", "frame", "width", "height", "model",
"instances": [{"label", "score", "box": [x1, y1, x2, y2], "mask_area", "keypoints":
[[x, y, score], ...]}]} (mask_area with Mask R-CNN, in pixels; keypoints with Keypoint
R-CNN, COCO's 17 in order, score the head's logit). --mask-out writes an INSTANCE-ID map,
not class ids: an 8-bit PNG at the input's size where pixel value i is the i-th instance of
the --json list (1-based, highest score first; overlaps go to the higher score), 0 none;
Keypoint R-CNN has no masks, so its boxes are filled. Seconds per picture on a CPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.common import fail, print_json
from cli.segment_outputs import SegmentOutputs


def run_instances(args: argparse.Namespace, entry: Any, kind: str, out: Path | None, mask: Path | None) -> int:
    """The instance path of `segment` (``entry`` an instance model); returns the exit code."""
    from cli.progress import ProgressBar
    from engine.core.errors import UserError
    from engine.features.segment.instance_render import draw_instances
    from engine.features.segment.instances import InstanceModel
    from engine.io import iter_frames
    from engine.runtime.device import choose_device

    try:
        if args.blur_background or args.replace_background:
            raise ValueError(f"--model {entry.name} finds instances; --blur-background and --replace-background "
                             "need a semantic model (e.g. --model lraspp_mobilenet_v3_large)")
        device = choose_device()
        model = (InstanceModel.from_file(entry, Path(args.weights).expanduser(), device=device) if args.weights
                 else entry.build(None, device))
        if args.size:
            model.set_min_size(max(160, args.size))
    except (UserError, ValueError) as exc:
        return fail(exc)

    frames = found = 0
    progress = ProgressBar(f"{entry.name}") if kind == "video" else None
    try:
        with SegmentOutputs(kind, args.input, out, mask) as outputs:
            for frame in iter_frames(args.input):
                instances = model.run(frame.image).above(args.score)
                frames += 1
                found += len(instances)
                source = frame.source if kind != "video" else str(args.input)
                if args.json:
                    h, w = frame.image.shape[:2]
                    print_json({"source": source, "frame": frame.index, "width": w, "height": h, "model": entry.name,
                                "instances": instances.to_json(model.keypoint_names)})
                elif kind != "video":
                    names = instances.names()
                    counts = {n: names.count(n) for n in dict.fromkeys(names)}
                    listed = ", ".join(f"{n} x{c}" for n, c in counts.items()) or "no instance"
                    print(f"{frame.source}: {listed} (score >= {args.score:g})")
                if progress is not None:
                    progress.update(frames, None, f"frame {frames}")
                if mask is not None:
                    outputs.write_mask(frame, instances.id_map())
                if out is not None:
                    outputs.write_picture(frame, draw_instances(frame.image, instances))
    except (UserError, OSError) as exc:
        return fail(exc)
    if progress is not None:
        sys.stderr.write("\n")
    if frames == 0:
        return fail(f"{args.input}: no frame could be read (is the video empty or damaged?)")
    if kind == "video" and not args.json:
        print(f"{args.input}: {frames} frame(s), {found} instance(s) with score >= {args.score:g}"
              + (f"; wrote {out}" if out else ""))
    return 0
