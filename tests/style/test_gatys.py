"""The Gatys optimisation: convergence, colour preservation, cancel, blends, large outputs."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
import torch

from engine.features.style.gatys import GatysSettings, StyleObjective, is_out_of_memory, run_to_end, stylize
from engine.features.style.imaging import chroma, resize_to
from engine.features.style.vgg import VGGFeatures


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_total_loss_falls_over_first_steps(optimizer, content, style, vgg_state, shallow_settings) -> None:
    settings = dataclasses.replace(shallow_settings, optimizer=optimizer, steps=10)
    result = run_to_end(stylize(content, [style], settings, vgg_state, preview_every=0))
    totals = [h["total"] for h in result.history]
    assert len(totals) == 10 and result.steps == 10
    assert min(totals[-3:]) < 0.8 * totals[0], totals
    assert result.losses["total"] == min(totals), "the best image evaluated is the one returned"
    assert result.image.shape == (48, 64, 3) and result.image.dtype == np.uint8
    assert not np.array_equal(result.image, content), "the image must have changed"


def test_progress_reports_losses_previews_and_eta(content, style, vgg_state, shallow_settings) -> None:
    gen = stylize(content, [style], dataclasses.replace(shallow_settings, steps=6), vgg_state, preview_every=3)
    reports = list(gen)
    assert [r.step for r in reports] == [1, 2, 3, 4, 5, 6]
    assert all(r.total_steps == 6 for r in reports)
    assert [r.preview is not None for r in reports] == [False, False, True, False, False, True]
    assert reports[2].preview.shape == (48, 64, 3)
    last = reports[-1]
    assert set(last.losses) == {"content", "style", "tv", "total"}
    assert last.losses["total"] == pytest.approx(last.losses["content"] + last.losses["style"] + last.losses["tv"], rel=1e-5)
    assert last.eta_s == pytest.approx(0.0, abs=1e-6) and reports[0].eta_s > 0


def test_preserve_color_keeps_content_chroma(content, style, vgg_state, shallow_settings) -> None:
    colourful = dataclasses.replace(shallow_settings, steps=6)
    kept = run_to_end(stylize(content, [style], dataclasses.replace(colourful, preserve_color="luminance"), vgg_state)).image
    free = run_to_end(stylize(content, [style], colourful, vgg_state)).image
    reference = chroma(resize_to(content, *kept.shape[:2])).astype(int)
    kept_error = np.abs(chroma(kept).astype(int) - reference)
    free_error = np.abs(chroma(free).astype(int) - reference)
    # Where the new luminance pushes a colour out of the BGR cube, clipping shifts its
    # chroma: a few pixels, a few levels. Everywhere else the chroma is the content's.
    assert kept_error.mean() < 0.5 and np.percentile(kept_error, 95) <= 1
    assert free_error.mean() > 20 * max(kept_error.mean(), 0.1), "without the option the chroma must move"


def test_histogram_mode_recolours_the_style(content, style, vgg_state, shallow_settings) -> None:
    settings = dataclasses.replace(shallow_settings, preserve_color="histogram", steps=2)
    result = run_to_end(stylize(content, [style], settings, vgg_state))
    assert result.image.shape == (48, 64, 3) and result.steps == 2


def test_cancel_stops_within_one_step(content, style, vgg_state, shallow_settings) -> None:
    cancel = threading.Event()
    gen = stylize(content, [style], dataclasses.replace(shallow_settings, steps=50), vgg_state, cancel=cancel)
    seen = []
    while True:
        try:
            progress = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        seen.append(progress.step)
        if progress.step == 3:
            cancel.set()
    assert seen == [1, 2, 3]
    assert result.cancelled and result.steps == 3
    assert result.image.shape == (48, 64, 3)


def test_closing_the_generator_stops_it(content, style, vgg_state, shallow_settings) -> None:
    gen = stylize(content, [style], dataclasses.replace(shallow_settings, steps=50), vgg_state)
    assert next(gen).step == 1
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)


def test_seed_makes_noise_start_reproducible(content, style, vgg_state, shallow_settings) -> None:
    settings = dataclasses.replace(shallow_settings, init="noise", steps=3, optimizer="adam")
    a = run_to_end(stylize(content, [style], settings, vgg_state)).image
    b = run_to_end(stylize(content, [style], settings, vgg_state)).image
    c = run_to_end(stylize(content, [style], dataclasses.replace(settings, seed=7), vgg_state)).image
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_blend_targets_are_weighted_gram_means(vgg_state, pictures, shallow_layers) -> None:
    settings = GatysSettings(size=64, **shallow_layers)
    extractor = VGGFeatures(vgg_state, ["conv2_2", "conv1_1", "conv2_1"])
    content = pictures.content()
    s1, s2 = pictures.style(seed=1), pictures.style(seed=2)
    dev = torch.device("cpu")
    only1 = StyleObjective(extractor, settings, content, [(s1, 1.0)], dev)
    only2 = StyleObjective(extractor, settings, content, [(s2, 1.0)], dev)
    blend = StyleObjective(extractor, settings, content, [(s1, 3.0), (s2, 1.0)], dev)
    for name in ("conv1_1", "conv2_1"):
        expected = 0.75 * only1.gram_targets[name] + 0.25 * only2.gram_targets[name]
        torch.testing.assert_close(blend.gram_targets[name], expected)
    with pytest.raises(ValueError, match="weights"):
        StyleObjective(extractor, settings, content, [(s1, 0.0)], dev)


def test_style_strength_scales_only_the_style_term(content, style, vgg_state, shallow_layers) -> None:
    dev = torch.device("cpu")
    extractor = VGGFeatures(vgg_state, ["conv2_2", "conv1_1", "conv2_1"])
    g = torch.rand(1, 3, 48, 64)
    base = StyleObjective(extractor, GatysSettings(size=64, **shallow_layers), content, [(style, 1)], dev)(g)
    strong = StyleObjective(extractor, GatysSettings(size=64, style_strength=2.5, **shallow_layers), content, [(style, 1)], dev)(g)
    assert strong["style"].item() == pytest.approx(2.5 * base["style"].item(), rel=1e-5)
    assert strong["content"].item() == pytest.approx(base["content"].item(), rel=1e-6)


def test_levels_and_step_split() -> None:
    assert GatysSettings(size=512).level_sides() == [128, 256, 512]
    assert GatysSettings(size=2048).level_sides() == [512, 1024, 2048]
    assert GatysSettings(size=200).level_sides() == [200]
    assert GatysSettings(size=512, levels=1).level_sides() == [512]
    steps = GatysSettings(size=512, steps=300).level_steps()
    assert sum(steps) == 300 and len(steps) == 3
    assert GatysSettings(size=2048, steps=3).level_steps() == [1, 1, 1]
    assert GatysSettings(size=2048, steps=2).level_sides() == [1024, 2048]


def test_settings_round_trip_and_clear_errors() -> None:
    settings = GatysSettings(size=300, steps=40, optimizer="adam", preserve_color="luminance", style_strength=2.0, seed=5)
    assert GatysSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(ValueError, match="optimizer 'sgd'"):
        GatysSettings(optimizer="sgd")
    with pytest.raises(ValueError, match="size 5"):
        GatysSettings(size=5)
    with pytest.raises(ValueError, match="unknown VGG-19 layer"):
        GatysSettings(content_layer="conv7_1")


def test_2048_px_completes_on_cpu(vgg_state, pictures) -> None:
    """Coarse-to-fine at 2048 px: three levels, the last at full size, within this machine's memory.

    Only conv1_1 is used so that a step at 2048 x 1536 costs seconds on a shared CPU; the
    image, activation and gradient buffers at full size are the real ones.
    """
    content = pictures.content(384, 512)
    settings = GatysSettings(size=2048, steps=3, content_layer="conv1_1", style_layers=(("conv1_1", 1.0),), style_scale=0.25)
    reports = []
    result = None
    gen = stylize(content, [pictures.style(256)], settings, vgg_state, preview_every=0)
    while result is None:
        try:
            reports.append(next(gen))
        except StopIteration as stop:
            result = stop.value
    assert [r.size for r in reports] == [(384, 512), (768, 1024), (1536, 2048)]
    assert result.image.shape == (1536, 2048, 3)
    assert result.steps == 3 and not result.cancelled


def test_out_of_memory_errors_are_recognised() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert not is_out_of_memory(RuntimeError("size mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only runtime errors come from allocators


def test_low_memory_mode_gives_the_same_image(content, style, vgg_state, shallow_settings) -> None:
    settings = dataclasses.replace(shallow_settings, steps=3)
    normal = run_to_end(stylize(content, [style], settings, vgg_state)).image
    saving = run_to_end(stylize(content, [style], dataclasses.replace(settings, low_memory=True), vgg_state)).image
    assert np.abs(normal.astype(int) - saving.astype(int)).max() <= 1
