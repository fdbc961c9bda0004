"""Screen capture under a real X server (Xvfb): frames of the screen's size showing what
was drawn on it (a rectangle filled through Xlib on the root window)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import threading

import numpy as np
import pytest

from engine.core.errors import SourceError
from engine.io import classify, open_source
from engine.io.screen import ScreenSource, parse_screen_spec

WIDTH, HEIGHT = 640, 480


@pytest.fixture(scope="module")
def xvfb_display():
    if shutil.which("Xvfb") is None:
        pytest.skip("needs Xvfb (apt-get install xvfb)")
    # -displayfd: Xvfb picks a free display number and writes it once it is ready, so
    # this never lands on another X server running on the machine. -noreset: keep what
    # was drawn when the drawing client disconnects.
    proc = subprocess.Popen(["Xvfb", "-displayfd", "1", "-noreset", "-screen", "0", f"{WIDTH}x{HEIGHT}x24", "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    number = proc.stdout.readline().decode().strip()
    if not number.isdigit():
        proc.kill()
        pytest.skip("Xvfb did not start")
    display = f":{number}"
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    yield display
    if old is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = old
    proc.terminate()
    proc.wait(10)


def fill_root_rectangle(display: str, x: int, y: int, w: int, h: int, rgb: int) -> None:
    """Draw a filled rectangle on the X root window (no window manager needed)."""
    xlib = ctypes.CDLL(ctypes.util.find_library("X11"))
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XDefaultRootWindow.restype = ctypes.c_ulong
    xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    xlib.XCreateGC.restype = ctypes.c_void_p
    xlib.XCreateGC.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
    xlib.XSetForeground.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong]
    xlib.XFillRectangle.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                    ctypes.c_uint, ctypes.c_uint]
    xlib.XFreeGC.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = xlib.XOpenDisplay(display.encode())
    assert dpy, f"cannot open X display {display}"
    root = xlib.XDefaultRootWindow(dpy)
    gc = xlib.XCreateGC(dpy, root, 0, None)
    xlib.XSetForeground(dpy, gc, rgb)
    xlib.XFillRectangle(dpy, root, gc, x, y, w, h)
    xlib.XSync(dpy, 0)
    xlib.XFreeGC(dpy, gc)
    xlib.XCloseDisplay(dpy)


def first_frames(source, count: int = 2):
    frames, got = [], threading.Event()

    def keep(frame):
        frames.append(frame)
        if len(frames) >= count:
            got.set()

    events = []
    source.subscribe(keep)
    source.on_event(events.append)
    source.start()
    try:
        assert got.wait(20), f"no frames from the screen: {events}"
    finally:
        source.stop()
    return frames


def test_whole_screen_has_its_size_and_shows_what_was_drawn(xvfb_display):
    fill_root_rectangle(xvfb_display, 100, 50, 120, 80, 0xFF0000)  # pure red
    frames = first_frames(open_source("screen@20"))
    image = frames[-1].image
    assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
    inside = image[60:120, 110:210]
    assert (inside == [0, 0, 255]).all()  # BGR red exactly where it was drawn
    assert not (image[200:300, 300:500] == [0, 0, 255]).all(axis=2).any()  # and nowhere else


def test_a_region_and_a_monitor(xvfb_display):
    fill_root_rectangle(xvfb_display, 300, 300, 40, 40, 0x00FF00)
    image = first_frames(ScreenSource((290, 290, 100, 60), fps=20))[-1].image
    assert image.shape == (60, 100, 3)
    assert (image[15:45, 15:45] == [0, 255, 0]).all() and not (image[0:8, 0:8] == [0, 255, 0]).all()
    assert first_frames(ScreenSource(1, fps=20))[-1].image.shape == (HEIGHT, WIDTH, 3)


def test_bad_screen_specs_are_clear(xvfb_display):
    assert classify("screen:1@5") == "screen"
    assert parse_screen_spec("screen:0,0,320,200@5") == ((0, 0, 320, 200), 5.0)
    with pytest.raises(SourceError, match="no monitor 7"):
        ScreenSource(7).start()
    with pytest.raises(SourceError, match="outside the desktop"):
        ScreenSource((5000, 5000, 10, 10)).start()
    with pytest.raises(SourceError, match="width and height must be positive"):
        parse_screen_spec("screen:0,0,0,10")


def test_no_display_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":4711")
    with pytest.raises(SourceError, match="screen capture is not available"):
        ScreenSource(0).start()


@pytest.mark.parametrize("spec, problem", [
    ("screen@.", "not a plain number"),
    ("screen@1.2.3", "not a plain number"),
    ("screen:1@abc", "not a plain number"),
    ("screen@1e9", "not a plain number"),
    ("screen@nan", "not a plain number"),
    ("screen@-1", "not a plain number"),
    ("screen@", "no frame rate"),
    ("screen@0.0000001", "outside 0.2 to 60"),
    ("screen@61", "outside 0.2 to 60"),
    ("screen:", "nothing after 'screen:'"),
    ("screen:1,2@5", "give a monitor number"),
])
def test_a_malformed_screen_spec_gets_one_message_naming_it(spec, problem):
    """Parsing needs no display: every malformed spec is taken for the screen (not a file)
    and refused by the one parser, with the spec and the accepted rates in the message."""
    assert classify(spec) == "screen"
    with pytest.raises(SourceError) as info:
        open_source(spec)
    message = str(info.value)
    assert message.startswith(f"{spec}: ") and problem in message
    assert "screen@10" in message or "screen:1" in message  # an example of what works


def test_screen_rates_at_the_bounds_are_accepted_and_a_source_checks_its_own():
    assert parse_screen_spec("screen@0.2") == (0, 0.2)
    assert parse_screen_spec("screen:2@60") == (2, 60.0)
    assert parse_screen_spec("SCREEN:0,0,64,48@.5") == ((0, 0, 64, 48), 0.5)
    with pytest.raises(SourceError, match="outside 0.2 to 60"):
        ScreenSource(0, fps=1e-7)
    with pytest.raises(SourceError, match="outside 0.2 to 60"):
        ScreenSource(0, fps=float("nan"))
