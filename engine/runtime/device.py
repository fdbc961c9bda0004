"""Choosing the compute device and precision: CUDA > MPS > CPU, overridable."""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)

DEVICE_ENV = "CNN_STUDIO_DEVICE"


class DeviceError(ValueError):
    """A requested device does not exist on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_device(preference: str | None = None) -> torch.device:
    """Return the device to run models on.

    ``preference`` is "auto"/None (CUDA, then Apple MPS, then CPU), or an explicit
    torch device string such as "cpu", "cuda", "cuda:1", "mps". When it is None the
    ``$CNN_STUDIO_DEVICE`` variable is consulted first. An explicit device that is not
    available raises DeviceError naming what is available.
    """
    choice = (preference or os.environ.get(DEVICE_ENV, "") or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(choice)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device '{choice}': use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        if index >= count:
            raise DeviceError(f"device '{choice}' is not available: this machine has {count} CUDA device(s); use cpu or auto")
        return torch.device("cuda", index)
    if device.type == "mps" and not _mps_available():
        raise DeviceError("device 'mps' is not available on this machine; use cpu or auto")
    return device


def device_label(device: torch.device) -> str:
    """A short human label: "NVIDIA GeForce RTX 3060 (cuda:0)" or "CPU (8 threads)"."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"{torch.cuda.get_device_name(index)} (cuda:{index})"
    if device.type == "mps":
        return "Apple GPU (mps)"
    return f"CPU ({torch.get_num_threads()} threads)"


def supports_half(device: torch.device) -> bool:
    """Half precision pays off on CUDA; on the CPU it is slower, so we keep float32."""
    return device.type == "cuda"

