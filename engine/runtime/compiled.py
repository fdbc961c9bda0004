"""A network that serves eagerly at once and switches to its compiled self when that is ready.

``BackgroundCompiled(module, example)`` is called like ``module``. The first calls run
the eager module; meanwhile a background thread compiles it for ``example``'s shape,
dtype and layout with inductor and frozen weights (convolutions constant-folded into
prepacked oneDNN calls with their activations fused). When the compiled function has
run once and its outputs match eager's on the same input (within a tolerance that fits
the dtype, ``tolerance_for``), later calls use it: one attribute assignment, atomic
under the GIL. A compile that raises (no C++ compiler, an unsupported op) or outputs
that disagree leave the eager module serving, with one logged note; so does a compiled
call that fails later.

The compiled network is kept on disk for the next launch: the default first compiler,
``aot_inductor``, exports the network and compiles it with AOTInductor into a package
in the app's cache folder (engine.runtime.compiled_store); the background thread looks
there first, and a package made for this very network (weights digest), input and
platform is loaded in a fraction of a second and checked like a fresh compile
(``loaded_from_disk``). A package that does not load or agree is deleted and compiled
again. When the network cannot be exported, ``torch.compile`` (``inductor_cpp``, then
``inductor``) compiles it in process; inductor's own caches go to the app's cache folder
too (``use_app_cache``), though with frozen weights they save only part of the work.

The compile waits for the first ``EAGER_FIRST`` eager calls to end (a detector's warm-up
and the first frames; at most ``FIRST_RESULT_GRACE_S``): importing and tracing are
Python work that holds the interpreter lock, and the first results should not wait for them. While it compiles, the interpreter switches threads
more often (``sys.setswitchinterval``), so the serving thread's many short Python steps
per frame are not each held up by a compile thread that rarely lets go.

torch.fx's tracer, which inductor uses here and there, patches ``nn.Module.__call__``
for the whole process while it traces; an eager call that lands in such a window (a
few milliseconds) fails with an error about the tracer. Eager calls made while a
compile runs are therefore retried a few times before an error counts.

Inputs of another shape, dtype or memory format than the compiled one run eagerly and
start a background compile for that shape (the live input size can change).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from engine.runtime.compiled_store import AOT_OPTIONS, CompileStore, app_store
from engine.runtime.compiled_store import first_line as _first_line

log = logging.getLogger(__name__)

#: Where under the app's cache folder inductor keeps its caches.
CACHE_SUBDIR = "torch-compile"

#: Eager calls served before compiling starts, and the longest wait for them, in seconds.
EAGER_FIRST, FIRST_RESULT_GRACE_S = 3, 3.0
#: The interpreter's thread switch interval while compiling, in seconds (Python's default: 0.005).
SWITCH_INTERVAL_S = 0.0005

#: Tries of an eager call while a compile runs (see the module docstring), with a pause between.
EAGER_TRIES, EAGER_PAUSE_S = 20, 0.005

#: States, as ``BackgroundCompiled.state`` reports them.
EAGER, COMPILING, COMPILED, FAILED = "eager", "compiling", "compiled", "failed"

Compiler = Callable[[nn.Module], Callable[..., Any]]
#: (compiled outputs, eager outputs, tolerance) -> why they disagree, or None.
Check = Callable[[Any, Any, "Tolerance"], "str | None"]


@dataclass(frozen=True)
class Tolerance:
    """Compiled vs eager agree when, per output, |c - e| <= atol * max|e| + rtol * |e|
    (absolute part relative to the output's largest value, so raw logits of any scale compare)."""

    rtol: float
    atol: float


def tolerance_for(dtype: torch.dtype) -> Tolerance:
    """How closely a compiled network must match eager in ``dtype``: float32 differs in the
    last bits (other summation order); bfloat16 has an 8-bit mantissa, and fusion changes
    where it rounds, so a few percent of the output's range is ordinary there."""
    if dtype == torch.bfloat16:
        return Tolerance(rtol=0.05, atol=0.05)
    if dtype == torch.float16:
        return Tolerance(rtol=0.01, atol=0.01)
    return Tolerance(rtol=1e-3, atol=1e-4)


def use_app_cache() -> str | None:
    """Point inductor's on-disk caches at the app's cache folder, unless the user set
    ``TORCHINDUCTOR_CACHE_DIR`` already; the folder used (None when none can be made)."""
    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR", "").strip()
    if chosen:
        return chosen
    from engine.core import paths
    try:
        folder = paths.cache_dir() / CACHE_SUBDIR
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only cache: inductor's own temp folder still works, only slower next time
        log.info("compile cache stays in the temp folder: %s", exc)
        return None
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    return str(folder)


def inductor(module: nn.Module, cpp_wrapper: bool = False) -> Callable[..., Any]:
    """``module`` through torch.compile's inductor with frozen weights, for one input shape.

    Freezing is switched on for the compile itself (the first call, made by
    ``BackgroundCompiled``'s thread); it needs inference (no autograd) to apply.
    cpp_wrapper: the graph's kernel calls from generated C++ instead of Python (on a
    CPU ~7% less time per yolov4-tiny frame, measured; a longer first compile)."""
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True  # read when the first call compiles, on the background thread
    return torch.compile(module, dynamic=False, options={"cpp_wrapper": True} if cpp_wrapper else None)


def inductor_cpp(module: nn.Module) -> Callable[..., Any]:
    """``inductor`` with its C++ wrapper (the fallback when packaging fails)."""
    return inductor(module, cpp_wrapper=True)


def aot_inductor(module: nn.Module, *, example: torch.Tensor, store: CompileStore, key: str) -> Callable[..., Any]:
    """``module`` exported on ``example`` and compiled by AOTInductor with frozen weights
    into a package filed in ``store`` under ``key``, then loaded from there: the same
    code as ``inductor_cpp``, kept for the next launch (engine.runtime.compiled_store).
    ``BackgroundCompiled`` supplies the keywords; without a store it is skipped."""
    store.package(module, example, key, AOT_OPTIONS)
    loaded = store.load(key)
    if loaded is None:
        raise RuntimeError("the package just written does not load")
    return loaded


aot_inductor.stored = True  # type: ignore[attr-defined]  # needs a store: see BackgroundCompiled._compile_and_check

#: What ``BackgroundCompiled`` tries by default, in order, until one compiles.
DEFAULT_COMPILERS: tuple[Compiler, ...] = (aot_inductor, inductor_cpp, inductor)


def _flatten(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for item in out for t in _flatten(item)]
    if isinstance(out, dict):
        return [t for key in sorted(out) for t in _flatten(out[key])]
    return []


def mismatch(compiled: Any, eager: Any, tolerance: Tolerance) -> str | None:
    """Why ``compiled`` outputs differ from ``eager`` ones beyond ``tolerance``, or None."""
    got, want = _flatten(compiled), _flatten(eager)
    if len(got) != len(want):
        return f"{len(got)} outputs instead of {len(want)}"
    for i, (c, e) in enumerate(zip(got, want)):
        if c.shape != e.shape:
            return f"output {i} is {tuple(c.shape)} instead of {tuple(e.shape)}"
        c, e = c.detach().float(), e.detach().float()
        scale = float(e.abs().max()) if e.numel() else 0.0
        if not torch.allclose(c, e, rtol=tolerance.rtol, atol=tolerance.atol * max(scale, 1e-6), equal_nan=True):
            worst = float((c - e).abs().max())
            return f"output {i} differs by up to {worst:.3g} (largest value {scale:.3g})"
    return None


def _key(x: torch.Tensor) -> tuple:
    return tuple(x.shape), x.dtype, x.device.type, x.is_contiguous(memory_format=torch.channels_last) and x.dim() == 4


class BackgroundCompiled:
    """Callable like ``module(x)`` with one tensor ``x``; eager until the compiled version
    is ready and checked (see the module docstring).

    module: the network (inference only). example: an input of the shape, dtype, device
    and memory format it will see; its values do not matter. compiler: module ->
    compiled callable, or several tried in turn, the next one when one raises (default
    ``DEFAULT_COMPILERS``). tolerance: the agreement needed (default
    ``tolerance_for(example.dtype)``). check: how outputs are compared under it (default
    ``mismatch``, element by element; a set predictor compares sets). name: for log
    notes. start: begin compiling now (False: on ``start()``; tests and benchmarks).
    store: where compiled networks are kept between launches
    (engine.runtime.compiled_store); None: the app's cache folder with the default
    compilers, none with others; False: none.
    """

    def __init__(self, module: nn.Module, example: torch.Tensor, *,
                 compiler: Compiler | Sequence[Compiler] | None = None,
                 tolerance: Tolerance | None = None, check: Check | None = None, name: str = "model",
                 start: bool = True, store: CompileStore | bool | None = None) -> None:
        self.module = module
        self.name = name
        self._store = store if store is not None else compiler is None
        self._compilers: tuple[Compiler, ...] = (DEFAULT_COMPILERS if compiler is None else
                                                 tuple(compiler) if isinstance(compiler, Sequence) else (compiler,))
        self._tolerance = tolerance
        self._check = check or mismatch
        self._example = example.detach().clone()
        self._lock = threading.Lock()
        self._fn: Callable[..., Any] = module  # what calls use; swapped once, atomically
        self._ready_key: tuple | None = None
        self._pending_key: tuple | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._served = threading.Event()  # the first EAGER_FIRST calls ended
        self._calls = 0
        self.state = EAGER
        #: Why compiling was given up ("" while it was not).
        self.note = ""
        #: Seconds the last background compile took, up to its check (None before one ended).
        self.compile_seconds: float | None = None
        #: Whether the compiled network serving was loaded from the disk cache (not compiled now).
        self.loaded_from_disk = False
        if start:
            self.start()

    @property
    def label(self) -> str:
        """"compiled", "compiling…" or "" (eager: never asked, or given up)."""
        return {COMPILED: "compiled", COMPILING: "compiling…"}.get(self.state, "")

    def start(self, example: torch.Tensor | None = None) -> None:
        """Compile for ``example`` (default: the one given at construction) in the background."""
        example = self._example if example is None else example.detach().clone()
        with self._lock:
            if self.state == FAILED or self._pending_key == _key(example):
                return
            self._pending_key = _key(example)
            self.state = COMPILING
            self._done.clear()
            self._thread = threading.Thread(target=self._compile, args=(example,), name=f"compile {self.name}",
                                            daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background compile ended (ready or given up); False on timeout."""
        return self._done.wait(timeout)

    def _give_up(self, why: str) -> None:
        self.note = why
        self.state = FAILED
        self._fn, self._ready_key = self.module, None
        log.warning("%s: %s; running eagerly", self.name, why)

    def _compile(self, example: torch.Tensor) -> None:
        self._served.wait(FIRST_RESULT_GRACE_S)
        with _fast_switching():
            try:
                self._compile_and_check(example)
            finally:
                self._done.set()

    def _compile_and_check(self, example: torch.Tensor) -> None:
        started = time.perf_counter()
        use_app_cache()
        store, key = self._open_store(), None
        if store is not None:
            try:
                key = store.key(self.module, example, AOT_OPTIONS)
            except Exception as exc:  # a tensor that cannot be read back to hash: compile without the store
                log.info("%s: not kept on disk (%s)", self.name, _first_line(exc))
        if key is not None and self._load_stored(store, key, example, started):
            return
        failure: Exception | None = None
        for compiler in self._compilers:
            if getattr(compiler, "stored", False):  # aot_inductor: needs the store, and a key it did not fail on
                if key is None or store.failed(key):
                    continue
                compiler = functools.partial(compiler, example=example, store=store, key=key)
            try:
                with torch.inference_mode():
                    compiled = compiler(self.module)
                    got = compiled(example)
                    want = self.module(example)
                break
            except Exception as exc:  # no compiler toolchain, an op inductor cannot lower, ...
                failure = exc
                if isinstance(compiler, functools.partial):  # packaging: the in-process compile follows, not kept
                    log.info("%s: not kept on disk, packaging failed (%s)", self.name, _first_line(exc))
                log.debug("%s: %s failed: %s", self.name, getattr(compiler, "__name__", compiler), exc)
        else:
            self.compile_seconds = time.perf_counter() - started
            self._give_up(f"torch.compile failed ({_first_line(failure)})" if failure else "no compiler to try")
            return
        self.compile_seconds = time.perf_counter() - started
        problem = self._check(got, want, self._tolerance or tolerance_for(example.dtype))
        if problem is not None and key is not None and store.has(key):
            store.discard(key, "it disagrees with eager")
        self._swap(compiled, example, problem, from_disk=False)

    def _open_store(self) -> CompileStore | None:
        if isinstance(self._store, CompileStore):
            return self._store
        return app_store() if self._store else None

    def _load_stored(self, store: CompileStore, key: str, example: torch.Tensor, started: float) -> bool:
        """Serve the package stored under ``key`` once it agrees with eager; False when
        there is none, or it does not load or agree (then it is deleted, and compiled again)."""
        loaded = store.load(key)
        if loaded is None:
            return False
        try:
            with torch.inference_mode():
                got = loaded(example)
                want = self.module(example)
        except Exception as exc:  # loads, but its library cannot run here
            store.discard(key, f"it fails to run ({_first_line(exc)})")
            return False
        problem = self._check(got, want, self._tolerance or tolerance_for(example.dtype))
        if problem is not None:
            store.discard(key, f"it disagrees with eager ({problem})")
            return False
        self.compile_seconds = time.perf_counter() - started
        self._swap(loaded, example, None, from_disk=True)
        return True

    def _swap(self, compiled: Callable[..., Any], example: torch.Tensor, problem: str | None, from_disk: bool) -> None:
        with self._lock:
            if problem is not None:
                self._give_up(f"the compiled network disagrees with eager ({problem})")
            elif self._pending_key == _key(example):
                self._fn, self._ready_key = compiled, _key(example)
                self.loaded_from_disk = from_disk
                self.state = COMPILED
                log.info("%s: %s in %.1f s", self.name, "compiled network loaded from disk" if from_disk else "compiled",
                         self.compile_seconds)

    def _eager(self, x: torch.Tensor) -> Any:
        for attempt in range(EAGER_TRIES):
            try:
                return self.module(x)
            except Exception:
                if self.state != COMPILING or attempt == EAGER_TRIES - 1:
                    raise
                log.debug("%s: an eager call met the compile's tracer; again", self.name)
                time.sleep(EAGER_PAUSE_S)
        raise AssertionError("unreachable")

    def __call__(self, x: torch.Tensor) -> Any:
        fn, ready = self._fn, self._ready_key  # one read: a swap in between cannot mix them
        if fn is self.module:
            try:
                return self._eager(x)
            finally:
                self._calls += 1
                if self._calls >= EAGER_FIRST:
                    self._served.set()
        if _key(x) != ready:  # the input size changed: eager until that shape is compiled too
            self.start(x)
            return self._eager(x)
        try:
            return fn(x)
        except Exception as exc:  # a failure that only a real frame shows
            self._give_up(f"the compiled network failed ({_first_line(exc)})")
            return self.module(x)



_switching = threading.Lock()
_compiles = 0
_interval = 0.0


@contextlib.contextmanager
def _fast_switching() -> Iterator[None]:
    """``SWITCH_INTERVAL_S`` while any compile runs; the interval before the first restored after the last."""
    global _compiles, _interval
    with _switching:
        if _compiles == 0:
            _interval = sys.getswitchinterval()
            sys.setswitchinterval(min(_interval, SWITCH_INTERVAL_S))
        _compiles += 1
    try:
        yield
    finally:
        with _switching:
            _compiles -= 1
            if _compiles == 0:
                sys.setswitchinterval(_interval)

