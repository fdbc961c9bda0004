"""The VGG-19 extractor against torchvision's own layers, and the loader's checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models import vgg as tv_vgg

from engine.features.style.vgg import VGGFeatures, VGGWeightsError, load_vgg19_state_dict, normalise_state_dict


@pytest.fixture(scope="module")
def torchvision_features() -> torch.nn.Sequential:
    torch.manual_seed(3)
    return tv_vgg.make_layers(tv_vgg.cfgs["E"]).eval()  # torchvision's VGG-19 `features`


def test_matches_torchvision_layers(torchvision_features: torch.nn.Sequential, tmp_path: Path) -> None:
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in torchvision_features.state_dict().items()}, path)
    state = load_vgg19_state_dict(path)
    ours = VGGFeatures(state, ["conv1_1", "conv3_1", "relu2_2"])
    x = torch.rand(1, 3, 40, 36)
    normalised = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        out = ours(x)
        # torchvision indices: conv1_1 = 0, relu2_2 = 8, conv3_1 = 10
        torch.testing.assert_close(out["conv1_1"], torchvision_features[:1](normalised))
        torch.testing.assert_close(out["relu2_2"], torchvision_features[:9](normalised))
        torch.testing.assert_close(out["conv3_1"], torchvision_features[:11](normalised))


def test_stops_at_deepest_requested_layer(vgg_state: dict) -> None:
    shallow = VGGFeatures(vgg_state, ["conv2_1"])
    assert [name for name, _ in shallow.plan][-1] == "conv2_1"
    assert set(shallow.convs) == {"conv1_1", "conv1_2", "conv2_1"}
    deep = VGGFeatures(vgg_state, ["conv4_2", "conv5_1"])
    assert "conv5_2" not in deep.convs and "conv5_1" in deep.convs
    assert all(not p.requires_grad for p in deep.parameters())


def test_returned_conv_features_are_not_overwritten_by_relu(vgg_state: dict) -> None:
    ex = VGGFeatures(vgg_state, ["conv1_1", "relu1_1"])
    out = ex(torch.rand(1, 3, 16, 16))
    assert (out["conv1_1"] < 0).any(), "a pre-ReLU feature must keep its negative values"
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].clamp_min(0))


def test_rejects_wrong_files(tmp_path: Path, vgg_state: dict) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(VGGWeightsError, match="junk.pth: not a PyTorch state_dict"):
        load_vgg19_state_dict(junk)
    vgg16 = {f"features.{k}": v for k, v in tv_vgg.make_layers(tv_vgg.cfgs["D"]).state_dict().items()}
    with pytest.raises(VGGWeightsError, match="VGG-19 needs|missing"):
        normalise_state_dict(vgg16, "vgg16.pth")
    with pytest.raises(VGGWeightsError, match="no such file"):
        load_vgg19_state_dict(tmp_path / "absent.pth")
    with pytest.raises(ValueError, match="unknown VGG-19 layer"):
        VGGFeatures(vgg_state, ["conv9_9"])


def test_checkpointed_blocks_give_the_same_values_and_gradients(vgg_state: dict) -> None:
    layers = ["conv1_1", "conv2_1", "conv3_1", "conv3_2"]
    plain, saving = VGGFeatures(vgg_state, layers), VGGFeatures(vgg_state, layers)
    saving.checkpoint_blocks = True
    x = torch.rand(1, 3, 24, 20)
    grads = []
    for extractor in (plain, saving):
        image = x.clone().requires_grad_(True)
        feats = extractor(image)
        sum((f ** 2).mean() for f in feats.values()).backward()
        grads.append(image.grad)
        assert set(feats) == set(layers)
    torch.testing.assert_close(grads[0], grads[1])
