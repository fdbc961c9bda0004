"""The layer table against torchvision and against arithmetic done by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._pytree import tree_flatten

from engine.features.inspect.layer_table import UnknownLayerError, build_layer_table, find_layer
from engine.features.inspect.zoo import TORCHVISION_ZOO, load_model, model_names

LIGHT = ("alexnet", "resnet18", "googlenet", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0")
HEAVY = ("vgg16", "resnet50", "inception_v3", "densenet121")


def _chain(layers: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """Receptive field (size, stride, effective padding) after (kernel, stride, padding) layers,
    with r_out = r_in + (k - 1) * j_in, j_out = j_in * s, P_out = P_in + p * j_in."""
    r, j, p_eff = 1, 1, 0
    for k, s, p in layers:
        r, p_eff, j = r + (k - 1) * j, p_eff + p * j, j * s
    return r, j, p_eff


def _table(name: str, size: int | None = None):
    model = load_model(name, untrained=True)
    pre = model.spec.preprocessing
    side = size or pre.input_size
    return model, build_layer_table(model.module, (pre.channels, side, side), name)


def test_resnet18_total_is_the_published_number():
    _, table = _table("resnet18", 64)
    assert table.total_params == 11_689_512


def test_alexnet_receptive_field_at_last_conv():
    model, table = _table("alexnet")
    # features: conv11/4 p2, pool3/2, conv5 p2, pool3/2, conv3 p1, conv3 p1, conv3 p1
    expected = _chain([(11, 4, 2), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1)])
    assert isinstance(find_layer(model.module, "features.10"), nn.Conv2d)
    rf = table.row("features.10").receptive_field
    assert (rf.size, rf.stride, rf.padding) == expected
    assert expected[0] == 163  # the textbook value, as a sanity check of the hand arithmetic
    pool = _chain([(11, 4, 2), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)])
    features = table.row("features").receptive_field
    assert (features.size, features.stride, features.padding) == pool


def test_vgg16_receptive_field_at_last_conv():
    _, table = _table("vgg16", 64)  # receptive fields do not depend on the input size
    layers = []
    for convs in (2, 2, 3, 3, 3):
        layers += [(3, 1, 1)] * convs + [(2, 2, 0)]
    last_conv = _chain(layers[:-1])
    rf = table.row("features.28").receptive_field
    assert (rf.size, rf.stride, rf.padding) == last_conv
    assert last_conv[0] == 196  # conv5_3; pool5 adds one more jump of 16 -> 212
    rf = table.row("features").receptive_field
    assert (rf.size, rf.stride, rf.padding) == _chain(layers)


def test_resnet18_receptive_field_at_last_stage():
    _, table = _table("resnet18", 96)
    # The longest path: stem, then two 3x3 convs per block; the first block of layers
    # 2-4 strides in its first conv. Shortcuts (1x1) see less, so the union is this path.
    path = [(7, 2, 3), (3, 2, 1)]
    for stage in range(4):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            path += [(3, stride, 1), (3, 1, 1)]
    expected = _chain(path)
    rf = table.row("layer4").receptive_field
    assert (rf.size, rf.stride, rf.padding) == expected
    assert table.row("layer4.1.conv2").receptive_field.size == expected[0]
    # The container row is its last block's output.
    assert table.row("layer4").receptive_field == table.row("layer4.1").receptive_field
    # The downsampling shortcut alone sees only the 1x1 conv's field on top of layer3.
    layer3 = table.row("layer3").receptive_field
    shortcut = table.row("layer4.0.downsample.0").receptive_field
    assert shortcut.size == layer3.size and shortcut.stride == layer3.stride * 2


def _real_shapes(module: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for name, m in module.named_modules():
        if name:
            def hook(mod, inp, out, name=name):
                first = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)][0]
                shapes[name] = tuple(first.shape[1:])
            handles.append(m.register_forward_hook(hook))
    with torch.no_grad():
        module(x)
    for h in handles:
        h.remove()
    return shapes


@pytest.mark.parametrize("name", ["lenet5", *[pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in TORCHVISION_ZOO]])
def test_table_matches_torchvision_counts_and_a_real_forward_pass(name):
    model = load_model(name, untrained=True)
    pre = model.spec.preprocessing
    # A non-square input that is not the default size catches shapes copied from defaults.
    h, w = (32, 32) if name == "lenet5" else (96, 128)
    table = build_layer_table(model.module, (pre.channels, h, w), name)

    from engine.models.catalog import catalog

    expected = 61_706 if name == "lenet5" else catalog().get(name).meta["num_params"]
    if name == "lenet5":  # 6*25+6 + 16*6*25+16 + 400*120+120 + 120*84+84 + 84*10+10
        assert expected == 156 + 2416 + 48120 + 10164 + 850
    assert table.total_params == expected
    # Every parameter belongs to exactly one leaf module, so the leaf rows add up too.
    assert sum(r.params for r in table.rows if not r.is_container) == expected
    assert sum(r.params for r in table.rows if r.depth == 0) == expected

    real = _real_shapes(model.module, torch.zeros(1, pre.channels, h, w))
    ran = {r.name: r.output_shape for r in table.rows if r.output_shape is not None}
    assert ran == real
    # Modules that did not run (training-only heads) are the only ones without a shape.
    assert {r.name for r in table.rows if r.output_shape is None} == set(r.name for r in table.rows) - set(real)


def test_mult_adds_of_a_small_net_by_hand():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, stride=2, groups=2), nn.Flatten(), nn.Linear(2 * 7 * 7, 5))
    table = build_layer_table(net, (3, 16, 16))
    assert table.row("0").mult_adds == 4 * 16 * 16 * (3 * 3 * 3)
    assert table.row("2").mult_adds == 2 * 7 * 7 * (2 * 3 * 3)  # groups=2: 2 input channels per output
    assert table.row("4").mult_adds == 5 * 98
    assert table.total_mult_adds == sum(table.row(n).mult_adds for n in ("0", "2", "4"))


def test_merged_paths_take_the_largest_field():
    class TwoPaths(nn.Module):
        def __init__(self):
            super().__init__()
            self.small = nn.Conv2d(1, 1, 1)
            self.large = nn.Sequential(nn.Conv2d(1, 1, 5, padding=2), nn.Conv2d(1, 1, 5, padding=2))
            self.side = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            return torch.cat([self.small(x) + self.large(x), self.side(x)], dim=1)

    table = build_layer_table(TwoPaths(), (1, 20, 20))
    assert table.row("large").receptive_field.size == 9
    # The root is not a row, so check the merge on a wrapper.
    wrapper = nn.Sequential(TwoPaths())
    rf = build_layer_table(wrapper, (1, 20, 20)).row("0").receptive_field
    assert (rf.size, rf.stride, rf.padding) == (9, 1, 4)


def test_receptive_field_equals_the_support_of_the_gradient():
    """Oracle: in a network without max pooling or ReLU, a unit's output depends on exactly
    the input pixels of its receptive field, so d unit / d input is non-zero exactly there."""
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    net.relu = nn.Identity()
    net.maxpool = nn.AvgPool2d(3, 2, 1, count_include_pad=True)
    for block in (*net.layer1, *net.layer2):
        block.relu = nn.Identity()
    trunk = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2).eval()
    size = 96
    rf = build_layer_table(trunk, (3, size, size)).row("5").receptive_field
    x = torch.randn(1, 3, size, size, requires_grad=True)
    out = trunk(x)
    for row, col in [(0, 0), (5, 7), (11, 11)]:
        (grad,) = torch.autograd.grad(out[0, 3, row, col], x, retain_graph=True)
        support = grad.abs().amax(dim=1)[0].nonzero()
        y0, x0 = support.min(dim=0).values.tolist()
        y1, x1 = support.max(dim=0).values.tolist()
        assert (x0, y0, x1 + 1, y1 + 1) == rf.unit_box(row, col, size, size)


def test_bad_layer_name_lists_the_valid_ones():
    model = load_model("lenet5", untrained=True)
    with pytest.raises(UnknownLayerError) as info:
        find_layer(model.module, "features.9", "lenet5")
    message = str(info.value)
    assert "features.9" in message
    for name, _ in model.module.named_modules():
        if name:
            assert name in message
    table = build_layer_table(model.module, (1, 32, 32), "lenet5")
    with pytest.raises(UnknownLayerError, match="valid layers: features, features.0"):
        table.row("conv9")


def test_zoo_lists_every_issue_model():
    names = set(model_names())
    assert {"lenet5", "resnet18", "resnet50", "alexnet", "vgg16", "googlenet", "inception_v3", "densenet121", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0"} <= names
