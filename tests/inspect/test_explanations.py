"""Feature visualisation, occlusion, Integrated Gradients and guided backprop on constructed models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.features.inspect.attribution import guided_backprop, integrated_gradients, occlusion
from engine.features.inspect.feature_vis import FourierImage, Objective, objective_value, to_bgr, visualise

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4),
    ).eval()


def test_activation_maximisation_raises_the_channel_tenfold_over_its_random_start():
    model = small_cnn()
    start = to_bgr(FourierImage(48, torch.Generator().manual_seed(0))())  # visualise's own step-0 image
    # The first channel that is alive on the start image (a dead ReLU has no gradient to follow).
    values = [objective_value(model, start, Objective("channel", c, layer="4"), MEAN, STD) for c in range(16)]
    objective = Objective("channel", next(c for c, v in enumerate(values) if v > 0), layer="4")
    before = objective_value(model, start, objective, MEAN, STD)
    job = visualise(model, objective, mean=MEAN, std=STD, size=48, steps=48, seed=0, preview_every=16)
    steps = list(job)
    assert [s.step for s in steps] == list(range(1, 49))
    assert [s.step for s in steps if s.image is not None] == [16, 32, 48]
    after = objective_value(model, steps[-1].image, objective, MEAN, STD)
    assert before > 0 and after >= 10 * before, (before, after)
    assert all(p.requires_grad for p in model.parameters()) and all(p.grad is None for p in model.parameters())
    # The same seed gives the same picture; a camera frame can be the starting point.
    again = list(visualise(model, objective, mean=MEAN, std=STD, size=48, steps=2, seed=0))
    once_more = list(visualise(model, objective, mean=MEAN, std=STD, size=48, steps=2, seed=0))
    assert np.array_equal(again[-1].image, once_more[-1].image)
    frame = np.random.default_rng(0).integers(10, 245, (60, 80, 3), dtype=np.uint8)
    dream = FourierImage(48, init=frame)
    assert np.abs(to_bgr(dream()).astype(int) - __import__("cv2").resize(frame, (48, 48), interpolation=3).astype(int)).max() <= 6


def test_objectives_check_their_targets():
    model = small_cnn()
    with pytest.raises(ValueError, match="16 channels; channel 99"):
        list(visualise(model, Objective("channel", 99, layer="4"), mean=MEAN, std=STD, size=32, steps=1))
    with pytest.raises(ValueError, match="needs a layer"):
        Objective("unit", 1)
    steps = list(visualise(model, Objective("class", 2), mean=MEAN, std=STD, size=32, steps=3))
    assert steps[-1].image.shape == (32, 32, 3)


class RegionClassifier(nn.Module):
    """Class 1's score is the mean red value inside rows 40-55, columns 8-23; class 0 is constant."""

    def forward(self, x):
        region = x[:, 0, 40:56, 8:24].mean(dim=(1, 2))
        return torch.stack([torch.zeros_like(region), 4 * region], dim=1)


@pytest.mark.parametrize("backend", ["own", "captum"])
def test_occlusion_points_at_the_one_region_that_drives_the_class(backend):
    x = torch.rand(1, 3, 64, 64) + 0.5
    heat = occlusion(RegionClassifier(), x, 1, window=8, stride=4, backend=backend)
    assert heat.shape == (64, 64)
    inside = heat[40:56, 8:24].mean()
    outside = torch.cat([heat[:32].flatten(), heat[:, 32:].flatten()]).abs().max()
    assert inside > 0.1 and outside < 1e-6
    peak = divmod(int(heat.argmax()), 64)
    assert 40 <= peak[0] < 56 and 8 <= peak[1] < 24


def test_both_occlusion_backends_agree():
    model = small_cnn(2)
    x = torch.randn(1, 3, 32, 32)
    ours = occlusion(model, x, 1, window=8, stride=4)
    theirs = occlusion(model, x, 1, window=8, stride=4, backend="captum")
    assert torch.allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("backend", ["own", "captum"])
def test_integrated_gradients_is_complete_within_one_percent(backend):
    model = small_cnn(1)
    x = torch.randn(1, 3, 32, 32) * 2
    result = integrated_gradients(model, x, 3, steps=64, backend=backend)
    gap = result.score - result.baseline_score
    assert abs(gap) > 1e-3
    assert float(result.attributions.sum()) == pytest.approx(gap, rel=0.01)
    assert abs(result.delta) <= 0.01 * abs(gap)
    heat = result.heat()
    assert heat.shape == (32, 32) and float(heat.max()) == pytest.approx(1.0)


def test_guided_backprop_restores_in_place_relus():
    model = small_cnn()
    heat = guided_backprop(model, torch.randn(1, 3, 32, 32), 0)
    assert heat.shape == (32, 32) and 0 <= float(heat.min()) and float(heat.max()) == pytest.approx(1.0)
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))
    assert all(p.grad is None for p in model.parameters())
