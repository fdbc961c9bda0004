"""Optimisation-based style transfer (Gatys, Ecker & Bethge), run as a cancellable generator.

The generated image G (pixels, RGB in [0, 1]) is optimised to minimise

    J(G) = alpha * J_content(C, G) + beta * strength * J_style(S, G) + tv_weight * J_tv(G)

with the costs of ``engine.features.style.costs`` on VGG-19 activations (content on conv4_2,
style Grams on conv1_1 ... conv5_1 by default). Speed comes from three choices:

* the extractor stops at the deepest layer needed (conv5_1: conv5_2 onwards never runs);
* the content and style targets are computed once per scale, without autograd;
* coarse-to-fine: most steps run at 1/2 or 1/4 of the output size, where a step costs
  4x or 16x less, and each level starts from the upsampled result of the one before.
  This is also what lets a 2048 px output converge in a few hundred steps.

One *step* is one evaluation of J and its gradient (the PyTorch tutorial counts the
same way), whatever the optimiser, so a progress report comes after every evaluation
and a cancel request is honoured before the next one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.features.style.costs import content_cost, gram_matrix, layer_style_cost_from_grams, total_variation
from engine.features.style.imaging import (
    StyleImage,
    bgr_to_tensor,
    combine_luminance,
    gray_as_bgr,
    match_colors,
    match_luminance,
    resize_long_side,
    resize_to,
    size_for_long_side,
    tensor_to_bgr,
)
from engine.features.style.vgg import VGGFeatures, check_layer_names

log = logging.getLogger(__name__)

DEFAULT_STYLE_LAYERS: tuple[tuple[str, float], ...] = (
    ("conv1_1", 0.2), ("conv2_1", 0.2), ("conv3_1", 0.2), ("conv4_1", 0.2), ("conv5_1", 0.2),
)
PRESERVE_COLOR_MODES = ("none", "luminance", "histogram")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")
# The coarsest level of the pyramid is never below this long side: VGG's conv5 layers
# see a 1/16 image, and under ~128 px there is too little left for a Gram to mean much.
MIN_LEVEL_SIDE = 128
MAX_LEVELS = 3
# Share of all steps given to each level, coarse to fine, by number of levels. Coarse
# steps cost 1/4 (1/16) of a fine one and settle the large-scale layout, so they get
# the larger share; the finest level only has to refine texture (bench/style.py
# measures the effect on time and final loss against a single-level run).
_STEP_SHARES = {1: (1.0,), 2: (0.6, 0.4), 3: (0.45, 0.3, 0.25)}


MAX_STYLE_LAYERS = 16  # VGG-19 has 16 conv layers; a longer list is not a real setting


def _setting_value(key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default`` (bool, int, float or str); ValueError otherwise."""
    kind = type(default)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
            raise ValueError(f"setting {key}={value!r} is not a finite number")
    elif isinstance(value, kind):
        return value
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise ValueError(f"setting {key}={shown} is not {'an' if kind is int else 'a'} {kind.__name__}")


def _style_layers(value: Any) -> tuple[tuple[str, float], ...]:
    """{name: weight} or [[name, weight], ...] as a tuple of (name, weight); ValueError otherwise."""
    items = list(value.items()) if isinstance(value, Mapping) else value
    if not isinstance(items, (list, tuple)) or len(items) > MAX_STYLE_LAYERS:
        raise ValueError(f"style_layers must map at most {MAX_STYLE_LAYERS} layer names to weights")
    layers = []
    for item in items:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError("style_layers must map layer names to weights")
        layers.append((item[0], _setting_value(f"style_layers[{item[0]}]", item[1], 1.0)))
    return tuple(layers)


@dataclass(frozen=True)
class GatysSettings:
    """Everything that decides the result (and is written into a saved PNG).

    size: long side of the output in pixels. steps: evaluations of J in all, over all
    levels. style_strength multiplies style_weight (beta). style_scale: the style image
    is resized to style_scale x the output long side, so > 1 gives bigger strokes.
    preserve_color: "none", "luminance" (luminance-only transfer, content chroma kept)
    or "histogram" (style recoloured to the content's colour statistics first).
    levels: coarse-to-fine levels, 0 = automatic. learning_rate: None = 1.0 for L-BFGS,
    0.02 for Adam (pixels are in [0, 1]). low_memory: activation checkpointing in VGG
    (about half the memory, about a third more time).
    """

    size: int = 512
    steps: int = 300
    optimizer: str = "lbfgs"
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 1.0
    style_strength: float = 1.0
    content_layer: str = "conv4_2"
    style_layers: tuple[tuple[str, float], ...] = DEFAULT_STYLE_LAYERS
    style_scale: float = 1.0
    preserve_color: str = "none"
    init: str = "content"
    seed: int = 0
    levels: int = 0
    learning_rate: float | None = None
    pool: str = "max"
    low_memory: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not 16 <= self.size <= 8192:
            problems.append(f"size {self.size} (use 16 to 8192 px)")
        if self.steps < 1:
            problems.append(f"steps {self.steps} (need at least 1)")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer {self.optimizer!r} (use {' or '.join(OPTIMIZERS)})")
        if self.preserve_color not in PRESERVE_COLOR_MODES:
            problems.append(f"preserve_color {self.preserve_color!r} (use {', '.join(PRESERVE_COLOR_MODES)})")
        if self.init not in INITS:
            problems.append(f"init {self.init!r} (use {' or '.join(INITS)})")
        weights = (self.content_weight, self.style_weight, self.tv_weight, self.style_strength,
                   *(w for _, w in self.style_layers))
        if not all(math.isfinite(w) for w in weights):
            problems.append("a weight that is not a finite number")
        elif min(weights) < 0:
            problems.append("negative weight (weights must be >= 0)")
        if not 0.05 <= self.style_scale <= 8:
            problems.append(f"style_scale {self.style_scale} (use 0.05 to 8)")
        if self.learning_rate is not None and not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            problems.append(f"learning_rate {self.learning_rate} (must be a positive number)")
        if not 0 <= self.levels <= 5:
            problems.append(f"levels {self.levels} (use 0 for automatic, or 1 to 5)")
        if not self.style_layers:
            problems.append("no style layers")
        if problems:
            raise ValueError("invalid style settings: " + "; ".join(problems))
        check_layer_names([self.content_layer, *(name for name, _ in self.style_layers)])

    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1.0 if self.optimizer == "lbfgs" else 0.02

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (style_layers as {name: weight})."""
        data = dataclasses.asdict(self)
        data["style_layers"] = {name: weight for name, weight in self.style_layers}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GatysSettings":
        """Inverse of ``to_dict``; unknown keys are ignored.

        Strict, because the dict may come from a file: an int field takes an int (or a
        float with an integral value), a float field a finite number, a bool field a bool,
        a str field a str. Anything else, and every check of ``__post_init__``, raises
        ValueError naming the setting.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"the settings are a {type(data).__name__}, not a mapping of names to values")
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                continue
            if key == "style_layers":
                kwargs[key] = _style_layers(value)
            elif key == "learning_rate":
                kwargs[key] = None if value is None else _setting_value(key, value, 1.0)
            else:
                kwargs[key] = _setting_value(key, value, known[key].default)
        return cls(**kwargs)

    def level_sides(self) -> list[int]:
        """Long side of each coarse-to-fine level, coarse first, ending at ``size``."""
        count = min(self.levels or MAX_LEVELS, self.steps)  # every level needs a step
        sides = [self.size]
        while len(sides) < count and sides[0] // 2 >= MIN_LEVEL_SIDE:
            sides.insert(0, sides[0] // 2)
        return sides

    def level_steps(self) -> list[int]:
        """Steps per level (coarse first), summing to ``steps``; the finest level gets the rest."""
        sides = self.level_sides()
        shares = _STEP_SHARES.get(len(sides)) or tuple([1.0 / len(sides)] * len(sides))
        counts = [max(1, int(self.steps * s)) for s in shares[:-1]]
        counts.append(self.steps - sum(counts))
        return counts


@dataclass(frozen=True, eq=False)
class StyleProgress:
    """One progress report, after one evaluation of J (or a notice, with step unchanged).

    losses: weighted terms as they enter J — "content" (alpha J_content), "style"
    (beta strength J_style), "tv" and "total". size: (height, width) of the current
    level. preview: BGR uint8 of the current image every ``preview_every`` steps, else None.
    eta_s: estimated seconds left (None until measured).
    """

    step: int
    total_steps: int
    level: int
    levels: int
    size: tuple[int, int]
    losses: Mapping[str, float]
    elapsed_s: float
    eta_s: float | None
    preview: np.ndarray | None = None
    message: str = ""


@dataclass(frozen=True, eq=False)
class StyleResult:
    """What the optimisation produced. image: (H, W, 3) uint8 BGR, H/W = the output size.

    image is the best (lowest J) image evaluated at the finest level reached; losses are
    its terms. history: the terms of every evaluation in order.
    """

    image: np.ndarray
    settings: GatysSettings
    losses: Mapping[str, float]
    steps: int
    elapsed_s: float
    device: str
    cancelled: bool = False
    notices: tuple[str, ...] = ()
    history: tuple[Mapping[str, float], ...] = field(default=(), repr=False)


class StyleObjective:
    """J(G) for one output size: fixed targets of one content and a blend of styles.

    content, styles: BGR uint8 already prepared (colour mode applied) — content at the
    level size (height, width), styles at the size they should be seen at.
    ``__call__(g)`` takes (1, 3, H, W) RGB in [0, 1] and returns the weighted terms.
    """

    def __init__(self, extractor: VGGFeatures, settings: GatysSettings, content: np.ndarray,
                 styles: Sequence[tuple[np.ndarray, float]], device: torch.device) -> None:
        self.extractor = extractor
        self.settings = settings
        self.style_layers = dict(settings.style_layers)
        self.alpha = float(settings.content_weight)
        self.beta = float(settings.style_weight) * float(settings.style_strength)
        total_weight = sum(max(w, 0.0) for _, w in styles)
        if total_weight <= 0:
            raise ValueError("style blend weights must add up to more than 0")
        # Targets never need gradients: computed under inference_mode, then cloned so
        # they become ordinary tensors that autograd may read in the loss.
        with torch.inference_mode():
            feats = extractor(bgr_to_tensor(content, device))
            content_target = feats[settings.content_layer]
            grams: dict[str, torch.Tensor] = {}
            for image, weight in styles:
                if weight <= 0:
                    continue
                sfeats = extractor(bgr_to_tensor(image, device))
                for name in self.style_layers:
                    g = gram_matrix(sfeats[name], normalised=True) * (weight / total_weight)
                    grams[name] = g if name not in grams else grams[name] + g
        self.content_target = content_target.clone()
        self.gram_targets = {name: g.clone() for name, g in grams.items()}

    def __call__(self, generated: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.extractor(generated)
        j_content = content_cost(self.content_target, feats[self.settings.content_layer])
        j_style = generated.new_zeros(())
        for name, weight in self.style_layers.items():
            f = feats[name]
            j_style = j_style + weight * layer_style_cost_from_grams(
                self.gram_targets[name], gram_matrix(f, normalised=True), f.shape[1])
        j_tv = total_variation(generated)
        content_term = self.alpha * j_content
        style_term = self.beta * j_style
        tv_term = self.settings.tv_weight * j_tv
        return {"content": content_term, "style": style_term, "tv": tv_term,
                "total": content_term + style_term + tv_term}


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors and failed CPU allocations."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def prepare_colors(content: np.ndarray, styles: Sequence[StyleImage], mode: str) -> tuple[np.ndarray, list[tuple[np.ndarray, float]]]:
    """Apply the colour-preservation mode to the optimisation's inputs.

    "luminance": both become gray (style luminance matched to the content's mean/std),
    the content's chroma is put back at the end. "histogram": each style is recoloured to
    the content's RGB mean/covariance. "none": unchanged.
    """
    if mode == "luminance":
        return gray_as_bgr(content), [(match_luminance(s.image, content), s.weight) for s in styles]
    if mode == "histogram":
        return content, [(match_colors(s.image, content), s.weight) for s in styles]
    return content, [(s.image, s.weight) for s in styles]


def stylize(
    content: np.ndarray,
    styles: Sequence[StyleImage | np.ndarray],
    settings: GatysSettings,
    vgg_state: Mapping[str, torch.Tensor],
    device: torch.device | str | None = None,
    *,
    preview_every: int = 10,
    cancel: threading.Event | None = None,
) -> Generator[StyleProgress, None, StyleResult]:
    """Paint ``content`` (BGR uint8) in the blend of ``styles``; yields progress, returns the result.

    vgg_state: a VGG-19 state_dict in torchvision's layout (``engine.features.style.vgg``).
    Cancel by setting ``cancel`` or closing the generator: either stops before the next
    evaluation; with ``cancel`` the partial image is returned (``cancelled=True``).
    Out of memory: the run restarts in low-memory mode (activation checkpointing), then
    on a GPU at 3/4 of the size (twice), then on the CPU at the full size; on the CPU it
    restarts smaller. Each retry is announced in a
    progress message and kept in ``StyleResult.notices``.
    """
    style_list = [s if isinstance(s, StyleImage) else StyleImage(np.asarray(s)) for s in styles]
    if not style_list:
        raise ValueError("at least one style image is needed")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    notices: list[str] = []
    current = settings
    gpu_retries = 0
    while True:
        try:
            result = yield from _optimise(content, style_list, current, vgg_state, dev, preview_every, cancel, notices)
            return result
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            if dev.type == "cuda":
                torch.cuda.empty_cache()  # give the failed attempt's blocks back before retrying
            if not current.low_memory:
                message = f"out of memory at {current.size} px on {dev.type.upper()}; retrying in low-memory mode (slower)"
                current = dataclasses.replace(current, low_memory=True)
            elif dev.type != "cpu" and gpu_retries < 2 and current.size * 3 // 4 >= 256:
                gpu_retries += 1
                smaller = dataclasses.replace(current, size=current.size * 3 // 4)
                message = f"{dev.type.upper()} ran out of memory at {current.size} px; retrying at {smaller.size} px"
                current = smaller
            elif dev.type != "cpu":
                message = f"{dev.type.upper()} ran out of memory at {current.size} px; continuing on the CPU at {settings.size} px (slower)"
                dev, current = torch.device("cpu"), dataclasses.replace(settings, low_memory=True)
            elif current.size * 3 // 4 >= 64:
                smaller = dataclasses.replace(current, size=current.size * 3 // 4)
                message = f"not enough memory at {current.size} px; retrying at {smaller.size} px"
                current = smaller
            else:
                raise MemoryError(f"not enough memory even at {current.size} px") from exc
            log.warning(message)
            notices.append(message)
            yield StyleProgress(0, current.steps, 0, len(current.level_sides()), (0, 0), {}, 0.0, None, None, message)


def _optimise(content: np.ndarray, styles: list[StyleImage], settings: GatysSettings,
              vgg_state: Mapping[str, torch.Tensor], device: torch.device, preview_every: int,
              cancel: threading.Event | None, notices: list[str]) -> Generator[StyleProgress, None, StyleResult]:
    started = time.monotonic()
    layers = [settings.content_layer, *(name for name, _ in settings.style_layers)]
    extractor = VGGFeatures(vgg_state, layers, pool=settings.pool).to(device)
    extractor.checkpoint_blocks = settings.low_memory
    prepared_content, prepared_styles = prepare_colors(content, styles, settings.preserve_color)
    sides, steps_per_level = settings.level_sides(), settings.level_steps()
    total_steps = settings.steps
    out_h, out_w = size_for_long_side(content.shape[0], content.shape[1], settings.size)
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)

    image: torch.Tensor | None = None
    step = 0
    last_losses: dict[str, float] = {}
    final_losses: dict[str, float] = {}
    history: list[dict[str, float]] = []
    seconds_per_pixel_step: float | None = None
    pixels = [size_for_long_side(out_h, out_w, s) for s in sides]

    def finish_image(t: torch.Tensor) -> np.ndarray:
        bgr = tensor_to_bgr(t)
        if settings.preserve_color == "luminance":
            bgr = combine_luminance(bgr, content)
        return bgr

    for level, (side, level_steps) in enumerate(zip(sides, steps_per_level)):
        h, w = pixels[level]
        level_content = resize_to(prepared_content, h, w)
        style_side = max(16, round(side * settings.style_scale))
        level_styles = [(resize_long_side(img, style_side), wt) for img, wt in prepared_styles]
        objective = StyleObjective(extractor, settings, level_content, level_styles, device)
        if image is None:
            if settings.init == "noise":
                start = torch.rand((1, 3, h, w), generator=generator).to(device)
            else:
                start = bgr_to_tensor(level_content, device)
        else:
            start = F.interpolate(image, size=(h, w), mode="bilinear", align_corners=False).clamp_(0, 1)
        image = start.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
        optimizer = _make_optimizer(settings, image)
        terms: dict[str, torch.Tensor] = {}
        # Without a line search L-BFGS is not monotone: the last iterate can be worse than
        # one a few steps earlier. The best image evaluated at this level is kept and is
        # what the next level starts from and what is returned.
        best: dict[str, Any] = {"total": math.inf, "image": None, "losses": {}}

        def closure() -> torch.Tensor:
            nonlocal terms
            with torch.no_grad():
                image.clamp_(0, 1)
            optimizer.zero_grad(set_to_none=True)  # noqa: F821 - bound before the loop's del
            with torch.enable_grad():
                terms = objective(image)  # noqa: F821 - bound before the loop's del
                terms["total"].backward()
            total = float(terms["total"].detach())
            if total < best["total"]:
                best["total"] = total
                best["image"] = image.detach().clone()
                best["losses"] = {k: float(v.detach()) for k, v in terms.items()}
            return terms["total"]

        level_start = time.monotonic()
        for level_step in range(level_steps):
            if cancel is not None and cancel.is_set():
                log.info("style transfer cancelled at step %d of %d", step, total_steps)
                partial = best["image"] if best["image"] is not None else image.detach().clamp(0, 1)
                if (h, w) != (out_h, out_w):
                    partial = F.interpolate(partial, size=(out_h, out_w), mode="bilinear", align_corners=False)
                return StyleResult(finish_image(partial), settings, best["losses"] or last_losses, step,
                                   time.monotonic() - started, str(device), True, tuple(notices), tuple(history))
            if settings.optimizer == "lbfgs":
                optimizer.step(closure)
            else:
                closure()
                optimizer.step()
            step += 1
            last_losses = {k: float(v.detach()) for k, v in terms.items()}
            history.append(last_losses)
            if not math.isfinite(last_losses["total"]):
                raise FloatingPointError("the loss became infinite or NaN; lower the style weight or the learning rate")
            elapsed_level = time.monotonic() - level_start
            seconds_per_pixel_step = elapsed_level / ((level_step + 1) * h * w)
            remaining = sum(n * ph * pw for n, (ph, pw) in zip(steps_per_level[level + 1:], pixels[level + 1:]))
            remaining += (level_steps - level_step - 1) * h * w
            eta = seconds_per_pixel_step * remaining
            last_of_level = level_step == level_steps - 1
            preview = None
            if preview_every > 0 and (step % preview_every == 0 or last_of_level):
                with torch.no_grad():
                    preview = finish_image(image.clamp(0, 1))
            yield StyleProgress(step, total_steps, level + 1, len(sides), (h, w), last_losses,
                                time.monotonic() - started, eta, preview)
        del optimizer, objective
        image = best["image"]
        final_losses = best["losses"]

    assert image is not None
    result = finish_image(image)
    elapsed = time.monotonic() - started
    log.info("style transfer: %d steps in %.1f s on %s, final J=%.4g", step, elapsed, device, final_losses.get("total", math.nan))
    return StyleResult(result, settings, final_losses, step, elapsed, str(device), False, tuple(notices), tuple(history))


def _make_optimizer(settings: GatysSettings, image: torch.Tensor) -> torch.optim.Optimizer:
    if settings.optimizer == "lbfgs":
        # max_iter=1: one evaluation per step() call, so progress and cancel come after
        # every evaluation; the curvature history lives in the optimiser state across calls.
        return torch.optim.LBFGS([image], lr=settings.lr(), max_iter=1, history_size=50,
                                 tolerance_grad=0.0, tolerance_change=0.0)
    return torch.optim.Adam([image], lr=settings.lr())


def run_to_end(gen: Generator[StyleProgress, None, StyleResult]) -> StyleResult:
    """Drive a ``stylize`` generator to completion and return its result (for scripts and tests)."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
