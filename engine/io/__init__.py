"""Where frames come from: one module per source kind, and the one place that picks
the kind for a spec (``classify``, ``open_source``, ``iter_frames``).

Kinds: camera, video, image, folder, demo (here), stream and screen (imported when
asked for, so a plain video never loads the network or screen code).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Iterator

from engine.core.errors import SourceError
from engine.core.frame import Frame
from engine.io.base import FrameSource
from engine.io.camera import CameraSource
from engine.io.demo import DemoSource
from engine.io.folder import FolderSource
from engine.io.image import ImageSource
from engine.io.images import IMAGE_SUFFIXES, list_images, read_image
from engine.io.video import VIDEO_SUFFIXES, VideoSource

log = logging.getLogger(__name__)


def classify(spec: str) -> str:
    """What kind of source ``spec`` names: "demo", "camera", "video", "image" or "folder".

    Raises SourceError when a path does not exist or has an unknown type.
    """
    text = str(spec).strip()
    if text.lower() == "demo":
        return "demo"
    kind = _network_or_screen(text)
    if kind:
        return kind
    if text.isdigit() or text.startswith("/dev/video"):
        return "camera"
    p = Path(text).expanduser()
    if not p.exists():
        raise SourceError(f"{text}: no such file or folder (use 'demo', a camera index such as 0, a video, an image or a folder)")
    if p.is_dir():
        return "folder"
    from engine.core.safe_files import input_file_problem
    from engine.io.image_header import image_format

    problem = input_file_problem(p)
    if problem is not None:
        raise SourceError(problem.what, problem.todo)
    suffix = p.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    # Unknown suffix: the first bytes tell images apart (nothing is decoded here).
    try:
        with open(p, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise SourceError(f"{text}: cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise SourceError(f"{text}: the file is empty")
    if image_format(head) is not None:
        return "image"
    return "video"


def open_source(spec: str | int, **options: object) -> FrameSource:
    """Make (but do not start) the source named by ``spec``.

    spec: "demo"; a camera index (0, "1") or device path ("/dev/video0"); a video file;
    an image file; a folder of images. ``options`` go to the source's constructor
    (e.g. width/height/fps for cameras, realtime/loop for videos). Raises SourceError.
    """
    text = str(spec).strip()
    kind = classify(text)
    if kind == "demo":
        return DemoSource(**options)  # type: ignore[arg-type]
    if kind == "camera":
        return CameraSource(text, **options)  # type: ignore[arg-type]
    if kind == "video":
        return VideoSource(text, **options)  # type: ignore[arg-type]
    if kind == "image":
        return ImageSource(text, **options)  # type: ignore[arg-type]
    if kind in ("stream", "screen"):
        return _open_network_or_screen(kind, text, **options)
    return FolderSource(text, **options)  # type: ignore[arg-type]


def _network_or_screen(text: str) -> str:
    """"stream" for rtsp/http(s) URLs, "screen" for screen specs, else "" (see stream_source/screen_source)."""
    from engine.io.screen import is_screen_spec
    from engine.io.stream import is_stream_url
    return "stream" if is_stream_url(text) else ("screen" if is_screen_spec(text) else "")


def _open_network_or_screen(kind: str, text: str, **options: object) -> FrameSource:
    if kind == "stream":
        from engine.io.stream import StreamSource
        return StreamSource(text, **options)  # type: ignore[arg-type]
    from engine.io.screen import ScreenSource, parse_screen_spec
    target, fps = parse_screen_spec(text)
    return ScreenSource(target, float(options.get("fps", fps)))  # type: ignore[arg-type]


def iter_frames(spec: str | os.PathLike[str], *, loop: bool = False) -> Iterator[Frame]:
    """Frames of an image, a folder of images or a video, synchronously and as fast as possible.

    For batch work (the CLI). A folder's unreadable files are skipped with a warning
    logged; a folder with no readable image, or an unreadable image or video, raises
    SourceError. ``loop`` repeats videos and folders forever.
    """
    text = str(spec)
    kind = classify(text)
    if kind in ("demo", "camera", "stream", "screen"):
        raise SourceError(f"{text if kind != 'stream' else 'a stream'}: batch processing needs an image, a folder "
                          "or a video file")
    index = 0
    if kind == "image":
        image = read_image(text)
        while True:
            yield Frame(image, index, time.monotonic(), Path(text).name)
            index += 1
            if not loop:
                return
    if kind == "folder":
        files = list_images(text)
        if not files:
            raise SourceError(f"{text}: the folder has no images")
        while True:
            good = 0
            for path in files:
                try:
                    image = read_image(path)
                except SourceError as exc:
                    log.warning("skipping %s", exc)
                    continue
                good += 1
                yield Frame(image, index, time.monotonic(), path.name)
                index += 1
            if good == 0:
                raise SourceError(f"{text}: none of the {len(files)} images could be read")
            if not loop:
                return
    source = VideoSource(text, realtime=False, loop=loop)
    source._open()
    try:
        while True:
            image = source._read()
            if image is None:
                return
            yield Frame(image, index, time.monotonic(), source.name)
            index += 1
    finally:
        source._close()
