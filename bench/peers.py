#!/usr/bin/env python3
"""Ours against OpenVINO and ONNX Runtime on the live networks of Faces, Style and Feature maps.

    python bench/peers.py [--networks mmod,dlib-resnet,style,resnet18] [--rounds 5] [--calls 20]
                          [--threads 2] [--peer-precision default|f32] [--peers openvino,onnxruntime]
                          [--frame 640x480] [--faces 1] [--style-side 320] [--inspect-size 224]
                          [--variants] [--repeat N]

Per network: ours exactly as the live tab runs it (the tab's own objects, built the way
its catalog builder builds them, called the way its task calls them, under
``torch.inference_mode()`` as the worker runs tasks) against the peers running OUR ONNX
export of that network (float32, bench/peer_runtimes.py), on the same ready inputs,
interleaved call by call in rotating order, every runtime with the same thread count.
"ms/call" is the network alone on a ready input (no resizing, no decoding): wall-clock
medians, their ratio, the median of the per-call ratios (each pair ran back to back), and
the ratio of the median CPU times (the process's, all threads), which load from other
processes on a shared machine inflates far less than the wall clock.

- ``mmod`` (Faces, detector): dlib's MMOD CNN (engine/features/faces/dlib_mmod.py, the
  file of face-recognition-models) on the tiled image pyramid the detector builds from a
  ``--frame`` BGR frame (the whole frame, as FacesTask gives it); fp32, channels_last.
- ``dlib-resnet`` (Faces, descriptor): dlib's ResNet on ``--faces`` 150x150 chips as one
  batch (DlibResNetEmbedder.embed_native: one face per frame is the usual live case).
- ``style`` (Style, live fast style): TransformerNet on the frame scaled to
  ``--style-side`` long side (the live size on a CPU: 320, so 320x240 for 640x480),
  FastStylizer's defaults (fp32, contiguous, eager), via ``stylize_tensor``; random weights
  (the presets are downloads; the cost does not depend on the values).
- ``resnet18`` (Feature maps): torchvision ResNet-18 as InspectTask.infer runs it in
  "activations" mode: the WHOLE network to the logits (the prediction is shown too), with
  the forward hook that copies the shown layer (the task's default: a middle one),
  ``--inspect-size`` square input (the weights' own 224 by default); random weights.

Where dlib's files are not installed, seeded random weights of the same networks are used.
The peers' outputs are checked against ours (largest difference relative to the largest
|output|), so the same network runs. ``--variants`` also times other ways of running ours
in the same loop (channels_last, TorchScript freeze + optimize_for_inference) to see
whether the app leaves speed on the table. The summary table ends the output.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# Run from anywhere: the engine package lives in the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.runtime.threads import prepare_process, threads_argument

prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.peer_runtimes import PEERS, export_network, flatten, interleave, make_peers, ratio, relative_difference  # noqa: E402

NETWORKS = ("mmod", "dlib-resnet", "style", "resnet18")
CHANNELS_LAST = torch.channels_last


@dataclass
class Network:
    """One live network: what the peers get (``module`` exported at ``inputs[0]``'s shape)
    and how ours runs it. inputs: the app's ready inputs (float32 (N, C, H, W), one per
    call, cycled); ours: the app's call on one of them; output: the network's output on
    one of them (the tensors the peers' outputs must equal)."""

    key: str
    title: str
    shape: str
    how: str
    module: nn.Module
    inputs: list[torch.Tensor]
    ours: Callable[[torch.Tensor], Any]
    output: Callable[[torch.Tensor], Any]
    variants: dict[str, Callable[[torch.Tensor], Any]] = field(default_factory=dict)
    # A variant's network output where its timed call returns something else (default: the call's).
    variant_outputs: dict[str, Callable[[torch.Tensor], Any]] = field(default_factory=dict)


def frames(args) -> list[np.ndarray]:
    """``args.inputs`` BGR uint8 frames of ``--frame`` size (smooth gradients, blobs, noise)."""
    from engine.features.detect.backends.darknet.random_weights import synthetic_image

    width, height = args.frame
    return [synthetic_image(height, width, seed=s) for s in range(args.inputs)]


def _random(module: nn.Module, seed: int) -> nn.Module:
    """``module`` with seeded random weights (PyTorch's default init, drawn again)."""
    torch.manual_seed(seed)
    for m in module.modules():
        if hasattr(m, "reset_parameters") and m is not module:
            m.reset_parameters()
    return module


def mmod(args, bgr: list[np.ndarray]) -> Network:
    from engine.features.faces.dlib_mmod import MmodDetector, MmodNet, load_mmod
    from engine.features.faces.dlib_models import MMOD_FILE, packaged_file

    path = packaged_file(MMOD_FILE)
    if path is not None:  # what the dlib-mmod catalog builder calls on the CPU
        detector, weights = load_mmod(path, "cpu"), f"dlib's {MMOD_FILE}"
    else:  # the same object with seeded random weights: padding and window as in dlib's file
        detector = MmodDetector.__new__(MmodDetector)
        detector.net = _random(MmodNet(), 0).eval().to(memory_format=CHANNELS_LAST)
        detector.padding, detector.outer_padding, detector.device, detector.half = 10, 11, torch.device("cpu"), False
        weights = "seeded random weights (face-recognition-models is not installed)"
    with torch.inference_mode():  # the pyramid MmodDetector.scores builds from detect_bgr's RGB copy
        inputs = [detector._tiled_input([np.ascontiguousarray(f[..., ::-1])])[0] for f in bgr]
    net = detector.net
    return Network("mmod", "dlib MMOD face detector (Faces)",
                   f"{args.frame[0]}x{args.frame[1]} frame -> tiled pyramid {tuple(inputs[0].shape)}",
                   f"fp32 channels_last, folded affine; {weights}", net, inputs, net, net,
                   _variants(args, net, inputs[0], channels_last=False))


def dlib_resnet(args, bgr: list[np.ndarray]) -> Network:
    from engine.features.faces.catalog import ENTRIES
    from engine.features.faces.dlib_models import RESNET_FILE, packaged_file
    from engine.features.faces.dlib_resnet import DlibFaceResNet, load_resnet
    from engine.models.transforms import to_batch

    path = packaged_file(RESNET_FILE)
    if path is not None:  # DlibResNetEmbedder.load on the CPU: load_resnet, fp32
        model, weights = load_resnet(path), f"dlib's {RESNET_FILE}"
    else:
        model = _random(DlibFaceResNet(), 0).eval().to(memory_format=CHANNELS_LAST)
        weights = "seeded random weights (face-recognition-models is not installed)"
    transforms = next(e for e in ENTRIES if e.name == "dlib-resnet").transforms
    inputs = []
    for frame in bgr:  # chips of dlib's size cut from the frame (the cost does not depend on the faces)
        h, w = frame.shape[:2]
        side = min(h, w)
        chips = [cv2.resize(frame[:side, k * 7 % (w - side + 1):][:, :side], (150, 150), interpolation=cv2.INTER_AREA)
                 for k in range(args.faces)]
        inputs.append(to_batch(chips, transforms))
    variants = _variants(args, model, inputs[0], channels_last=False)
    if args.variants:
        variants["affine folded into the convolutions"] = _fold_affine(model)
    return Network("dlib-resnet", "dlib ResNet face descriptor (Faces)",
                   f"{args.faces} chip(s) {tuple(inputs[0].shape)}", f"fp32 channels_last; {weights}",
                   model, inputs, model, model, variants)


def _fold_affine(model: nn.Module) -> nn.Module:
    """A copy of a DlibFaceResNet with each affine layer folded into the convolution before
    it (conv then gamma * x + beta == conv with weights * gamma, bias * gamma + beta), as
    MmodNet.fold_affine does for the detector: 29 elementwise passes less per chip."""
    folded = copy.deepcopy(model)
    pairs = [(folded, "stem", "stem_aff")] + [(b, c, a) for b in folded.blocks for c, a in (("conv1", "aff1"), ("conv2", "aff2"))]
    with torch.no_grad():
        for owner, conv_name, affine_name in pairs:
            conv, affine = getattr(owner, conv_name), getattr(owner, affine_name)
            gamma, beta = affine.gamma.reshape(-1), affine.beta.reshape(-1)
            conv.weight.mul_(gamma.view(-1, 1, 1, 1))
            conv.bias.mul_(gamma).add_(beta)
            setattr(owner, affine_name, nn.Identity())
    return folded


def style(args, bgr: list[np.ndarray]) -> Network:
    from engine.features.style.fast_style import FastStylizer, SpeedOptions, processing_size
    from engine.features.style.transformer_net import random_state

    stylizer = FastStylizer(random_state(0), "cpu", name="random")  # the catalog builder's options: the defaults
    h, w = processing_size(bgr[0].shape[0], bgr[0].shape[1], args.style_side)
    inputs = []
    for frame in bgr:  # stylize_small's input: the frame at the processing size, RGB 0..255
        small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA) if frame.shape[:2] != (h, w) else frame
        inputs.append(torch.from_numpy(np.ascontiguousarray(small[:, :, ::-1])).permute(2, 0, 1).unsqueeze(0).float())
    variants, outputs = {}, {}
    if args.variants:
        for name, options in (("channels_last", SpeedOptions(channels_last=True)), ("jit", SpeedOptions(jit=True))):
            other = FastStylizer(copy.deepcopy(stylizer.net), "cpu", options=options)  # .to() converts in place
            variants[f"SpeedOptions({name}=True)"] = other.stylize_tensor
            # Its network's output before stylize_tensor's clamp (as ``output`` is ours).
            outputs[f"SpeedOptions({name}=True)"] = lambda x, o=other: o._run(x.contiguous(
                memory_format=CHANNELS_LAST if o.options.channels_last else torch.contiguous_format))
    return Network("style", "TransformerNet, live fast style (Style)",
                   f"{args.frame[0]}x{args.frame[1]} frame at long side {args.style_side} -> {tuple(inputs[0].shape)}",
                   "fp32 contiguous eager (SpeedOptions defaults), stylize_tensor (+ clamp); random weights",
                   stylizer.net, inputs, stylizer.stylize_tensor, stylizer.net, variants, outputs)


def resnet18(args, bgr: list[np.ndarray]) -> Network:
    from engine.core.frame import Frame
    from engine.features.inspect.task import InspectTask
    from engine.features.inspect.zoo import load_model

    model = load_model("resnet18", untrained=True)
    plain = copy.deepcopy(model.module).eval()  # the network without the task's hook: the export
    task = InspectTask("resnet18", model=model, input_size=args.inspect_size)
    task.load(torch.device("cpu"))
    with torch.inference_mode():
        ready = [task.preprocess(Frame(f, i, 0.0)) for i, f in enumerate(bgr)]
    by_input = {id(r[0]): r for r in ready}
    inputs = [r[0] for r in ready]
    variants = _variants(args, plain, inputs[0], channels_last=True)
    if args.variants:
        variants["plain forward, no hook"] = plain
    return Network("resnet18", "ResNet-18, Feature maps",
                   f"{args.frame[0]}x{args.frame[1]} frame stretched to {tuple(inputs[0].shape)}",
                   f"fp32 contiguous eager, InspectTask.infer (activations): whole network + hook copying "
                   f"'{task.settings.layer}'; random weights",
                   plain, inputs, lambda x: task.infer(by_input[id(x)]), task.model.module, variants)


def _variants(args, module: nn.Module, example: torch.Tensor, channels_last: bool) -> dict[str, Callable]:
    """Other ways of running ``module`` (``--variants``): channels_last (when the app runs it
    contiguous) and TorchScript trace + freeze + optimize_for_inference (oneDNN folding)."""
    if not args.variants:
        return {}
    out: dict[str, Callable] = {}
    if channels_last:
        cl = copy.deepcopy(module).to(memory_format=CHANNELS_LAST)
        out["channels_last"] = lambda x: cl(x.contiguous(memory_format=CHANNELS_LAST))
    with torch.inference_mode(False), torch.no_grad():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(copy.deepcopy(module).eval(), example.clone())))

    def jit(x: torch.Tensor) -> Any:
        with torch.no_grad():  # as FastStylizer runs its frozen graph
            return frozen(x)

    out["jit frozen"] = jit
    return out


BUILDERS = {"mmod": mmod, "dlib-resnet": dlib_resnet, "style": style, "resnet18": resnet18}


def _numpy(value: Any) -> list[np.ndarray]:
    return [t.detach().float().contiguous().numpy() for t in flatten(value)]


def compare(net: Network, names: list[str], args, threads: int, folder: Path) -> dict[str, Any]:
    """Print one network's equality checks and timings; return its summary row."""
    print(f"\n== {net.title}: {net.shape}\n  ours: {net.how}, torch {torch.__version__}", flush=True)
    path = export_network(net.module, net.inputs[0], folder / f"{net.key}.onnx")
    peers = make_peers(names, path, threads, args.peer_precision)
    arrays = [x.float().contiguous().numpy() for x in net.inputs]
    with torch.inference_mode():
        reference = _numpy(net.output(net.inputs[0]))
        for name, fn in net.variants.items():
            diff, scale = relative_difference(reference, _numpy(net.variant_outputs.get(name, fn)(net.inputs[0])))
            print(f"  ours {name}: max |output difference| {diff:.2e} = {diff / scale:.1e} of the output's scale")
    for peer in peers:
        diff, scale = relative_difference(reference, peer.run(arrays[0]))
        print(f"  {peer.name} ({peer.precision}): max |output difference| {diff:.2e} = {diff / scale:.1e} "
              f"of the output's scale (max |ours| {scale:.3g})")

    def ours(fn: Callable) -> Callable[[int], Any]:
        def call(i: int) -> Any:
            with torch.inference_mode():  # as engine.runtime.worker runs a task's infer
                return fn(net.inputs[i % len(net.inputs)])
        return call

    benches = {"ours": ours(net.ours)}
    benches.update({f"ours {name}": ours(fn) for name, fn in net.variants.items()})
    for peer in peers:
        benches[f"{peer.name} ({peer.precision})"] = lambda i, run=peer.run: run(arrays[i % len(arrays)])
    load_before = os.getloadavg()[0]
    cpu: dict[str, list[float]] = {}
    times = interleave(benches, args.calls, args.rounds, cpu=cpu)
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"  {threads} threads each, {args.rounds} rounds x {args.calls} calls, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '-')}, load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}")
    for name, value in median.items():
        print(f"  {name:<44} median {value:8.2f} ms/call ({1000.0 / value:7.1f} calls/s), "
              f"CPU {statistics.median(cpu[name]):8.2f} ms/call")
    row = {"network": net.title, "input": tuple(net.inputs[0].shape), "ours": median["ours"]}
    for peer in peers:
        key = f"{peer.name} ({peer.precision})"
        for mine in [k for k in benches if k.startswith("ours")]:
            r, paired = ratio(times[mine], times[key])
            print(f"  {mine}/{peer.name} ({peer.precision}): {r:.3f} (median of per-call ratios {paired:.3f}; "
                  f"CPU time {ratio(cpu[mine], cpu[key])[0]:.3f}; < 1 means ours is faster)")
        row["OpenVINO" if peer.name.startswith("OpenVINO") else "ORT"] = (
            median[key], *ratio(times["ours"], times[key]), ratio(cpu["ours"], cpu[key])[0])
    return row


def summary(rows: list[dict[str, Any]], threads: int) -> None:
    """The table of one run: medians (ms/call), ratios of medians and medians of the per-call ratios."""
    print(f"\n| network | input | ours ms | OpenVINO ms | ORT ms | ours/OpenVINO | ours/ORT | per call ours/OpenVINO "
          f"| per call ours/ORT | CPU ours/OpenVINO | CPU ours/ORT |  ({threads} threads each, load average "
          f"{os.getloadavg()[0]:.2f})\n|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ov, ort = row.get("OpenVINO", (float("nan"),) * 4), row.get("ORT", (float("nan"),) * 4)
        print(f"| {row['network']} | {'x'.join(map(str, row['input']))} | {row['ours']:.2f} | {ov[0]:.2f} | "
              f"{ort[0]:.2f} | {ov[1]:.3f} | {ort[1]:.3f} | {ov[2]:.3f} | {ort[2]:.3f} | {ov[3]:.3f} | {ort[3]:.3f} |")


def spread(runs: list[list[dict[str, Any]]]) -> None:
    """Several runs (--repeat): each ratio's lowest, median and highest over the runs."""
    print(f"\nover {len(runs)} runs: ours/peer ratio of medians, lowest / median / highest")
    for i, row in enumerate(runs[0]):
        parts = []
        for peer in ("OpenVINO", "ORT"):
            values = sorted(run[i][peer][1] for run in runs if peer in run[i])
            if values:
                parts.append(f"ours/{peer} {values[0]:.3f} / {statistics.median(values):.3f} / {values[-1]:.3f}")
        print(f"  {row['network']}: {'; '.join(parts)}")


def size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", default=",".join(NETWORKS), help=f"any of {', '.join(NETWORKS)}")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"any of {', '.join(PEERS)}")
    parser.add_argument("--peer-precision", choices=["default", "f32"], default="default",
                        help="OpenVINO's inference precision (its default: bf16 on AMX CPUs, f32 elsewhere)")
    parser.add_argument("--threads", type=int, default=2, help="threads of every runtime (ours: torch.set_num_threads)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20, help="calls per round and runtime")
    parser.add_argument("--inputs", type=int, default=4, help="different frames the calls cycle through")
    parser.add_argument("--frame", type=size, default=(640, 480), help="camera frame WxH (Faces' MMOD scans all of it)")
    parser.add_argument("--faces", type=int, default=1, help="chips per descriptor batch (faces in the frame)")
    parser.add_argument("--style-side", type=int, default=320, help="live style processing size, long side (CPU: 320)")
    parser.add_argument("--inspect-size", type=int, default=None, help="Feature maps input side (default: 224)")
    parser.add_argument("--variants", action="store_true", help="also time other ways of running ours")
    parser.add_argument("--repeat", type=int, default=1, help="run the whole comparison this many times (noisy machines)")
    args = parser.parse_args()
    # torch.jit's deprecation notes (the jit variants) and the ONNX exporter's notes on
    # instance norm and slicing (both exports are checked against ours below).
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch")
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.onnx")
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # shapes fixed by the input are meant
    torch.set_num_threads(args.threads)
    keys = [k.strip() for k in args.networks.split(",") if k.strip()]
    unknown = [k for k in keys if k not in BUILDERS]
    if unknown:
        parser.error(f"unknown network(s) {', '.join(unknown)}; use {', '.join(NETWORKS)}")
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    bgr = frames(args)
    networks = [BUILDERS[key](args, bgr) for key in keys]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            if args.repeat > 1:
                print(f"\nrun {rep + 1}/{args.repeat}")
            runs.append([compare(net, names, args, args.threads, Path(tmp)) for net in networks])
            summary(runs[-1], args.threads)
    if args.repeat > 1:
        spread(runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
