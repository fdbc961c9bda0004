"""Run a batch job over many inputs on Ray: embedded in this process, or on a cluster.

Why plain Ray actors rather than a Ray Data pipeline: the unit of commit is one input
(engine/batch/store.py), and only the driver that commits knows which inputs are done, so
resuming is exact. Each actor holds one loaded model (``job.start``) and turns one input
path into its Arrow tables; the driver keeps every actor fed with two inputs (one running,
one waiting, so an actor never idles on the round trip), commits each result as it
arrives and reports progress. Frames are decoded where the model runs: only the small
result tables travel through the object store, never pixels.

Embedded (no ``address``): ``ray.init(num_cpus=workers)`` starts a private cluster on
this machine; one actor per CPU, each with one torch/OpenCV thread (processes scale
better than threads for this work: decoding and NMS are serial per frame). With
``address`` the actors run on an existing cluster (``ray start``); every node needs this
package, the model's weights installed and the input paths readable (shared storage).

A worker that dies (out of memory, a node lost) gets its input retried once on a fresh
actor, then listed as a failure; a cluster that goes away raises ``ClusterLostError``:
committed inputs stay, and running the same command again finishes the rest.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.batch import require_scale
from engine.batch.inputs import BatchInput
from engine.batch.store import BatchStore
from engine.core.errors import UserError

log = logging.getLogger(__name__)

_IN_FLIGHT_PER_WORKER = 2
_PROBE_EVERY_S = 2.0  # while no result arrives, the cluster's head is probed this often
_LOST_AFTER_S = 10.0  # and declared gone after this long without an answer
_RETRIES_AFTER_A_DEATH = 1
# After a worker died, the head must keep answering this long for it to count as one lost
# worker: a head being stopped still accepts connections for a few seconds while its
# workers are already gone, and inputs retried in that moment would be marked failed.
_SETTLE_S = 5.0


class ClusterLostError(UserError, RuntimeError):
    """The Ray cluster went away (or could not be reached) during a run."""


class BatchWorkerError(UserError, RuntimeError):
    """A worker could not load the model (missing weights, a bad option): nothing can run."""


@dataclass
class Progress:
    """Where a run stands: inputs ``done`` (committed or failed, this run) of ``total``
    (to do this run), ``failed`` among them, ``skipped`` (committed by an earlier run),
    ``frames`` processed, ``detections``: rows of the task's first table (detections for
    detect, class counts for segment, faces for faces), ``elapsed`` seconds since every worker was ready, ``startup``
    seconds to start Ray and load the model on ``workers`` actors."""

    total: int
    skipped: int
    done: int = 0
    failed: int = 0
    frames: int = 0
    detections: int = 0
    elapsed: float = 0.0
    workers: int = 0
    startup: float = 0.0

    @property
    def rate(self) -> float:
        """Inputs per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds to go at the rate so far; None before the first input is done."""
        return (self.total - self.done) / self.rate if self.rate > 0 else None


def _worker_class(ray: Any):
    @ray.remote
    class BatchActor:
        """One model on one worker process (see the module doc)."""

        def __init__(self, job: Any, device: str, threads: int) -> None:
            import cv2
            import torch

            torch.set_num_threads(threads)
            cv2.setNumThreads(threads)
            self.problem: str | None = None
            try:
                self.worker = job.start(device)
            except Exception as exc:  # reported by ready(): the driver stops with it
                self.problem = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"

        def ready(self) -> str | None:
            return self.problem

        def process(self, path: str) -> tuple[str, Any, float]:
            """("ok", tables, seconds) or ("failed", reason, seconds)."""
            start = time.perf_counter()
            try:
                tables = self.worker.process(path)
            except (UserError, OSError) as exc:
                return "failed", str(exc), time.perf_counter() - start
            except Exception as exc:  # a decoder or model bug on one input must not stop the run
                log.exception("%s failed", path)
                return "failed", f"{type(exc).__name__}: {exc}", time.perf_counter() - start
            return "ok", tables, time.perf_counter() - start

    return BatchActor


def _start_ray(ray: Any, address: str | None, workers: int | None) -> None:
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            # The embedded cluster's processes inherit this environment: its workers import
            # the engine from where this process did (a source checkout too). No runtime_env:
            # it would make Ray start fresh workers instead of the ones it prestarts.
            package_root = str(Path(__file__).resolve().parents[2])
            previous = os.environ.get("PYTHONPATH")
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, previous) if p)
            try:
                # "local": a new instance even where `ray start` runs a cluster on this machine
                # (a bare ray.init() would join that one).
                ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            finally:
                if previous is None:
                    del os.environ["PYTHONPATH"]
                else:
                    os.environ["PYTHONPATH"] = previous
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "an embedded Ray instance"
        raise ClusterLostError(f"could not start or reach {where} ({exc})",
                               "check the address (`ray start --head` prints it) or leave out --address") from exc


def run_batch(job: Any, inputs: list[BatchInput], store: BatchStore, *, address: str | None = None,
              workers: int | None = None, gpus_per_worker: float = 0.0, threads_per_worker: int = 1,
              on_progress: Callable[[Progress], None] | None = None) -> Progress:
    """Process every input of ``inputs`` not committed in ``store`` yet; returns the final Progress.

    workers: actors to start (default: one per CPU of this machine, or of the cluster with
    ``address``; with ``gpus_per_worker`` on a cluster, as many as its GPUs allow).
    Raises BatchWorkerError when the model cannot be loaded, ClusterLostError when the
    cluster is unreachable or goes away (the committed inputs stay).
    """
    require_scale()
    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayError, RayTaskError

    committed = store.committed()
    todo = deque(unit for unit in inputs if unit.key not in committed)
    progress = Progress(total=len(todo), skipped=len(inputs) - len(todo))
    if not todo:
        return progress
    started = time.monotonic()
    _start_ray(ray, address, workers)
    lost = False
    try:
        resources = ray.cluster_resources()
        fit = int(resources.get("CPU", 1) // threads_per_worker)
        if gpus_per_worker:
            fit = min(fit, int(resources.get("GPU", 0) / gpus_per_worker))
            if fit < 1:
                raise BatchWorkerError(f"--gpus-per-worker {gpus_per_worker:g}: the cluster has {resources.get('GPU', 0):g} GPU(s)",
                                       "ask for fewer, or leave it out to run on the CPUs")
        if workers is not None and workers > fit:
            # Actors beyond what the cluster holds would wait for resources forever.
            log.warning("%d workers asked for, the cluster has room for %d", workers, fit)
        workers = fit if workers is None else min(workers, fit)
        workers = max(1, min(workers, len(todo)))
        actor_class = _worker_class(ray).options(num_cpus=threads_per_worker, num_gpus=gpus_per_worker)
        device = "cuda" if gpus_per_worker else "cpu"
        # Once into the object store: a job may carry data (batch faces: the gallery's
        # vectors), which every actor, a fresh one after a death too, then reads from there.
        job_ref = ray.put(job)

        def new_actor():
            return actor_class.remote(job_ref, device, threads_per_worker)

        actors = [new_actor() for _ in range(workers)]
        for problem in ray.get([a.ready.remote() for a in actors]):
            if problem:
                raise BatchWorkerError(f"the workers could not load {getattr(job, 'model', job.name)}: {problem}")
        progress.workers = workers
        progress.startup = time.monotonic() - started
        started = time.monotonic()  # the rate and the ETA count from the moment every worker is ready
        attempts: dict[str, int] = {}
        pending: dict[Any, tuple[Any, BatchInput]] = {}

        def top_up() -> None:
            """Give every live actor inputs until it holds _IN_FLIGHT_PER_WORKER of them."""
            for actor in actors:
                held = sum(1 for owner, _ in pending.values() if owner is actor)
                for _ in range(_IN_FLIGHT_PER_WORKER - held):
                    if not todo:
                        return
                    unit = todo.popleft()
                    pending[actor.process.remote(unit.path)] = (actor, unit)

        top_up()
        gcs = _gcs_address(ray, address)
        unreachable_since: float | None = None
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=_PROBE_EVERY_S)
            if not ready:
                # Ray's own reaction to a lost head is to end this process after a minute
                # with its message; noticing it here reports it as ours, manifest written.
                if gcs is not None and not _reachable(gcs):
                    unreachable_since = unreachable_since or time.monotonic()
                    if time.monotonic() - unreachable_since >= _LOST_AFTER_S:
                        raise _lost(address, progress, ConnectionError(f"nothing answers at {gcs[0]}:{gcs[1]}"))
                else:
                    unreachable_since = None
                continue
            ref = ready[0]
            actor, unit = pending.pop(ref)
            try:
                status, payload, seconds = ray.get(ref)
            except (ActorDiedError, ActorUnavailableError, RayActorError) as exc:
                # A node lost, or the whole cluster? Asking Ray (ray.nodes()) would block on
                # a head that is gone, so its port is probed instead.
                if gcs is not None and not _stays_reachable(gcs, _SETTLE_S):
                    raise _lost(address, progress, exc)
                attempts[unit.key] = attempts.get(unit.key, 0) + 1
                if attempts[unit.key] > _RETRIES_AFTER_A_DEATH:
                    store.fail(unit.path, f"the worker process died while processing it ({type(exc).__name__})")
                    progress.done += 1
                    progress.failed += 1
                else:
                    todo.appendleft(unit)
                # The dead actor's other inputs fail the same way and come back here; a fresh
                # actor takes over its share.
                if actor in actors:
                    actors[actors.index(actor)] = new_actor()
                top_up()
                continue
            except RayTaskError as exc:  # the actor method itself raised: it catches everything, so a bug here
                status, payload, seconds = "failed", f"{type(exc.cause).__name__}: {exc.cause}", 0.0
            if status == "ok":
                store.commit(unit.key, unit.path, payload, seconds)
                frames = payload.get("frames")
                progress.frames += frames.num_rows if frames is not None else 0
                rows = payload.get(job.tables[0])  # the task's main table: detections, class counts
                progress.detections += rows.num_rows if rows is not None else 0
            else:
                # The engine's messages name the file already; the table has it in "source".
                store.fail(unit.path, payload.removeprefix(f"{unit.path}: "))
                progress.failed += 1
            progress.done += 1
            progress.elapsed = time.monotonic() - started
            if on_progress is not None:
                on_progress(progress)
            top_up()
    except RayError as exc:
        lost = True
        raise _lost(address, progress, exc) from exc
    except ClusterLostError:
        lost = True
        raise
    finally:
        progress.elapsed = time.monotonic() - started
        store.write_manifest()
        if not lost:  # with the head gone, shutting down would wait for it
            try:
                ray.shutdown()
            except Exception:
                log.debug("ray.shutdown failed", exc_info=True)
    return progress


def _lost(address: str | None, progress: Progress, exc: BaseException) -> ClusterLostError:
    where = f"the Ray cluster at {address}" if address else "the embedded Ray instance"
    return ClusterLostError(f"{where} went away after {progress.done} of {progress.total} inputs ({type(exc).__name__})",
                            "the finished inputs are kept: start the cluster again and rerun the same command "
                            "to finish the rest")


def _gcs_address(ray: Any, address: str | None) -> tuple[str, int] | None:
    """(host, port) of the cluster's head (its GCS), or None when it cannot be told."""
    try:
        text = ray.get_runtime_context().gcs_address
    except Exception:
        text = address
    host, _, port = (text or "").rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def _reachable(gcs: tuple[str, int]) -> bool:
    import socket

    try:
        with socket.create_connection(gcs, timeout=2.0):
            return True
    except OSError:
        return False


def _stays_reachable(gcs: tuple[str, int], seconds: float, every: float = 0.5) -> bool:
    """Whether the head accepts every connection tried over ``seconds`` (one each ``every``)."""
    deadline = time.monotonic() + seconds
    while True:
        if not _reachable(gcs):
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(every)
