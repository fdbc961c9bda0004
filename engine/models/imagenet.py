"""ImageNet-1k facts shared by every feature whose networks were trained on it.

Means and standard deviations are per RGB channel, applied to pixel values scaled to
[0, 1]; the class names are torchvision's labels in class-index order.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, index = class id."""
    names = Path(__file__).with_name("imagenet_classes.txt").read_text(encoding="utf-8").splitlines()
    return tuple(n for n in names if n)
