"""What a caller may ask of a detector when it is built, as one frozen value.

``DetectorOptions`` replaces free keyword options: a builder takes one, and
``options.check(capabilities, model)`` refuses, with one clear message, anything the
model's catalog entry does not declare (a new input size for a model that resizes frames
itself, bfloat16 for a model without it) instead of silently dropping it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Iterable, Mapping

from engine.models.catalog import PRECISIONS, Capabilities, CapabilityError, catalog
from engine.runtime.precision import PrecisionChoice, resolve_precision

#: How the CLI spells the options it has; messages use these when a caller passes them to ``check``.
CLI_FLAGS = {"input_size": "--size", "precision": "--precision", "iou_threshold": "--iou"}
#: What ``DetectorOptions.precision`` may be: "auto" (every model has it: the fastest mode
#: that agrees with fp32 here, see engine.runtime.precision) or one of a model's ``PRECISIONS``.
PRECISION_CHOICES = ("auto", *PRECISIONS)


@dataclass(frozen=True)
class DetectorOptions:
    """Build-time choices for a detector; None means "the model's own default".

    input_size: network input (width, height) in pixels. letterbox: fit frames with the
    aspect kept and grey padding (True) or stretched (False); None: as the model was
    trained (a Darknet cfg's letter_box). precision: one of ``PRECISION_CHOICES``; "auto"
    (the default) is resolved once, when the detector is built (``resolve``): bf16 on CPUs
    with AVX512-BF16/AMX for models that have it, else fp32, which on CUDA means float16
    where the detector does that by itself; int8 only when asked for.
    compile: run through ``torch.compile``; None ("auto", what the live app asks for):
    where the model's backend compiles in the background while the eager network serves
    the first frames (engine.runtime.compiled) and compiling pays: the model families and
    precisions ``AUTO_COMPILE`` lists, on a CPU (``auto_compile``); False (the default) for one-off runs, where a
    compile would only compete with the work. channels_last: NHWC memory layout (None: the
    detector's choice). conf_threshold: the first minimum score, 0..1. iou_threshold: the
    first NMS IoU threshold, 0..1 (None: the detector's 0.45; only for "nms" models).
    Thresholds stay live attributes of the detector afterwards.
    """

    input_size: tuple[int, int] | None = None
    letterbox: bool | None = None
    precision: str = "auto"
    compile: bool | None = False
    channels_last: bool | None = None
    conf_threshold: float = 0.25
    iou_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.input_size is not None:
            size = tuple(self.input_size)
            if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
                raise ValueError(f"input size must be (width, height) in positive pixels, not {self.input_size!r}")
            object.__setattr__(self, "input_size", size)
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"precision '{self.precision}' is not one of {', '.join(PRECISION_CHOICES)}")
        for name in ("conf_threshold", "iou_threshold"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name.replace('_', ' ')} {value} must be between 0 and 1")

    def check(self, capabilities: Capabilities, model: str, flags: Mapping[str, str] | None = None) -> None:
        """Raise CapabilityError naming ``model`` when an option asks for something its
        ``capabilities`` do not declare. ``flags`` maps option names to how the caller
        spells them in messages (``CLI_FLAGS`` for the command line)."""
        def say(option: str) -> str:
            return (flags or {}).get(option, option.replace("_", " "))

        caps = capabilities
        if self.input_size is not None:
            size = caps.input_size
            if size is None or not size.adjustable:
                fixed = f" ({size.default[0]}x{size.default[1]})" if size is not None else ""
                raise CapabilityError(f"{model} has a fixed input size{fixed}; {say('input_size')} is for models "
                                      f"whose input size can be changed{_examples()}")
            problem = size.problem(self.input_size)
            if problem is not None:
                raise CapabilityError(f"{model}: {say('input_size')} {problem}")
        if self.letterbox is not None and not caps.letterbox:
            raise CapabilityError(f"{model} cannot letterbox its input; {say('letterbox')} is for models that can")
        if self.precision != "auto" and self.precision not in caps.precisions:
            raise CapabilityError(f"{say('precision')} {self.precision} is not available for {model}: it runs in "
                                  f"{', '.join(caps.precisions)}")
        if self.compile and not caps.compile:
            raise CapabilityError(f"{model} cannot run through torch.compile; leave out {say('compile')}")
        if self.channels_last is not None and not caps.channels_last:
            raise CapabilityError(f"{model} keeps its own memory layout; leave out {say('channels_last')}")
        if self.iou_threshold is not None and caps.postprocess != "nms":
            how = " (it predicts a set of boxes)" if caps.postprocess == "set" else ""
            raise CapabilityError(f"{model} uses no non-maximum suppression{how}; "
                                  f"{say('iou_threshold')} does not apply to it")


    def resolve(self, capabilities: Capabilities, device_type: str = "cpu",
                flags: Iterable[str] | None = None) -> tuple["DetectorOptions", PrecisionChoice]:
        """These options with "auto" replaced by the precision it means for a model with
        ``capabilities`` on ``device_type`` ("cpu", "cuda", "mps") and a CPU with ``flags``
        (None: this machine's); and that choice, whose ``label`` says what runs and why.
        A concrete precision is kept as it is."""
        choice = resolve_precision(self.precision, capabilities.precisions, device_type, flags,
                                   capabilities.automatic_precisions)
        return (self if choice.mode == self.precision else replace(self, precision=choice.mode)), choice


#: Set to "off" to keep "auto" from compiling (the live app then runs eagerly throughout).
COMPILE_ENV = "CNN_STUDIO_COMPILE"


#: Where compile None ("auto") compiles: per model family, the precisions in which the
#: inductor-compiled network beat the eager one clearly on a CPU and passed its check
#: against eager (numbers in ``auto_compile``). A family or precision missing here runs
#: eagerly unless compile=True is asked for.
AUTO_COMPILE: dict[str, frozenset[str]] = {
    "darknet": frozenset({"fp32", "bf16"}),
    "yolox": frozenset({"fp32"}),
    "detr": frozenset({"fp32"}),  # RT-DETR and D-FINE, checked as sets of queries (detr/compile_check.py)
}


def auto_compile(precision: str, device_type: str = "cpu", family: str = "darknet") -> bool:
    """What compile None ("auto") means for a detector of ``family`` ("darknet", "yolox",
    "detr": RT-DETR and D-FINE) that compiles in the background: on where ``AUTO_COMPILE``
    lists ``precision`` for it, on a CPU only; off when ``$CNN_STUDIO_COMPILE`` is "off".

    The measurements behind the table (network alone / end to end, ms per frame, eager ->
    compiled, timed interleaved in one run with OpenVINO and ONNX Runtime in f32 on the same
    ONNX export; bench/detect.py --peers openvino,onnxruntime --variants fp32,fp32-compiled):

    - darknet bf16: yolov4-tiny 416, network 22.4 -> 16.1 (AMX CPU).
    - darknet fp32 (the CPUs without bf16): yolov4-tiny 416 on a shared 2-core AVX2 EPYC,
      2 threads; eager already runs prepacked, fused convolutions (darknet/cpu_fusion.py),
      and the compile still gains: network 74.9 -> 65.1 ms (0.87x), end to end 78.3 -> 72.5
      (0.93x) at load 1.4; 127.8 -> 118.7 (0.93x) at load 3. Compiled in 25-34 s in the
      background on the first launch, loaded from disk in 1-2 s on the next.
    - yolox fp32: yolox-tiny 416 on that machine; quiet run (load 1.4): network 91.5 -> 82.4
      ms (0.90x), end to end 97.3 -> 90.5 (0.93x); another (load 1.9) 93.0 -> 78.3 (0.84x);
      under load 8 0.69x / 0.84x. The compile took 35 s with inductor's disk cache warm (94 s
      cold, loaded), in the background, once per input size. bf16 is not listed: not
      measured (no bf16 CPU to measure on).
    - detr fp32: dfine-n 640 on that machine (load 1.4): network 209.1 -> 99.7 ms (0.48x),
      end to end 214.5 -> 110.5 (0.52x); rtdetr-r18 640 (load 1.8): network 864 -> 602 ms
      (0.70x), end to end 836 -> 644 (0.77x). Their compiled outputs list the same queries in
      another order (the encoder's top-k over nearly tied scores; logits up to 0.12 apart
      index by index, every query within 2e-6 of one of the other's), so SetDetector checks
      them as sets (``compile_check``), not element by element; both pass on the blank
      example and the eight oracle pictures. The first compile is long (110 s with
      inductor's disk cache warm, 634 s cold on a loaded 2-core machine) but runs once per
      input size: the package is kept on disk and loads in 0.5-2 s at the next launch.
    """
    if os.environ.get(COMPILE_ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return False
    return device_type == "cpu" and precision in AUTO_COMPILE.get(family, frozenset())


def _examples() -> str:
    """", e.g. yolov4-tiny, yolov3-tiny" from the detect entries whose input size can change."""
    names = [e.name for e in catalog().entries("detect") if e.capabilities.adjustable_input][:2]
    return f", e.g. {', '.join(names)}" if names else ""
