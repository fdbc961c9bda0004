"""Other CPU runtimes on our own ONNX export, and the interleaved timing loop, shared by
bench/detect_peers.py (detectors: ``bench/detect.py --peers``) and bench/peers.py (the
Faces, Style and Feature-maps networks).

A ``Peer`` runs one ONNX file: ``run(x)`` takes the float32 NCHW ndarray the export's
single input wants and returns the export's outputs as ndarrays, in the export's order.
Both runtimes get the thread count ours gets (intra-op; one inter-op thread, one stream)
and wait passively between runs, as ours do (engine.runtime.threads). OpenVINO's default
inference precision is bf16 on CPUs with AMX/AVX512-BF16 and f32 elsewhere;
``precision="f32"`` forces f32. OpenVINO and ONNX Runtime are bench/test dependencies only.
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

PEERS = ("openvino", "onnxruntime")


def flatten(value: Any) -> list[torch.Tensor]:
    """Tensors of a network's output in the order the ONNX exports name them (depth first;
    dicts and transformers' outputs by their items)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict) or (hasattr(value, "items") and hasattr(value, "to_tuple")):
        return [t for item in value.values() for t in flatten(item)]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in flatten(item)]
    return []


def rebuild(template: Any, flat: list[torch.Tensor]) -> Any:
    """``flat`` tensors back into the structure of ``template`` (our forward's output)."""
    items = iter(flat)

    def build(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return next(items)
        if isinstance(value, dict):
            return type(value)((k, build(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return type(value)(build(v) for v in value)
        return value

    return build(template)


class Peer:
    """One runtime: ``run(x: float32 NCHW ndarray) -> list of ndarrays`` (the export's outputs).
    name: e.g. "OpenVINO 2026.4.1"; precision: what it computes in ("f32", "bf16", "f16")."""

    name: str
    precision: str
    run: Callable[[np.ndarray], list[np.ndarray]]


def onnxruntime_peer(path: Path, threads: int) -> Peer:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle threads wait passively, as ours do (engine.runtime.threads): a pool still
    # spinning after its run would take the cores from the preprocessing and decoding
    # that follow it (and from whatever runs next in the interleaved order).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    peer = Peer()
    peer.name, peer.precision = f"ONNX Runtime {ort.__version__}", "f32"
    peer.run = lambda x: session.run(None, {input_name: x})
    return peer


def openvino_peer(path: Path, threads: int, precision: str) -> Peer:
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    if precision == "f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    request = compiled.create_infer_request()
    outputs = list(compiled.outputs)
    peer = Peer()
    peer.name = f"OpenVINO {ov.__version__.split('-')[0]}"
    hint = str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()  # e.g. "<Type: 'float32'>"
    peer.precision = "bf16" if "bf16" in hint or "bfloat16" in hint else "f16" if "f16" in hint or "float16" in hint else "f32"

    def run(x: np.ndarray) -> list[np.ndarray]:
        result = request.infer({0: x})
        return [result[o] for o in outputs]

    peer.run = run
    return peer


def make_peers(names: list[str], path: Path, threads: int, precision: str) -> list[Peer]:
    """Peers ``names`` (of PEERS) on the ONNX file ``path``; precision: OpenVINO's, "default" or "f32"."""
    peers = []
    for name in names:
        if name == "onnxruntime":
            peers.append(onnxruntime_peer(path, threads))
        elif name == "openvino":
            peers.append(openvino_peer(path, threads, precision))
        else:
            raise SystemExit(f"--peers: unknown runtime '{name}'; use {', '.join(PEERS)}")
    return peers


def export_network(module: nn.Module, example: torch.Tensor, path: Path, opset: int = 17) -> Path:
    """``module`` (any float network taking one (N, C, H, W) tensor) as ONNX at ``path``:
    input ``image`` float32 of ``example``'s shape (batch dynamic), outputs ``output0``,
    ``output1``, ... (its tensors, flattened). Exported from a float32 contiguous copy:
    plain operators every runtime knows, whatever memory format or precision runs here."""

    class Flat(nn.Module):
        def __init__(self, network: nn.Module) -> None:
            super().__init__()
            self.network = network

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return tuple(flatten(self.network(image)))

    network = copy.deepcopy(module).float().cpu().eval().to(memory_format=torch.contiguous_format)
    example = example.float().cpu().contiguous()
    with torch.no_grad():
        count = len(flatten(network(example)))
    outputs = [f"output{i}" for i in range(count)]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shapes fixed by the example are meant as constants
        torch.onnx.export(Flat(network), (example,), str(path), input_names=["image"], output_names=outputs,
                          dynamic_axes={name: {0: "batch"} for name in ["image", *outputs]},
                          opset_version=opset, dynamo=False)
    return path


def interleave(benches: dict[str, Callable[[int], Any]], count: int, rounds: int,
               warmup: int = 3, cpu: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Time every bench on calls 0..count-1 (the argument picks the input), ``rounds``
    times, in rotating order (call i of round r starts at bench (r + i) mod n), so
    background load and cache effects hit all alike. Returns {name: [ms per call, ...]}
    (wall clock) in call order (rounds x count each, so entry k of two benches is the
    same call). ``cpu``: filled the same way with this process's CPU ms per call (all its
    threads): the work done, which other processes' load inflates far less than the wall
    clock (threads waiting passively use none; a spinning pool would count)."""
    for fn in benches.values():  # allocators, primitive caches, OpenVINO's first inference
        for i in range(min(warmup, count)):
            fn(i)
    names = list(benches)
    times: dict[str, list[float]] = {k: [] for k in names}
    cpu_times: dict[str, list[float]] = cpu if cpu is not None else {}
    cpu_times.update({k: [] for k in names})
    for r in range(rounds):
        for i in range(count):
            shift = (r + i) % len(names)
            for name in names[shift:] + names[:shift]:
                start, start_cpu = time.perf_counter(), time.process_time()
                benches[name](i)
                times[name].append((time.perf_counter() - start) * 1000.0)
                cpu_times[name].append((time.process_time() - start_cpu) * 1000.0)
    return times


def ratio(ours: list[float], theirs: list[float]) -> tuple[float, float]:
    """(median(ours) / median(theirs), median of the per-call ratios) of paired timings."""
    return statistics.median(ours) / statistics.median(theirs), statistics.median(a / b for a, b in zip(ours, theirs))


def relative_difference(ours: list[np.ndarray], theirs: list[np.ndarray]) -> tuple[float, float]:
    """(largest |ours - theirs| over all outputs, the largest |ours|): the difference and
    the scale it is relative to."""
    diff = max(float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).max()) for a, b in zip(ours, theirs))
    scale = max(float(np.abs(np.asarray(a, np.float32)).max()) for a in ours)
    return diff, scale
