"""Training a fast style network (TransformerNet) on the user's own style and photos.

The perceptual loss of Johnson et al. (2016), with a frozen VGG-16 (``engine.features.style.vgg16``):

    content = content_weight * MSE(relu2_2(y), relu2_2(x))
    style   = style_weight * sum over relu1_2, relu2_2, relu3_3, relu4_3 of MSE(G(y), G(s))
    G(f)    = f f^T / (C H W)   for (C, H*W) features f

x: a batch of content crops (size x size, RGB 0..255), y = TransformerNet(x), s: the style
image. Optimiser: Adam. ``train`` is a generator: it yields ``TrainProgress`` after every
step (losses, ETA, a preview image every few steps) and returns a ``TrainResult`` with the
state_dict; closing it (the GUI's cancel) or setting ``cancel`` stops it within one step,
and nothing is ever written by it. ``train_job`` wraps it and saves the model atomically
(temporary file + rename), so a cancelled or failed run never leaves a half-written file.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.core.errors import Cancelled, UserError
from engine.features.style.transformer_net import TransformerNet, clean_state
from engine.features.style.vgg16 import VGG16Features

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class TrainingError(UserError, ValueError):
    """Bad input for training (no images, unreadable style); the message names the file/folder."""


# Training stopped because ``cancel`` was set; nothing was saved.
TrainingCancelled = Cancelled


@dataclass(frozen=True)
class TrainSettings:
    """steps: optimiser steps. size: content crops are size x size px. batch: crops per step.
    lr: Adam learning rate. content_weight / style_weight: the loss weights (defaults of
    pytorch/examples). style_size: long side of the style image (None: ``size``).
    preview_every: steps between preview images (0: none)."""

    steps: int = 2000
    size: int = 256
    batch: int = 2
    lr: float = 1e-3
    content_weight: float = 1e5
    style_weight: float = 1e10
    style_size: int | None = None
    seed: int = 0
    preview_every: int = 25

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise TrainingError(f"steps must be >= 1 (got {self.steps})")
        if not 32 <= self.size <= 1024:
            raise TrainingError(f"size must be between 32 and 1024 px (got {self.size})")
        if self.batch < 1:
            raise TrainingError(f"batch must be >= 1 (got {self.batch})")


@dataclass(frozen=True, eq=False)
class TrainProgress:
    """One report: step of steps, losses {"content", "style", "total"}, ETA in seconds,
    preview (BGR uint8) or None, message (a note such as the time estimate) or ""."""

    step: int
    steps: int
    losses: dict[str, float] = field(default_factory=dict)
    eta_s: float | None = None
    preview: np.ndarray | None = None
    message: str = ""


@dataclass(frozen=True, eq=False)
class TrainResult:
    state: dict[str, torch.Tensor]
    history: list[dict[str, float]]
    settings: TrainSettings
    elapsed_s: float
    device: str


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted); TrainingError when there are none."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise TrainingError(f"{root}: not a folder (give a folder of content photos)")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise TrainingError(f"{root}: holds no images ({', '.join(IMAGE_SUFFIXES)}); put some photos in it")
    return files


def _crop(image: np.ndarray, size: int) -> np.ndarray:
    """The centre square of the short side, resized to ``size`` x ``size`` (BGR uint8).

    Cropping first keeps the work at the square's size whatever the aspect ratio (a
    1 x 24,000,000 picture would otherwise be scaled up to gigabytes before the crop)."""
    h, w = image.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    square = image[y:y + side, x:x + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(square, (size, size), interpolation=interpolation))


def to_tensor(images: Sequence[np.ndarray]) -> torch.Tensor:
    """BGR uint8 images of one size -> (N, 3, H, W) RGB float 0..255."""
    stack = np.stack([np.ascontiguousarray(i[:, :, ::-1]) for i in images])
    return torch.from_numpy(stack).permute(0, 3, 1, 2).float()


def to_bgr(tensor: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) RGB 0..255 -> BGR uint8."""
    t = tensor.detach()[0] if tensor.dim() == 4 else tensor.detach()
    rgb = t.clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(rgb[:, :, ::-1])


def gram(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) Gram matrices divided by C*H*W."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


class PerceptualLoss:
    """Content + style loss against a fixed style image (see the module docstring)."""

    def __init__(self, vgg: VGG16Features, style: torch.Tensor, content_weight: float, style_weight: float) -> None:
        self.vgg = vgg
        self.content_weight = content_weight
        self.style_weight = style_weight
        with torch.no_grad():
            self.style_grams = [gram(f) for f in vgg(style)]

    def __call__(self, y: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        fy = self.vgg(y)
        with torch.no_grad():
            fx_content = self.vgg(x)[1]
        content = self.content_weight * F.mse_loss(fy[1], fx_content)
        style = sum(F.mse_loss(gram(f), g.expand(f.shape[0], -1, -1)) for f, g in zip(fy, self.style_grams))
        style = self.style_weight * style
        return {"content": content, "style": style, "total": content + style}


class _Batches:
    """Endless shuffled batches of centre crops; unreadable files are skipped (and logged once)."""

    def __init__(self, files: Sequence[Path], size: int, batch: int, seed: int) -> None:
        self.files = list(files)
        self.size = size
        self.batch = batch
        self.rng = random.Random(seed)
        self.order: list[Path] = []
        self.bad: set[Path] = set()

    def _next_file(self) -> Path:
        if not self.order:
            self.order = [f for f in self.files if f not in self.bad]
            if not self.order:
                raise TrainingError(f"none of the {len(self.files)} content images could be read")
            self.rng.shuffle(self.order)
        return self.order.pop()

    def read(self, path: Path) -> np.ndarray | None:
        # engine.io.images.read_image: regular files only, dimensions checked from the header
        # against engine.core.limits before decoding (a 5 KB JPEG may claim 30000x30000).
        from engine.core.errors import SourceError
        from engine.io.images import read_image

        try:
            image = read_image(path)
        except SourceError as exc:
            if path not in self.bad:
                log.warning("skipping %s", exc)
            self.bad.add(path)
            return None
        return _crop(image, self.size)

    def next(self) -> torch.Tensor:
        crops: list[np.ndarray] = []
        while len(crops) < self.batch:
            image = self.read(self._next_file())
            if image is not None:
                crops.append(image)
        return to_tensor(crops)


def _style_tensor(style: np.ndarray, side: int) -> torch.Tensor:
    h, w = style.shape[:2]
    scale = side / max(h, w)
    resized = cv2.resize(style, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    return to_tensor([resized])


def train(style: np.ndarray, content_files: Sequence[Path], settings: TrainSettings, vgg_state: dict,
          device: torch.device | str = "cpu", init_state: dict | None = None,
          cancel: threading.Event | None = None) -> Generator[TrainProgress, None, TrainResult]:
    """Train a TransformerNet; yields TrainProgress per step, returns TrainResult.

    style: BGR uint8 image. content_files: image paths (see ``list_images``). vgg_state:
    torchvision VGG-16 weights. init_state: start from these TransformerNet weights
    (fine-tuning) instead of a random init. cancel: set it to stop mid-step
    (TrainingCancelled); closing the generator stops it at the next report.
    The first report carries the estimated duration in its message, measured on one
    step, before the weights change.
    """
    if style is None or style.ndim != 3:
        raise TrainingError("the style image is missing or not a colour image")
    if not content_files:
        raise TrainingError("no content images to train on")
    device = torch.device(device)
    torch.manual_seed(settings.seed)
    net = TransformerNet()
    if init_state is not None:
        net.load_state_dict(clean_state(init_state, "initial weights"))
    net = net.to(device).train()
    vgg = VGG16Features(vgg_state).to(device)
    loss_fn = PerceptualLoss(vgg, _style_tensor(style, settings.style_size or settings.size).to(device),
                             settings.content_weight, settings.style_weight)
    optimizer = torch.optim.Adam(net.parameters(), settings.lr)
    batches = _Batches(content_files, settings.size, settings.batch, settings.seed)
    preview_source = None
    for path in content_files[:8]:
        preview_source = batches.read(path)
        if preview_source is not None:
            break
    preview_x = to_tensor([preview_source]).to(device) if preview_source is not None else None

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    # a timed trial step (gradients thrown away): the estimate comes before any real work
    started = time.perf_counter()
    trial = batches.next().to(device)
    loss_fn(net(trial), trial)["total"].backward()
    optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_step = time.perf_counter() - started
    estimate = per_step * settings.steps
    yield TrainProgress(0, settings.steps, eta_s=estimate,
                        message=f"training {settings.steps} steps at {settings.size} px, batch {settings.batch}, on {device}: "
                                f"about {format_duration(estimate)} ({per_step:.2f} s a step)")
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    for step in range(1, settings.steps + 1):
        if cancelled():
            raise TrainingCancelled("training cancelled; nothing was saved")
        x = batches.next().to(device)
        optimizer.zero_grad(set_to_none=True)
        losses = loss_fn(net(x), x)
        if cancelled():  # mid-step: the forward pass ran, the weights are untouched
            raise TrainingCancelled("training cancelled; nothing was saved")
        losses["total"].backward()
        optimizer.step()
        values = {k: float(v.detach()) for k, v in losses.items()}
        if not all(np.isfinite(v) for v in values.values()):
            raise FloatingPointError(f"the loss became {values['total']} at step {step}: lower the learning rate or the style weight")
        history.append(values)
        elapsed = time.perf_counter() - t0
        preview = None
        if preview_x is not None and settings.preview_every and (step % settings.preview_every == 0 or step == settings.steps):
            net.eval()
            with torch.no_grad():
                preview = to_bgr(net(preview_x))
            net.train()
        yield TrainProgress(step, settings.steps, values, eta_s=elapsed / step * (settings.steps - step), preview=preview)
    net.eval()
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return TrainResult(state, history, settings, time.perf_counter() - t0, str(device))


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min"


def save_state(state: dict[str, torch.Tensor], path: str | Path, info: dict | None = None) -> Path:
    """Write a TransformerNet state_dict (the pytorch/examples layout) atomically: temp file, then rename.

    ``info`` (JSON-able) goes to a ``.json`` file beside it.
    """
    from engine.core.safe_files import atomic_path, atomic_write_json

    target = Path(path).expanduser()
    clean_state(state, "trained model")
    with atomic_path(target) as tmp:
        torch.save(state, tmp)
    if info is not None:
        atomic_write_json(target.with_suffix(".json"), info, indent=1, sort_keys=True)
    return target


def train_job(style: np.ndarray, content_folder: str | Path, out_path: str | Path, settings: TrainSettings,
              vgg_state: dict, device: torch.device | str = "cpu", cancel: threading.Event | None = None,
              style_name: str = "style") -> Generator[TrainProgress, None, tuple[Path, TrainResult]]:
    """List the content images, train, save to ``out_path`` atomically; returns (path, result).

    Shared by ``stylize train`` and the Style tab's training page.
    """
    files = list_images(content_folder)
    result = yield from train(style, files, settings, vgg_state, device, cancel=cancel)
    info = {"style": style_name, "content_images": len(files), "settings": asdict(settings),
            "final_losses": result.history[-1] if result.history else {}, "device": result.device,
            "seconds": round(result.elapsed_s, 1)}
    return save_state(result.state, out_path, info), result
