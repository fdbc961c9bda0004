"""The Style tab's state and commands, without Qt (the tab is a view over this; tests drive it directly).

State: the content photo, the style blend (``StyleImage`` tuple), the live choice
(``LiveChoice``: which model/method, strength, colours, processing size, stabiliser) and
what is installed. Commands load inputs, build the live task and its settings snapshot,
start the engine jobs (photo stylisation, training) and install weights. Weight files are
recognised by their content (each catalog entry's validator), never by their name.
Every bad input raises a ValueError subclass whose message names the file or value.

The view follows the events of ``engine.core.events.Controller``: ``settings_changed``
when the live snapshot changes (the blend, strength, colours, size, stabiliser) and
``task_changed`` when the live model changes.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.events import Controller
from engine.features.style import models
from engine.features.style.imaging import StyleImage
from engine.features.style.task import LiveStyleSettings

log = logging.getLogger(__name__)

ADAIN = "adain"
PALETTE = "palette"


@dataclass(frozen=True)
class LiveChoice:
    """What the live page asks for. model: a fast-style catalog name, ``ADAIN`` or ``PALETTE``."""

    model: str = ""
    strength: float = 1.0
    preserve_color: bool = False
    process_side: int = 320
    stabilise: bool = False


@dataclass(frozen=True)
class ModelOption:
    """One entry of the live model picker: name (``fast-candy``, ``my-...``, ``adain``, ``palette``),
    label for the user, and whether it can run now."""

    name: str
    label: str
    available: bool


class StyleController(Controller):
    """State + commands of the Style tab. cache: a WeightsCache; device: a torch.device."""

    def __init__(self, cache: Any, device: Any) -> None:
        self.cache = cache
        self.device = device
        self.content: np.ndarray | None = None
        self.content_name = ""
        self.styles: tuple[StyleImage, ...] = ()
        self.style_paths: tuple[str | None, ...] = ()
        self.live = LiveChoice(process_side=640 if getattr(device, "type", "cpu") == "cuda" else 320)
        self.has_vgg = self.has_adain = False
        self.model_chosen = False  # until the user picks one, the best installed model is used
        self.refresh()

    # -- what is installed ----------------------------------------------------------
    def refresh(self) -> None:
        self.has_vgg = models.gatys_available(self.cache)
        self.has_adain = models.adain_available(self.cache)
        if not self.model_chosen or not self._option(self.live.model):
            self.live = replace(self.live, model=self.default_live_model())

    def live_options(self) -> list[ModelOption]:
        """Fast presets and the user's styles first (cheapest on a CPU), then AdaIN and colour transfer."""
        out = [ModelOption(e.name, f"{e.title}" + ("" if self.cache.is_installed(e) else " (not installed)"),
                           self.cache.is_installed(e)) for e in models.fast_entries(self.cache)]
        out.append(ModelOption(ADAIN, "AdaIN: any style image" + ("" if self.has_adain else " (not installed)"), self.has_adain))
        out.append(ModelOption(PALETTE, "Colour transfer only (no network)", True))
        return out

    def _option(self, name: str) -> ModelOption | None:
        return next((o for o in self.live_options() if o.name == name), None)

    def default_live_model(self) -> str:
        for option in self.live_options():
            if option.available and option.name != PALETTE:
                return option.name
        return PALETTE

    def banner_lines(self) -> list[str]:
        """What is missing, and what each mode does without it."""
        lines = []
        if not self.has_vgg:
            lines.append("Photo mode (Gatys) needs the VGG-19 weights, catalog name 'vgg19' (548 MB, BSD licence). "
                         "Download them or import vgg19-dcbb9e9d.pth if you have it.")
        fast = [o for o in self.live_options() if o.name.startswith(("fast-", "my-")) and o.available]
        if not self.has_adain and not fast:
            lines.append("Live mode needs a fast style ('fast-candy', 'fast-mosaic', ... BSD licence, or one you train "
                         "on the Train page) or the AdaIN weights 'adain-vgg' and 'adain-decoder' (MIT licence). "
                         "Until one is installed, live mode only transfers the style's colours, not its brush strokes.")
        return lines

    def identify_weights(self, path: str | Path) -> list[str]:
        """Names of the style models whose layout ``path`` fits (checked by each entry's validator)."""
        from engine.models.catalog import catalog

        fits = []
        for entry in catalog().entries("style"):
            if entry.validator is None:
                continue
            try:
                entry.validator(Path(path))
            except (ValueError, OSError):
                continue
            fits.append(entry.name)
        return fits

    def install_weights(self, path: str | Path, name: str | None = None) -> str:
        """Install ``path`` as model ``name`` (default: the only entry whose layout fits); returns the name.

        ValueError when no entry fits, or several do and ``name`` was not given (the
        message lists them: the four fast presets share one layout).
        """
        from engine.models.catalog import catalog

        if name is None:
            fits = self.identify_weights(path)
            if not fits:
                raise ValueError(f"{Path(path).name} is not a VGG-19, AdaIN or TransformerNet checkpoint")
            if len(fits) > 1:
                raise ValueError(f"{Path(path).name} fits {', '.join(fits)}: choose which one it is")
            name = fits[0]
        self.cache.import_file(catalog().get(name), path, force=True)
        self.refresh()
        return name

    # -- inputs ------------------------------------------------------------------------
    def set_content(self, image: np.ndarray, name: str) -> None:
        self.content, self.content_name = image, name

    def set_styles(self, styles: list[tuple[np.ndarray, str, str | None]]) -> None:
        """Replace the blend: (image BGR uint8, name, path or None) each, weight 1."""
        self.styles = tuple(StyleImage(image, 1.0, name) for image, name, _ in styles)
        self.style_paths = tuple(path for *_, path in styles)
        self.settings_changed.emit()  # the worker computes the new statistics between frames

    def add_style(self, image: np.ndarray, name: str, path: str | None = None) -> None:
        self.styles = self.styles + (StyleImage(image, 1.0, name),)
        self.style_paths = self.style_paths + (path,)
        self.settings_changed.emit()

    def set_weight(self, index: int, weight: float) -> None:
        if not (weight >= 0):
            raise ValueError(f"blend weight {weight} must be a number >= 0")
        styles = list(self.styles)
        styles[index] = replace(styles[index], weight=float(weight))
        self.styles = tuple(styles)
        self.settings_changed.emit()

    # -- live --------------------------------------------------------------------------
    def set_live(self, **changes: Any) -> None:
        """Change the live choice: ``task_changed`` when the model changed (the new task takes
        the new settings with it), else ``settings_changed`` when anything but the model was given."""
        if "process_side" in changes:
            from engine.features.style.fast_style import MAX_SIDE, MIN_SIDE

            side = int(changes["process_side"])
            if not MIN_SIDE <= side <= MAX_SIDE:
                raise ValueError(f"processing size {side} px must be between {MIN_SIDE} and {MAX_SIDE}")
        old = self.live.model
        if "model" in changes:
            self.model_chosen = True
        self.live = replace(self.live, **changes)
        if self.live.model != old:
            self.task_changed.emit()
        elif set(changes) - {"model"}:
            self.settings_changed.emit()

    def live_settings(self) -> LiveStyleSettings:
        """The snapshot the worker reads; ``styles`` is the controller's tuple itself, so an
        unchanged blend is recognised by identity and its statistics are not recomputed."""
        c = self.live
        return LiveStyleSettings(styles=self.styles, strength=c.strength, preserve_color=c.preserve_color,
                                 process_side=c.process_side, stabilise=c.stabilise)

    def make_live_task(self) -> tuple[Any, str]:
        """(task or None, a sentence for the live page saying what runs)."""
        from engine.features.style.task import AdaINTask, FastStyleTask, PaletteTask

        settings = self.live_settings()
        name = self.live.model
        if name == ADAIN:
            if not self.has_adain:
                return PaletteTask(settings), ("Colour transfer only (no network): the AdaIN weights are not installed. "
                                               "Install 'adain-vgg' and 'adain-decoder' for brush strokes.")
            enc = self.cache.require(models.entry(models.ADAIN_ENCODER))
            dec = self.cache.require(models.entry(models.ADAIN_DECODER))
            text = "AdaIN: the feed is painted in the chosen style." if self.styles else "Choose a style image to paint the feed."
            return AdaINTask(enc, dec, settings), text
        if name == PALETTE:
            return PaletteTask(settings), ("Colour transfer only (no network): only the style's palette is applied. "
                                           "Pick a fast style or AdaIN for brush strokes.")
        entry = models.entry(name, self.cache)
        if not self.cache.is_installed(entry):
            return PaletteTask(settings), (f"'{name}' is not installed (Download weights… above, or the model manager); "
                                           "meanwhile: colour transfer only.")
        return FastStyleTask(name, settings, self.cache), f"{entry.title}: fast style network; licence: {entry.license}."

    # -- jobs (generators for the JobRunner) ----------------------------------------------
    def photo_job(self, method: str, settings: Any) -> Generator[Any, None, tuple[np.ndarray, dict]]:
        """The engine's photo job (engine.features.style.jobs.photo_job) for the current inputs."""
        from engine.features.style.jobs import photo_job

        if self.content is None:
            raise ValueError("choose a content photo first (open, drop, or freeze a camera frame)")
        model = self.live.model if method == "fast" else None
        return photo_job(method, self.content, self.styles, settings, self.cache, self.device, model)

    def check_photo(self, method: str) -> None:
        """ValueError saying what is missing before a photo job can start."""
        if self.content is None:
            raise ValueError("Choose a content photo first (open, drop, or freeze a camera frame)")
        if method != "fast" and (not self.styles or sum(s.weight for s in self.styles) <= 0):
            raise ValueError("Choose a style image first (open, drop, or pick one from the gallery)")

    def check_training(self, folder: str, title: str) -> None:
        """ValueError (naming the folder, the name or the missing weights) before training can start."""
        from engine.features.style.fast_train import list_images
        from engine.features.style.user_styles import find_user_style, slug

        if not title.strip():
            raise ValueError("give your style a name")
        if find_user_style(self.cache, slug(title)) is not None:
            raise ValueError(f"a style called '{slug(title)}' exists already; choose another name")
        list_images(folder)
        self.cache.require(models.entry(models.VGG16))

    def train_job(self, style: np.ndarray, style_name: str, folder: str, settings: Any, title: str,
                  cancel: Any = None) -> Generator[Any, None, Any]:
        """Train on ``folder`` and save the result as the user style ``title``; returns its entry."""
        from engine.features.style.fast_train import list_images, train
        from engine.features.style.user_styles import save_user_style

        self.check_training(folder, title)
        files = list_images(folder)
        vgg = models.load_vgg16(self.cache)
        result = yield from train(style, files, settings, vgg, self.device, cancel=cancel)
        entry = save_user_style(self.cache, result.state, title, {"style": style_name, "steps": settings.steps,
                                                                  "content_images": len(files)})
        self.refresh()
        return entry
