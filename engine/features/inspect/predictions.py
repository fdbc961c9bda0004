"""Class probabilities of a classifier's output, for the live top-5."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Prediction:
    """One class: index into the model's outputs, its name ('' if unknown), softmax probability."""

    index: int
    name: str
    probability: float


def top_k(scores: torch.Tensor, categories: tuple[str, ...] | list[str] = (), k: int = 5) -> list[Prediction]:
    """The ``k`` most probable classes of (1, N) or (N,) raw scores, most probable first."""
    scores = scores.detach().float().reshape(-1)
    probs = torch.softmax(scores, dim=0)
    k = max(0, min(int(k), probs.numel()))
    values, indices = torch.topk(probs, k)
    return [
        Prediction(int(i), categories[int(i)] if int(i) < len(categories) else "", float(p))
        for p, i in zip(values.tolist(), indices.tolist())
    ]


def resolve_class(target: str | int, categories: tuple[str, ...] | list[str], num_classes: int) -> int:
    """A class given as an index ("281") or a name ("tabby cat", case-insensitive) -> its index."""
    text = str(target).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < num_classes:
            raise ValueError(f"class index {index} is out of range: the model has {num_classes} classes (0-{num_classes - 1})")
        return index
    lowered = [c.lower() for c in categories]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    partial = [i for i, c in enumerate(lowered) if text.lower() in c]
    if len(partial) == 1:
        return partial[0]
    if partial:
        names = ", ".join(f"{categories[i]} ({i})" for i in partial[:8])
        raise ValueError(f"class '{text}' is ambiguous: it matches {names}; give the exact name or the index")
    raise ValueError(f"unknown class '{text}': give an index 0-{num_classes - 1} or a class name of the model")
