"""The live task: what one frame yields, hooks that do not pile up, memory that stays flat."""

from __future__ import annotations

import gc
import threading
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.features.inspect.activations import LayerTap, top_channels
from engine.features.inspect.task import InspectResult, InspectSettings, InspectTask, receptive_box
from engine.features.inspect.zoo import load_model
from engine.runtime.sync import run_task


def _run(task: InspectTask, frame):
    """One frame through the worker's own step (grad mode chosen by the task); the task is loaded."""
    return next(run_task(task, [frame], device="cpu", load=False)).result


def _hook_count(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in module.modules())


def test_top_channels_picks_the_strongest_by_mean():
    act = torch.zeros(1, 5, 4, 4)
    act[0, 3] = 2.0
    act[0, 1, 0, 0] = 16.0  # mean 1.0
    act[0, 4] = -1.0
    summary = top_channels(act, k=2)
    assert summary.channels.tolist() == [3, 1]
    assert summary.means.tolist() == pytest.approx([2.0, 1.0])
    assert summary.maps.shape == (2, 4, 4) and summary.shape == (5, 4, 4)
    assert np.array_equal(summary.maps[1], act[0, 1].numpy())


def test_tap_holds_one_hook_and_copies_before_in_place_ops():
    model = load_model("resnet18", untrained=True).module.eval()
    tap = LayerTap(model, "bn1")
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    # resnet's ReLU runs in place on bn1's output; the tap must still hold negatives.
    assert tap.output is not None and tap.output.min() < 0
    for name in ("layer1", "layer2.0.conv1", "layer1", "fc"):
        tap.layer = name
        assert _hook_count(model) == 1
    with pytest.raises(KeyError, match="valid layers"):
        tap.layer = "layer9"
    assert tap.layer == "fc" and _hook_count(model) == 1  # a bad name keeps the old hook
    tap.close()
    assert _hook_count(model) == 0


def test_one_frame_gives_maps_predictions_and_geometry(make_frame):
    task = InspectTask("resnet18", untrained=True, settings=InspectSettings(layer="layer2", channels=8, topk=5), input_size=96)
    task.load(torch.device("cpu"))
    task.configure(replace(task.settings, pinned_channel=5))
    result = _run(task, make_frame())
    assert isinstance(result, InspectResult)
    assert result.layer == "layer2" and not result.trained and "untrained" in result.weights_label
    assert result.channels.maps.shape == (8, 12, 12) and result.channels.shape == (128, 12, 12)
    assert result.pinned.shape == (12, 12) and result.pinned_channel == 5
    assert len(result.predictions) == 5
    probs = [p.probability for p in result.predictions]
    assert probs == sorted(probs, reverse=True) and all(0 < p < 1 for p in probs)
    assert result.predictions[0].name  # ImageNet class names from torchvision's metadata
    assert result.geometry.frame_width == 160 and result.geometry.input_width == result.geometry.input_height == 96
    assert result.table.row("layer2").output_shape == (128, 12, 12)
    task.close()


@pytest.mark.parametrize("mode", ["gradient", "smoothgrad", "gradcam", "integrated_gradients", "guided_backprop", "occlusion"])
def test_saliency_modes_switch_live(make_frame, mode):
    task = InspectTask("resnet18", untrained=True, settings=InspectSettings(layer="layer1", smoothgrad_samples=2, ig_steps=4), input_size=64)
    task.load(torch.device("cpu"))
    task.configure(replace(task.settings, mode=mode, target_class=7))
    assert task.needs_grad == (mode != "occlusion")
    result = _run(task, make_frame())
    assert result.mode == mode and result.saliency.shape == (64, 64)
    assert 0.0 <= result.saliency.min() and result.saliency.max() <= 1.0
    assert result.saliency_class.index == 7
    if mode == "gradcam":
        assert result.saliency_layer == "layer4.1.conv2"
    assert result.channels.maps.shape[1:] == (16, 16)
    assert all(p.grad is None for p in task.model.module.parameters())
    task.close()


def test_receptive_box_maps_a_unit_onto_the_frame(make_frame):
    task = InspectTask("alexnet", untrained=True, settings=InspectSettings(layer="features.10"), input_size=224)
    task.load(torch.device("cpu"))
    result = _run(task, make_frame())
    rf = result.table.row("features.10").receptive_field
    # effective padding 2 + 2*8 + 3 * (1*16) = 66, so unit (6, 6) of the 13x13 map sees
    # input pixels [6*16 - 66, 6*16 - 66 + 162] = [30, 192]
    assert (rf.size, rf.stride, rf.padding) == (163, 16, 66)
    x1, y1, x2, y2 = receptive_box(result.table, "features.10", 6, 6, result.geometry)
    assert (x1, x2) == pytest.approx((30 * 160 / 224, 193 * 160 / 224))
    assert (y1, y2) == pytest.approx((30 * 120 / 224, 193 * 120 / 224))
    # A corner unit is clipped to the picture.
    assert receptive_box(result.table, "features.10", 0, 0, result.geometry)[:2] == (0.0, 0.0)
    task.close()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


@pytest.fixture
def one_thread():
    """Tiny tensors gain nothing from a second thread and lose much when the CPU is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_memory_stays_flat_over_1000_frames_with_layer_switching(make_frame, frame_image, one_thread):
    # A small model keeps 1,000 frames quick; the code path is the same for every model.
    task = InspectTask("lenet5", untrained=True, settings=InspectSettings(layer="features.0", channels=16))
    task.load(torch.device("cpu"))
    model = task.model.module
    layers = ["features.0", "features.2", "features", "features.4", "classifier.1", "classifier"]
    frames = [make_frame(np.roll(frame_image, 7 * i, axis=1), index=i) for i in range(10)]
    for i in range(100):  # warm up allocator caches before measuring
        task.configure(replace(task.settings, layer=layers[i % len(layers)]))
        _run(task, frames[i % 10])
    gc.collect()
    tracemalloc.start()
    rss_before = _rss_bytes()
    python_before = tracemalloc.get_traced_memory()[0]
    kept = None
    for i in range(1000):
        if i % 25 == 0:
            task.configure(replace(task.settings, layer=layers[(i // 25) % len(layers)]))
        if i % 100 == 50:
            task.configure(replace(task.settings, pinned_channel=i % 6))
        kept = _run(task, frames[i % 10])  # the GUI holds on to the newest result only
        assert _hook_count(model) == 1
    gc.collect()
    python_growth = tracemalloc.get_traced_memory()[0] - python_before
    tracemalloc.stop()
    rss_growth = _rss_bytes() - rss_before
    assert kept is not None and kept.channels is not None
    assert python_growth < 512 * 1024, f"Python heap grew by {python_growth} bytes"
    assert rss_growth < 32 * 1024 * 1024, f"resident memory grew by {rss_growth / 1e6:.1f} MB"
    task.close()
    assert _hook_count(model) == 0


def test_runs_in_the_real_worker(make_frame):
    from engine.runtime.worker import running_worker

    results = []
    got = threading.Event()
    task = InspectTask("lenet5", untrained=True, settings=InspectSettings(layer="features.3"))
    with running_worker(lambda r: (results.append(r), got.set()), task, device="cpu") as worker:
        assert task.loaded.wait(30)
        worker.submit(make_frame(index=1))
        assert got.wait(30)
    first = results[0].result
    assert first.channels.shape == (16, 10, 10) and first.predictions[0].name in "0123456789"


def test_models_without_classes_show_no_top5_and_refuse_explanations(make_frame):
    task = InspectTask("facenet", untrained=True, settings=InspectSettings(), input_size=96)
    task.load(torch.device("cpu"))
    result = _run(task, make_frame())
    assert result.predictions == () and result.channels is not None  # 512 embedding values are no classes
    task.configure(replace(task.settings, mode="gradcam"))
    with pytest.raises(ValueError, match="no class scores"):
        _run(task, make_frame())
    task.close()


def test_weights_that_fail_to_load_fall_back_to_the_previous_ones(tmp_path, make_frame):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    task = InspectTask("lenet5", weights=bad, fallback=(None, True), settings=InspectSettings())
    task.load(torch.device("cpu"))
    result = _run(task, make_frame())
    assert not result.trained and "broken.pth could not be loaded" in result.notice and "kept the previous weights" in result.notice
    assert task.weights is None and task.untrained
    with pytest.raises(Exception, match="broken.pth"):
        InspectTask("lenet5", weights=bad).load(torch.device("cpu"))  # without a fallback it is an error


def test_collect_feeds_the_top_patches_of_the_shown_layer(make_frame, frame_image):
    from engine.features.inspect.top_patches import TopPatches

    collection = TopPatches(k=3)
    task = InspectTask("lenet5", untrained=True, settings=InspectSettings(layer="features.3", collect=True), collection=collection)
    task.load(torch.device("cpu"))
    versions = [_run(task, make_frame(np.roll(frame_image, 40 * i, axis=1), index=i)).collected for i in range(4)]
    assert collection.layer == "features.3" and collection.channels == 16 and collection.images_seen == 4
    assert versions[0] > 0 and versions == sorted(versions)
    assert all(1 <= n <= 3 for n in collection.filled())
    task.configure(replace(task.settings, collect=False))
    assert _run(task, make_frame(index=9)).collected == 0 and collection.images_seen == 4


def test_unit_at_inverts_receptive_box(make_frame):
    from engine.features.inspect.task import unit_at

    task = InspectTask("resnet18", untrained=True, settings=InspectSettings(layer="layer2"), input_size=96)
    task.load(torch.device("cpu"))
    result = _run(task, make_frame())
    for row, col in [(3, 4), (6, 6), (11, 0)]:
        rf = result.table.row("layer2").receptive_field
        centre_x = (col * rf.x.stride - rf.x.padding + (rf.x.size - 1) / 2 + 0.5) / result.geometry.scale_x
        centre_y = (row * rf.y.stride - rf.y.padding + (rf.y.size - 1) / 2 + 0.5) / result.geometry.scale_y
        assert unit_at(result.table, "layer2", centre_x, centre_y, result.geometry) == (row, col)
    assert unit_at(result.table, "layer2", 1e6, -5, result.geometry) == (0, 11)  # clipped to the grid
    with pytest.raises(ValueError, match="no feature map"):
        unit_at(result.table, "fc", 10, 10, result.geometry)
    task.close()


def test_channel_tiles_keep_their_places_from_frame_to_frame(make_frame, frame_image):
    """Frames that differ a little: the shown channels stay in their tiles (the
    old ranking reshuffled the grid whenever two means swapped by a hair)."""
    task = InspectTask("lenet5", untrained=True, settings=InspectSettings(layer="features.3", channels=8))
    task.load(torch.device("cpu"))
    mirrored = np.ascontiguousarray(frame_image[:, ::-1])
    orders = []
    for i in range(6):  # the picture and its mirror image: nearly the same means, some in another order
        orders.append(list(_run(task, make_frame(mirrored if i % 2 else frame_image, index=i)).channels.channels))
    assert all(order == orders[0] for order in orders[1:]), orders
    # A clearly different picture still brings its own strongest channels in.
    other = _run(task, make_frame(255 - frame_image, index=9)).channels
    assert len(other.channels) == 8 and len(set(other.channels.tolist())) == 8
    task.close()


def test_near_tied_channels_do_not_swap_tiles_but_a_clear_winner_comes_in():
    from engine.features.inspect.activations import ChannelPicker

    base = torch.zeros(1, 6, 4, 4)
    for c, level in enumerate((5.0, 4.0, 3.0, 2.00, 1.99, 0.5)):
        base[0, c] = level
    picker = ChannelPicker()
    first = top_channels(base, 4, picker, "conv").channels.tolist()
    assert first == [0, 1, 2, 3]
    for i in range(6):  # channels 3 and 4 swap places by a hair every other frame
        frame = base.clone()
        if i % 2:
            frame[0, 3], frame[0, 4] = 1.99, 2.00
        assert top_channels(frame, 4, picker, "conv").channels.tolist() == first
        assert top_channels(frame, 4).channels.tolist() != first or not i % 2  # the plain ranking reshuffles
    strong = base.clone()
    strong[0, 5] = 9.0  # channel 5 now clearly the strongest: it takes the weakest tile (3's)
    for _ in range(6):
        shown = top_channels(strong, 4, picker, "conv")
    assert shown.channels.tolist() == [0, 1, 2, 5] and shown.channels[shown.means.argmax()] == 5
