"""The Feature maps tab's state and commands, without Qt (tests drive it directly).

The controller owns what the user chose (model, weights, live settings, the unit under
the mouse, the top-patches collection) and the newest result. The view calls its
commands and redraws from its state; the events of ``engine.core.events.Controller`` tell
it when the worker needs a new task (``task_changed``: another model or weights) or a new
settings snapshot (``settings_changed``: anything in :class:`InspectSettings`), and
``status`` says why a click found no unit.

Weights choices: "trained" (the catalog's ImageNet weights; untrained when they are not
installed or the model has none), "untrained" (seeded random weights) or "file" (a
state-dict file). A file that fails to load leaves the previous choice running: the
task falls back to it, and :meth:`on_result` reverts the choice, keeps the task's
message in :attr:`notice` and announces it (``notice_changed``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.events import Controller, EventField
from engine.features.inspect.predictions import resolve_class
from engine.features.inspect.task import InspectResult, InspectSettings, InspectTask, receptive_box, unit_at
from engine.features.inspect.top_patches import TopPatches
from engine.features.inspect.zoo import catalog_entry_for, model_names, model_spec

log = logging.getLogger(__name__)

WEIGHTS_CHOICES = ("trained", "untrained", "file")


class InspectController(Controller):
    """See the module docstring. ``weights_cache``: the app's WeightsCache (for "installed?")."""

    notice_changed = EventField[str]("the running task reported a problem (weights that failed to load); "
                                     "the weights choice has been reverted to what runs")

    def __init__(self, weights_cache: Any = None, model: str = "resnet18", weights: str = "trained") -> None:
        self.weights_cache = weights_cache
        self.names = model_names()
        self.model_name = model if model in self.names else ("resnet18" if "resnet18" in self.names else self.names[0])
        self.weights_choice = weights if weights in ("trained", "untrained") else "trained"
        self.weights_file: str | None = None
        self.settings = InspectSettings()
        self.input_size: int | None = None
        self.result: InspectResult | None = None
        self.unit: tuple[int, int] | None = None
        self.unit_box: tuple[float, float, float, float] | None = None
        self.notice = ""
        self.collection = TopPatches(k=9)
        self.task: InspectTask | None = None
        self._running: tuple[str | None, bool] | None = None  # (weights, untrained) of the task now running

    # -- model and weights ---------------------------------------------------------------
    @property
    def spec(self):
        return model_spec(self.model_name)

    def catalog_installed(self) -> bool | None:
        """True/False when the model has catalogued weights, None when it has none."""
        try:
            entry = catalog_entry_for(self.spec)
        except Exception:  # an unreadable catalog must not break the tab
            log.debug("catalog lookup failed", exc_info=True)
            return None
        if entry is None or self.weights_cache is None:
            return None if entry is None else False
        return bool(self.weights_cache.is_installed(entry))

    def weights_text(self) -> str:
        """One line on which weights run (or will)."""
        if self.weights_choice == "untrained":
            return "Untrained: random initial weights (seeded, the same every time) — compare their noisy filters with trained ones."
        if self.weights_choice == "file":
            return f"Weights from {Path(self.weights_file).name}" if self.weights_file else "No weights file chosen"
        installed = self.catalog_installed()
        if installed is None:
            return f"{self.model_name} has no catalogued weights: showing untrained weights (choose a weights file to load your own)."
        if installed:
            return "ImageNet weights (installed)."
        return (f"ImageNet weights of {self.model_name} are not installed: showing untrained weights. "
                f"Download them in the model manager (Models → Model manager…).")

    def set_model(self, name: str, weights: str | None = None) -> None:
        """Pick a zoo model (and "trained"/"untrained"); ValueError names the valid models."""
        if name not in self.names:
            raise ValueError(f"'{name}' is not in the zoo; choose one of {', '.join(self.names)}")
        self.model_name = name
        if weights is not None:
            if weights not in ("trained", "untrained"):
                raise ValueError(f"unknown weights choice '{weights}': use trained or untrained (or a weights file)")
            self.weights_choice = weights
        elif self.weights_choice == "file":
            self.weights_choice = "trained"  # a file belongs to the model it was chosen for
        self.weights_file = None if self.weights_choice != "file" else self.weights_file
        self.settings = replace(self.settings, layer=None, cam_layer=None, pinned_channel=None, filters_layer=None, target_class=None, collect=self.settings.collect)
        self.collection.reset()
        self._restart()

    def set_weights(self, choice: str) -> None:
        if choice not in ("trained", "untrained"):
            raise ValueError(f"unknown weights choice '{choice}': use trained or untrained, or set_weights_file(path)")
        self.weights_choice = choice
        self._restart()

    def set_weights_file(self, path: str | Path) -> None:
        """Use a state_dict file for the current model; if it fails to load, the previous weights stay."""
        self.weights_file = str(path)
        self.weights_choice = "file"
        self._restart()

    def _resolved_weights(self) -> tuple[str | None, bool]:
        choice = self.weights_choice
        if choice == "file" and self.weights_file:
            return self.weights_file, False
        if choice == "untrained" or choice == "file":
            return None, True
        return None, not self.catalog_installed()

    def _restart(self) -> None:
        self.result = None
        self.unit, self.unit_box = None, None
        self.task_changed.emit()

    def make_task(self) -> InspectTask:
        """The task for the current model, weights and settings (the previous weights as fallback)."""
        weights, untrained = self._resolved_weights()
        fallback = self._running if self._running is not None and self._running != (weights, untrained) else None
        if fallback is not None and self.task is not None and self.task.model_name != self.model_name:
            fallback = None  # the previous weights belonged to another model
        if fallback is None and (weights is not None or not untrained):
            fallback = (None, True)  # weights that fail to load still leave a running (untrained) model
        self.task = InspectTask(self.model_name, weights=weights, untrained=untrained, settings=self.settings,
                                input_size=self.input_size, cache=self.weights_cache, fallback=fallback, collection=self.collection)
        self._running = (weights, untrained)
        self.notice = ""
        return self.task

    # -- results -------------------------------------------------------------------------
    def on_result(self, result: InspectResult) -> None:
        """A result of the current task (the pipeline already dropped stale ones)."""
        self.result = result
        announce = False
        if result.settings is not None and result.settings.layer != self.settings.layer and self.settings.layer is None:
            # The task chose the default layer: adopt it so later snapshots keep it.
            self.settings = replace(self.settings, layer=result.settings.layer, filters_layer=result.settings.filters_layer)
        if result.notice and result.notice != self.notice:
            self.notice = result.notice
            announce = True
            task = self.task
            if task is not None:
                self._running = (str(task.weights) if task.weights else None, task.untrained)
                if task.weights is None:
                    self.weights_choice = "untrained" if task.untrained else "trained"
                    self.weights_file = None
                else:
                    self.weights_file = str(task.weights)
        if self.unit is not None:
            self._update_unit_box()
        if announce:
            self.notice_changed.emit(self.notice)

    # -- live settings -------------------------------------------------------------------
    def _update(self, **changes) -> None:
        self.settings = replace(self.settings, **changes)
        self.settings_changed.emit()

    def choose_layer(self, name: str) -> None:
        """Show ``name``'s channels; a convolution's kernels go to the Filters page. KeyError for a bad name."""
        table = self.result.table if self.result is not None else None
        filters_layer = self.settings.filters_layer
        if table is not None:
            row = table.row(name)  # raises with the valid names
            if row.type == "Conv2d":
                filters_layer = name
        self.unit, self.unit_box = None, None
        self._update(layer=name, pinned_channel=None, filters_layer=filters_layer)

    def enlarge_channel(self, channel: int | None) -> None:
        self._update(pinned_channel=None if channel is None else int(channel))

    def set_channels(self, count: int) -> None:
        self._update(channels=int(count))

    def set_mode(self, mode: str) -> None:
        self._update(mode=mode)

    def set_target_class(self, target: int | str | None) -> None:
        """A class index, a class name (as the CLI takes it) or None (the top prediction); ValueError explains a bad one."""
        if target is None or (isinstance(target, str) and not target.strip()) or target == "Top prediction":
            self._update(target_class=None)
            return
        spec = self.spec
        text = str(target).split(":", 1)[0] if isinstance(target, str) and target.split(":", 1)[0].strip().isdigit() else target
        count = len(spec.categories) if spec.categories else 0
        if count == 0:
            raise ValueError(f"{self.model_name} has no classes to explain")
        self._update(target_class=resolve_class(text, spec.categories, count))

    def set_cam_layer(self, layer: str | None) -> None:
        self._update(cam_layer=layer or None)

    def set_filters_layer(self, layer: str) -> None:
        self._update(filters_layer=layer)

    def set_collect(self, on: bool) -> None:
        self._update(collect=bool(on))

    def reset_collection(self) -> None:
        self.collection.reset(self.settings.layer or "", self.model_name)

    def load_collection(self, path: str | Path) -> TopPatches:
        """Replace the collection by a saved one (CollectionFileError names a bad file)."""
        loaded = TopPatches.load(path)
        self.collection = loaded
        if self.task is not None:
            self.task.collection = loaded  # read by the worker only at its next frame
        return loaded

    # -- freeze ---------------------------------------------------------------------------
    def freeze(self, image: np.ndarray | None) -> None:
        """Analyse ``image`` instead of the live feed (None: back to live)."""
        self._update(frozen_image=None if image is None else image.copy())

    @property
    def frozen(self) -> bool:
        return self.settings.frozen_image is not None

    # -- units ------------------------------------------------------------------------------
    def show_unit(self, row: int, col: int) -> None:
        self.unit = (row, col)
        self._update_unit_box()

    def select_unit_at(self, x: float, y: float) -> None:
        """A click at frame point (x, y): outline the unit of the layer looking there most
        directly, enlarging the strongest channel unless one is chosen. ``status`` says why not."""
        r = self.result
        if r is None or r.table is None:
            return
        try:
            self.unit = unit_at(r.table, r.layer, x, y, r.geometry)
        except (KeyError, ValueError) as exc:
            self.status.emit(str(exc))
            return
        if self.settings.pinned_channel is None and r.channels is not None:
            strongest = int(r.channels.means.argmax())  # tiles keep their places: [0] need not be the strongest
            self.enlarge_channel(int(r.channels.channels[strongest]))
        problem = self._update_unit_box()
        if problem:
            self.status.emit(problem)

    def clear_unit(self) -> None:
        self.unit, self.unit_box = None, None

    def _update_unit_box(self) -> str | None:
        r = self.result
        if r is None or r.table is None or self.unit is None:
            return None
        try:
            self.unit_box = receptive_box(r.table, r.layer, self.unit[0], self.unit[1], r.geometry)
        except (KeyError, ValueError) as exc:
            self.unit_box = None
            return str(exc)
        return None

    # -- jobs (run by the view's job runner, off the GUI thread) -----------------------------
    def _job_model(self):
        from engine.features.inspect.zoo import load_model

        weights, untrained = self._running or self._resolved_weights()
        return load_model(self.model_name, weights=weights, untrained=untrained, cache=self.weights_cache)

    def visualise_job(self, kind: str, index: int, *, steps: int = 256, size: int = 224, init_image: np.ndarray | None = None):
        """A job (generator of VisStep) maximising a channel/unit of the current layer or a class.

        It builds its own copy of the model, so the live worker's model is never touched
        from another thread.
        """
        from engine.features.inspect.feature_vis import Objective, visualise

        objective = Objective(kind, int(index), layer=None if kind == "class" else (self.settings.layer or (self.result.layer if self.result else None)))
        if kind == "class" and not self.spec.categories:
            raise ValueError(f"{self.model_name} has no classes: visualise a channel or a unit instead")
        transforms = self.spec.transforms
        if transforms.colour != "RGB":
            raise ValueError(f"{self.model_name} takes {transforms.colour} images: feature visualisation needs an RGB model")
        mean, std = transforms.unit_normalisation()  # the visualiser optimises an image in [0, 1]

        def job():
            model = self._job_model()
            result = yield from visualise(model.module, objective, mean=mean, std=std, size=size, steps=steps,
                                          init_image=init_image, model_name=self.model_name)
            return result

        return job(), objective

    def folder_job(self, folder: str | Path):
        """A job (generator of (done, total, name)) collecting the current layer's top patches from ``folder``;
        it fills :attr:`collection` (a fresh one, swapped in when done by :meth:`adopt_collection`)."""
        from engine.features.inspect.top_patches import collect_folder

        layer = self.settings.layer or (self.result.layer if self.result else None)
        if not layer:
            raise ValueError("no layer chosen yet: wait for the model to load, then pick a layer")

        def job():
            model = self._job_model()
            return (yield from collect_folder(model, layer, folder, k=self.collection.k, input_size=self.input_size))

        return job()

    def adopt_collection(self, collection: TopPatches) -> None:
        """Show ``collection`` (a folder's, or one loaded from a file) from now on. Live collecting
        stops, so the live frames do not join it (a 6-image folder read as "136 images");
        turning Collect on again adds frames to it knowingly."""
        self.collection = collection
        if self.settings.collect:
            self._update(collect=False)
        if self.task is not None:
            self.task.collection = collection
