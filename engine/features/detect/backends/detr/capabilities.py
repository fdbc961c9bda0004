"""What a DETR-style set predictor takes and can do, as catalog data (no torch): the
input transforms of transformers' RT-DETR / D-FINE image processors and the
capabilities their catalog entries and model folders declare."""

from __future__ import annotations

from engine.models.catalog import Capabilities, InputSize, Transforms

#: How transformers' RT-DETR / D-FINE image processors prepare a frame (checked against
#: them in tests/detect/test_rtdetr_exact.py): stretch to 640x640, bilinear with
#: antialiasing on uint8 pixels, RGB, x / 255, no mean/std.
DETR_TRANSFORMS = Transforms(size=(640, 640), resize="stretch", colour="RGB", scale=1 / 255,
                             interpolation="bilinear", antialias=True)


def detr_capabilities(size: tuple[int, int] = (640, 640), adjustable: bool = True,
                      precisions: tuple[str, ...] = ("fp32", "bf16", "int8")) -> Capabilities:
    """A set predictor's capabilities: no NMS (postprocess "set"), tracked boxes, the
    queries' view (``set_view``: its results carry a ``SetTrace``), and ``precisions``:
    bf16 and int8 on the CPU besides fp32 (both measured faster than fp32 for D-FINE N on
    a 2-core AMX CPU, bench/detect.py --model dfine-n --variants fp32,int8,bf16). "auto"
    stays fp32 (``auto_precisions``): their agreement with fp32 could not be shown here
    (random weights only, whose near-tied scores make any threshold a coin toss).

    compile: they run through torch.compile, in the background (backends/compiling.py).

    adjustable: whether another input size may be asked for (multiples of 32, the
    coarsest feature stride: true when the model makes its anchors and position
    encodings from the feature maps, false when they were fixed for one size).
    """
    return Capabilities(input_size=InputSize(default=size, adjustable=adjustable, multiple=32, min_side=64,
                                             max_side=2048 if adjustable else None),
                        postprocess="set", tracks=True, set_view=True, precisions=precisions, compile=True,
                        auto_precisions=("fp32",))
