"""Bad input: non-images, huge, grayscale and alpha pictures, small styles; saved settings; catalog."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.features.style.catalog import ENTRIES
from engine.features.style.gatys import GatysSettings
from engine.features.style.imaging import StyleInputError, load_input_image, match_colors, style_size_notice
from engine.features.style.metadata import MetadataError, read_info, save_png
from engine.features.style.vgg import random_vgg19_state_dict
from engine.models.cache import WeightsCache, WeightsError


def test_non_image_file_is_named(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("a shopping list")
    with pytest.raises(StyleInputError, match=r"style image .*notes.txt.*JPEG, PNG"):
        load_input_image(notes, "style")
    with pytest.raises(StyleInputError, match="no such file"):
        load_input_image(tmp_path / "missing.jpg")


def test_grayscale_and_alpha_are_converted_with_a_notice(tmp_path: Path, pictures) -> None:
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), cv2.cvtColor(pictures.content(), cv2.COLOR_BGR2GRAY))
    loaded = load_input_image(gray)
    assert loaded.image.shape == (48, 64, 3)
    assert any("grayscale" in n for n in loaded.notices)

    rgba = np.dstack([pictures.content(), np.full((48, 64), 128, np.uint8)])
    path = tmp_path / "logo.png"
    cv2.imwrite(str(path), rgba)
    loaded = load_input_image(path, "style")
    assert loaded.image.shape == (48, 64, 3)
    assert any("transparency" in n for n in loaded.notices)


def test_huge_image_is_downscaled_with_a_notice(tmp_path: Path) -> None:
    wide = tmp_path / "panorama.png"
    cv2.imwrite(str(wide), np.full((60, 5000, 3), 90, np.uint8))
    loaded = load_input_image(wide, max_side=4096)
    assert max(loaded.image.shape[:2]) == 4096
    assert any("5000x60" in n and "downscaled" in n for n in loaded.notices)


def test_small_style_is_warned(tmp_path: Path, pictures) -> None:
    path = tmp_path / "tiny_style.png"
    cv2.imwrite(str(path), pictures.style(64))
    style = load_input_image(path, "style")
    warning = style_size_notice(style, 512)
    assert warning and "tiny_style.png" in warning and "8.0x" in warning
    assert style_size_notice(style, 100) is None


def test_colour_matching_moves_the_style_palette_to_the_content(pictures) -> None:
    content = pictures.content()
    rng = np.random.default_rng(0)  # a soft, blotchy palette: little of it clips after matching
    style = cv2.GaussianBlur(rng.integers(60, 200, (64, 64, 3)).astype(np.uint8), (9, 9), 3)
    style[:, :, 2] = np.clip(style[:, :, 2].astype(int) + 40, 0, 255)
    matched = match_colors(style, content)
    for channel in range(3):
        assert abs(matched[:, :, channel].mean() - content[:, :, channel].mean()) < 2.0
        assert abs(matched[:, :, channel].std() - content[:, :, channel].std()) < 0.15 * content[:, :, channel].std() + 2


def test_settings_survive_a_png_round_trip(tmp_path: Path, pictures) -> None:
    settings = GatysSettings(size=256, steps=50, preserve_color="luminance", style_weight=5e3)
    info = {"method": "gatys", "settings": settings.to_dict(), "styles": [["a.jpg", 1.0]], "losses": {"total": 1.5}}
    path = save_png(tmp_path / "out.png", pictures.content(), info)
    assert np.array_equal(cv2.imread(str(path)), pictures.content()), "pixels are stored losslessly"
    loaded = read_info(path)
    assert GatysSettings.from_dict(loaded["settings"]) == settings
    assert loaded["styles"] == [["a.jpg", 1.0]]
    plain = tmp_path / "plain.png"
    cv2.imwrite(str(plain), pictures.content())
    with pytest.raises(MetadataError, match="plain.png: has no CNN Studio style settings"):
        read_info(plain)


def test_catalog_entries_and_validators(tmp_path: Path) -> None:
    names = {e.name: e for e in ENTRIES}
    assert set(names) >= {"vgg19", "adain-vgg", "adain-decoder"}
    assert names["vgg19"].files[0].url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert all(e.task == "style" and e.license for e in ENTRIES)
    assert "MIT" in names["adain-decoder"].license
    fast = [names[n] for n in ("fast-candy", "fast-mosaic", "fast-rain-princess", "fast-udnie")]
    assert all("BSD-3-Clause" in e.license and e.files[0].url.startswith("https://") and e.builder for e in fast)
    assert [e.files[0].filename for e in fast] == ["candy.pth", "mosaic.pth", "rain_princess.pth", "udnie.pth"]
    assert all(e.transforms is not None and e.transforms.scale == 1.0 and e.meta["num_params"] == 1679235 for e in fast)

    cache = WeightsCache(tmp_path / "models")
    good = tmp_path / "vgg19.pth"
    torch.save(random_vgg19_state_dict(1), good)
    installed = cache.import_file(names["vgg19"], good)
    assert installed.name == "vgg19-dcbb9e9d.pth" and cache.is_installed(names["vgg19"])

    from engine.features.style import models

    state = models.load_vgg19(cache)
    assert state["0.weight"].shape == (64, 3, 3, 3)

    wrong = tmp_path / "not_vgg.pth"
    torch.save({"weight": torch.zeros(3)}, wrong)
    with pytest.raises(WeightsError, match="not usable as 'vgg19'.*missing"):
        cache.import_file(names["vgg19"], wrong, force=True)
    assert not models.adain_available(cache)


def test_fast_preset_from_the_published_archive(tmp_path: Path) -> None:
    """The download is saved_models.zip with all four models; each entry reads its own member."""
    import zipfile

    from engine.features.style.transformer_net import random_state
    from engine.models.catalog import catalog

    members = {}
    for i, stem in enumerate(("candy", "mosaic", "rain_princess", "udnie")):
        members[stem] = random_state(i)
        torch.save(members[stem], tmp_path / f"{stem}.pth")
    archive = tmp_path / "saved_models.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for stem in members:
            z.write(tmp_path / f"{stem}.pth", f"saved_models/{stem}.pth")
    cache = WeightsCache(tmp_path / "models")
    entry = catalog().get("fast-rain-princess")
    cache.import_file(entry, archive, force=True)
    stylizer = entry.build(cache, "cpu")
    for key, tensor in stylizer.net.state_dict().items():
        assert torch.equal(tensor, members["rain_princess"][key])
