"""Darknet .cfg files: parse them into sections and check every key against what we support.

A cfg is an INI-like list of sections (``[net]`` first, then one section per layer, in
order). Layer indices used by ``[route] layers=`` and ``[shortcut] from=`` count the
layer sections from 0, excluding ``[net]``; negative values are relative to the layer
that names them.

Darknet silently ignores keys it does not know. We do not: an unknown section type or key
is almost always a typo or an architecture we would compute wrongly, so it is reported
with the file and line. Training-only keys (learning rate, augmentation, loss weights)
are accepted and ignored because they do not change inference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.errors import BadFormat

log = logging.getLogger(__name__)

SUPPORTED_ACTIVATIONS = ("leaky", "mish", "swish", "logistic", "relu", "linear")

# Section names Darknet accepts as aliases of the ones we implement.
_ALIASES = {"network": "net", "conv": "convolutional", "max": "maxpool"}

# Keys every layer may carry (scheduling / training flags of Darknet's parser).
_COMMON_KEYS = {
    "clip", "onlyforward", "dont_update", "burnin_update", "stopbackward", "train_only_bn",
    "learning_rate_scale", "stream", "wait_stream", "show_details",
}

# Per section: keys that matter for inference (read by the builder) ...
_USED_KEYS: dict[str, set[str]] = {
    "net": {"width", "height", "channels", "letter_box"},
    "convolutional": {"filters", "size", "stride", "pad", "padding", "groups", "batch_normalize",
                      "activation", "stride_x", "stride_y"},
    "maxpool": {"size", "stride", "padding", "stride_x", "stride_y"},
    "route": {"layers", "groups", "group_id"},
    "shortcut": {"from", "activation"},
    "upsample": {"stride", "scale"},
    "yolo": {"mask", "anchors", "classes", "num", "scale_x_y", "new_coords"},
}

# ... keys that only matter for training, so they are accepted and ignored ...
_TRAINING_KEYS: dict[str, set[str]] = {
    "net": {
        "batch", "subdivisions", "momentum", "decay", "angle", "saturation", "exposure", "hue",
        "learning_rate", "learning_rate_min", "burn_in", "max_batches", "policy", "steps", "scales",
        "step", "scale", "gamma", "power", "seq_scales", "sgdr_cycle", "sgdr_mult", "time_steps",
        "track", "augment_speed", "sequential_subdivisions", "try_fix_nan", "weights_reject_freq",
        "equidistant_point", "badlabels_rejection_percentage", "num_sigmas_reject_badlabels",
        "ema_alpha", "use_cuda_graph", "loss_scale", "dynamic_minibatch", "optimized_memory",
        "workspace_size_limit_mb", "adam", "b1", "b2", "eps", "inputs", "max_crop", "min_crop",
        "flip", "blur", "gaussian_noise", "mixup", "cutmix", "mosaic", "mosaic_bound",
        "contrastive", "contrastive_jit_flip", "contrastive_color", "unsupervised",
        "label_smooth_eps", "resize_step", "attention", "adversarial_lr", "max_chart_loss",
        "aspect", "show_receptive_field",
    },
    "convolutional": {"assisted_excitation", "grad_centr", "dot", "angle", "reverse"},
    "maxpool": set(),
    "route": set(),
    "shortcut": set(),
    "upsample": set(),
    "yolo": {
        "jitter", "ignore_thresh", "truth_thresh", "random", "resize", "iou_thresh", "iou_loss",
        "iou_normalizer", "obj_normalizer", "cls_normalizer", "delta_normalizer", "iou_thresh_kind",
        "nms_kind", "beta_nms", "max_delta", "objectness_smooth", "label_smooth_eps", "focal_loss",
        "counters_per_class", "max", "track_history_size", "sim_thresh", "dets_for_track",
        "dets_for_show", "track_ciou_norm", "embedding_layer", "map",
        # OpenCV's importer reads these two; our thresholds come from the detector instead.
        "thresh", "nms_threshold",
    },
}

# ... and Darknet features we do not implement: fine at their default value, an error otherwise.
_DEFAULT_ONLY_KEYS: dict[str, dict[str, str]] = {
    "convolutional": {
        "dilation": "1", "antialiasing": "0", "binary": "0", "xnor": "0", "bin_output": "0",
        "sway": "0", "rotate": "0", "stretch": "0", "stretch_sway": "0", "flipped": "0",
        "coordconv": "0", "cbn": "0", "share_index": "-1000000000",
    },
    "maxpool": {"maxpool_depth": "0", "out_channels": "1", "antialiasing": "0", "maxpool_zero_nonmax": "0"},
    "shortcut": {"weights_type": "none", "weights_normalization": "none"},
    "route": {},
    "upsample": {},
    "yolo": {},
    "net": {},
}
_DEFAULT_ONLY_COMMON = {"dontload": "0", "dontloadscales": "0"}

SUPPORTED_LAYERS = tuple(k for k in _USED_KEYS if k != "net")

# What every value read by the builder may be, checked where it is parsed so the message
# names its line: (type, smallest, largest); None for "no bound". Kernel sizes and
# strides are bounded by the largest network side (a bigger one cannot fit any input).
_INT, _FLOAT, _INTS, _FLOATS = "int", "float", "ints", "floats"
_SIDE = "max_network_side"
_VALUE_RULES: dict[str, dict[str, tuple]] = {
    "net": {"width": (_INT, 32, _SIDE), "height": (_INT, 32, _SIDE), "channels": (_INT, 1, 3),
            "letter_box": (_INT, 0, 1)},
    "convolutional": {"filters": (_INT, 1, None), "size": (_INT, 1, _SIDE), "stride": (_INT, 1, _SIDE),
                      "stride_x": (_INT, -1, _SIDE), "stride_y": (_INT, -1, _SIDE), "pad": (_INT, 0, 1),
                      "padding": (_INT, 0, _SIDE), "groups": (_INT, 1, None), "batch_normalize": (_INT, 0, 1)},
    "maxpool": {"size": (_INT, 1, _SIDE), "stride": (_INT, 1, _SIDE), "stride_x": (_INT, 1, _SIDE),
                "stride_y": (_INT, 1, _SIDE), "padding": (_INT, 0, _SIDE)},
    "route": {"layers": (_INTS, None, None), "groups": (_INT, 1, None), "group_id": (_INT, 0, None)},
    "shortcut": {"from": (_INTS, None, None)},
    "upsample": {"stride": (_INT, 1, 64), "scale": (_FLOAT, None, None)},
    "yolo": {"classes": (_INT, 1, 100_000), "num": (_INT, 1, 1000), "mask": (_INTS, 0, None),
             "anchors": (_FLOATS, 0.0, None), "scale_x_y": (_FLOAT, 0.0, None), "new_coords": (_INT, 0, 1)},
}
_WHY = {
    ("net", "channels"): "1 (grayscale) or 3 (colour) input channels are supported",
    ("yolo", "classes"): "a detector needs at least one class",
}


class DarknetCfgError(BadFormat, ValueError):
    """A cfg file is malformed or uses something we cannot run; the message names the line."""


@dataclass(frozen=True)
class Section:
    """One ``[kind]`` block of a cfg.

    kind: canonical section name ("net", "convolutional", ...). index: layer index
    (-1 for ``[net]``). line: 1-based line of the header. options: key -> raw string
    value (keys lower-cased). key_lines: key -> 1-based line where it was set.
    """

    kind: str
    index: int
    line: int
    source: str
    options: dict[str, str] = field(default_factory=dict)
    key_lines: dict[str, int] = field(default_factory=dict)

    # -- typed access; every failure names the file and line -----------------------------
    def where(self, key: str | None = None) -> str:
        line = self.key_lines.get(key, self.line) if key else self.line
        return f"{self.source}:{line}"

    def error(self, key: str | None, message: str) -> DarknetCfgError:
        return DarknetCfgError(f"{self.where(key)}: [{self.kind}] {message}")

    def has(self, key: str) -> bool:
        return key in self.options

    def get_str(self, key: str, default: str | None = None) -> str:
        value = self.options.get(key)
        if value is None:
            if default is None:
                raise self.error(None, f"(line {self.line}) is missing the required key '{key}'")
            return default
        return value

    def _get_number(self, key: str, default, convert, what: str):
        raw = self.options.get(key)
        if raw is None:
            if default is None:
                raise self.error(None, f"(line {self.line}) is missing the required key '{key}'")
            return default
        try:
            return convert(raw)
        except ValueError:
            raise self.error(key, f"{key}={raw!r} is not {what}") from None

    def get_int(self, key: str, default: int | None = None) -> int:
        return self._get_number(key, default, int, "an integer")

    def get_float(self, key: str, default: float | None = None) -> float:
        return self._get_number(key, default, float, "a number")

    def get_ints(self, key: str) -> list[int]:
        raw = self.get_str(key)
        try:
            return [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise self.error(key, f"{key}={raw!r} must be a comma-separated list of integers") from None

    def get_floats(self, key: str) -> list[float]:
        raw = self.get_str(key)
        try:
            return [float(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise self.error(key, f"{key}={raw!r} must be a comma-separated list of numbers") from None


@dataclass(frozen=True)
class DarknetCfg:
    """A parsed cfg: the ``[net]`` section and the layer sections in order."""

    source: str
    net: Section
    layers: tuple[Section, ...]

    @property
    def width(self) -> int:
        """Default network input width in pixels (``[net] width``, 416 when absent)."""
        return self.net.get_int("width", 416)

    @property
    def height(self) -> int:
        return self.net.get_int("height", 416)

    @property
    def channels(self) -> int:
        return self.net.get_int("channels", 3)

    @property
    def letter_box(self) -> bool:
        """True when the net was trained on letterboxed input (aspect kept, grey padding)."""
        return self.net.get_int("letter_box", 0) == 1

    def yolo_sections(self) -> list[Section]:
        return [s for s in self.layers if s.kind == "yolo"]

    @property
    def num_classes(self) -> int:
        heads = self.yolo_sections()
        return heads[0].get_int("classes", 20) if heads else 0


def _strip_comment(line: str) -> str:
    for marker in ("#", ";"):
        pos = line.find(marker)
        if pos >= 0:
            line = line[:pos]
    return line.strip()


def parse_cfg_text(text: str, source: str = "<cfg>") -> DarknetCfg:
    """Parse cfg text; ``source`` is the name used in error messages (usually the path)."""
    sections: list[Section] = []
    current: Section | None = None
    layer_count = 0  # a running count: counting sections each time was quadratic
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise DarknetCfgError(f"{source}:{number}: section header {line!r} is missing its closing ']'")
            name = line[1:-1].strip().lower()
            kind = _ALIASES.get(name, name)
            if kind not in _USED_KEYS:
                raise DarknetCfgError(
                    f"{source}:{number}: unknown or unsupported layer type [{name}]; "
                    f"supported: {', '.join('[' + k + ']' for k in SUPPORTED_LAYERS)}"
                )
            if kind == "net":
                index = -1
            else:
                index, layer_count = layer_count, layer_count + 1
            current = Section(kind=kind, index=index, line=number, source=source)
            sections.append(current)
            continue
        if current is None:
            raise DarknetCfgError(f"{source}:{number}: {line!r} appears before the first [section]")
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        value = value.strip()
        if not sep or not key:
            raise DarknetCfgError(f"{source}:{number}: expected 'key=value', got {line!r}")
        _check_key(current, key, value, number)
        current.options[key] = value
        current.key_lines[key] = number
    if not sections or sections[0].kind != "net":
        raise DarknetCfgError(f"{source}: the first section must be [net] (found "
                              f"{'[' + sections[0].kind + ']' if sections else 'no sections'})")
    net, layers = sections[0], tuple(sections[1:])
    for extra in layers:
        if extra.kind == "net":
            raise DarknetCfgError(f"{source}:{extra.line}: a second [net] section; only the first may be [net]")
    if not layers:
        raise DarknetCfgError(f"{source}: no layers after [net]")
    return DarknetCfg(source=source, net=net, layers=layers)


def _check_key(section: Section, key: str, value: str, number: int) -> None:
    kind = section.kind
    if key in _USED_KEYS[kind] or key in _TRAINING_KEYS[kind] or key in _COMMON_KEYS:
        if key == "activation" and value.lower() not in SUPPORTED_ACTIVATIONS:
            raise DarknetCfgError(
                f"{section.source}:{number}: [{kind}] activation={value!r} is not supported; "
                f"use one of {', '.join(SUPPORTED_ACTIVATIONS)}"
            )
        _check_value(section, key, value, number)
        return
    defaults = {**_DEFAULT_ONLY_COMMON, **_DEFAULT_ONLY_KEYS[kind]}
    if key in defaults:
        if value.strip().lower() != defaults[key]:
            raise DarknetCfgError(
                f"{section.source}:{number}: [{kind}] {key}={value} is not supported "
                f"(only {key}={defaults[key]} can be run here)"
            )
        return
    raise DarknetCfgError(f"{section.source}:{number}: unknown key '{key}' in [{kind}]")


def _check_value(section: Section, key: str, value: str, number: int) -> None:
    rule = _VALUE_RULES.get(section.kind, {}).get(key)
    if rule is None:
        return
    kind, low, high = rule
    where = f"{section.source}:{number}: [{section.kind}] {key}={value}"
    if high == _SIDE:
        from engine.core import limits

        high = limits.current().max_network_side
    try:
        if kind in (_INTS, _FLOATS):
            convert = int if kind == _INTS else float
            numbers = [convert(part) for part in value.split(",") if part.strip()]
        else:
            numbers = [int(value) if kind == _INT else float(value)]
    except ValueError:
        what = {"int": "an integer", "float": "a number", "ints": "a comma-separated list of integers",
                "floats": "a comma-separated list of numbers"}[kind]
        raise DarknetCfgError(f"{section.source}:{number}: [{section.kind}] {key}={value!r} is not {what}") from None
    for n in numbers:
        if n != n or n in (float("inf"), float("-inf")):
            raise DarknetCfgError(f"{where}: {n} is not a finite number")
        if (low is not None and n < low) or (high is not None and n > high):
            bounds = (f"between {low} and {high}" if low is not None and high is not None
                      else f"at least {low}" if low is not None else f"at most {high}")
            why = _WHY.get((section.kind, key))
            limit_note = ""
            if rule[2] == _SIDE and n > high:
                from engine.core import limits

                limit_note = f" (the network size limit; {limits.current().hint('max_network_side')})"
            raise DarknetCfgError(f"{where}: must be {bounds}{limit_note}" + (f"; {why}" if why else ""))


def parse_cfg(path: str | Path) -> DarknetCfg:
    """Read and parse a cfg file; raises DarknetCfgError naming the file on any problem.

    The file must be a regular file (not a FIFO or a device) no larger than the cfg
    size limit (``engine.core.limits``), checked before it is read.
    """
    from engine.core import limits
    from engine.core.regular_files import MissingFileError, RegularFileError, read_regular_bytes

    path = Path(path)
    bound = limits.current().max_cfg_bytes
    try:
        text = read_regular_bytes(path, bound, what="cfg file",
                                  hint=limits.current().hint("max_cfg_bytes")).decode("utf-8", errors="replace")
    except RegularFileError as exc:
        raise (DarknetCfgError(f"cfg file not found: {path}") if isinstance(exc, MissingFileError) else DarknetCfgError(exc.what, exc.todo)) from None
    cfg = parse_cfg_text(text, source=str(path))
    log.debug("parsed %s: %d layers", path, len(cfg.layers))
    return cfg
