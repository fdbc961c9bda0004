"""Which numeric precision "auto" means on this machine, decided once from CPU flags.

"auto" is the fastest mode whose detections agree with float32 (bench/detect.py
--variants measures the agreement: recall and precision of fp32's boxes >= 0.98 at IoU
0.5, mean IoU >= 0.95): bfloat16 on CPUs that compute it natively (AVX512-BF16 or AMX),
float32 elsewhere. int8 moves boxes more and needs calibration frames, so it runs only
when asked for. On CUDA "auto" is float32 as far as the options go; the detector runs
float16 there by itself.

``resolve_precision`` is pure (flags in, choice out) so it can be tested for CPUs this
machine is not; ``cpu_flags`` reads the real ones.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

#: CPU flags (as Linux's /proc/cpuinfo spells them) that give native bfloat16 convolutions.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class PrecisionChoice:
    """What runs: ``mode`` is a concrete precision ("fp32", "bf16", "int8"); ``requested``
    what was asked ("auto" or the mode itself); ``reason`` why auto chose it ("" when the
    mode was asked for by name)."""

    mode: str
    requested: str
    reason: str = ""

    @property
    def label(self) -> str:
        """What the status bar, --help and reports show: "auto (fp32: no bf16 on this CPU)"
        for an automatic choice, the mode alone when it was asked for by name."""
        if self.requested != "auto":
            return self.mode
        return f"auto ({self.mode}: {self.reason})" if self.reason else f"auto ({self.mode})"


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags, lower case ("avx2", "avx512_bf16", "amx_bf16", ...).

    Read from /proc/cpuinfo on Linux; elsewhere (no such file) oneDNN's own bf16 check
    stands in, reported as "avx512_bf16" when it passes."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    try:
        import torch

        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (ImportError, AttributeError, RuntimeError):
        native = False
    return frozenset({"avx512_bf16"} if native else ())


def resolve_precision(requested: str, available: Iterable[str], device_type: str = "cpu",
                      flags: Iterable[str] | None = None, automatic: Iterable[str] | None = None) -> PrecisionChoice:
    """The precision to build with.

    requested: "auto" or a concrete precision (returned as is; whether the model has it
    is the caller's check). available: the model's precisions ("fp32" first).
    device_type: "cpu", "cuda", "mps". flags: the CPU's flags (None: this machine's,
    ``cpu_flags()``). automatic: those of ``available`` that auto may pick, the ones that
    agree with fp32 for this model (None: all of them; ``Capabilities.automatic_precisions``).
    """
    if requested != "auto":
        return PrecisionChoice(requested, requested)
    available = tuple(available)
    if device_type != "cpu":
        return PrecisionChoice("fp32", "auto", f"the {device_type} default")
    if "bf16" not in available:
        return PrecisionChoice("fp32", "auto", "the model has no bf16 mode")
    if automatic is not None and "bf16" not in tuple(automatic):
        return PrecisionChoice("fp32", "auto", "bf16 not shown to agree with fp32 for this model")
    have = set(cpu_flags() if flags is None else (f.lower() for f in flags))
    native = [f for f in BF16_FLAGS if f in have]
    if not native:
        return PrecisionChoice("fp32", "auto", "no bf16 on this CPU")
    return PrecisionChoice("bf16", "auto", "AMX" if "amx_bf16" in native else "AVX512-BF16")
