"""Loading weights files: real state_dicts in, clear messages for files that do not fit."""

from __future__ import annotations

import pytest
import torch

from engine.features.inspect.catalog import ENTRIES, sha256_prefix
from engine.features.inspect.zoo import TORCHVISION_ZOO, UNTRAINED_LABEL, UnknownInspectModelError, load_model, model_spec
from engine.models.weights_io import WeightsMismatchError


def test_a_saved_state_dict_loads_exactly(random_weights_file):
    path, original = random_weights_file("resnet18", seed=3)
    loaded = load_model("resnet18", weights=path)
    assert loaded.trained and loaded.weights_label == path.name
    for key, value in original.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[key], value), key
    assert not loaded.module.training


def test_untrained_weights_are_labelled():
    model = load_model("lenet5", untrained=True)
    assert not model.trained and model.weights_label == UNTRAINED_LABEL


def test_missing_key_is_named(random_weights_file, tmp_path):
    path, module = random_weights_file("lenet5")
    state = module.state_dict()
    del state["features.3.bias"]
    bad = tmp_path / "missing.pth"
    torch.save(state, bad)
    with pytest.raises(WeightsMismatchError, match=r"missing key 'features\.3\.bias'"):
        load_model("lenet5", weights=bad)


def test_unexpected_key_is_named_with_a_count(random_weights_file, tmp_path):
    path, module = random_weights_file("lenet5")
    state = module.state_dict()
    state["head.weight"] = torch.zeros(2)
    state["head.bias"] = torch.zeros(2)
    bad = tmp_path / "extra.pth"
    torch.save(state, bad)
    with pytest.raises(WeightsMismatchError, match=r"unexpected key 'head\.weight' and 1 more"):
        load_model("lenet5", weights=bad)


def test_wrong_model_names_the_first_missing_and_unexpected_keys(random_weights_file):
    path, _ = random_weights_file("lenet5")
    with pytest.raises(WeightsMismatchError) as info:
        load_model("resnet18", weights=path)
    message = str(info.value)
    assert "missing key 'conv1.weight'" in message and "unexpected key 'features.0.weight'" in message


def test_shape_mismatch_is_named(random_weights_file, tmp_path):
    path, module = random_weights_file("lenet5")
    state = module.state_dict()
    state["classifier.5.weight"] = torch.zeros(3, 84)
    bad = tmp_path / "shape.pth"
    torch.save(state, bad)
    with pytest.raises(WeightsMismatchError, match=r"'classifier\.5\.weight' has shape \(3, 84\)"):
        load_model("lenet5", weights=bad)


def test_a_file_that_is_not_a_state_dict(tmp_path):
    junk = tmp_path / "notes.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(WeightsMismatchError, match="notes.pth"):
        load_model("lenet5", weights=junk)
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_model("lenet5", weights=tmp_path / "nowhere.pth")


def test_published_layouts_load(tmp_path):
    """GoogLeNet checkpoints carry auxiliary heads and DenseNet ones old key names."""
    import re

    import torchvision

    torch.manual_seed(0)
    google = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    torch.save(google.state_dict(), tmp_path / "g.pth")
    assert load_model("googlenet", weights=tmp_path / "g.pth").trained

    dense = torchvision.models.densenet121(weights=None).state_dict()
    old = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v for k, v in dense.items()}
    assert any(".norm.1." in k for k in old)
    torch.save(old, tmp_path / "d.pth")
    loaded = load_model("densenet121", weights=tmp_path / "d.pth")
    assert torch.equal(loaded.module.features.denseblock1.denselayer1.norm1.weight, dense["features.denseblock1.denselayer1.norm1.weight"])


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(UnknownInspectModelError, match="resnet18") as info:
        load_model("resnet19", untrained=True)
    assert "lenet5" in str(info.value)


def test_catalogued_weights_not_installed_say_how_to_get_them(tmp_path):
    from engine.models.cache import WeightsCache, WeightsMissingError

    with pytest.raises(WeightsMissingError, match="models fetch resnet18"):
        load_model("resnet18", cache=WeightsCache(tmp_path))


def test_catalog_entries_agree_with_torchvisions_published_metadata():
    # The entries are our only description of these models; torchvision's own metadata is
    # the outside reference they must agree with.
    import torchvision.models as tvm

    names = [e.name for e in ENTRIES]
    assert names == list(TORCHVISION_ZOO)
    for entry in ENTRIES:
        weights = tvm.get_model_weights(entry.name).DEFAULT
        transform = weights.transforms()
        assert entry.task == "inspect" and entry.license and entry.builder is not None
        assert entry.files[0].url == weights.url
        prefix = sha256_prefix(entry.files[0].filename)
        assert prefix and len(prefix) == 8 and entry.meta["sha256_prefix"] == prefix
        assert entry.transforms.size == (transform.crop_size[0],) * 2 and entry.transforms.resize == "crop"
        assert entry.transforms.mean == pytest.approx(transform.mean) and entry.transforms.std == pytest.approx(transform.std)
        assert entry.transforms.resize_size == transform.resize_size[0]
        assert entry.transforms.interpolation == transform.interpolation.value
        assert entry.meta["categories"] == tuple(weights.meta["categories"])
        assert entry.meta["num_params"] == weights.meta["num_params"]
        assert entry.meta["accuracy"]["ImageNet-1k top-1"] == weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]
        # The zoo reads the entry (its transforms are not restated) and its class names.
        spec = model_spec(entry.name)
        assert spec.transforms is entry.transforms
        assert spec.categories is entry.meta["categories"] or spec.categories == entry.meta["categories"]


def test_entry_build_gives_the_trained_network_the_teach_tab_reuses(random_weights_file, tmp_path):
    from engine.models.cache import WeightsCache
    from engine.models.catalog import catalog

    entry = catalog().get("mobilenet_v2")
    cache = WeightsCache(tmp_path / "cache")
    path, module = random_weights_file("mobilenet_v2", seed=2)
    cache.import_file(entry, path, force=True)
    built = entry.build(cache, "cpu")
    assert not built.training
    assert torch.equal(built.classifier[1].weight, module.classifier[1].weight)


def test_untrained_models_are_seeded_so_their_top5_repeats():
    a, b = load_model("resnet18", untrained=True), load_model("resnet18", untrained=True)
    assert torch.equal(a.module.fc.weight, b.module.fc.weight)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(a.module(x).topk(5).indices, b.module(x).topk(5).indices)
    other = load_model("resnet18", untrained=True, seed=1)
    assert not torch.equal(a.module.fc.weight, other.module.fc.weight)


def test_catalog_installs_and_loads_an_imported_file(random_weights_file, tmp_path):
    from engine.models.cache import WeightsCache, WeightsError
    from engine.models.catalog import catalog

    entry = catalog().get("resnet18")
    cache = WeightsCache(tmp_path / "cache")
    wrong, _ = random_weights_file("lenet5")
    with pytest.raises(WeightsError, match="missing key 'conv1.weight'"):
        cache.import_file(entry, wrong, force=True)
    right, module = random_weights_file("resnet18", seed=5)
    cache.import_file(entry, right, force=True)
    loaded = load_model("resnet18", cache=cache)
    assert loaded.trained and "ResNet-18" in loaded.weights_label
    assert torch.equal(loaded.module.fc.weight, module.fc.weight)
