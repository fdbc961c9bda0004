"""The model catalog: every pretrained model the app can use, described as data.

Entries live next to the code that uses them (``engine/features/<key>/catalog.py``, each
exporting ``ENTRIES``). This module sits below the features and never imports them: the
feature registry (``engine.features.registry``) installs itself as the catalog's
*provider* when ``engine.features`` is imported, and :func:`catalog` asks that provider
once for the task keys (one per feature) and the entries. GUI pickers and the ``models``
CLI are built from the catalog, never from hard-coded lists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from engine.core.errors import NotFound, Unsupported

log = logging.getLogger(__name__)


class CatalogNotReadyError(RuntimeError):
    """``catalog()`` was called before any provider was installed."""


class UnknownModelError(NotFound, KeyError):
    """A model name that does not exist; the message lists the known names.

    Also a KeyError (a failed look-up), printed without KeyError's quotes.
    """


@dataclass(frozen=True)
class ModelFile:
    """One file of a model.

    filename: the name it is stored under in the cache. url: where to download it.
    size: bytes, if known. sha256: hex digest, if known; when None the digest is
    recorded on first download (or import) and checked from then on.
    """

    filename: str
    url: str
    size: int | None = None
    sha256: str | None = None


class CapabilityError(Unsupported, ValueError):
    """An option the model cannot honour (a fixed input size asked to change, a precision
    it has no kernels for); the message names the model, the option and what it takes."""


#: Precisions a model may run in: "fp32" (float32 on the CPU; the device's default
#: elsewhere), "bf16" (bfloat16 on CPUs that have it natively), "int8" (statically
#: quantised convolutions on the CPU).
PRECISIONS = ("fp32", "bf16", "int8")
#: How a detector turns raw predictions into boxes: "nms" (many overlapping candidates,
#: then non-maximum suppression with an IoU threshold) or "set" (one prediction per
#: object, as DETR-like models make; no IoU threshold).
POSTPROCESS = ("nms", "set")


@dataclass(frozen=True)
class InputSize:
    """The network input size a model takes, in pixels.

    default: (width, height) it runs at unless told otherwise. adjustable: whether another
    size may be asked for (False: the model resizes frames itself, or was exported for one
    size). multiple: width and height must be multiples of this (32 for Darknet YOLO: the
    stride of its coarsest head). min_side / max_side: bounds of each side when adjustable
    (max_side None: only the app-wide limit, ``engine.core.limits`` max_network_side).
    """

    default: tuple[int, int]
    adjustable: bool = False
    multiple: int = 1
    min_side: int = 1
    max_side: int | None = None

    def __post_init__(self) -> None:
        if len(self.default) != 2 or not all(isinstance(v, int) and v > 0 for v in self.default):
            raise ValueError(f"InputSize.default must be (width, height) in positive pixels, not {self.default!r}")
        if self.multiple < 1 or self.min_side < 1:
            raise ValueError(f"InputSize.multiple and min_side must be at least 1 ({self.multiple}, {self.min_side})")
        if self.max_side is not None and self.max_side < self.min_side:
            raise ValueError(f"InputSize.max_side {self.max_side} is below min_side {self.min_side}")
        if self.adjustable and self.problem(self.default) is not None:
            raise ValueError(f"InputSize.default {self.default} breaks its own rule: {self.problem(self.default)}")

    @property
    def rule(self) -> str:
        """The rule in words, e.g. "multiples of 32 from 32 to 4096 pixels a side"."""
        words = f"multiples of {self.multiple}" if self.multiple > 1 else "any whole number of pixels"
        if self.max_side is not None:
            return f"{words} from {self.min_side} to {self.max_side} pixels a side"
        return f"{words}, at least {self.min_side} pixels a side"

    def problem(self, size: tuple[int, int]) -> str | None:
        """Why ``size`` (width, height) does not fit, or None when it does (adjustable or not)."""
        width, height = (int(v) for v in size)
        if not self.adjustable:
            return None if (width, height) == self.default else (
                f"the input size is fixed at {self.default[0]}x{self.default[1]}")
        if min(width, height) < self.min_side or (self.max_side is not None and max(width, height) > self.max_side) \
                or width % self.multiple or height % self.multiple:
            return f"{width}x{height} is not valid: width and height must be {self.rule} (e.g. {self.example(size)})"
        return None

    def example(self, near: tuple[int, int] | None = None) -> str:
        """Valid sizes next to ``near`` (default: the default size), e.g. "480x480 or 512x512"."""
        if not self.adjustable:
            return f"{self.default[0]}x{self.default[1]}"
        width, height = near or self.default
        (w0, w1), (h0, h1) = self._neighbours(int(width)), self._neighbours(int(height))
        below, above = f"{w0}x{h0}", f"{w1}x{h1}"
        return below if below == above else f"{below} or {above}"

    def _neighbours(self, side: int) -> tuple[int, int]:
        """The valid sides just at or below and at or above ``side``."""
        m = self.multiple
        smallest = -(-self.min_side // m) * m
        low = max(smallest, side // m * m)
        high = low if low >= side else low + m
        if self.max_side is not None:
            largest = self.max_side // m * m
            low, high = min(low, largest), min(high, largest)
        return low, high


@dataclass(frozen=True)
class Capabilities:
    """What a model can do beyond running with its defaults: typed, declared by its catalog
    entry, read by the code that offers choices (GUI controls, CLI flags) and checks them.

    input_size: the network input it takes (``InputSize``), or None when the idea does not
    apply (the model takes any size, or is not fed whole frames). grid_view: its outputs
    come from a grid of cells and anchors that can be shown (YOLO heads); False for models
    without one (set prediction, feature maps). precisions: the ``PRECISIONS`` it can run
    in, "fp32" first. postprocess: for detectors, "nms" or "set" (see ``POSTPROCESS``);
    None for other models. tracks: its boxes can feed the tracker and the counters.
    letterbox: it can fit frames by letterboxing (aspect kept, padded) as well as by
    stretching. compile: it can run through ``torch.compile``. channels_last: its memory
    layout can be chosen (NHWC vs NCHW). set_view: a set predictor (postprocess "set")
    whose results carry how the set was found (the encoder's proposals and each decoder
    layer's box), which can be shown like the grid. auto_precisions: those of
    ``precisions`` that precision "auto" may pick, the ones measured to agree with fp32
    (bench/detect.py: recall and precision of fp32's boxes >= 0.98 at IoU 0.5, mean IoU
    >= 0.95); None: all of them. A mode left out still runs when asked for by name.
    """

    input_size: InputSize | None = None
    grid_view: bool = False
    precisions: tuple[str, ...] = ("fp32",)
    postprocess: str | None = None
    tracks: bool = False
    letterbox: bool = False
    compile: bool = False
    channels_last: bool = False
    set_view: bool = False
    auto_precisions: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.input_size is not None and not isinstance(self.input_size, InputSize):
            raise ValueError(f"Capabilities.input_size must be an InputSize or None, not {self.input_size!r}")
        precisions = self.precisions
        if not precisions or precisions[0] != "fp32" or len(set(precisions)) != len(precisions) \
                or any(p not in PRECISIONS for p in precisions):
            raise ValueError(f"Capabilities.precisions must start with fp32 and list each of {', '.join(PRECISIONS)} "
                             f"at most once, not {self.precisions!r}")
        if self.auto_precisions is not None and (not self.auto_precisions or self.auto_precisions[0] != "fp32"
                                                 or any(p not in precisions for p in self.auto_precisions)):
            raise ValueError(f"Capabilities.auto_precisions must start with fp32 and be among the precisions "
                             f"{precisions!r}, not {self.auto_precisions!r}")
        if self.postprocess is not None and self.postprocess not in POSTPROCESS:
            raise ValueError(f"Capabilities.postprocess must be one of {', '.join(POSTPROCESS)} or None, "
                             f"not {self.postprocess!r}")
        if self.tracks and self.postprocess is None:
            raise ValueError("Capabilities.tracks needs a detector (postprocess 'nms' or 'set'): "
                             "only boxes can be tracked")
        if (self.grid_view or self.letterbox) and self.input_size is None:
            raise ValueError("Capabilities.grid_view and letterbox need an input_size: "
                             "both depend on the network input")
        if self.set_view is True and self.postprocess != "set":
            raise ValueError("Capabilities.set_view needs postprocess 'set': only set predictors have queries")
        for name in ("grid_view", "tracks", "letterbox", "compile", "channels_last", "set_view"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"Capabilities.{name} must be True or False, not {getattr(self, name)!r}")

    @property
    def automatic_precisions(self) -> tuple[str, ...]:
        """The precisions "auto" may pick (``auto_precisions``, or all of ``precisions``)."""
        return self.precisions if self.auto_precisions is None else self.auto_precisions

    @property
    def adjustable_input(self) -> bool:
        """Whether another network input size may be asked for."""
        return self.input_size is not None and self.input_size.adjustable


RESIZE_MODES = ("stretch", "letterbox", "crop")
COLOURS = ("RGB", "BGR", "GRAY")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "area")
ALIGNS = ("centre", "top-left")


@dataclass(frozen=True)
class Transforms:
    """How a frame (uint8 BGR, (H, W, 3)) becomes the model's input: the one preprocessing
    vocabulary, resolved by ``engine.models.transforms`` (nothing else restates it).

    size: (width, height) in pixels the model takes, or None when it takes any size.
    resize: how a frame is fitted to ``size``: "stretch" (ignore the aspect ratio),
    "letterbox" (fit inside, aspect kept, centred, padded with ``fill``) or "crop" (resize
    the short side to ``resize_size``, then take the centred ``size``). resize_size: the
    short side before a "crop" (None: the crop's own side, i.e. no border is cut beyond
    the aspect ratio). interpolation: "bilinear", "bicubic", "nearest" or "area".
    colour: channel order the model expects, "RGB", "BGR" or "GRAY" (one channel).
    scale: factor applied to 0..255 values before ``mean``/``std``:
    value = (pixel * scale - mean) / std, per channel in ``colour`` order (so mean and std
    are in the units of pixel * scale). fill: the 0..255 grey a letterbox pads with.
    antialias: resize as PIL and torchvision do (a filter widened by the downscale factor,
    on uint8 pixels, torch's ``interpolate(antialias=True)``) instead of OpenCV's
    point-sampled interpolation; "bilinear" or "bicubic" only. Models preprocessed by
    Hugging Face image processors need it to see the pixels they were trained on.
    align: where a letterbox puts the fitted frame: "centre" (padding split between both
    sides, sides rounded to whole pixels) or "top-left" (all padding right and below, sides
    truncated to whole pixels: YOLOX's ``preproc``).
    """

    size: tuple[int, int] | None = None
    resize: str = "stretch"
    colour: str = "RGB"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    resize_size: int | None = None
    interpolation: str = "bilinear"
    fill: int = 127
    antialias: bool = False
    align: str = "centre"

    def __post_init__(self) -> None:
        if self.size is not None and (len(self.size) != 2 or not all(isinstance(v, int) and v > 0 for v in self.size)):
            raise ValueError(f"Transforms.size must be (width, height) in positive pixels or None, not {self.size!r}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"Transforms.resize must be one of {', '.join(RESIZE_MODES)}, not {self.resize!r}")
        if self.colour not in COLOURS:
            raise ValueError(f"Transforms.colour must be one of {', '.join(COLOURS)}, not {self.colour!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"Transforms.interpolation must be one of {', '.join(INTERPOLATIONS)}, "
                             f"not {self.interpolation!r}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"Transforms for {self.colour} need {self.channels} mean and std value(s), "
                             f"got {len(self.mean)} and {len(self.std)}")
        if not self.scale > 0 or any(not s > 0 for s in self.std):
            raise ValueError(f"Transforms.scale and std must be positive (scale {self.scale}, std {self.std})")
        if self.resize_size is not None and (self.resize != "crop" or self.resize_size < 1):
            raise ValueError(f"Transforms.resize_size ({self.resize_size}) is the short side before a crop: "
                             "only with resize='crop', in positive pixels")
        if self.antialias and self.interpolation not in ("bilinear", "bicubic"):
            raise ValueError(f"Transforms.antialias works with bilinear or bicubic interpolation, "
                             f"not {self.interpolation!r}")
        if not 0 <= self.fill <= 255:
            raise ValueError(f"Transforms.fill must be a 0..255 grey, not {self.fill}")
        if self.align not in ALIGNS:
            raise ValueError(f"Transforms.align must be one of {', '.join(ALIGNS)}, not {self.align!r}")

    @property
    def channels(self) -> int:
        """Input channels: 1 for "GRAY", else 3."""
        return 1 if self.colour == "GRAY" else 3

    def unit_normalisation(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) restated for pixel values in [0, 1], for code that works on such
        images (feature visualisation): value = (pixel / 255 - mean') / std'."""
        unit = 255.0 * self.scale
        return tuple(m / unit for m in self.mean), tuple(s / unit for s in self.std)


@dataclass(frozen=True)
class CatalogEntry:
    """A model the app knows how to download, verify, build and load: executable data.

    task: the key of the feature that uses it (``known_tasks()``). transforms: the preprocessing the model
    expects (a ``Transforms``), read by the preprocessing code, never re-stated elsewhere.
    capabilities: what may be changed or asked of it (a ``Capabilities``; none by
    default): the GUI's controls and the CLI's flags are derived from it. meta:
    facts about the model, documented keys:
        categories (tuple[str, ...]): class names, index = class id;
        metric ("euclidean" | "cosine"), threshold (float, distance): for embedders;
        embedding_dim (int); num_params (int); accuracy (dict: benchmark -> value).
    builder: ``builder(entry, cache, device[, options])`` returns the ready-to-run model object
    (an nn.Module or a wrapper) from the installed files; the only place that knows how
    to build this model, so nothing dispatches on strings. validator: called with the
    installed path of each file after download or import; raises ValueError with a
    user-facing message when the file cannot be this model's (wrong size for a cfg,
    wrong state_dict keys). preprocessing/extra: older free-form fields, being replaced
    by ``transforms``/``meta``/``builder``.
    """

    name: str
    task: str
    title: str
    files: tuple[ModelFile, ...]
    license: str
    source: str
    description: str = ""
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    default: bool = False
    validator: Callable[[Path], None] | None = field(default=None, compare=False, repr=False)
    transforms: Transforms | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    builder: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    capabilities: Capabilities = field(default_factory=Capabilities)

    def __post_init__(self) -> None:
        if not isinstance(self.capabilities, Capabilities):
            raise ValueError(f"catalog entry '{self.name}': capabilities must be a Capabilities, "
                             f"not {type(self.capabilities).__name__}")
        size = self.capabilities.input_size
        if size is not None and self.transforms is not None and self.transforms.size is not None \
                and tuple(self.transforms.size) != size.default:
            raise ValueError(f"catalog entry '{self.name}': its input size {size.default} and its transforms' size "
                             f"{self.transforms.size} disagree")

    def build(self, cache: Any = None, device: Any = None, options: Any = None) -> Any:
        """The model object, built from the installed files by this entry's ``builder``.

        options: the task's frozen options object (``DetectorOptions`` for detectors),
        which the builder checks against ``capabilities``; None for the defaults.
        """
        if self.builder is None:
            raise ValueError(f"{self.name} has no builder")
        if options is None:
            return self.builder(self, cache, device)
        return self.builder(self, cache, device, options)

    @property
    def size(self) -> int | None:
        """Total bytes of all files, or None if any size is unknown."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    def file(self, filename: str | None = None) -> ModelFile:
        """The file called ``filename`` (the first file when None)."""
        if not self.files:
            raise ValueError(f"{self.name} has no files")
        if filename is None:
            return self.files[0]
        for f in self.files:
            if f.filename == filename:
                return f
        raise ValueError(f"{self.name} has no file '{filename}' (its files: {', '.join(f.filename for f in self.files)})")


class Catalog:
    """A set of entries with unique names.

    tasks: the task keys an entry may carry (None: any). problems: one line per set of
    entries the provider had to leave out (a feature whose catalog failed to load).
    """

    def __init__(self, entries: Iterable[CatalogEntry] = (), tasks: Iterable[str] | None = None,
                 problems: Iterable[str] = ()) -> None:
        self._entries: dict[str, CatalogEntry] = {}
        self.tasks: tuple[str, ...] | None = None if tasks is None else tuple(tasks)
        self.problems: tuple[str, ...] = tuple(problems)
        for entry in entries:
            self.add(entry)

    def add(self, entry: CatalogEntry) -> None:
        if entry.name in self._entries:
            raise ValueError(f"catalog entry '{entry.name}' is defined twice")
        if self.tasks is not None and entry.task not in self.tasks:
            raise ValueError(f"catalog entry '{entry.name}' has unknown task '{entry.task}' (known: {', '.join(self.tasks)})")
        self._entries[entry.name] = entry

    def get(self, name: str) -> CatalogEntry:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownModelError(f"no model called '{name}' in the catalog (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self, task: str | None = None) -> list[CatalogEntry]:
        """Entries (of ``task`` if given) in definition order."""
        return [e for e in self._entries.values() if task is None or e.task == task]

    def default(self, task: str) -> CatalogEntry | None:
        """The entry marked default for ``task`` (else its first entry, else None)."""
        candidates = self.entries(task)
        for entry in candidates:
            if entry.default:
                return entry
        return candidates[0] if candidates else None


@dataclass(frozen=True)
class CatalogContents:
    """What a provider hands the catalog.

    tasks: the task keys entries may carry, in display order (the features' keys).
    entries: every entry, in display order. problems: a line for each set of entries
    that could not be loaded (shown by ``models list``, logged by the provider).
    """

    tasks: tuple[str, ...]
    entries: tuple[CatalogEntry, ...]
    problems: tuple[str, ...] = ()


#: Returns the catalog's contents; called once, on the first ``catalog()``.
CatalogProvider = Callable[[], CatalogContents]

_PROVIDER: CatalogProvider | None = None
_CATALOG: Catalog | None = None


def use_provider(provider: CatalogProvider) -> None:
    """Make ``provider`` the source of :func:`catalog` (the one built so far is dropped).

    The feature registry calls this when ``engine.features`` is imported, and again when
    it is reloaded; this module never imports the features itself (it is a layer below).
    """
    global _PROVIDER, _CATALOG
    _PROVIDER = provider
    _CATALOG = None


def catalog() -> Catalog:
    """The app's catalog, gathered once from the installed provider.

    Raises CatalogNotReadyError when no provider is installed: import ``engine.features``
    first (main.py, the GUI, the tests and every feature module do).
    """
    global _CATALOG
    if _CATALOG is None:
        if _PROVIDER is None:
            raise CatalogNotReadyError("the model catalog has no provider yet: import engine.features first "
                                       "(it installs the feature registry as the catalog's provider)")
        contents = _PROVIDER()
        _CATALOG = Catalog(contents.entries, tasks=contents.tasks, problems=contents.problems)
    return _CATALOG


def known_tasks() -> tuple[str, ...]:
    """The task keys of the catalog (one per feature), in the features' order."""
    tasks = catalog().tasks
    return tasks if tasks is not None else ()
