"""TransformerNet against a reference built here from the published layer list, and its checkpoint rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.features.style.fast_style import FastStylizer, SpeedOptions, load_fast_file, processing_size, sharp_resize
from engine.features.style.transformer_net import FastStyleWeightsError, TransformerNet, clean_state, read_state


# -- the reference: pytorch/examples' fast_neural_style layer list, written out plainly ----------
class RefConv(nn.Module):
    def __init__(self, cin, cout, k, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(k // 2)
        self.conv2d = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
        if self.upsample:
            x = nn.functional.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class RefRes(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.in1 = RefConv(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)
        self.conv2, self.in2 = RefConv(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.in2(self.conv2(self.relu(self.in1(self.conv1(x))))) + x


class RefNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.in1 = RefConv(3, 32, 9, 1), nn.InstanceNorm2d(32, affine=True)
        self.conv2, self.in2 = RefConv(32, 64, 3, 2), nn.InstanceNorm2d(64, affine=True)
        self.conv3, self.in3 = RefConv(64, 128, 3, 2), nn.InstanceNorm2d(128, affine=True)
        self.res1, self.res2, self.res3, self.res4, self.res5 = (RefRes(128) for _ in range(5))
        self.deconv1, self.in4 = RefConv(128, 64, 3, 1, upsample=2), nn.InstanceNorm2d(64, affine=True)
        self.deconv2, self.in5 = RefConv(64, 32, 3, 1, upsample=2), nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = RefConv(32, 3, 9, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def _reference_checkpoint(seed: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    ref = RefNet()
    for p in ref.parameters():  # move the affine norms away from (1, 0) so they matter
        p.data.add_(torch.randn_like(p) * 0.05)
    state = ref.state_dict()
    # files from old PyTorch versions carry these; the loader must drop them
    for i in range(1, 6):
        state[f"in{i}.running_mean"] = torch.zeros(state[f"in{i}.weight"].shape)
        state[f"in{i}.running_var"] = torch.ones(state[f"in{i}.weight"].shape)
    state["res2.in1.running_mean"] = torch.zeros(128)
    return state


def test_loads_the_published_layout_and_matches_the_reference(tmp_path):
    state = _reference_checkpoint()
    path = tmp_path / "candy.pth"
    torch.save(state, path)
    ref = RefNet()
    ref.load_state_dict({k: v for k, v in state.items() if "running" not in k})
    ref.eval()
    net = TransformerNet()
    net.load_state_dict(read_state(path))
    net.eval()
    x = torch.rand(1, 3, 64, 80) * 255
    with torch.no_grad():
        expected = ref(x)
        got = net(x)
    assert got.shape == expected.shape == (1, 3, 64, 80)
    assert torch.allclose(got, expected, atol=1e-3, rtol=1e-4)
    assert float(expected.std()) > 0.01  # a real signal, not a constant


def test_checkpoint_of_another_layout_names_the_first_mismatching_key(tmp_path):
    state = {k: v for k, v in _reference_checkpoint().items() if "running" not in k}
    broken = dict(state)
    broken["res3.conv1.conv2d.weight"] = torch.zeros(128, 128, 5, 5)
    with pytest.raises(FastStyleWeightsError, match=r"res3\.conv1\.conv2d\.weight.*shape"):
        clean_state(broken)
    renamed = {k.replace("conv2d", "conv"): v for k, v in state.items()}
    path = tmp_path / "other.pth"
    torch.save(renamed, path)
    with pytest.raises(FastStyleWeightsError, match=r"other\.pth.*missing key 'conv1\.conv2d\.weight'"):
        read_state(path)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(FastStyleWeightsError, match="junk.pth"):
        load_fast_file(tmp_path / "junk.pth")


def test_stylizer_returns_the_frame_size_and_strength_mixes(tmp_path, pictures):
    stylizer = FastStylizer(_reference_checkpoint(), "cpu")
    frame = pictures.content(90, 120)
    full = stylizer.stylize(frame, long_side=64)
    assert full.shape == frame.shape and full.dtype == np.uint8
    none = stylizer.stylize(frame, long_side=64, strength=0.0)
    assert np.array_equal(none, frame)
    half = stylizer.stylize(frame, long_side=64, strength=0.5)
    assert np.abs(half.astype(int) - full.astype(int)).mean() < np.abs(frame.astype(int) - full.astype(int)).mean()
    # channels_last runs the same network
    small = stylizer.stylize(frame, 32)
    for options in (SpeedOptions(channels_last=True), SpeedOptions(jit=True)):  # same network, other kernels
        other = FastStylizer(_reference_checkpoint(), "cpu", options=options)
        assert np.abs(other.stylize(frame, 32).astype(int) - small.astype(int)).max() <= 2


def test_processing_size_and_sharp_resize():
    assert processing_size(480, 640, 320) == (240, 320)
    assert processing_size(481, 639, 160) == (120, 160)
    h, w = processing_size(1080, 1920, 1280)
    assert max(h, w) == 1280 and h % 4 == 0 and w % 4 == 0
    small = np.zeros((10, 10, 3), np.uint8)
    small[:, 5:] = 200
    big = sharp_resize(small, 40, 40, 0.5)
    plain = sharp_resize(small, 40, 40, 0.0)
    assert big.shape == (40, 40, 3)
    edge = lambda im: np.abs(np.diff(im[:, :, 0].astype(int), axis=1)).max()  # noqa: E731
    assert edge(big) >= edge(plain)


def test_fast_task_in_the_worker_follows_settings_snapshots(tmp_path, pictures):
    import threading
    import time

    from engine.core.frame import Frame
    from engine.features.style.task import FastStyleTask, LiveStyleSettings
    from engine.runtime.worker import InferenceWorker

    path = tmp_path / "mosaic.pth"
    torch.save(_reference_checkpoint(), path)
    results, events = [], []
    got = threading.Event()
    worker = InferenceWorker(lambda r: (results.append(r), got.set()), events.append, device="cpu", name="fast-test")
    first = LiveStyleSettings(process_side=64)
    worker.set_task(FastStyleTask(str(path), first))
    worker.start()
    image = pictures.content(96, 128)
    try:
        for settings in (first, first.with_(process_side=160, stabilise=True, strength=0.8)):
            worker.update(settings)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(r.settings is settings for r in results[-3:]):
                got.clear()
                worker.submit(Frame(image, len(results), time.monotonic(), "t"))
                got.wait(0.5)
    finally:
        worker.stop()
    assert results, [(e.kind, e.message) for e in events]
    small = next(r for r in results if r.settings.process_side == 64).result
    big = next(r for r in results if r.settings.process_side == 160).result
    assert small.method == "fast" and small.style == "mosaic" and small.process_size == (64, 48)
    assert big.process_size == (128, 96) and big.stabilised  # never upscaled before the network and big.strength == 0.8
    for out in (small, big):
        assert out.image.shape == image.shape
        assert np.abs(out.image.astype(int) - image.astype(int)).mean() > 5
