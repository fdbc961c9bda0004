"""Convolutions on weights packed once for oneDNN (engine/runtime/packed_conv.py) give what
the plain ``nn.Conv2d`` gives, and step aside wherever they cannot: gradients, edited
weights, another input size, other dtypes, padding modes oneDNN does not do."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from engine.runtime import packed_conv
from engine.runtime.packed_conv import pack_conv_weights

# What packs needs oneDNN's ops, which CPU builds of PyTorch for x86 and ARM Linux have; a
# build without them (some other platforms) packs nothing, which the last test checks there.
needs_onednn = pytest.mark.skipif(not packed_conv.available(), reason="this PyTorch build has no oneDNN packed convolution")


def network(seed: int = 0) -> nn.Module:
    """Plain, strided, dilated, grouped, depthwise and bias-free convolutions, and two
    that must stay ordinary ('same' padding as a string, reflect padding)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=2, dilation=2, groups=4), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1, groups=32),
        nn.Conv2d(32, 16, 3, padding="same"),
        nn.Conv2d(16, 8, 3, padding=1, padding_mode="reflect"),
        nn.Conv2d(8, 4, 1),
    ).eval()


@needs_onednn
def test_same_outputs_and_which_layers_are_packed():
    plain = network()
    packed = copy.deepcopy(plain)
    x = torch.rand(2, 3, 40, 56)
    assert pack_conv_weights(packed, x[:1]) == 5  # 'same' and reflect padding keep the ordinary path
    assert pack_conv_weights(packed, x[:1]) == 0  # once is enough
    with torch.no_grad():
        want = plain(x)
        got = packed(x)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)
    assert packed[0]._cnn_packed is not None and packed[0]._cnn_packed.size == (3, 40, 56)
    assert not hasattr(packed[8], "_cnn_packed") and not hasattr(packed[9], "_cnn_packed")


@needs_onednn
def test_hooks_see_the_same_activations_and_gradients_take_the_ordinary_path():
    plain, packed = network(), network()
    pack_conv_weights(packed, torch.rand(1, 3, 32, 32))
    seen = {}
    for name, net in (("plain", plain), ("packed", packed)):
        net[2].register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o.detach().clone()))
    x = torch.rand(1, 3, 32, 32)
    grads = []
    for net in (plain, packed):
        xg = x.clone().requires_grad_(True)
        net(xg).square().sum().backward()
        grads.append(xg.grad)
    assert torch.allclose(seen["packed"], seen["plain"], atol=1e-5)
    assert torch.allclose(grads[1], grads[0], rtol=1e-4, atol=1e-6)
    packed.train()  # weights that want gradients: ordinary path, and they do get them
    packed(x).sum().backward()
    assert packed[0].weight.grad is not None and packed[0].weight.grad.abs().sum() > 0


@needs_onednn
def test_an_edited_weight_and_another_input_size_repack():
    plain, packed = network(), network()
    pack_conv_weights(packed, torch.rand(1, 3, 32, 32))
    with torch.no_grad():
        for net in (plain, packed):
            net[0].weight.mul_(-2.0)  # in place, as an editor or a training step would
        x = torch.rand(1, 3, 48, 24)
        assert torch.allclose(packed(x), plain(x), rtol=1e-4, atol=1e-5)
    assert packed[0]._cnn_packed.size == (3, 48, 24)


@needs_onednn
def test_other_dtypes_copies_and_pickles():
    plain, packed = network(), network()
    pack_conv_weights(packed, torch.rand(1, 3, 32, 32))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(packed.double()(x.double()), plain.double()(x.double()), atol=1e-9)
    plain.float(), packed.float()
    for again in (copy.deepcopy(packed), pickle.loads(pickle.dumps(packed))):
        assert again[0]._cnn_packed is None  # packs again on its first call
        with torch.no_grad():
            assert torch.allclose(again(x), plain(x), rtol=1e-4, atol=1e-5)
        assert again[0]._cnn_packed is not None


@needs_onednn
def test_exporters_and_compilers_record_the_ordinary_convolution(tmp_path):
    packed = network()
    pack_conv_weights(packed, torch.rand(1, 3, 32, 32))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        traced = torch.jit.freeze(torch.jit.trace(packed, x))
        assert "mkldnn" not in str(traced.graph)
        assert torch.allclose(traced(x), network()(x), rtol=1e-4, atol=1e-5)
        exported = torch.export.export(packed, (x,))
    assert "_convolution_pointwise" not in str(exported.graph)


@needs_onednn
def test_feature_maps_packs_its_network_on_the_cpu_and_shows_the_same_activations():
    from engine.core.frame import Frame
    from engine.features.inspect.task import InspectTask
    from engine.features.inspect.zoo import load_model

    model = load_model("lenet5", untrained=True)
    plain = copy.deepcopy(model.module).eval()
    task = InspectTask("lenet5", model=model)
    task.load(torch.device("cpu"))
    convs = [m for m in task.model.module.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m._cnn_packed is not None for m in convs)
    image = (torch.rand(48, 64, 3) * 255).to(torch.uint8).numpy()
    with torch.inference_mode():
        out = task.infer(task.preprocess(Frame(image, 0, 0.0)))
    seen = {}
    layer = dict(plain.named_modules())[out["layer"]]
    layer.register_forward_hook(lambda m, i, o: seen.__setitem__("plain", o))
    with torch.no_grad():
        plain(task.preprocess(Frame(image, 1, 0.0))[0])
    assert torch.allclose(out["activation"], seen["plain"], rtol=1e-4, atol=1e-5)


def test_every_build_gives_the_plain_outputs_packed_or_not():
    plain, maybe = network(), network()
    x = torch.rand(1, 3, 32, 32)
    count = pack_conv_weights(maybe, x)
    assert count == (5 if packed_conv.available() else 0)
    with torch.no_grad():
        assert torch.allclose(maybe(x), plain(x), rtol=1e-4, atol=1e-5)
