"""Cached embeddings: each sample through the backbone once, so retraining the head takes seconds.

One file per backbone and weights (``features/<backbone key>.npz``): ``keys`` (str,
"<sample id>" for the plain image, "<sample id>#<augmentation tag>" for an augmented
copy) and ``vectors`` (float32 (N, D)). Written atomically; a damaged cache file is
simply computed again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from engine.core.errors import SourceError
from engine.features.teach import atomic
from engine.features.teach.backbones import Backbone
from engine.features.teach.imaging import augment, square_crop, to_batch
from engine.features.teach.settings import AugmentSettings

log = logging.getLogger(__name__)

# A cache holds one vector (at most a few thousand floats) per sample and augmentation.
MAX_CACHE_BYTES = 512 * 1024 * 1024


class EmbeddingCache:
    """Embeddings of one backbone (``backbone.cache_key``) for one project folder."""

    def __init__(self, folder: Path | None, key: str) -> None:
        """folder None: kept in memory only (a one-off training from an ImageFolder)."""
        self.path = Path(folder) / f"{key}.npz" if folder is not None else None
        self._lock = threading.Lock()
        self._vectors: dict[str, np.ndarray] = {}
        if self.path is not None and self.path.is_file():
            from engine.models.npz_files import load_npz

            try:
                data = load_npz(self.path, ("keys", "vectors"), max_bytes=MAX_CACHE_BYTES, what="embedding cache")
                self._vectors = {str(k): v for k, v in zip(data["keys"], data["vectors"].astype(np.float32))}
            except Exception as exc:  # a damaged cache is re-creatable: start again
                log.warning("embedding cache %s is damaged (%s); it is computed again", self.path, exc)

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            return self._vectors.get(key)

    def put(self, key: str, vector: np.ndarray) -> None:
        with self._lock:
            self._vectors[key] = np.asarray(vector, dtype=np.float32)

    def __len__(self) -> int:
        return len(self._vectors)

    def prune(self, keep_samples: set[str]) -> None:
        """Forget embeddings of samples no longer in the project."""
        with self._lock:
            self._vectors = {k: v for k, v in self._vectors.items() if k.split("#", 1)[0] in keep_samples}

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            keys = list(self._vectors)
            vectors = np.stack([self._vectors[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)
        buffer = io.BytesIO()
        np.savez(buffer, keys=np.array(keys, dtype=str), vectors=vectors)
        atomic.write_bytes(self.path, buffer.getvalue())


def augment_tag(settings: AugmentSettings, seed: int, copy: int) -> str:
    """Identifies one augmented copy: the same settings, seed and copy index give the same image."""
    digest = hashlib.sha1(json.dumps(asdict(settings), sort_keys=True).encode()).hexdigest()[:8]
    return f"a{copy}-{seed}-{digest}"


def copy_rng(sample_id: str, tag: str) -> np.random.Generator:
    """The random stream of one augmented copy (independent of the order samples are processed in)."""
    return np.random.default_rng(int.from_bytes(hashlib.sha1(f"{sample_id}#{tag}".encode()).digest()[:8], "little"))


@torch.inference_mode()
def embed_images(backbone: Backbone, images: list[np.ndarray], device: torch.device | str = "cpu") -> np.ndarray:
    """Embeddings (N, D) float32 of BGR images (cropped and resized as for the live feed)."""
    from engine.features.teach.catalog import TEACH_TRANSFORMS

    batch = to_batch(images).to(device)  # RGB in [0, 1]: TEACH_TRANSFORMS' scale
    mean = torch.tensor(TEACH_TRANSFORMS.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(TEACH_TRANSFORMS.std, device=device).view(1, 3, 1, 1)
    return backbone.net((batch - mean) / std).float().cpu().numpy()


def compute(
    cache: EmbeddingCache,
    backbone: Backbone,
    items: list[tuple[str, Callable[[], np.ndarray], str | None]],
    *,
    augment_settings: AugmentSettings | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    cancel: threading.Event | None = None,
) -> Iterator[tuple[int, int]]:
    """Fill ``cache`` for ``items`` = (sample id, loader, augmentation tag or None); yields (done, total).

    Returns {sample id: error message} for samples whose image could not be read (they
    get no embedding). The backbone must already be on ``device``.
    """
    todo = [(sid, load, tag) for sid, load, tag in items if cache.get(sid if tag is None else f"{sid}#{tag}") is None]
    errors: dict[str, str] = {}
    done = 0
    total = len(todo)
    for start in range(0, total, batch_size):
        if cancel is not None and cancel.is_set():
            break
        keys, images = [], []
        for sid, load, tag in todo[start:start + batch_size]:
            if sid in errors:
                continue
            try:
                image = load()
            except SourceError as exc:
                errors[sid] = str(exc)
                log.warning("sample skipped: %s", exc)
                continue
            if tag is None:
                images.append(square_crop(image))
            else:
                images.append(augment(image, augment_settings or AugmentSettings(), copy_rng(sid, tag)))
            keys.append(sid if tag is None else f"{sid}#{tag}")
        if images:
            for key, vector in zip(keys, embed_images(backbone, images, device)):
                cache.put(key, vector)
        done = min(total, start + batch_size)
        yield done, total
    if total:
        cache.save()
    return errors
