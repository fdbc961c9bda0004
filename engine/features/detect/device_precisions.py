"""Which precisions this device can run detectors in (a model offers those it has too).

A module of its own: it asks the Darknet backend about this CPU's kernels, and the backends
import ``options``, so it cannot live there.
"""

from __future__ import annotations


def device_precisions(device) -> tuple[str, ...]:
    """The precisions ``device`` runs detectors in: fp32 everywhere; bf16 and int8 on CPUs
    with native kernels for them (a model offers only those it has too)."""
    if device.type != "cpu":
        return ("fp32",)
    from engine.features.detect.backends.darknet import int8
    from engine.features.detect.backends.darknet.detector import cpu_bf16_supported

    return ("fp32",) + (("bf16",) if cpu_bf16_supported() else ()) + (("int8",) if int8.available() else ())
