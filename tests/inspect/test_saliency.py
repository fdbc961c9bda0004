"""Saliency and Grad-CAM on networks built so that the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.features.inspect.saliency import NotAClassifierError, grad_cam, last_conv_layer, smooth_grad, vanilla_gradient


class MaskedScore(nn.Module):
    """score_c = sum(mask_c * x^2 / 2) over pixels: d score / d x = mask * x, known exactly."""

    def __init__(self, masks: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("masks", masks)  # (classes, 1, H, W)

    def forward(self, x):
        return (self.masks.unsqueeze(0) * x.unsqueeze(1) ** 2 / 2).sum(dim=(2, 3, 4))


def _two_class_masks(size=16):
    masks = torch.zeros(2, 1, size, size)
    masks[0, 0, :, : size // 2] = 1.0  # class 0 looks at the left half
    masks[1, 0, :, size // 2 :] = 1.0
    return masks


def test_vanilla_gradient_is_abs_grad_max_over_channels():
    model = MaskedScore(_two_class_masks())
    x = torch.ones(1, 3, 16, 16)
    x[0, 1, 4, 2] = -5.0  # the largest |gradient| in the left half, on the green channel
    sal = vanilla_gradient(model, x, target=0)
    expected = (_two_class_masks()[0, 0] * x[0].abs()).amax(dim=0)
    assert torch.allclose(sal, expected / expected.max())
    assert sal[:, 8:].max() == 0 and sal[4, 2] == 1.0
    assert vanilla_gradient(model, x, target=1)[:, :8].max() == 0


def test_smoothgrad_keeps_the_right_region_and_is_repeatable():
    model = MaskedScore(_two_class_masks())
    x = torch.rand(1, 3, 16, 16) + 0.5
    sal = smooth_grad(model, x, target=1, samples=6, batch=4, seed=1)
    assert sal.shape == (16, 16) and float(sal.max()) == pytest.approx(1.0)
    assert sal[:, :8].max() == 0 and sal[:, 8:].min() > 0
    assert torch.equal(sal, smooth_grad(model, x, target=1, samples=6, batch=4, seed=1))


class BrightnessDetector(nn.Module):
    """conv (channel 0: brightness, channel 1: darkness) -> ReLU -> global mean -> 2 classes.

    Class 0 reads channel 0 only, so its Grad-CAM must light up where the image is bright.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0] = 1.0 / 27
            self.conv.weight[1] = -1.0 / 27
            self.conv.bias.copy_(torch.tensor([-0.2, 0.8]))
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.relu(self.conv(x))), 1))


def test_grad_cam_highlights_the_region_that_drives_the_class():
    model = BrightnessDetector().eval()
    model.requires_grad_(False)
    x = torch.zeros(1, 3, 32, 32)
    x[..., 20:28, 4:12] = 1.0  # a bright patch, bottom left
    cam, scores = grad_cam(model, x, target=0, layer="conv")
    assert cam.shape == (32, 32) and scores.shape == (1, 2)
    inside = cam[20:28, 4:12].mean()
    outside = torch.cat([cam[:16].flatten(), cam[:, 16:].flatten()]).mean()
    assert inside > 0.5 and outside < 0.05
    peak = np.unravel_index(int(cam.argmax()), cam.shape)
    assert 20 <= peak[0] < 28 and 4 <= peak[1] < 12
    # The darkness class is explained by the dark surroundings instead.
    dark, _ = grad_cam(model, x, target=1, layer="conv")
    assert dark[20:28, 4:12].mean() < dark[:16].mean()


def test_grad_cam_leaves_no_hooks_and_no_weight_gradients():
    model = BrightnessDetector().eval()
    grad_cam(model, torch.rand(1, 3, 16, 16), target=0, layer="conv")
    assert all(not m._forward_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_grad_cam_on_a_resnet_block_with_in_place_addition():
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=4).eval()
    cam, scores = grad_cam(model, torch.rand(1, 3, 64, 64), target=2, layer="layer4.1.bn2")
    assert cam.shape == (64, 64) and torch.isfinite(cam).all()
    assert last_conv_layer(model) == "layer4.1.conv2"


def test_bad_requests_are_explained():
    model = BrightnessDetector().eval()
    with pytest.raises(ValueError, match="class index 5 is out of range"):
        grad_cam(model, torch.rand(1, 3, 16, 16), target=5, layer="conv")
    with pytest.raises(ValueError, match="needs a layer with a feature map"):
        grad_cam(model, torch.rand(1, 3, 16, 16), target=0, layer="fc")
    with pytest.raises(KeyError, match="valid layers: conv, relu, pool, fc"):
        grad_cam(model, torch.rand(1, 3, 16, 16), target=0, layer="conv9")
    with pytest.raises(NotAClassifierError):
        vanilla_gradient(nn.Conv2d(3, 2, 3), torch.rand(1, 3, 8, 8), target=0)
