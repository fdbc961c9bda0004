"""Every size and time limit the app enforces on its inputs, in one place.

A limit is checked *before* the memory it protects is allocated: image dimensions come
from the file header, archive member sizes from the zip directory, a cfg's parameter
count from its layer shapes. Each limit can be raised for one run with an environment
variable (the README's Troubleshooting lists them):

==============================  =============================  =========================
limit                           environment variable           default
==============================  =============================  =========================
image pixels kept after reading CNN_STUDIO_MAX_IMAGE_PIXELS    24,000,000 (24 MP)
image pixels a file may declare CNN_STUDIO_MAX_DECODE_PIXELS   400,000,000 (JPEG only:
                                                               read downscaled)
input file size (image, names)  CNN_STUDIO_MAX_INPUT_BYTES     512 MB
cfg file size                   CNN_STUDIO_MAX_CFG_BYTES       8 MB
cfg parameters (floats)         CNN_STUDIO_MAX_CFG_PARAMETERS  150,000,000
network input side (pixels)     CNN_STUDIO_MAX_NETWORK_SIDE    4096
gallery archive, unpacked       CNN_STUDIO_MAX_ARCHIVE_BYTES   1 GB
gallery manifest.json           CNN_STUDIO_MAX_MANIFEST_BYTES  64 MB
download without published size CNN_STUDIO_MAX_DOWNLOAD_BYTES  2 GB
download read timeout (s)       CNN_STUDIO_DOWNLOAD_TIMEOUT    30
download minimum rate (B/s)     CNN_STUDIO_DOWNLOAD_MIN_RATE   1024, averaged over
                                CNN_STUDIO_DOWNLOAD_RATE_WINDOW  30 s
==============================  =============================  =========================

``current()`` reads the environment each time it is called, so a test or a user can
change a limit without restarting anything that has not started reading yet.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, fields

log = logging.getLogger(__name__)

ENV_PREFIX = "CNN_STUDIO_"


@dataclass(frozen=True)
class Limits:
    """The limits in force. Units: pixels, bytes, floats, seconds, bytes per second."""

    max_image_pixels: int = 24_000_000
    max_decode_pixels: int = 400_000_000
    max_input_bytes: int = 512 * 1024 * 1024
    max_cfg_bytes: int = 8 * 1024 * 1024
    max_cfg_parameters: int = 150_000_000
    max_network_side: int = 4096
    max_archive_bytes: int = 1024 * 1024 * 1024
    max_manifest_bytes: int = 64 * 1024 * 1024
    max_download_bytes: int = 2 * 1024 * 1024 * 1024
    download_timeout: float = 30.0
    download_min_rate: float = 1024.0
    download_rate_window: float = 30.0

    @staticmethod
    def env_name(field_name: str) -> str:
        """The environment variable that overrides ``field_name``."""
        return ENV_PREFIX + field_name.upper()

    def hint(self, field_name: str) -> str:
        """'set CNN_STUDIO_X to raise it' for messages."""
        return f"set {self.env_name(field_name)} to raise it"


def current() -> Limits:
    """The defaults, overridden by any CNN_STUDIO_<NAME> variable that holds a positive number.

    An unusable value is logged and ignored (the default stays in force) rather than
    failing every command that reads an input.
    """
    values = {}
    for f in fields(Limits):
        raw = os.environ.get(Limits.env_name(f.name), "").strip().replace("_", "")
        if not raw:
            continue
        try:
            value = float(raw) if f.type in (float, "float") else int(float(raw))
        except ValueError:
            log.warning("ignoring %s=%r: not a number", Limits.env_name(f.name), raw)
            continue
        if value <= 0:
            log.warning("ignoring %s=%r: must be positive", Limits.env_name(f.name), raw)
            continue
        values[f.name] = value
    return Limits(**values)


def megapixels(pixels: int) -> str:
    """40000000 -> '40 MP' (for messages)."""
    return f"{pixels / 1e6:.0f} MP" if pixels >= 1e6 else f"{pixels:,} pixels"


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
