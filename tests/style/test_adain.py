"""AdaIN: the published layouts, the normalisation itself, interpolation, the live task."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.core.frame import Frame
from engine.features.style.adain import (
    AdaINStylizer,
    AdaINWeightsError,
    StyleStats,
    adaptive_instance_norm,
    blend_stats,
    feature_stats,
    load_decoder_state,
    load_encoder_state,
)
from engine.features.style.imaging import chroma
from engine.features.style.task import AdaINTask, LiveStyleSettings, PaletteTask, StyleImage
from engine.runtime.worker import InferenceWorker


@pytest.fixture(scope="module")
def stylizer(adain_files: tuple[Path, Path]) -> AdaINStylizer:
    enc, dec = adain_files
    return AdaINStylizer(load_encoder_state(enc), load_decoder_state(dec))


def test_published_layouts_load(adain_files: tuple[Path, Path]) -> None:
    enc, dec = adain_files
    encoder = load_encoder_state(enc)
    # only modules 0..30 (up to relu4_1) of the 53 are kept; conv4_1 is module 29
    assert "29.weight" in encoder and "32.weight" not in encoder
    assert encoder["0.weight"].shape == (3, 3, 1, 1) and encoder["29.weight"].shape == (512, 256, 3, 3)
    decoder = load_decoder_state(dec)
    assert decoder["1.weight"].shape == (256, 512, 3, 3) and decoder["28.weight"].shape == (3, 64, 3, 3)


def test_wrong_files_are_named(adain_files: tuple[Path, Path], tmp_path: Path) -> None:
    enc, dec = adain_files
    with pytest.raises(AdaINWeightsError, match="decoder.pth.*missing '0.weight'"):
        load_encoder_state(dec)
    junk = tmp_path / "decoder.pth"
    junk.write_text("hello")
    with pytest.raises(AdaINWeightsError, match="not a PyTorch state_dict"):
        load_decoder_state(junk)


def test_adain_gives_content_the_style_statistics() -> None:
    torch.manual_seed(0)
    content = torch.randn(1, 4, 6, 5) * 3 + 1
    style = StyleStats(torch.tensor([0.5, -1.0, 2.0, 0.0]).view(1, 4, 1, 1), torch.tensor([1.0, 0.5, 2.0, 3.0]).view(1, 4, 1, 1))
    out = adaptive_instance_norm(content, style)
    mean, std = feature_stats(out)
    torch.testing.assert_close(mean, style.mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(std, style.std, atol=1e-3, rtol=1e-3)
    # the spatial pattern of each channel is the content's (correlation 1)
    a, b = content[0, 2].flatten(), out[0, 2].flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.9999


def test_interpolating_statistics_equals_interpolating_outputs() -> None:
    torch.manual_seed(1)
    content = torch.randn(1, 3, 4, 4)
    s1 = StyleStats(torch.randn(1, 3, 1, 1), torch.rand(1, 3, 1, 1) + 0.5, "a")
    s2 = StyleStats(torch.randn(1, 3, 1, 1), torch.rand(1, 3, 1, 1) + 0.5, "b")
    mixed = adaptive_instance_norm(content, blend_stats([(s1, 1.0), (s2, 3.0)]))
    expected = 0.25 * adaptive_instance_norm(content, s1) + 0.75 * adaptive_instance_norm(content, s2)
    torch.testing.assert_close(mixed, expected)
    assert blend_stats([(s1, 1.0), (s2, 0.0)]).name == "a"
    with pytest.raises(ValueError, match="positive weight"):
        blend_stats([(s1, 0.0)])


def test_stylize_keeps_size_alpha_zero_reconstructs(stylizer: AdaINStylizer, pictures) -> None:
    content = pictures.content(45, 61)  # not a multiple of 8: the decoder output is cropped
    stats = stylizer.style_stats(pictures.style(64), name="strokes")
    full = stylizer.stylize(content, stats, alpha=1.0)
    assert full.shape == content.shape and full.dtype == np.uint8
    from engine.features.style.imaging import bgr_to_tensor, tensor_to_bgr

    with torch.inference_mode():
        x = bgr_to_tensor(content)
        plain = tensor_to_bgr(stylizer.decoder(stylizer.encoder(x))[..., :45, :61])
    assert np.array_equal(stylizer.stylize(content, stats, alpha=0.0), plain)
    assert not np.array_equal(full, plain)
    kept = stylizer.stylize(content, stats, alpha=1.0, preserve_color=True)
    kept_error = np.abs(chroma(kept).astype(int) - chroma(content).astype(int))
    free_error = np.abs(chroma(full).astype(int) - chroma(content).astype(int))
    # out-of-gamut clipping may shift a few saturated pixels; the bulk keeps its chroma
    assert np.median(kept_error) == 0 and kept_error.mean() < 0.2 * free_error.mean()


def _frame(image: np.ndarray, index: int = 0) -> Frame:
    return Frame(image, index, time.monotonic(), "test")


def test_task_computes_style_in_configure_on_the_calling_thread(adain_files, pictures) -> None:
    enc, dec = adain_files
    first_styles = (StyleImage(pictures.style(64, seed=1), name="first"),)
    task = AdaINTask(enc, dec, LiveStyleSettings(styles=first_styles))
    task.load(torch.device("cpu"))
    calls = []
    task._model.encoder.register_forward_hook(lambda *_: calls.append(threading.current_thread().name))
    frame = _frame(pictures.content(48, 64))
    with torch.inference_mode():
        for _ in range(3):
            result = task.postprocess(task.infer(task.preprocess(frame)), frame)
    assert len(calls) == 3, "one encoder pass per frame: the style statistics are not recomputed"
    assert result.style == "first" and result.image.shape == frame.image.shape
    first = result.image

    calls.clear()
    task.configure(task.settings.with_(strength=0.5))  # same styles: no encoder pass
    assert calls == []
    task.configure(task.settings.with_(styles=(StyleImage(pictures.style(64, seed=5), 1.0, "second"),)))
    assert calls == [threading.current_thread().name], "the new style is encoded where configure runs (the worker)"
    with torch.inference_mode():
        after = task.postprocess(task.infer(task.preprocess(frame)), frame)
    assert after.style == "second" and after.strength == 0.5 and not np.array_equal(after.image, first)


def test_task_runs_in_the_inference_worker_and_a_bad_style_becomes_an_event(adain_files, pictures) -> None:
    enc, dec = adain_files
    results, events = [], []
    got = threading.Event()
    failed = threading.Event()

    def on_result(r):
        results.append(r)
        got.set()

    def on_event(e):
        events.append(e)
        if e.kind == "settings_error":
            failed.set()

    worker = InferenceWorker(on_result, on_event, device="cpu", name="style-test")
    settings = LiveStyleSettings(styles=(StyleImage(pictures.style(64), name="s"),), strength=0.7, process_side=48)
    task = AdaINTask(enc, dec, settings)
    worker.set_task(task)
    worker.start()
    image = pictures.content(96, 128)
    try:
        deadline = time.monotonic() + 30
        while not got.is_set() and time.monotonic() < deadline:
            worker.submit(_frame(image))
            got.wait(0.2)
        # a style the encoder cannot take (a 1-channel array): reported, the old style stays
        worker.update(settings.with_(styles=(StyleImage(np.zeros((8, 8), np.uint8), name="broken"),)))
        deadline = time.monotonic() + 30
        while not failed.is_set() and time.monotonic() < deadline:
            worker.submit(_frame(image))
            failed.wait(0.2)
        got.clear()
        worker.submit(_frame(image, 7))
        got.wait(30)
    finally:
        worker.stop()
    assert results, f"no result; events: {[(e.kind, e.message) for e in events]}"
    out = results[0].result
    assert out.method == "adain" and out.strength == 0.7 and out.style == "s"
    assert out.image.shape == (96, 128, 3), "the stylised frame is scaled back to the frame's size"
    assert not np.array_equal(out.image, image)
    errors = [e for e in events if e.kind == "settings_error"]
    assert errors and "style-adain" in errors[0].message
    assert results[-1].result.style == "s"


def test_palette_fallback_only_moves_colours(pictures) -> None:
    frame = _frame(pictures.content(48, 64))
    task = PaletteTask(LiveStyleSettings(styles=(StyleImage(pictures.style(64), name="p"),)))
    result = task.postprocess(task.infer(task.preprocess(frame)), frame)
    assert result.method == "palette" and result.image.shape == frame.image.shape
    # colour transfer keeps the content's structure: luminance edges stay where they were
    import cv2

    edges_in = cv2.Canny(cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY), 50, 150) > 0
    edges_out = cv2.Canny(cv2.cvtColor(result.image, cv2.COLOR_BGR2GRAY), 50, 150) > 0
    assert (edges_in & edges_out).sum() > 0.5 * edges_in.sum()
    assert np.abs(result.image.astype(int) - frame.image.astype(int)).mean() > 5
