"""Session-wide test setup: headless Qt, an isolated user home, the app's thread policy."""

from __future__ import annotations

import os
import tempfile

# Set before anything imports Qt, torch or the engine, so every test sees the same world.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CNN_STUDIO_HOME"] = tempfile.mkdtemp(prefix="cnn-studio-test-home-")
os.environ.setdefault("CNN_STUDIO_DEVICE", "cpu")

from engine.threads import prepare_process  # noqa: E402  (imports no torch)

# The same entry-point policy as main.py, before torch loads: passive OpenMP waiting and
# at most two intra-op threads (test processes share the machine).
prepare_process("test")
