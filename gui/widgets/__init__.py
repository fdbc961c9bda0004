"""Reusable widgets of the main window: video view, performance plot, model manager, source bar."""
