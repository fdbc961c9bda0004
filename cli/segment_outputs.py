"""Where `segment` writes each frame: the picture to ``-o`` (an image; a folder, under the
input's file names; or a video at the input's frame rate) and a label map to ``--mask-out``
(an image, or a folder of ``<name>.png`` / ``frame_<index>.png``). Shared by the semantic
and the instance paths of the command.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any


def write_image(path: Path, image: Any) -> None:
    """Write ``image`` to ``path`` atomically; OSError naming the file when it cannot be."""
    import cv2

    from cli.common import output_file

    with output_file(path) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise OSError(f"{path}: could not be written (check the suffix and the folder)")


class SegmentOutputs:
    """The outputs of one `segment` run. ``kind``: what the input is ("image", "folder",
    "video"); ``source``: the input path; ``out``/``mask``: the -o and --mask-out paths or
    None. Use in a ``with``: leaving it finishes the video (OSError when writing failed)."""

    def __init__(self, kind: str, source: str, out: Path | None, mask: Path | None) -> None:
        self.kind, self.source, self.out, self.mask = kind, source, out, mask
        self._recorder: Any = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "SegmentOutputs":
        self._stack.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> bool | None:
        recorder, self._recorder = self._recorder, None
        try:
            if recorder is not None:
                recorder.close()
                if recorder.error and exc_info[0] is None:
                    raise OSError(f"{self.out}: {recorder.error}")
        finally:
            self._stack.__exit__(*exc_info)
        return None

    def write_mask(self, frame: Any, labels: Any) -> None:
        """``labels`` (H, W) uint8 for ``frame``, when --mask-out was given."""
        if self.mask is None:
            return
        name = Path(frame.source).stem + ".png" if self.kind == "folder" else f"frame_{frame.index:06d}.png"
        write_image(self.mask if self.kind == "image" else self.mask / name, labels)

    def write_picture(self, frame: Any, picture: Any) -> None:
        """The drawn ``picture`` (H, W, 3) uint8 BGR for ``frame``, when -o was given."""
        if self.out is None:
            return
        if self.kind == "image":
            write_image(self.out, picture)
        elif self.kind == "folder":
            write_image(self.out / frame.source, picture)
        else:
            if self._recorder is None:
                from cli.common import output_file
                from engine.io.recorder import VideoRecorder
                from engine.io.video import video_fps

                self._recorder = VideoRecorder(self._stack.enter_context(output_file(self.out)),
                                               fps=video_fps(self.source))
                self._stack.callback(self._recorder.close)
            self._recorder.write(picture)
