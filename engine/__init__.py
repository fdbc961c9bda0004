"""CNN Studio's engine: everything that computes. Never imports Qt (see docs/ARCHITECTURE.md)."""
