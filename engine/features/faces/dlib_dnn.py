"""Read the layer records of a serialised dlib dnn (dlib/dnn/core.h, layers.h, loss.h, input.h).

A dlib network is a nest of templates, serialised outermost first: each ``add_layer``
writes its version, then its whole sub-network, then its own layer details, so in the
byte stream every version header comes first and the layer details follow innermost
first. Tags and skips write only a version. The nesting therefore cannot be recovered
from the bytes alone (a tag and a skip look alike); the caller passes the structure it
expects, outermost first, as a string of tokens:

    "L"  an add_layer wrapping a computational layer (con, affine, relu, pooling, ...)
    "T"  a tag layer, "S" a skip layer
    "I"  the innermost add_layer, which holds the input layer and the first layer

and gets the layers back innermost first, each as a ``DnnLayer`` with its kind, its
integer settings and its parameter arrays (float32, dlib's own shapes). Training state
(gradients, cached outputs) is read and dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.features.faces.dlib_format import DlibFormatError, DlibReader

log = logging.getLogger(__name__)


@dataclass
class DnnLayer:
    """One computational layer: kind ("con", "affine", "relu", "max_pool", "avg_pool",
    "add_prev", "fc"), ``settings`` (ints: num_filters, nr, nc, stride_y, stride_x,
    padding_y, padding_x, num_outputs) and ``arrays`` (filters (K, C, nr, nc), biases (K,),
    gamma (K,), beta (K,), weights (num_inputs, num_outputs))."""

    kind: str
    settings: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)


@dataclass
class DnnFile:
    """A parsed network: its loss record, its input record and its layers innermost first."""

    path: Path
    loss: dict
    input: dict
    layers: list[DnnLayer]


def _alias(r: DlibReader, what: str) -> tuple[int, int, int, int]:
    r.version((1,), what)
    return tuple(r.int(what) for _ in range(4))  # type: ignore[return-value]


def _split(params: np.ndarray, shapes: list[tuple[int, ...]], r: DlibReader) -> list[np.ndarray]:
    flat = params.reshape(-1)
    need = sum(int(np.prod(s)) for s in shapes)
    if need > flat.size:
        raise r.fail(f"parameter tensor holds {flat.size} values, the layer needs {need}")
    out, offset = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        out.append(flat[offset:offset + n].reshape(shape).copy())
        offset += n
    return out


def _read_con(r: DlibReader) -> DnnLayer:
    tag = r.expect("con_4", "con_5", "con_6")
    params = r.tensor("params")
    s = {k: r.int(k) for k in ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")}
    fshape = _alias(r, "filters")
    bshape = _alias(r, "biases")
    for name in ("learning_rate_multiplier", "weight_decay_multiplier", "bias_lr", "bias_wd"):
        r.float(name)
    use_bias = r.bool("use_bias") if tag in ("con_5", "con_6") else True
    if tag == "con_6":
        r.bool("use_relu")
    shapes = [fshape] + ([bshape] if use_bias else [])
    parts = _split(params, shapes, r)
    arrays = {"filters": parts[0]}
    arrays["biases"] = parts[1].reshape(-1) if use_bias else np.zeros(s["num_filters"], np.float32)
    return DnnLayer("con", s, arrays)


def _read_affine(r: DlibReader) -> DnnLayer:
    tag = r.expect("affine_", "affine_2")
    params = r.tensor("params")
    gshape = _alias(r, "gamma")
    bshape = _alias(r, "beta")
    mode = r.int("mode")
    disabled = r.bool("disabled") if tag == "affine_2" else False
    gamma, beta = _split(params, [gshape, bshape], r)
    return DnnLayer("affine", {"mode": mode, "disabled": int(disabled)},
                    {"gamma": gamma.reshape(-1), "beta": beta.reshape(-1)})


def _read_bn_as_affine(r: DlibReader) -> DnnLayer:
    """A batch-norm record (bn_con2 / bn_fc2) turned into the affine layer dlib runs at
    inference: gamma / sqrt(running_var + eps), beta - that * running_mean (float32)."""
    tag = r.expect("bn_con2", "bn_fc2")
    params = r.tensor("params")
    gshape = _alias(r, "gamma")
    bshape = _alias(r, "beta")
    r.skip_tensor("means")
    r.skip_tensor("invstds")
    running_means = r.tensor("running_means").reshape(-1)
    running_vars = r.tensor("running_variances").reshape(-1)
    r.int("num_updates")
    r.int("running_stats_window_size")
    for name in ("learning_rate_multiplier", "weight_decay_multiplier", "bias_lr", "bias_wd"):
        r.float(name)
    eps = np.float32(r.float("eps"))
    gamma, beta = (a.reshape(-1) for a in _split(params, [gshape, bshape], r))
    g = (gamma / np.sqrt(running_vars + eps)).astype(np.float32)
    b = (beta - g * running_means).astype(np.float32)
    return DnnLayer("affine", {"mode": 1 if tag == "bn_con2" else 0, "disabled": 0}, {"gamma": g, "beta": b})


def _read_relu(r: DlibReader) -> DnnLayer:
    tag = r.expect("relu_", "relu_2")
    disabled = r.bool("disabled") if tag == "relu_2" else False
    return DnnLayer("relu", {"disabled": int(disabled)})


def _read_pool(r: DlibReader, kind: str) -> DnnLayer:
    r.expect(f"{kind}_2")
    s = {k: r.int(k) for k in ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")}
    return DnnLayer(kind, s)


def _read_fc(r: DlibReader) -> DnnLayer:
    tag = r.expect("fc_2", "fc_3")
    s = {"num_outputs": r.int("num_outputs"), "num_inputs": r.int("num_inputs")}
    params = r.tensor("params")
    wshape = _alias(r, "weights")
    bshape = _alias(r, "biases")
    s["bias_mode"] = r.int("bias_mode")
    for name in ("learning_rate_multiplier", "weight_decay_multiplier", "bias_lr", "bias_wd"):
        r.float(name)
    use_bias = r.bool("use_bias") if tag == "fc_3" else True
    # bias_mode 1 is FC_NO_BIAS: the parameter tensor holds the weights only.
    has_bias = use_bias and s["bias_mode"] == 0
    parts = _split(params, [wshape] + ([bshape] if has_bias else []), r)
    weights = parts[0].reshape(s["num_inputs"], s["num_outputs"])
    biases = parts[1].reshape(-1) if has_bias else np.zeros(s["num_outputs"], np.float32)
    return DnnLayer("fc", s, {"weights": weights, "biases": biases})


def _read_add_prev(r: DlibReader) -> DnnLayer:
    r.expect("add_prev_")
    return DnnLayer("add_prev")


_PEEK_KINDS = {
    "con_": _read_con, "affine_": _read_affine, "bn_": _read_bn_as_affine, "relu_": _read_relu, "fc_": _read_fc,
    "max_pool_": lambda r: _read_pool(r, "max_pool"), "avg_pool_": lambda r: _read_pool(r, "avg_pool"),
    "add_prev_": _read_add_prev,
}


def _read_layer(r: DlibReader) -> DnnLayer:
    start = r.pos
    tag = r.string("a layer tag")
    r.pos = start
    for prefix, reader in _PEEK_KINDS.items():
        if tag.startswith(prefix):
            return reader(r)
    raise r.fail(f"unsupported layer type {tag!r}")


def _read_input(r: DlibReader) -> dict:
    tag = r.expect("input_rgb_image_sized", "input_rgb_image_pyramid", "input_rgb_image_pyramid2")
    avg = tuple(r.float(c) for c in ("avg_red", "avg_green", "avg_blue"))
    out = {"kind": tag, "avg_rgb": avg}
    if tag == "input_rgb_image_sized":
        out["nr"], out["nc"] = r.int("nr"), r.int("nc")
    elif tag == "input_rgb_image_pyramid2":
        out["pyramid_padding"], out["pyramid_outer_padding"] = r.int("padding"), r.int("outer padding")
    else:
        out["pyramid_padding"], out["pyramid_outer_padding"] = 10, 11
    return out


def _read_test_box_overlap(r: DlibReader) -> tuple[float, float]:
    return r.float("iou_thresh"), r.float("percent_covered_thresh")


def _read_loss(r: DlibReader) -> dict:
    r.version((1,), "add_loss_layer")
    tag = r.expect("loss_metric_", "loss_metric_2", "loss_mmod_")
    if tag.startswith("loss_metric"):
        out = {"kind": "metric", "margin": r.float("margin")}
        if tag == "loss_metric_2":
            out["dist_thresh"] = r.float("dist_thresh")
        return out
    with r.record("mmod_options"):
        version = r.version((1, 2, 3, 4), "mmod_options")
        windows = []
        if version == 1:
            windows.append((r.int("width"), r.int("height")))
        else:
            for _ in range(r.length("detector_windows", 1024)):
                wv = r.version((1, 2), "detector window")
                w, h = r.int("width"), r.int("height")
                if wv == 2:
                    r.string("label")
                windows.append((w, h))
        out = {"kind": "mmod", "detector_windows": windows,
               "loss_per_false_alarm": r.float("loss_per_false_alarm"),
               "loss_per_missed_target": r.float("loss_per_missed_target"),
               "truth_match_iou_threshold": r.float("truth_match_iou_threshold"),
               "overlaps_nms": _read_test_box_overlap(r),
               "overlaps_ignore": _read_test_box_overlap(r)}
        if version >= 3:
            out["assume_image_pyramid"] = r.byte("assume_image_pyramid")
        if version >= 4:
            r.bool("use_bounding_box_regression")
            r.float("bbr_lambda")
        return out


def read_dnn(path: str | Path, structure: str, name: str = "network") -> DnnFile:
    """Parse the dlib network file ``path`` laid out as ``structure`` (see the module doc).

    Raises DlibFormatError naming the file, the record and the byte offset on any
    mismatch (truncated file, another network, an unknown layer version).
    """
    r = DlibReader.open(path)
    if not structure or structure[-1] != "I" or set(structure) - set("LTSI"):
        raise ValueError(f"bad structure string for {name}: {structure!r}")
    with r.record(f"{name} loss layer"):
        loss = _read_loss(r)
    versions = {"L": ((1, 2), "add_layer"), "T": ((1,), "tag layer"), "S": ((1,), "skip layer"), "I": ((2, 3), "input add_layer")}
    input_version = 0
    for index, token in enumerate(structure):
        allowed, what = versions[token]
        with r.record(f"{name} layer {index} ({what})"):
            v = r.version(allowed, what)
            if token == "I":
                input_version = v
    n_add = structure.count("L") + 1
    layers: list[DnnLayer] = []
    with r.record(f"{name} input layer"):
        inp = _read_input(r)
    for i in range(n_add):
        with r.record(f"{name} layer {n_add - 1 - i} of {n_add} computational layers (innermost first: #{i})"):
            layers.append(_read_layer(r))
            r.bool("setup flag")
            r.bool("stale flag")
            r.bool("disabled flag")
            r.skip_tensor("x_grad")
            r.skip_tensor("cached_output")
            if i == 0:
                r.skip_tensor("grad_final")
                if input_version >= 3:
                    r.int("sample_expansion_factor")
            else:
                r.skip_tensor("params_grad")
    log.debug("%s: %d layers read from %s", name, len(layers), path)
    return DnnFile(Path(path), loss, inp, layers)


def check_kinds(net: DnnFile, expected: list[str], name: str) -> None:
    """Raise DlibFormatError when the layer kinds (innermost first) are not ``expected``."""
    kinds = [layer.kind for layer in net.layers]
    if kinds != expected:
        first = next((i for i, (a, b) in enumerate(zip(kinds, expected)) if a != b), min(len(kinds), len(expected)))
        raise DlibFormatError(
            f"{net.path.name}: not the {name} network: layer #{first} (innermost first) is "
            f"{kinds[first] if first < len(kinds) else 'missing'}, expected "
            f"{expected[first] if first < len(expected) else 'nothing'} ({net.path})"
        )
