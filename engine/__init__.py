"""CNN Studio's engine: everything that computes. Never imports Qt (see docs/ARCHITECTURE.md).

Importing the package first sets how PyTorch's OpenMP worker threads wait between
operations; it must happen before torch is imported, so import ``engine`` (or anything
in it) before ``torch`` in scripts.
"""

import os

# A forward pass is a few dozen back-to-back operators. Worker threads that go to sleep
# after each one (OMP_WAIT_POLICY=PASSIVE) pay a wake-up per layer; threads that spin
# forever (ACTIVE) steal the cores the capture and GUI threads need. A short spin bridges
# the gaps inside one frame and sleeps between frames (measured, yolov4-tiny at 416 on
# 2 cores: 49.6 ms passive -> 43.0 ms per frame, with OpenCV beside it unaffected).
# Only GNU OpenMP (Linux wheels) reads it; the user's own setting wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "20000")
