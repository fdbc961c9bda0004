"""*Load settings from image…* on the real Style tab, offscreen, with real PNGs whose text
chunk carries hostile settings: every one is refused with one message naming the file and
the value, and not one widget changes (the record is applied whole or not at all)."""

from __future__ import annotations

import json
import resource
import struct
import zlib
from pathlib import Path

import pytest
import torch

from engine.features.style.gatys import GatysSettings
from engine.features.style.metadata import PNG_KEY
from engine.models.cache import WeightsCache
from gui.common.context import AppContext
from gui.common.settings import open_settings
from gui.features.style.tab import StyleTab


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path: Path, text: str | bytes | None, size: tuple[int, int] = (8, 6), kind: bytes = b"tEXt",
              pixels: bool = True) -> Path:
    """A real RGB PNG of ``size`` (w, h) with ``text`` in a ``kind`` chunk keyed cnn-studio.style.

    kind: tEXt (latin-1), zTXt (compressed) or iTXt (UTF-8, uncompressed). pixels=False
    writes only a token IDAT, for a header that claims more than anyone should decode.
    """
    w, h = size
    raw = text.encode("latin-1") if isinstance(text, str) else text
    key = PNG_KEY.encode() + b"\0"
    if kind == b"zTXt":
        body = key + b"\0" + zlib.compress(raw, 9)
    elif kind == b"iTXt":
        body = key + b"\0\0" + b"\0" + b"\0" + raw
    else:
        body = key + (raw or b"")
    rows = b"".join(b"\0" + b"".join(bytes((x * 40 % 256, y * 50 % 256, 90)) for x in range(w)) for y in range(h)) \
        if pixels else b""
    idat = zlib.compress(rows) if pixels else zlib.compress(b"\0" * 64)
    data = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + (_chunk(kind, body) if text is not None else b"") + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    path.write_bytes(data)
    return path


def gatys(**changes) -> dict:
    """A saved Gatys record (as the tab writes it) with ``changes`` to its settings."""
    settings = GatysSettings(size=256, steps=40, optimizer="adam", preserve_color="luminance", seed=7,
                             style_strength=2.0).to_dict()
    settings.update(changes)
    return {"method": "gatys", "settings": settings, "content": "photo.png", "styles": [["painting.png", 1.0]]}


def record(info: dict) -> str:
    return json.dumps(info)


# name -> (text of the chunk, words the message must contain); a file "<name>.png" each.
HOSTILE: dict[str, tuple[str, str]] = {
    "seed_2_64": (record(gatys(seed=2**64)), "seed=18446744073709551616"),
    "steps_1e12": (record(gatys(steps=10**12)), "steps=1000000000000"),
    "steps_float_1e12": (record(gatys(steps=1e12)), "steps=1000000000000"),
    "size_infinity": (record(gatys(size=float("inf"))), "Infinity is not a number"),
    "weight_nan": (record(gatys(style_weight=float("nan"))), "NaN is not a number"),
    "size_string": (record(gatys(size="512")), "size='512' is not an int"),
    "size_bool": (record(gatys(size=True)), "size=True is not an int"),
    "size_fraction": (record(gatys(size=300.5)), "size=300.5 is not an int"),
    "size_too_small": (record(gatys(size=8)), "size 8"),
    "size_over_the_box": (record(gatys(size=8192)), "size=8192 is outside"),
    "low_memory_string": (record(gatys(low_memory="false")), "low_memory='false' is not a bool"),
    "optimizer_number": (record(gatys(optimizer=3)), "optimizer=3 is not a str"),
    "optimizer_unknown": (record(gatys(optimizer="sgd")), "optimizer 'sgd'"),
    "negative_weight": (record(gatys(tv_weight=-1.0)), "negative weight"),
    "huge_weight": (record(gatys(style_weight=1e300)), "style_weight=1e+300 is outside"),
    "style_layers_junk": (record(gatys(style_layers=[1, 2, 3])), "style_layers"),
    "style_layers_unknown": (record(gatys(style_layers={"conv9_9": 1.0})), "conv9_9"),
    "settings_list": (json.dumps({"method": "gatys", "settings": [["size", 512]]}), "not a mapping"),
    "settings_string": (json.dumps({"method": "adain", "settings": "size=512"}), "not a mapping"),
    "settings_missing": (json.dumps({"method": "gatys"}), "incomplete"),
    "info_list": (json.dumps([{"method": "gatys", "settings": {}}]), "incomplete"),
    "method_unknown": (json.dumps({"method": "magic", "settings": {"size": 256}}), "unknown method 'magic'"),
    "method_number": (json.dumps({"method": 5, "settings": {"size": 256}}), "unknown method 5"),
    "adain_alpha_huge": (json.dumps({"method": "adain", "settings": {"size": 256, "alpha": 1e9}}), "alpha=1000000000.0 is outside"),
    "adain_size_huge": (json.dumps({"method": "adain", "settings": {"size": 10**30, "alpha": 0.5}}), "is outside 16 to 8192"),
    "adain_colour_string": (json.dumps({"method": "fast", "settings": {"size": 256, "preserve_color": "yes"}}), "not true or false"),
    "deep_json": ("[" * 30000 + "]" * 30000, "nested too deeply"),
    "not_json": ("{method: gatys", "damaged"),
    "huge_text": (json.dumps({"method": "gatys", "settings": {}, "pad": "x" * 200_000}), "larger than 64 KB"),
}


def widget_values(tab: StyleTab) -> tuple:
    p = tab.photo
    return (p.method(), p.size_spin.value(), p.steps_spin.value(), p.optimizer_combo.currentData(),
            p.content_weight_spin.value(), p.style_weight_spin.value(), p.tv_weight_spin.value(),
            p.strength_spin.value(), p.scale_spin.value(), p.colour_combo.currentData(), p.init_combo.currentData(),
            p.seed_spin.value(), p.low_memory_check.isChecked())


@pytest.fixture
def tab(qtbot, tmp_path: Path) -> StyleTab:
    context = AppContext(open_settings(tmp_path / "settings.ini"), torch.device("cpu"),
                         weights_cache=WeightsCache(tmp_path / "models"))
    widget = StyleTab(context)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def test_hostile_settings_are_refused_whole_with_one_message(tab: StyleTab, tmp_path: Path) -> None:
    before = widget_values(tab)
    for name, (text, words) in HOSTILE.items():
        path = write_png(tmp_path / f"{name}.png", text)
        tab.context.last_error = None
        assert tab.load_settings_from(str(path)) is False, name
        title, message = tab.context.last_error
        assert title == "Settings not loaded", name
        assert message.startswith(f"{path}: ") and words in message, (name, message)
        assert "Nothing was changed" in message
        assert widget_values(tab) == before, f"{name}: a setting was applied although the record was refused"


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
def test_compressed_and_unicode_chunks_are_read_and_a_compressed_bomb_is_bounded(tab: StyleTab, tmp_path: Path,
                                                                                  kind: bytes) -> None:
    good = write_png(tmp_path / "good.png", record(gatys(steps=123)).encode(), kind=kind)
    assert tab.load_settings_from(str(good)), tab.context.last_error
    assert tab.steps_spin.value() == 123 and tab.seed_spin.value() == 7
    if kind == b"zTXt":  # 100 MB of spaces in a ~100 KB chunk: inflated no further than the limit
        bomb = write_png(tmp_path / "bomb.png", b" " * 100_000_000, kind=kind)
        assert not tab.load_settings_from(str(bomb))
        assert "larger than 64 KB" in tab.context.last_error[1]


def test_a_huge_picture_header_costs_nothing_because_no_pixel_is_decoded(tab: StyleTab, tmp_path: Path) -> None:
    """30000 x 30000 claimed in IHDR (2.7 GB decoded): the settings are read from the chunk list alone."""
    path = write_png(tmp_path / "huge.png", record(gatys(steps=77)), size=(30000, 30000), pixels=False)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert tab.load_settings_from(str(path)), tab.context.last_error
    assert tab.steps_spin.value() == 77
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_kb) / 1024
    assert grown_mb < 100


def test_not_a_png_an_empty_file_and_a_fifo_are_named(tab: StyleTab, tmp_path: Path) -> None:
    import os

    jpeg = tmp_path / "photo.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    truncated = write_png(tmp_path / "cut.png", record(gatys()))
    truncated.write_bytes(truncated.read_bytes()[:60])
    before = widget_values(tab)
    for path, words in ((jpeg, "not a PNG"), (empty, "not a PNG"), (fifo, "named pipe"),
                        (truncated, "truncated"), (tmp_path / "gone.png", "no such file")):
        assert not tab.load_settings_from(str(path))
        assert tab.context.last_error[1].startswith(f"{path}: ") and words in tab.context.last_error[1], path
    assert widget_values(tab) == before


def test_good_records_of_every_method_are_applied_whole(tab: StyleTab, tmp_path: Path) -> None:
    path = write_png(tmp_path / "gatys.png", record(gatys(seed=2**31 - 1, style_scale=2.5)))
    assert tab.load_settings_from(str(path)), tab.context.last_error
    assert widget_values(tab) == ("gatys", 256, 40, "adam", 1.0, 1000.0, 1.0, 2.0, 2.5, "luminance", "content",
                                  2**31 - 1, False)
    adain = write_png(tmp_path / "adain.png", json.dumps({"method": "adain", "settings": {"size": 320, "alpha": 0.5,
                                                                                        "preserve_color": True}}))
    assert tab.load_settings_from(str(adain)), tab.context.last_error
    assert (tab.method(), tab.size_spin.value(), tab.photo.strength_spin.value(), tab.colour_combo.currentData()) == \
        ("adain", 320, 0.5, "luminance")
    palette = write_png(tmp_path / "palette.png", json.dumps({"method": "palette", "settings": {"size": 128}}))
    assert tab.load_settings_from(str(palette)) and (tab.method(), tab.size_spin.value()) == ("palette", 128)
