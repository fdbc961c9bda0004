"""Our D-FINE against Hugging Face transformers (a test dependency): a folder written by
``DFineForObjectDetection.save_pretrained`` (seeded random weights, small-but-real
configs; see dfine_reference.py) is opened with ``open_model_dir`` and run on real photos,
square and not; the oracle is transformers' image processor + model +
``post_process_object_detection``. Same boxes (IoU >= 0.99), classes, scores (1e-3)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
import torch
import transformers  # noqa: E402, F401  (the oracle, in the test extra: missing, these tests fail rather than skip)

from engine.features.detect.backends.detr import hf_folder
from engine.features.detect.backends.dfine.loading import build_dfine
from engine.features.detect.model_dir import open_model_dir
from engine.features.detect.options import DetectorOptions
from tests.detect.dfine_reference import nano_config, save_reference, tiny_config

SIZE = 160  # network input for the tiny models (a multiple of 32)


def _photos() -> dict[str, np.ndarray]:
    """RGB uint8: square 512x512, wide 451x300, wide 600x400."""
    return {"astronaut": skimage.data.astronaut(), "chelsea": skimage.data.chelsea(), "coffee": skimage.data.coffee()}


@pytest.fixture(scope="module", params=["three_levels", "two_levels"])
def reference(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"dfine-{request.param}")
    model = save_reference(tiny_config(request.param), folder, seed=1)
    return folder, model


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise IoU of two (K, 4) xyxy arrays."""
    x1, y1 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x2, y2 = np.minimum(a[:, 2], b[:, 2]), np.minimum(a[:, 3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def _threshold(scores: torch.Tensor) -> float:
    """A threshold in the widest gap between the 5th and 15th best scores, so that
    several detections pass and a last-digit difference cannot move one across it."""
    top = scores.flatten().sort(descending=True).values[:16]
    gaps = top[4:15] - top[5:16]
    k = int(gaps.argmax()) + 4
    return float((top[k] + top[k + 1]) / 2)


@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "coffee"])
def test_detections_match_transformers(reference, photo):
    from transformers import RTDetrImageProcessor

    folder, model = reference
    rgb = _photos()[photo]
    height, width = rgb.shape[:2]
    processor = RTDetrImageProcessor(size={"height": SIZE, "width": SIZE})
    inputs = processor(images=rgb, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    threshold = _threshold(out.logits.sigmoid())
    expected = processor.post_process_object_detection(out, threshold=threshold,
                                                       target_sizes=[(height, width)])[0]

    detector = open_model_dir(folder, options=DetectorOptions(input_size=(SIZE, SIZE), conf_threshold=threshold))
    found = detector.detect(np.ascontiguousarray(rgb[:, :, ::-1]))

    assert 5 <= len(found.scores) == len(expected["scores"])
    assert found.class_names == tuple(f"thing{i}" for i in range(5))
    np.testing.assert_array_equal(found.class_ids, expected["labels"].numpy())
    np.testing.assert_allclose(found.scores, expected["scores"].numpy(), atol=1e-3)
    # our Detections are clipped to the frame (the app's convention); transformers' are not
    ref_boxes = expected["boxes"].numpy().copy()
    ref_boxes[:, 0::2] = ref_boxes[:, 0::2].clip(0, width)
    ref_boxes[:, 1::2] = ref_boxes[:, 1::2].clip(0, height)
    assert _box_iou(found.boxes, ref_boxes).min() >= 0.99
    # the learner's view travels with the result: one row per detection naming its query,
    # and every query's proposal and per-layer boxes (the last layer's = the output)
    trace = found.extra["set_trace"]
    queries = found.extra["rows"]["query"]
    assert trace.layer_boxes.shape == (3, 40, 4) and trace.proposals.shape == (40, 4)
    np.testing.assert_allclose(trace.layer_boxes[-1][queries].clip(0, [width, height, width, height]),
                               found.boxes, atol=1e-2)
    assert trace.refinement(int(queries[0])).shape == (4, 4)


def _match(ours: torch.Tensor, theirs: torch.Tensor) -> torch.Tensor:
    """For each of our queries, the index of the reference query with the same proposal:
    tokens whose scores tie to the last digit may be selected in another order (the
    decoder is permutation-equivariant, so the set is what must agree)."""
    cost = (ours[:, None, :] - theirs[None, :, :]).abs().sum(-1)
    perm = cost.argmin(1)
    assert cost.min(1).values.max() < 1e-4 and len(set(perm.tolist())) == len(perm)
    return perm


def test_raw_outputs_and_proposals_match_transformers(reference):
    folder, model = reference
    ours = build_dfine(json.loads((folder / "config.json").read_text()), hf_folder.read_state(folder),
                       folder / "model.safetensors")
    x = torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))  # non-square input
    with torch.no_grad():
        out = model(pixel_values=x)
        logits, boxes, layers, proposal_logits = ours(x)
    for i in range(2):
        perm = _match(layers[i, 0], out.enc_topk_bboxes[i])
        torch.testing.assert_close(logits[i], out.logits[i][perm], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(boxes[i], out.pred_boxes[i][perm], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(proposal_logits[i], out.enc_topk_logits[i][perm].max(-1).values,
                                   atol=1e-4, rtol=1e-4)
    assert torch.equal(layers[:, -1], boxes)


def test_state_dict_keys_are_the_released_files(reference):
    from safetensors.torch import load_file

    folder, _ = reference
    ours = build_dfine(json.loads((folder / "config.json").read_text()), hf_folder.read_state(folder),
                       folder / "model.safetensors")
    assert set(ours.state_dict()) == set(load_file(folder / "model.safetensors"))


@pytest.mark.slow
def test_full_size_nano_matches_transformers(tmp_path):
    """D-FINE N's real architecture at 640x640 on a photo."""
    from transformers import RTDetrImageProcessor

    model = save_reference(nano_config(), tmp_path, seed=2)
    rgb = skimage.data.coffee()
    inputs = RTDetrImageProcessor()(images=rgb, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    threshold = _threshold(out.logits.sigmoid())
    expected = RTDetrImageProcessor().post_process_object_detection(out, threshold=threshold,
                                                                     target_sizes=[rgb.shape[:2]])[0]
    found = open_model_dir(tmp_path, options=DetectorOptions(conf_threshold=threshold)).detect(
        np.ascontiguousarray(rgb[:, :, ::-1]))
    assert 5 <= len(found.scores) == len(expected["scores"])
    np.testing.assert_array_equal(found.class_ids, expected["labels"].numpy())
    np.testing.assert_allclose(found.scores, expected["scores"].numpy(), atol=1e-3)
    ref_boxes = expected["boxes"].numpy().copy()
    ref_boxes[:, 0::2] = ref_boxes[:, 0::2].clip(0, rgb.shape[1])
    ref_boxes[:, 1::2] = ref_boxes[:, 1::2].clip(0, rgb.shape[0])
    assert _box_iou(found.boxes, ref_boxes).min() >= 0.99


@pytest.mark.slow
def test_the_network_exports_to_onnx_with_the_same_set(reference, tmp_path):
    """``detector.model`` traces (no data-dependent Python on tensors): ONNX Runtime gives
    the same set of predictions (queries of near-tied tokens may come in another order)."""
    import warnings

    import onnxruntime as ort
    folder, _ = reference
    model = build_dfine(json.loads((folder / "config.json").read_text()), hf_folder.read_state(folder),
                        folder / "model.safetensors")
    x = torch.rand(1, 3, 128, 160, generator=torch.Generator().manual_seed(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape-to-int conversions
        torch.onnx.export(model, (x,), tmp_path / "dfine.onnx", dynamo=False, opset_version=17,
                          input_names=["pixel_values"])
    session = ort.InferenceSession(str(tmp_path / "dfine.onnx"), providers=["CPUExecutionProvider"])
    logits, boxes, layers, proposal_logits = (torch.from_numpy(a) for a in session.run(None, {"pixel_values": x.numpy()}))
    with torch.no_grad():
        expected = model(x)
    # the last of the Q selected tokens may tie with the first left out (random weights
    # make near-equal tokens): one query may differ, all others must be the same
    cost = (expected[2][0, 0][:, None, :] - layers[0, 0][None, :, :]).abs().sum(-1)
    same = cost.min(1).values < 1e-4
    assert int(same.sum()) >= len(same) - 1
    perm = cost.argmin(1)[same]
    torch.testing.assert_close(logits[0][perm], expected[0][0][same], atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(boxes[0][perm], expected[1][0][same], atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(proposal_logits[0][:-1], expected[3][0][:-1], atol=1e-4, rtol=1e-4)
