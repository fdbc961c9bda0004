"""What the detectors that compile in the background share (Darknet, YOLOX, RT-DETR, D-FINE).

A detector mixes in ``BackgroundCompiling`` and keeps the network its ``forward`` calls in
``self._network``: the plain module, or a ``BackgroundCompiled`` around it
(engine.runtime.compiled: eager at once, compiled on a background thread, or loaded from
the package a previous launch kept on disk, checked against eager, eager with one logged
note when that fails). The mixin builds that wrapper
for one input (``background_compiled``) and reports, from the wrapper's live state, what
runs: ``compile_state``, ``compile_note`` and ``precision_label`` (the precision as the
user sees it, with the compile state after a comma). These are read per frame by the live
task (engine.features.detect.task), so the status bar follows a compile that ends.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from engine.features.detect.options import auto_compile
from engine.runtime.compiled import COMPILED, COMPILING, FAILED, BackgroundCompiled, Check, Compiler, Tolerance

#: ``compile_state`` values besides "" (never asked to compile).
STATE_LABELS = {COMPILED: "compiled", COMPILING: "compiling…", FAILED: "eager"}


def wants_compile(requested: bool | None, family: str, precision: str, device: torch.device | str | None) -> bool:
    """Whether a detector of ``family`` built with ``DetectorOptions.compile`` = ``requested``
    compiles: True/False as asked, None ("auto") as ``options.auto_compile`` decides for
    this family, precision ("fp32", "bf16", "int8") and device (None: the CPU)."""
    if requested is not None:
        return bool(requested)
    device_type = torch.device(device).type if device is not None else "cpu"
    return auto_compile(precision, device_type, family)


class BackgroundCompiling:
    """Mixin: the compile state of ``self._network`` and the precision label that shows it."""

    #: What ``BackgroundCompiled`` tries, in order (None: its ``DEFAULT_COMPILERS``, an
    #: AOTInductor package kept on disk for the next launch first, then inductor with frozen
    #: weights). Tests set a quick one (which also keeps the on-disk store out of it).
    compilers: Sequence[Compiler] | None = None
    #: How closely the compiled network must match eager (None: ``tolerance_for`` its dtype).
    #: bench/detect.py --unchecked-compile sets an infinite one to time a network whose
    #: check fails.
    compile_tolerance: Tolerance | None = None
    #: How the compiled outputs are compared with eager ones (None: element by element;
    #: DETR-style set predictors compare their sets of queries, detr/compile_check.py).
    compile_check: Check | None = None

    _network: Any
    _precision_label: str = "fp32"
    name: str
    device: torch.device
    dtype: torch.dtype

    def background_compiled(self, model: nn.Module, input_size: tuple[int, int],
                            channels_last: bool = False) -> BackgroundCompiled:
        """``model`` behind a ``BackgroundCompiled`` that starts compiling (inductor, frozen
        weights) for one (1, 3, H, W) input: ``input_size`` (width, height) in pixels, in
        ``self.dtype`` on ``self.device``, NHWC when ``channels_last``. Another input size
        later runs eagerly while that shape compiles in turn."""
        width, height = input_size
        example = torch.zeros(1, 3, height, width, device=self.device, dtype=self.dtype)
        if channels_last:
            example = example.contiguous(memory_format=torch.channels_last)
        return BackgroundCompiled(model, example, compiler=self.compilers, tolerance=self.compile_tolerance,
                                  check=self.compile_check, name=self.name)

    @property
    def compile_state(self) -> str:
        """"compiled", "compiling…", "eager" (a compile was given up: ``compile_note`` says
        why) or "" (not asked to compile)."""
        network = self._network
        return STATE_LABELS.get(network.state, "") if isinstance(network, BackgroundCompiled) else ""

    @property
    def compile_note(self) -> str:
        """Why compiling was given up ("" while it was not, or never asked)."""
        network = self._network
        return network.note if isinstance(network, BackgroundCompiled) else ""

    @property
    def precision_label(self) -> str:
        """The precision as the user sees it, with the compile state: "bf16, compiled",
        "auto (bf16: AMX), compiling…", "fp32, eager" (compile given up), "fp32"."""
        state = self.compile_state
        return f"{self._precision_label}, {state}" if state else self._precision_label

    @precision_label.setter
    def precision_label(self, label: str) -> None:
        self._precision_label = label
