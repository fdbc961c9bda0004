"""Top-9 patches per unit: the right patches, exactly the receptive field, a correct top-k."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from engine.features.inspect.activations import LayerTap
from engine.features.inspect.layer_table import build_layer_table
from engine.features.inspect.preprocess import InputGeometry, frame_to_tensor
from engine.features.inspect.top_patches import CollectionFileError, TopPatches, collect_folder, crop_patch
from engine.features.inspect.zoo import InspectModel, ModelSpec, Preprocessing

SIZE = 96


def edge_net() -> nn.Sequential:
    """conv1 channel 0 fires only where red rises from left to right (a red vertical edge);
    channel 1 is a fixed random filter (it answers to clutter)."""
    torch.manual_seed(3)
    conv = nn.Conv2d(3, 2, 3, padding=1)
    with torch.no_grad():
        ramp = torch.tensor([[-1.0, 0.0, 1.0]] * 3)
        conv.weight[0, 0] = ramp  # red up
        conv.weight[0, 1] = -ramp  # green or blue rising too means a grey/white edge: cancel it
        conv.weight[0, 2] = -ramp
        conv.bias[0] = -0.5
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, padding=1)).eval()


def edge_model() -> InspectModel:
    net = edge_net()
    spec = ModelSpec(name="edge", title="red edge", build=edge_net, preprocessing=Preprocessing(input_size=SIZE, mean=(0, 0, 0), std=(1, 1, 1)))
    return InspectModel(spec, net, "constructed", trained=True)


def clutter_images(count: int, red_every: int, seed: int = 0):
    """Grey/white/green/blue rectangles; every ``red_every``-th image also has a red rectangle,
    whose left side is a red vertical edge at x = edge (returned)."""
    rng = np.random.default_rng(seed)
    images, edges = [], []
    for i in range(count):
        image = np.full((SIZE, SIZE, 3), 40, np.uint8)
        for _ in range(6):
            x, y = rng.integers(0, SIZE - 20, 2)
            w, h = rng.integers(8, 30, 2)
            colour = [(200, 200, 200), (255, 255, 255), (0, 200, 0), (200, 0, 0), (120, 120, 120)][rng.integers(0, 5)]
            image[y:y + h, x:x + w] = colour
        edge = None
        if i % red_every == 0:
            x = int(rng.integers(10, SIZE - 30))
            y = int(rng.integers(5, SIZE - 40))
            image[:, max(0, x - 6):x] = 40  # a dark strip so the edge is a clean rise
            image[y:y + 30, x:x + 20] = (0, 0, 255)  # BGR red
            edge = (x, y, y + 30)
        images.append(image)
        edges.append(edge)
    return images, edges


def _offer(collection, model, images, names=None, layer="0"):
    pre = model.spec.preprocessing
    table = build_layer_table(model.module, (3, pre.input_size, pre.input_size), "edge")
    rf = table.row(layer).receptive_field
    with LayerTap(model.module, layer, "edge") as tap, torch.no_grad():
        for i, image in enumerate(images):
            x, geometry = frame_to_tensor(image, pre)
            model.module(x)
            collection.add(tap.output, image, geometry, rf, names[i] if names else f"img{i}", layer=layer)
    return table


def test_a_red_vertical_edge_unit_gets_nine_patches_that_all_hold_the_edge():
    images, edges = clutter_images(40, red_every=4)
    model = edge_model()
    collection = TopPatches(k=9, dedupe=None)
    _offer(collection, model, images)
    patches = collection.channel(0)
    assert len(patches) == 9
    for p in patches:
        index = int(p.source[3:])
        assert edges[index] is not None, f"{p.source} has no red edge but was picked"
        x, y1, y2 = edges[index]
        bx1, by1, bx2, by2 = p.box
        assert bx1 <= x - 1 and x <= bx2 and by1 < y2 and y1 < by2  # the edge lies in the patch
        red = p.image[:, :, 2].astype(int) - p.image[:, :, 1]
        assert red.max() > 150 and red.min() < 50  # red meets dark inside the patch


def test_the_patch_is_exactly_the_receptive_field_clipped_to_the_image():
    model = edge_model()
    rng = np.random.default_rng(5)
    image = rng.integers(0, 255, (128, 192, 3), dtype=np.uint8)  # the input is squashed: scale 2 x, 4/3 y
    collection = TopPatches(k=3, dedupe=None, patch_size=20)
    table = _offer(collection, model, [image], layer="3")
    rf = table.row("3").receptive_field
    # 3x3 conv (r 3, j 1, P 1) -> pool 2 (r 4, j 2, P 1) -> 3x3 conv: r 4 + 2 * 2, P 1 + 1 * 2
    assert (rf.size, rf.stride, rf.padding) == (8, 2, 3)
    x, geometry = frame_to_tensor(image, model.spec.preprocessing)
    with LayerTap(model.module, "3") as tap, torch.no_grad():
        model.module(x)
        act = tap.output[0]
    geometry = InputGeometry(SIZE, 192, 128)
    for c in range(2):
        (patch,) = collection.channel(c)
        row, col = divmod(int(act[c].flatten().argmax()), act.shape[2])
        x1, y1 = col * 2 - 3, row * 2 - 3
        clipped = (max(0, x1), max(0, y1), min(SIZE, x1 + 8), min(SIZE, y1 + 8))
        expected = (clipped[0] * 2.0, clipped[1] * 4 / 3, clipped[2] * 2.0, clipped[3] * 4 / 3)
        assert patch.box == pytest.approx(expected)
        assert patch.activation == pytest.approx(float(act[c].max()))
        assert np.array_equal(patch.image, crop_patch(image, geometry.to_frame(rf.unit_box(row, col, SIZE, SIZE)), 20))


def test_top_k_matches_a_brute_force_over_all_frames():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 5, stride=2), nn.ReLU(), nn.Conv2d(6, 12, 3)).eval()
    spec = ModelSpec(name="r", title="r", build=lambda: net, preprocessing=Preprocessing(input_size=48, mean=(0.5,) * 3, std=(0.25,) * 3))
    model = InspectModel(spec, net, "random", True)
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (60, 80, 3), dtype=np.uint8) for _ in range(120)]
    collection = TopPatches(k=9, dedupe=None, patch_size=8)
    _offer(collection, model, images, layer="2")
    maxima = []
    with LayerTap(net, "2") as tap, torch.no_grad():
        for image in images:
            net(frame_to_tensor(image, spec.preprocessing)[0])
            maxima.append(tap.output[0].flatten(1).max(dim=1).values.numpy())
    brute = -np.sort(-np.stack(maxima), axis=0)[:9].T  # (C, 9) best first
    assert np.allclose(collection.values(), brute, rtol=1e-6)
    for c in range(12):
        sources = [int(p.source[3:]) for p in collection.channel(c)]
        assert [maxima[i][c] for i in sources] == pytest.approx(list(brute[c]))


def test_a_still_scene_holds_one_slot_and_collections_round_trip(tmp_path):
    model = edge_model()
    images, _ = clutter_images(5, red_every=1, seed=2)
    still = [images[0]] * 20 + [cv2.add(images[0], 1)] * 5  # a still scene with sensor noise
    collection = TopPatches(k=9)
    _offer(collection, model, still + images[1:], names=[f"s{i}" for i in range(25)] + ["b1", "b2", "b3", "b4"])
    for c in range(collection.channels):
        names = [p.source for p in collection.channel(c)]
        assert sum(n.startswith("s") for n in names) <= 1 and len(names) <= 5
    path = collection.save(tmp_path / "units")
    assert path.name == "units.npz" and not list(tmp_path.glob(".*"))  # no temporary left behind
    again = TopPatches.load(path)
    assert again.layer == "0" and again.k == 9
    assert np.array_equal(again.values(), collection.values())
    assert [p.as_dict() for p in again.channel(0)] == [p.as_dict() for p in collection.channel(0)]
    assert np.array_equal(again.grid_image(), collection.grid_image())
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(CollectionFileError, match="bad.npz"):
        TopPatches.load(tmp_path / "bad.npz")


def test_folder_job_reports_progress_and_returns_the_collection(tmp_path):
    images, edges = clutter_images(12, red_every=3, seed=4)
    for i, image in enumerate(images):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), image)
    (tmp_path / "broken.png").write_bytes(b"nope")
    job = collect_folder(edge_model(), "0", tmp_path, k=4)
    progress = []
    try:
        while True:
            progress.append(next(job))
    except StopIteration as stop:
        collection = stop.value
    assert [p[:2] for p in progress] == [(i + 1, 13) for i in range(13)] and "skipped 1" in progress[-1][2]
    assert {p.source for p in collection.channel(0)} == {f"{i:02d}.png" for i in (0, 3, 6, 9)}
    records = list(collection.as_records())
    assert records[0]["layer"] == "0" and len(records[0]["patches"]) == 4
    json.dumps(records)


def test_a_unit_at_the_border_gets_its_field_clipped_to_the_image():
    image = np.full((SIZE, SIZE, 3), 40, np.uint8)
    image[0:12, 1:10] = (0, 0, 255)  # a red edge at x = 1 touching the top border
    collection = TopPatches(k=1, dedupe=None, patch_size=8)
    table = _offer(collection, edge_model(), [image], layer="2")
    rf = table.row("2").receptive_field
    assert (rf.size, rf.stride, rf.padding) == (4, 2, 1)
    (patch,) = collection.channel(0)
    # Unit (0, 0) sees input pixels [-1, 3) on both axes: clipped to [0, 3).
    assert patch.box == (0.0, 0.0, 3.0, 3.0)
    assert np.array_equal(patch.image, cv2.resize(image[0:3, 0:3], (8, 8), interpolation=cv2.INTER_LINEAR))


@pytest.mark.parametrize("name, layer", [("facenet", "conv2d_2b"), ("yolov3_tiny", "layers.4")])
def test_faces_and_darknet_models_collect_top_patches_too(tmp_path, name, layer):
    from engine.features.inspect.zoo import load_model

    rng = np.random.default_rng(6)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), rng.integers(0, 255, (70, 90, 3), dtype=np.uint8))
    job = collect_folder(load_model(name, untrained=True), layer, tmp_path, k=2, input_size=96 if name == "yolov3_tiny" else 160)
    try:
        while True:
            next(job)
    except StopIteration as stop:
        collection = stop.value
    assert collection.layer == layer and collection.channels > 0 and (collection.filled() == 2).all()
    for p in collection.channel(0):
        x1, y1, x2, y2 = p.box
        assert 0 <= x1 < x2 <= 90 and 0 <= y1 < y2 <= 70
