"""CNN Studio's engine: everything that computes. Never imports Qt (see docs/ARCHITECTURE.md).

Importing the engine has no side effects: it changes neither ``os.environ`` nor any
library setting. How PyTorch's threads wait and how many there are is the entry
points' decision (``engine.runtime.threads``), taken before torch is imported.
"""
