"""The feed-forward style network of Johnson et al. (2016) in the checkpoint layout of
pytorch/examples' ``fast_neural_style`` (the four published BSD-3-Clause models).

Architecture (channels, kernel, stride), every convolution preceded by reflection padding
of kernel // 2 and followed by an affine instance norm + ReLU unless noted:

    conv1 3->32 k9 s1 | conv2 32->64 k3 s2 | conv3 64->128 k3 s2
    res1..res5: [conv1 128->128 k3, in1, ReLU, conv2 128->128 k3, in2] + identity
    deconv1: nearest x2, 128->64 k3 | deconv2: nearest x2, 64->32 k3
    deconv3: 32->3 k9 (no norm, no ReLU)

State-dict keys therefore read ``conv1.conv2d.weight``, ``in1.weight``,
``res3.in2.bias``, ``deconv2.conv2d.bias`` ... (62 tensors, 1,679,235 parameters). Files
saved with old PyTorch versions also carry ``in*.running_mean`` / ``running_var`` buffers
of the instance norms; they were never used (``track_running_stats`` is off) and are
dropped on load.

Pixel convention of these checkpoints: the input is RGB in 0..255 (not normalised); the
output is RGB in roughly 0..255 and is clamped. Tensors are (N, 3, H, W) float32.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.core.errors import BadFormat

log = logging.getLogger(__name__)

# Buffers older PyTorch versions wrote for InstanceNorm2d; never read at inference.
_DEPRECATED_KEY = re.compile(r"(^|\.)in\d+\.(running_mean|running_var|num_batches_tracked)$")


class FastStyleWeightsError(BadFormat, ValueError):
    """A file or state_dict is not in the TransformerNet layout; the message names the first mismatching key."""


class _PaddedConv(nn.Module):
    """Reflection padding of kernel // 2, then a convolution (attribute names fix the keys)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, upsample: int = 1) -> None:
        super().__init__()
        self.upsample = upsample
        self.pad = kernel // 2
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        return self.conv2d(F.pad(x, (self.pad,) * 4, mode="reflect"))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _PaddedConv(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = _PaddedConv(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))


class TransformerNet(nn.Module):
    """Image transformation network; forward: (N, 3, H, W) RGB 0..255 -> (N, 3, H', W') RGB ~0..255.

    H' = H and W' = W when both are multiples of 4; otherwise the strided layers round
    and the output is a few pixels off (``FastStylizer`` crops or resizes it back).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _PaddedConv(3, 32, 9)
        self.in1 = nn.InstanceNorm2d(32, affine=True)
        self.conv2 = _PaddedConv(32, 64, 3, stride=2)
        self.in2 = nn.InstanceNorm2d(64, affine=True)
        self.conv3 = _PaddedConv(64, 128, 3, stride=2)
        self.in3 = nn.InstanceNorm2d(128, affine=True)
        for i in range(1, 6):
            self.add_module(f"res{i}", _Residual(128))
        self.deconv1 = _PaddedConv(128, 64, 3, upsample=2)
        self.in4 = nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = _PaddedConv(64, 32, 3, upsample=2)
        self.in5 = nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = _PaddedConv(32, 3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        for i in range(1, 6):
            y = getattr(self, f"res{i}")(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of the published layout with its tensor shape, in definition order."""
    return {k: tuple(v.shape) for k, v in TransformerNet().state_dict().items()}


_EXPECTED: dict[str, tuple[int, ...]] | None = None


def _expected() -> dict[str, tuple[int, ...]]:
    global _EXPECTED
    if _EXPECTED is None:
        _EXPECTED = expected_shapes()
    return _EXPECTED


def clean_state(state: object, origin: str = "state_dict") -> dict[str, torch.Tensor]:
    """The state_dict with deprecated instance-norm buffers dropped, checked key by key.

    Raises FastStyleWeightsError naming the first key (in the layout's order) that is
    missing, has the wrong shape or holds NaN or infinity, or the first unexpected key.
    """
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]  # some training scripts wrap it
    if not isinstance(state, Mapping):
        raise FastStyleWeightsError(f"{origin}: expected a TransformerNet state_dict, got {type(state).__name__}")
    kept = {k: v for k, v in state.items() if not (isinstance(k, str) and _DEPRECATED_KEY.search(k))}
    expected = _expected()
    for key, shape in expected.items():
        tensor = kept.get(key)
        if not isinstance(tensor, torch.Tensor):
            raise FastStyleWeightsError(
                f"{origin}: missing key '{key}' — not a fast_neural_style TransformerNet checkpoint "
                f"(its first keys: {', '.join(list(map(str, kept))[:3]) or 'none'})")
        if tuple(tensor.shape) != shape:
            raise FastStyleWeightsError(f"{origin}: key '{key}' has shape {tuple(tensor.shape)}, expected {shape}")
        # Meta tensors (the safe loader's first look) have no values yet: checked again once read.
        if tensor.is_floating_point() and not tensor.is_meta and not bool(torch.isfinite(tensor).all()):  # a black picture
            raise FastStyleWeightsError(f"{origin}: key '{key}' holds values that are not finite numbers (NaN or "
                                        "infinity); the model is broken: train it again or use another file")
    extra = [k for k in kept if k not in expected]
    if extra:
        raise FastStyleWeightsError(f"{origin}: unexpected key '{extra[0]}' — not the TransformerNet layout")
    return {k: kept[k].float() for k in expected}


def _budget() -> int:
    from engine.models.checkpoint import budget_for_parameters, parameter_count

    return budget_for_parameters(parameter_count(_expected()))


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Load and check a TransformerNet checkpoint (weights_only; a .zip of the published models works too).

    Read by the safe loader (``engine.models.checkpoint``): keys, shapes and declared
    sizes are compared with the TransformerNet layout before any tensor is read.
    A zip that holds several ``.pth`` files (the published ``saved_models.zip``) is not
    a model by itself: use ``read_state_from_zip(path, member_stem)``.
    """
    from engine.models import checkpoint

    p = Path(path)
    try:
        state = checkpoint.load(p, budget_bytes=_budget(), check=lambda s: clean_state(s, str(p)), what="style model")
    except checkpoint.CheckpointError as exc:
        raise FastStyleWeightsError(str(exc)) from None
    return clean_state(state, str(p))


def read_state_from_zip(path: str | Path, stem: str) -> dict[str, torch.Tensor]:
    """The model ``stem`` (e.g. "candy") from an archive of several ``.pth`` files.

    The member's declared size and compression ratio are checked before it is inflated.
    """
    import zipfile

    from engine.core.regular_files import RegularFileError, open_regular
    from engine.models import checkpoint

    p = Path(path)
    try:
        with open_regular(p, None, what="style archive") as fh, zipfile.ZipFile(fh) as archive:
            members = [n for n in archive.namelist() if Path(n).name in (f"{stem}.pth", f"{stem}.model")]
            if not members:
                have = ", ".join(Path(n).name for n in archive.namelist() if n.endswith((".pth", ".model"))) or "none"
                raise FastStyleWeightsError(f"{p}: holds no {stem}.pth (it holds: {have})")
    except (zipfile.BadZipFile, OSError) as exc:
        raise FastStyleWeightsError(f"{p}: not a readable zip archive ({exc})") from None
    except RegularFileError as exc:
        raise FastStyleWeightsError(str(exc)) from None
    origin = f"{p}:{members[0]}"
    try:
        state = checkpoint.load_archive_member(p, members[0], budget_bytes=_budget(),
                                               check=lambda s: clean_state(s, origin), what="style archive")
    except checkpoint.CheckpointError as exc:
        raise FastStyleWeightsError(str(exc)) from None
    return clean_state(state, origin)


def build(state: Mapping[str, torch.Tensor]) -> TransformerNet:
    """A TransformerNet in eval mode with ``state`` (checked) loaded."""
    net = TransformerNet()
    net.load_state_dict(clean_state(state))
    return net.eval()


def random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A randomly initialised TransformerNet state_dict (PyTorch's default init), for tests and benchmarks."""
    torch.manual_seed(seed)
    return TransformerNet().state_dict()


def num_params() -> int:
    return sum(int(torch.Size(s).numel()) for s in _expected().values())
