"""Decoding only the confident cells gives exactly the full decode's rows for them."""

from __future__ import annotations

import pytest
import torch

from engine.features.detect.backends.darknet.cfg import parse_cfg
from engine.features.detect.backends.darknet.decode import YoloDecoder
from engine.features.detect.backends.darknet.model import DarknetModel
from engine.features.detect.backends.darknet.weights_file import load_darknet_weights


@pytest.mark.parametrize("name, threshold", [("yolov4-tiny", 0.25), ("yolov7-tiny", 0.1), ("yolov4-tiny", 0.0)])
def test_candidate_rows_are_the_full_rows_above_the_objectness_threshold(darknet_weights, name, threshold):
    cfg_path, weights_path = darknet_weights(name)
    model = DarknetModel(parse_cfg(cfg_path))
    load_darknet_weights(model, weights_path)
    model.eval()
    torch.manual_seed(1)
    with torch.inference_mode():
        raw = model(torch.rand(1, 3, 256, 320))
    decoder = YoloDecoder(model.heads)
    full = decoder.rows(raw, (256, 320))[0]
    rows, index = decoder.candidate_rows(raw, (256, 320), threshold)
    expected = torch.nonzero(full[:, 4] > threshold).squeeze(1)
    assert 0 < len(expected) and torch.equal(index, expected)
    torch.testing.assert_close(rows, full[expected], rtol=1e-5, atol=1e-6)
    origins = decoder.provenance(index, [(r.shape[2], r.shape[3]) for r in raw])
    assert origins.shape == (len(index), 4)
