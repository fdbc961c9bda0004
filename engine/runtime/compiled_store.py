"""Compiled networks kept on disk: AOTInductor packages, one per network, input and platform.

``torch.compile`` with frozen weights cannot reuse its FX graph cache across launches (the
prepacked oneDNN weights are not cacheable), so each launch re-traced and re-froze the
network (6-9 s for yolov4-tiny on a 2-core machine). An AOTInductor package instead
holds the finished product: ``torch.export`` traces the network once, inductor compiles
it with frozen weights (convolutions as prepacked oneDNN calls, activations fused) into
one shared library with the weights inside, zipped into a ``.pt2`` file. Loading it
takes a tenth of a second and compiles nothing.

A package is filed under a key made of everything that decides its code: the module's
class and structure (its ``repr``), a digest of its parameters and buffers (names,
shapes, dtypes, strides, bytes), the input's shape, dtype, strides and device, the torch
version, the CPU's vector capability (oneDNN's packed weight layout depends on it), the
compile options and ``FORMAT``. Any change gives a new key, so a stale package is never
loaded; it ages out instead (``MAX_BYTES``: the least recently used go first).

Writes are atomic (a temporary file in the same folder, then a rename), so a crash
leaves no half package under a key. A package that fails to load is deleted with one
log note, and the caller compiles again. A network that cannot be packaged (export
fails on it) leaves a small ``.failed`` note with the reason under its key, so later
launches go straight to their fallback instead of tracing again (for ``RETRY_FAILED_S``).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import importlib
import logging
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

#: Bumped when what is stored, or how the key is made, changes.
FORMAT = 1
#: Inductor options of a stored package (freezing: weights folded in, convolutions prepacked).
AOT_OPTIONS: dict[str, Any] = {"freezing": True}
#: Total size the store keeps, in bytes (yolov4-tiny fp32 is ~26 MB, yolov4 ~250 MB).
MAX_BYTES = 2 * 1024**3
#: Temporary files older than this (seconds) are left-overs of a crashed write.
STALE_TEMP_S = 3600.0
#: How long a failed packaging is not tried again for the same key, in seconds (a week).
RETRY_FAILED_S = 7 * 24 * 3600.0
SUFFIX, FAILED_SUFFIX, TEMP_PREFIX = ".pt2", ".failed", ".partial-"


def weights_digest(module: nn.Module) -> str:
    """Hex digest of every parameter and buffer of ``module``: name, dtype, shape, stride
    and bytes (the whole key of yolov4-tiny, 24 MB of float32 weights: 40-85 ms measured
    on a busy 2-core machine)."""
    h = hashlib.sha1(usedforsecurity=False)
    for name, t in _tensors(module):
        t = t.detach()
        if t.layout != torch.strided:  # a packed (mkldnn) or sparse tensor: hash its dense values
            t = t.to_dense()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|{t.stride()}|{t.device.type}\n".encode())
        if t.numel():
            flat = t.cpu().contiguous().reshape(-1).view(torch.uint8)
            h.update(flat.numpy().data)
    return h.hexdigest()


def _tensors(module: nn.Module):
    yield from module.named_parameters(remove_duplicate=False)
    yield from module.named_buffers(remove_duplicate=False)


def input_key(x: torch.Tensor) -> str:
    """What of an input the compiled code depends on: shape, dtype, strides, device."""
    return f"{tuple(x.shape)}|{x.dtype}|{x.stride()}|{x.device}"


def platform_key() -> str:
    """The torch build and CPU vector capability a package was compiled for."""
    return f"torch {torch.__version__}|cpu {torch.backends.cpu.get_cpu_capability()}"


class CompileStore:
    """AOTInductor packages under ``root``, by key (see the module docstring).

    root: the folder (created on first write). max_bytes: the size kept (``MAX_BYTES``).
    """

    def __init__(self, root: str | os.PathLike, max_bytes: int = MAX_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def key(self, module: nn.Module, example: torch.Tensor, options: dict[str, Any] | None = None) -> str:
        """The file key for ``module`` compiled for inputs like ``example`` with ``options``."""
        cls = type(module)
        parts = [f"format {FORMAT}", platform_key(), f"{cls.__module__}.{cls.__qualname__}", repr(module),
                 weights_digest(module), input_key(example), repr(sorted((options or AOT_OPTIONS).items()))]
        digest = hashlib.sha1("\n".join(parts).encode(), usedforsecurity=False).hexdigest()[:24]
        return f"{cls.__name__.lower()}-{digest}"

    def path(self, key: str) -> Path:
        return self.root / f"{key}{SUFFIX}"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def load(self, key: str) -> Callable[..., Any] | None:
        """The stored package under ``key``, loaded; None when there is none or it does not
        load (then it is deleted, with one log note)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            loaded = open_package(path)
        except Exception as exc:  # truncated, another torch build, a library that does not link
            self.discard(key, f"it does not load ({first_line(exc)})")
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        return loaded

    def discard(self, key: str, why: str) -> None:
        """Delete the package under ``key``, saying why (once, in the log)."""
        log.warning("compiled network %s dropped from the disk cache: %s", key, why)
        with contextlib.suppress(OSError):
            self.path(key).unlink()

    def failed(self, key: str) -> str | None:
        """Why packaging failed for ``key`` within the last ``RETRY_FAILED_S``, or None."""
        note = self.root / f"{key}{FAILED_SUFFIX}"
        try:
            if time.time() - note.stat().st_mtime > RETRY_FAILED_S:  # a C++ compiler installed since, perhaps
                return None
            return note.read_text(encoding="utf-8").strip() or "failed"
        except OSError:
            return None

    def package(self, module: nn.Module, example: torch.Tensor, key: str,
                options: dict[str, Any] | None = None) -> Path:
        """Export ``module`` on ``example``, compile it with AOTInductor and file it under
        ``key`` (atomically); its path. An export or compile error is noted under the key
        (see ``failed``) and raised; a write error is raised."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=SUFFIX, dir=self.root)
        os.close(fd)
        try:
            try:
                with torch.no_grad():
                    # A copy: export swaps the module's weights for fake tensors while it
                    # traces, and the original serves eager calls on another thread meanwhile.
                    program = torch.export.export(copy.deepcopy(module), (example,))
                    inductor = importlib.import_module("torch._inductor")
                    inductor.aoti_compile_and_package(program, package_path=temp, inductor_configs=dict(options or AOT_OPTIONS))
            except Exception as exc:
                with contextlib.suppress(OSError):
                    (self.root / f"{key}{FAILED_SUFFIX}").write_text(first_line(exc), encoding="utf-8")
                raise
            os.replace(temp, self.path(key))
            _drop_build_files(self.path(key))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        self.prune(keep=key)
        return self.path(key)

    def prune(self, keep: str | None = None) -> None:
        """Delete the least recently used packages beyond ``max_bytes`` (never ``keep``),
        and temporary files a crashed write left behind."""
        now = time.time()
        entries = []
        for path in self.root.glob("*"):
            with contextlib.suppress(OSError):
                stat = path.stat()
                if path.name.startswith(TEMP_PREFIX):
                    if now - stat.st_mtime > STALE_TEMP_S:
                        path.unlink()
                elif path.suffix == FAILED_SUFFIX and now - stat.st_mtime > RETRY_FAILED_S:
                    path.unlink()
                elif path.suffix == SUFFIX and path.stem != keep:
                    entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries) + (self.path(keep).stat().st_size if keep and self.has(keep) else 0)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size


def _drop_build_files(package: Path) -> None:
    """Delete what AOTInductor left in inductor's cache folder while building ``package``:
    its library (as big as the package, which holds a copy) and sources, filed by the same
    names as inside the package. Kept, they would pile up beyond the store's size limit."""
    try:
        from torch._inductor.runtime.cache_dir_utils import cache_dir

        with zipfile.ZipFile(package) as archive:
            stems = {Path(name).name.split(".")[0] for name in archive.namelist()
                     if "/aotinductor/" in name and name.endswith((".so", ".cpp", ".dll", ".pyd"))}
        for stem in stems:
            for path in Path(cache_dir()).glob(f"*/{stem}*"):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
    except (OSError, ImportError, zipfile.BadZipFile) as exc:  # another torch's layout: only disk space is lost
        log.debug("AOTInductor build files not removed: %s", exc)


class LoadedPackage:
    """An AOTInductor package, loaded: called like the module on one input tensor, it
    returns the module's outputs in the module's structure (list, tuple, dict, tensor)."""

    def __init__(self, loader: Any) -> None:
        from torch.utils import _pytree as pytree

        self._loader = loader
        self._unflatten = functools.partial(pytree.tree_unflatten, treespec=pytree.treespec_loads(loader.get_call_spec()[1]))

    def __call__(self, x: torch.Tensor) -> Any:
        return self._unflatten(self._loader.boxed_run([x]))


def open_package(path: str | os.PathLike) -> Callable[[torch.Tensor], Any]:
    """Load the package at ``path`` (raises RuntimeError when it is not a whole package or
    does not link here). Through torch's C++ loader directly: ``torch._inductor.aoti_load_package``
    imports dynamo and inductor first (5 s of a second launch on a busy 2-core machine)."""
    try:
        loader = torch._C._aoti.AOTIModelPackageLoader(os.fspath(path), "model", False, 1, -1)
    except (AttributeError, TypeError):  # another torch's signature: the public way
        with _quiet_logger("torch._inductor.package.package"):  # its "outdated pt2 file" guess: ours says more
            return importlib.import_module("torch._inductor").aoti_load_package(os.fspath(path))
    return LoadedPackage(loader)


def app_store() -> CompileStore | None:
    """The store under the app's cache folder (``cache_dir()/torch-compile/aoti``); None
    when that folder cannot be made (read-only disk): compiling still works, every time."""
    from engine.core import paths
    try:
        return CompileStore(paths.cache_dir() / "torch-compile" / "aoti")
    except OSError as exc:
        log.info("compiled networks are not kept on disk: %s", exc)
        return None


@contextlib.contextmanager
def _quiet_logger(name: str):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def first_line(exc: BaseException) -> str:
    """"Type: first line of the message", short enough for one log line."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__
