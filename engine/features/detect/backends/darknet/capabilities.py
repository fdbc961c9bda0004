"""What a Darknet YOLO model takes and can do, as catalog data (no torch): the input
transforms and the capabilities that its catalog entries declare, that user cfg files get
too, and that the detector checks its input size against."""

from __future__ import annotations

from engine.models.catalog import Capabilities, InputSize, Transforms

#: What Darknet YOLO feeds its network: RGB in [0, 1], stretched to the input unless the
#: cfg says letter_box=1 (the detector reads the cfg for that).
DARKNET_TRANSFORMS = Transforms(size=(416, 416), resize="stretch", colour="RGB", scale=1 / 255)


def darknet_capabilities(default_size: tuple[int, int] = (416, 416)) -> Capabilities:
    """What our Darknet YOLO runs can do: any input size in multiples of 32 (the stride of
    the coarsest head), the grid/anchor view, fp32/bf16/int8 on the CPU, class-wise NMS,
    tracking, letterbox, torch.compile and a choice of memory layout."""
    return Capabilities(
        input_size=InputSize(default=default_size, adjustable=True, multiple=32, min_side=32),
        grid_view=True, precisions=("fp32", "bf16", "int8"), postprocess="nms", tracks=True,
        letterbox=True, compile=True, channels_last=True)
