"""Photo stylisation as engine jobs, shared by ``stylize`` (cli/stylize.py) and the Style tab.

A job is a generator: it yields ``StyleProgress`` reports and returns its result, so the
GUI's JobRunner can show progress and cancel between two reports, and the CLI can drive
it with a progress bar. Two steps:

* ``prepare(method, styles, settings, cache, device, model=...)`` loads the weights and,
  for AdaIN, computes the blended style statistics ("AdaIN preparation"); returns a
  ``Prepared``. Done once for a folder or a video.
* ``stylize_photo(prepared, content, settings)`` stylises one image; returns
  ``(image, info)`` with image BGR uint8 and info the JSON-able settings written into
  the PNG (``engine.features.style.metadata``).

``photo_job`` chains both for one image (the tab). Methods: "gatys" (optimisation with
VGG-19), "adain", "fast" (a fast-style model: catalog name or .pth), "palette" (colour
transfer only, no network).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.features.style.gatys import GatysSettings, StyleProgress
from engine.features.style.imaging import StyleImage, resize_long_side

log = logging.getLogger(__name__)

METHODS = ("gatys", "adain", "fast", "palette")


@dataclass(frozen=True, eq=False)
class Prepared:
    """What ``prepare`` built: method, the model object (VGG-19 state, AdaIN stylizer,
    FastStylizer or None), AdaIN statistics, the styles, and the device."""

    method: str
    model: Any
    styles: tuple[StyleImage, ...]
    stats: Any = None
    device: Any = "cpu"
    model_name: str = ""


def _note(text: str) -> StyleProgress:
    return StyleProgress(step=0, total_steps=0, level=0, levels=0, size=(0, 0), losses={}, elapsed_s=0.0, eta_s=None, message=text)


def prepare(method: str, styles: Sequence[StyleImage], settings: GatysSettings, cache: Any = None, device: Any = "cpu",
            model: str | None = None) -> Generator[StyleProgress, None, Prepared]:
    """Load what ``method`` needs; AdaIN: also the style statistics. ``model``: the fast-style model."""
    from engine.features.style import models

    if method not in METHODS:
        raise ValueError(f"unknown method '{method}' (choose one of {', '.join(METHODS)})")
    styles = tuple(s for s in styles if s.weight > 0)
    if method != "fast" and not styles:
        raise ValueError(f"the {method} method needs at least one style image with a weight > 0")
    if method == "gatys":
        yield _note("loading VGG-19…")
        return Prepared(method, models.load_vgg19(cache), styles, device=device)
    if method == "adain":
        yield _note("loading AdaIN…")
        stylizer = models.load_adain(device, cache)
        yield _note("computing the style statistics…")
        stats = prepare_adain_stats(stylizer, styles)
        return Prepared(method, stylizer, styles, stats, device)
    if method == "fast":
        if not model:
            raise ValueError("the fast method needs a model: a catalog name such as fast-candy, or a .pth file")
        yield _note(f"loading {model}…")
        return Prepared(method, models.fast_model(model, device, cache), styles, device=device, model_name=str(model))
    return Prepared(method, None, styles, device=device)


def prepare_adain_stats(stylizer: Any, styles: Sequence[StyleImage]):
    """Blended AdaIN statistics of ``styles`` (the same function the live task's configure uses)."""
    from engine.features.style.adain import blend_stats

    return blend_stats([(stylizer.style_stats(s.image, name=s.name), s.weight) for s in styles])


def stylize_photo(prepared: Prepared, content: np.ndarray, settings: GatysSettings,
                  preview_every: int = 10) -> Generator[StyleProgress, None, tuple[np.ndarray, dict]]:
    """Stylise one BGR uint8 image with what ``prepare`` built; returns (image, info)."""
    method = prepared.method
    preserve = settings.preserve_color != "none"
    if method == "gatys":
        from engine.features.style.gatys import stylize

        result = yield from stylize(content, list(prepared.styles), settings, prepared.model, prepared.device,
                                    preview_every=preview_every)
        return result.image, {"method": "gatys", "settings": result.settings.to_dict(), "losses": dict(result.losses),
                              "notices": list(result.notices), "device": result.device, "seconds": round(result.elapsed_s, 2),
                              "steps": result.steps}
    image = resize_long_side(content, settings.size) if max(content.shape[:2]) != settings.size else content
    alpha = float(min(settings.style_strength, 1.0))
    yield _note(f"stylising {image.shape[1]}x{image.shape[0]} ({method})…")
    if method == "adain":
        out = prepared.model.stylize(image, prepared.stats, alpha, preserve)
        return out, {"method": "adain", "settings": {"size": settings.size, "alpha": alpha, "preserve_color": preserve}}
    if method == "fast":
        out = prepared.model.stylize(image, long_side=max(image.shape[:2]), strength=alpha, preserve_color=preserve)
        return out, {"method": "fast", "settings": {"size": settings.size, "alpha": alpha, "preserve_color": preserve,
                                                     "model": prepared.model_name}}
    from engine.features.style.imaging import reinhard_transfer

    return reinhard_transfer(image, prepared.styles[0].image), {"method": "palette", "settings": {"size": settings.size}}


def photo_job(method: str, content: np.ndarray, styles: Sequence[StyleImage], settings: GatysSettings, cache: Any = None,
              device: Any = "cpu", model: str | None = None) -> Generator[StyleProgress, None, tuple[np.ndarray, dict]]:
    """``prepare`` then ``stylize_photo`` for one image (the Style tab's photo mode)."""
    prepared = yield from prepare(method, styles, settings, cache, device, model)
    return (yield from stylize_photo(prepared, content, settings))
