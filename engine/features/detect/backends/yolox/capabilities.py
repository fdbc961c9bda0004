"""What a YOLOX model takes and can do, as catalog data (no torch): its input transforms
and capabilities, declared by the catalog entries and checked by the detector."""

from __future__ import annotations

from engine.models.catalog import Capabilities, InputSize, Transforms


def yolox_transforms(size: tuple[int, int] = (640, 640)) -> Transforms:
    """YOLOX's ``preproc``: letterbox at the top-left of a 114-grey canvas (sides
    truncated), BGR, raw 0..255 values (``ValTransform(legacy=False)``: no mean or std)."""
    return Transforms(size=size, resize="letterbox", colour="BGR", scale=1.0, fill=114, align="top-left")


def yolox_capabilities(default_size: tuple[int, int] = (640, 640), depthwise: bool = False) -> Capabilities:
    """Any input size in multiples of 32 (the coarsest stride), class-wise NMS, tracking,
    letterbox (or stretch), the grid-point view, torch.compile and a choice of memory layout.

    Precisions (measured with bench/detect.py --model yolox-... --variants fp32,int8,bf16
    on a 2-core AMX CPU): bf16 is faster for every size (Nano 1.05-1.26x, Tiny 2.1-2.6x
    fp32); int8 only without depthwise convolutions (Tiny 1.5x; Nano, ``depthwise``, 0.7x:
    its per-channel convolutions gain nothing and quantising between them costs). "auto"
    stays fp32: on the test pictures neither mode reproduced fp32's boxes to the bar
    (recall/precision >= 0.98, mean IoU >= 0.95) with the weights available here.
    """
    precisions = ("fp32", "bf16") if depthwise else ("fp32", "bf16", "int8")
    return Capabilities(input_size=InputSize(default=default_size, adjustable=True, multiple=32, min_side=32),
                        grid_view=True, precisions=precisions, postprocess="nms", tracks=True, letterbox=True,
                        compile=True, channels_last=True, auto_precisions=("fp32",))
