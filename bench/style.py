#!/usr/bin/env python3
"""Style transfer speed: our Gatys engine vs a plain implementation of the PyTorch
tutorial's algorithm, and live AdaIN frames per second.

    python bench/style.py [--size 512] [--steps 300] [--live-size 640x480] [--live-frames 20]
                          [--device cpu|cuda] [--skip-photo] [--skip-live] [--threads N]
                          [--large 2048 [--large-steps 3] [--low-memory]] [--save DIR]

Photo mode: both run the same VGG-19 weights, content/style images, output size, number
of loss evaluations ("steps"), layers (content conv4_2; style conv1_1..conv5_1) and cost
(the course's J = alpha J_content + beta J_style + TV, same weights), each starting from
the content image with L-BFGS. The reference is the tutorial's structure: loss modules
inserted into a copy of VGG's ``features`` (non-inplace ReLUs, cut after the last loss
layer), one full-resolution optimisation, the image clamped in the closure. Ours adds
coarse-to-fine levels and in-place ReLUs where no feature is read. Final loss: both final
images scored by the same objective at full size.

The trained VGG-19 / AdaIN weights are used when installed (`models fetch vgg19`);
otherwise randomly initialised weights in the same layout (speed does not depend on the
values; loss values then only compare the two implementations with each other).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent))  # run from anywhere: the engine lives in the repository root

from engine.threads import prepare_process, threads_argument  # noqa: E402  (imports no torch)

prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from engine.style.gatys import GatysSettings, StyleObjective, run_to_end, stylize  # noqa: E402
from engine.style.imaging import bgr_to_tensor, resize_to, size_for_long_side, tensor_to_bgr  # noqa: E402
from engine.style.vgg import IMAGENET_MEAN, IMAGENET_STD, LAYERS, VGGFeatures, normalise_state_dict  # noqa: E402

PRESETS = _HERE.parent / "resources" / "styles"


# ----------------------------------------------------------------------------- reference


class _Normalise(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(-1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class _ContentLoss(nn.Module):
    """Transparent layer that records the content cost of its input (course formula)."""

    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.target = target.detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = x.shape[1:]
        self.loss = ((x - self.target) ** 2).sum() / (4 * c * h * w)
        return x


def _gram(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    f = x.view(b * c, h * w)
    return torch.mm(f, f.t()) / (h * w)


class _StyleLoss(nn.Module):
    """Transparent layer that records the style cost of its input (course formula)."""

    def __init__(self, target_feature: torch.Tensor) -> None:
        super().__init__()
        self.target = _gram(target_feature).detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        self.loss = ((_gram(x) - self.target) ** 2).sum() / (4 * c * c)
        return x


def reference_transfer(vgg_state: dict, content: torch.Tensor, style: torch.Tensor, settings: GatysSettings) -> tuple[torch.Tensor, int]:
    """The tutorial's run_style_transfer, with the course's costs; returns (image, evaluations)."""
    weights = normalise_state_dict(vgg_state)
    features = nn.Sequential()
    for name, index, cin, cout in LAYERS:
        if name.startswith("conv"):
            conv = nn.Conv2d(cin, cout, 3, padding=1)
            conv.weight.data.copy_(weights[f"{index}.weight"])
            conv.bias.data.copy_(weights[f"{index}.bias"])
            features.add_module(name, conv)
        elif name.startswith("relu"):
            features.add_module(name, nn.ReLU(inplace=False))
        else:
            features.add_module(name, nn.MaxPool2d(2, 2))
    features = features.to(content.device).eval().requires_grad_(False)

    style_layers = dict(settings.style_layers)
    model = nn.Sequential(_Normalise().to(content.device))
    content_losses, style_losses = [], []
    for name, layer in features.named_children():
        model.add_module(name, layer)
        if name == settings.content_layer:
            loss = _ContentLoss(model(content).detach())
            model.add_module(f"content_loss_{name}", loss)
            content_losses.append(loss)
        if name in style_layers:
            loss = _StyleLoss(model(style).detach())
            model.add_module(f"style_loss_{name}", loss)
            style_losses.append((loss, style_layers[name]))
    last = max(i for i, m in enumerate(model.children()) if isinstance(m, (_ContentLoss, _StyleLoss)))
    model = model[: last + 1]

    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image])
    run = [0]
    beta = settings.style_weight * settings.style_strength

    def closure() -> torch.Tensor:
        with torch.no_grad():
            image.clamp_(0, 1)
        optimizer.zero_grad()
        model(image)
        style_score = sum(w * sl.loss for sl, w in style_losses)
        content_score = sum(cl.loss for cl in content_losses)
        dy = image[..., 1:, :] - image[..., :-1, :]
        dx = image[..., :, 1:] - image[..., :, :-1]
        tv = dy.pow(2).mean() + dx.pow(2).mean()
        loss = settings.content_weight * content_score + beta * style_score + settings.tv_weight * tv
        loss.backward()
        run[0] += 1
        return loss

    while run[0] < settings.steps:
        # the tutorial loops `while run <= num_steps` with 20 evaluations per step();
        # capping the last step keeps the evaluation count equal to ours
        optimizer.param_groups[0]["max_iter"] = min(20, settings.steps - run[0])
        optimizer.param_groups[0]["max_eval"] = optimizer.param_groups[0]["max_iter"]
        optimizer.step(closure)
    with torch.no_grad():
        image.clamp_(0, 1)
    return image.detach(), run[0]


# ----------------------------------------------------------------------------- inputs and scoring


def _weights(device: torch.device) -> tuple[dict, str]:
    from engine.style import models

    try:
        return models.load_vgg19(), "trained vgg19 (installed)"
    except Exception:
        from engine.style.vgg import random_vgg19_state_dict

        return random_vgg19_state_dict(0), "random-init VGG-19 (trained weights not installed here)"


def _content_image(size: int) -> np.ndarray:
    """A synthetic 'photo' (gradient sky, hills, sun), 4:3, long side ``size``."""
    h, w = size_for_long_side(3, 4, size)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.dstack([200 - 80 * y / h, 170 - 40 * y / h, 120 + 60 * y / h]).astype(np.uint8)
    hills = (h * 0.6 + h * 0.08 * np.sin(x[0] / w * 7.0)).astype(int)
    for col in range(w):
        image[hills[col]:, col] = (40, 120 + (col * 37) % 40, 60)
    cv2.circle(image, (int(w * 0.75), int(h * 0.25)), max(4, h // 10), (80, 220, 250), -1)
    return image


def _score(vgg_state: dict, settings: GatysSettings, content: np.ndarray, style: np.ndarray, image: np.ndarray, device) -> dict:
    layers = [settings.content_layer, *dict(settings.style_layers)]
    extractor = VGGFeatures(vgg_state, layers).to(device)
    objective = StyleObjective(extractor, settings, content, [(style, 1.0)], device)
    with torch.no_grad():
        return {k: float(v) for k, v in objective(bgr_to_tensor(image, device)).items()}


def bench_photo(args: argparse.Namespace, device: torch.device) -> None:
    vgg_state, weights_note = _weights(device)
    settings = GatysSettings(size=args.size, steps=args.steps)
    content = _content_image(args.size)
    style_path = PRESETS / "embers.png"
    style = cv2.imread(str(style_path))
    h, w = content.shape[:2]
    style = resize_to(style, h, w)  # the tutorial needs content and style of one size
    print(f"photo mode: {w}x{h}, {args.steps} L-BFGS evaluations, {weights_note}, device {device}, "
          f"torch threads {torch.get_num_threads()}")

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    sync()
    t0 = time.perf_counter()
    ours = run_to_end(stylize(content, [style], settings, vgg_state, device, preview_every=0))
    sync()
    t_ours = time.perf_counter() - t0

    sync()
    t0 = time.perf_counter()
    ref_tensor, ref_evals = reference_transfer(vgg_state, bgr_to_tensor(content, device), bgr_to_tensor(style, device), settings)
    sync()
    t_ref = time.perf_counter() - t0
    ref_image = tensor_to_bgr(ref_tensor)

    loss_ours = _score(vgg_state, settings, content, style, ours.image, device)["total"]
    loss_ref = _score(vgg_state, settings, content, style, ref_image, device)["total"]
    print(f"  ours      : {t_ours:8.1f} s  ({ours.steps} evaluations, levels {settings.level_sides()})  final J = {loss_ours:.5g}")
    print(f"  reference : {t_ref:8.1f} s  ({ref_evals} evaluations, one level)           final J = {loss_ref:.5g}")
    print(f"  speed-up  : {t_ref / t_ours:.2f}x   final loss ours/reference = {loss_ours / loss_ref:.3f} "
          f"({'equal or lower' if loss_ours <= loss_ref * 1.0005 else 'higher'})")
    if args.save:
        cv2.imwrite(str(Path(args.save) / "bench_ours.png"), ours.image)
        cv2.imwrite(str(Path(args.save) / "bench_reference.png"), ref_image)


def bench_large(args: argparse.Namespace, device: torch.device) -> None:
    """A few steps at a large size with the default layers: time and peak memory."""
    import resource

    vgg_state, weights_note = _weights(device)
    settings = GatysSettings(size=args.large, steps=args.large_steps, low_memory=args.low_memory)
    content = _content_image(1024)
    style = cv2.imread(str(PRESETS / "embers.png"))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = run_to_end(stylize(content, [style], settings, vgg_state, device, preview_every=0))
    elapsed = time.perf_counter() - t0
    peak_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    gpu = f", GPU peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if device.type == "cuda" else ""
    h, w = result.image.shape[:2]
    mode = "low-memory" if settings.low_memory else "default"
    print(f"large output ({mode}): {w}x{h}, {result.steps} evaluations over levels {settings.level_sides()}, {weights_note}: "
          f"{elapsed:.1f} s, process peak RSS {peak_rss_gib:.2f} GiB{gpu}; notices: {list(result.notices) or 'none'}")


def bench_live(args: argparse.Namespace, device: torch.device) -> None:
    from engine.style.adain import AdaINStylizer, random_decoder_state, random_encoder_state

    try:
        from engine.style import models

        model = models.load_adain(device)
        note = "trained AdaIN (installed)"
    except Exception:
        model = AdaINStylizer(random_encoder_state(0), random_decoder_state(0), device)
        note = "random-init AdaIN (trained weights not installed here)"
    lw, lh = (int(v) for v in args.live_size.lower().split("x"))
    frame = resize_to(_content_image(max(lw, lh)), lh, lw)
    t0 = time.perf_counter()
    stats = model.style_stats(cv2.imread(str(PRESETS / "mosaic.png")), name="mosaic")
    t_stats = time.perf_counter() - t0
    x = bgr_to_tensor(frame, device)
    for _ in range(2):  # warm-up (allocator, cuDNN autotune)
        model.stylize_tensor(x, stats, 0.8)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(args.live_frames):
        image = tensor_to_bgr(model.stylize_tensor(bgr_to_tensor(frame, device), stats, 0.8))
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    assert image.shape == frame.shape
    print(f"live AdaIN: {lw}x{lh}, {note}, device {device}: {args.live_frames / elapsed:.2f} fps "
          f"({1000 * elapsed / args.live_frames:.0f} ms per frame, BGR in -> BGR out); "
          f"style statistics once: {1000 * t_stats:.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--live-size", default="640x480")
    parser.add_argument("--live-frames", type=int, default=20)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-photo", action="store_true")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--save", metavar="DIR", help="write both photo results here")
    parser.add_argument("--large", type=int, metavar="PX", help="also run a few steps at this long side (e.g. 2048) and report peak memory")
    parser.add_argument("--large-steps", type=int, default=3)
    parser.add_argument("--low-memory", action="store_true", help="--large with activation checkpointing")
    args = parser.parse_args()
    from engine.device import choose_device, device_label

    device = choose_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device: {device_label(device)}")
    if not args.skip_photo:
        bench_photo(args, device)
    if not args.skip_live:
        bench_live(args, device)
    if args.large:
        bench_large(args, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
