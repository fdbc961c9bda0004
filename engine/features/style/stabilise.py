"""The flow stabiliser lives in ``engine.runtime.stabilise`` (the Segment tab's person mode
uses it too, and features never import each other); re-exported here for the Style code."""

from engine.runtime.stabilise import FlowStabiliser, flicker, psnr

__all__ = ["FlowStabiliser", "flicker", "psnr"]
