"""The training settings of a Teach project: frozen, saved with the project as plain JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

HEADS = ("linear", "mlp")


@dataclass(frozen=True)
class AugmentSettings:
    """Random changes applied to training images (never to validation ones).

    flip: horizontal mirror with probability 0.5. crop_scale: the random resized crop
    keeps this fraction range of the image area (1.0, 1.0 = no crop). jitter: colour
    jitter strength in 0..1 (brightness, contrast and saturation vary by +-jitter, hue by
    +-jitter/10 of the circle). copies: how many augmented copies of each training sample
    are embedded in the cached-features mode (fine-tuning draws new ones every epoch).
    """

    enabled: bool = True
    flip: bool = True
    crop_scale: tuple[float, float] = (0.6, 1.0)
    jitter: float = 0.3
    copies: int = 2

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0.05 <= lo <= hi <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0.05 <= low <= high <= 1, got {self.crop_scale}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")
        if not 0 <= self.copies <= 16:
            raise ValueError(f"copies must be between 0 and 16, got {self.copies}")


@dataclass(frozen=True)
class TrainSettings:
    """How the classifier is trained.

    head: "linear" (softmax regression) or "mlp" (one hidden layer of ``hidden`` units).
    finetune: 0 trains the head on cached embeddings; k > 0 also trains the last k blocks
    of the backbone on the images (slower; for more data). epochs: upper bound, early
    stopping ends sooner when the validation loss has not improved for ``patience``
    epochs. val_fraction: share of each class held out for validation. seed: makes the
    split, augmentation, initialisation and batch order reproducible.
    """

    head: str = "linear"
    hidden: int = 128
    finetune: int = 0
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-2
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    patience: int = 15
    seed: int = 0
    augment: AugmentSettings = field(default_factory=AugmentSettings)

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got '{self.head}'")
        if not 0 <= self.finetune <= 20:
            raise ValueError(f"finetune must be between 0 and 20 blocks, got {self.finetune}")
        if not 1 <= self.epochs <= 1000:
            raise ValueError(f"epochs must be between 1 and 1000, got {self.epochs}")
        if not 0.0 < self.val_fraction < 0.9:
            raise ValueError(f"val_fraction must be between 0 and 0.9, got {self.val_fraction}")
        if self.batch_size < 1 or self.learning_rate <= 0 or self.patience < 1 or self.hidden < 1:
            raise ValueError("batch_size, learning_rate, patience and hidden must be positive")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "TrainSettings":
        """Settings from saved JSON; unknown keys are ignored, missing ones take defaults."""
        if not isinstance(data, dict):
            return cls()
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names and k != "augment"}
        aug = data.get("augment")
        if isinstance(aug, dict):
            aug_names = {f.name for f in dataclasses.fields(AugmentSettings)}
            aug_values = {k: v for k, v in aug.items() if k in aug_names}
            if "crop_scale" in aug_values:
                aug_values["crop_scale"] = tuple(aug_values["crop_scale"])
            values["augment"] = AugmentSettings(**aug_values)
        return cls(**values)
