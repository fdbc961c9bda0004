"""Session-wide test setup: headless Qt, an isolated user home, a bounded thread pool."""

from __future__ import annotations

import os
import tempfile

# Set before anything imports Qt or the engine, so every test sees the same world.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CNN_STUDIO_HOME"] = tempfile.mkdtemp(prefix="cnn-studio-test-home-")
os.environ.setdefault("CNN_STUDIO_DEVICE", "cpu")

import torch  # noqa: E402  (after the environment is fixed)

torch.set_num_threads(2)
