"""Reading state-dict files safely and fitting them to an architecture with clear errors.

Files are read by ``engine.models.checkpoint`` (``torch.load(..., weights_only=True)``
after checking every declared size against the architecture): tensors and plain
containers only, never arbitrary pickled objects.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from engine.core.errors import BadFormat

log = logging.getLogger(__name__)

# Keys that old checkpoints lack and that BatchNorm fills in itself when loading.
_OPTIONAL_SUFFIXES = ("num_batches_tracked",)

# Old DenseNet checkpoints name layers 'norm.1' where the modules are now 'norm1'.
_DENSENET_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


class WeightsMismatchError(BadFormat, ValueError):
    """A weights file does not fit the model; the message names the first bad key."""


def read_state_dict(path: str | Path, module: nn.Module | None = None, *, budget_bytes: int | None = None,
                    check: Callable[[dict[str, torch.Tensor]], object] | None = None) -> dict[str, torch.Tensor]:
    """Tensors of a state-dict file, unwrapping a ``{"state_dict": ...}``/``{"model": ...}`` wrapper.

    Read by the safe loader (``engine.models.checkpoint``) with a budget from ``module``'s
    parameter count (or ``budget_bytes``); ``check`` gets the unwrapped state_dict of meta
    tensors before any tensor is read and raises to refuse it. Raises
    WeightsMismatchError with a message naming the file.
    """
    from engine.models import checkpoint

    path = Path(path)
    name = f"weights file '{path}'"
    if not os.path.lexists(path):
        raise FileNotFoundError(f"weights file '{path}' does not exist")
    if budget_bytes is None:
        if module is None:
            raise ValueError("read_state_dict needs the architecture (module) or a budget_bytes")
        budget_bytes = checkpoint.budget_for(module)

    def on_skeleton(skeleton: object) -> None:
        state = checkpoint.state_dict_of(skeleton, name)
        if check is not None:
            check(state)

    try:
        data = checkpoint.load(path, budget_bytes=budget_bytes, check=on_skeleton, what="weights file")
        return checkpoint.state_dict_of(data, name)
    except checkpoint.CheckpointError as exc:
        raise WeightsMismatchError(str(exc)) from None


def read_fitting_state(path: str | Path, module: nn.Module, *, model_name: str, source: str | None = None,
                       rename: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
                       ignore_prefixes: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """The entries of the file ``path`` that ``module`` loads (``check_fit`` on the file's
    keys and shapes, after ``rename``), compared before any tensor is read."""
    label = source if source is not None else str(path)

    def fit(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return check_fit(module, rename(state) if rename is not None else state, model_name=model_name, source=label,
                         ignore_prefixes=ignore_prefixes)

    from engine.models import checkpoint

    # Parts the file has and the network leaves out (GoogLeNet's auxiliary heads) also
    # take memory while the file is read.
    budget = checkpoint.budget_for(module) * (2 if ignore_prefixes else 1)
    return fit(read_state_dict(path, module, budget_bytes=budget, check=fit))


def rename_densenet_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map published DenseNet checkpoints' ``...norm.1.weight`` keys to ``...norm1.weight``."""
    renamed = {}
    for key, value in state.items():
        match = _DENSENET_OLD_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


def check_fit(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    model_name: str,
    source: str = "the weights file",
    ignore_prefixes: tuple[str, ...] = (),
) -> dict[str, torch.Tensor]:
    """The entries of ``state`` that ``module`` loads; WeightsMismatchError when they do not fit.

    The error names the first missing key (in the model's order) or the first
    unexpected key (in the file's order) and how many more there are, or the first key
    whose shape differs, so the user can tell a wrong file from a wrong model. Works on
    a model built on the "meta" device too (only names and shapes are compared).
    """
    expected = module.state_dict()
    given = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    missing = [k for k in expected if k not in given and not k.endswith(_OPTIONAL_SUFFIXES)]
    unexpected = [k for k in given if k not in expected]
    problems = []
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        problems.append(f"missing key '{missing[0]}'{more}")
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        problems.append(f"unexpected key '{unexpected[0]}'{more}")
    if problems:
        raise WeightsMismatchError(f"{source} does not fit {model_name}: " + "; ".join(problems) + f" (is it the {model_name} weights?)")
    for key, value in given.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise WeightsMismatchError(
                f"{source} does not fit {model_name}: key '{key}' has shape {tuple(value.shape)} in the file "
                f"but {tuple(expected[key].shape)} in the model"
            )
    return given


def load_checked(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    model_name: str,
    source: str = "the weights file",
    ignore_prefixes: tuple[str, ...] = (),
) -> None:
    """Load ``state`` into ``module`` after :func:`check_fit` (missing BatchNorm counters are fine)."""
    given = check_fit(module, state, model_name=model_name, source=source, ignore_prefixes=ignore_prefixes)
    module.load_state_dict(given, strict=False)
