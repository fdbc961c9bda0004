"""Plain-data results of object detection, shared by every detector and the GUI/CLI.

Coordinates: boxes are (N, 4) float32 x1, y1, x2, y2 in pixels of the original frame
(origin top-left, x right, y down), clipped to the frame.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from engine.models.transforms import InputMapping


@dataclass(frozen=True)
class HeadGrid:
    """One YOLO head's grid, for the learner's "show the grid" view.

    cols, rows: grid size. stride: network-input pixels per cell. anchors: (A, 2)
    anchor width/height in network-input pixels. mask: the anchors' indices in the cfg.
    """

    cols: int
    rows: int
    stride: int
    anchors: np.ndarray
    mask: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Detections:
    """Objects found in one frame.

    boxes: (N, 4) float32 xyxy frame pixels. scores: (N,) float32 in 0..1 (YOLO:
    objectness x class probability). class_ids: (N,) int64 indices into ``class_names``.
    frame_size: (width, height). origins: (N, 4) int64 [head, grid_x, grid_y, anchor]
    for YOLO detectors (which cell and anchor predicted each box), else None.
    grids / mapping: the heads' grids and the input->frame mapping (YOLO only).
    extra: whatever else a detector family reports (for the learner's views); under the
    key "rows", a dict of per-detection arrays (first dimension N), which ``select``
    filters with the boxes.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: tuple[str, ...]
    frame_size: tuple[int, int]
    model: str = ""
    origins: np.ndarray | None = None
    grids: tuple[HeadGrid, ...] = ()
    mapping: InputMapping | None = None
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @property
    def labels(self) -> list[str]:
        names = self.class_names
        return [names[i] if 0 <= i < len(names) else f"class {i}" for i in self.class_ids.tolist()]

    def counts(self) -> dict[str, int]:
        """Detections per label, most frequent first."""
        return dict(Counter(self.labels).most_common())

    def select(self, keep: np.ndarray) -> "Detections":
        """A copy with only the rows selected by a boolean mask or index array."""
        return Detections(
            boxes=self.boxes[keep], scores=self.scores[keep], class_ids=self.class_ids[keep],
            class_names=self.class_names, frame_size=self.frame_size, model=self.model,
            origins=None if self.origins is None else self.origins[keep], grids=self.grids,
            mapping=self.mapping, extra=self._selected_extra(keep),
        )

    def _selected_extra(self, keep: np.ndarray) -> dict:
        extra = dict(self.extra)
        rows = extra.get("rows")
        if isinstance(rows, dict):
            extra["rows"] = {name: values[keep] for name, values in rows.items()}
        return extra

    def to_records(self) -> list[dict]:
        """JSON-ready dicts: class_id, label, score, box [x1, y1, x2, y2] (and origin)."""
        records = []
        for i, label in enumerate(self.labels):
            record = {
                "class_id": int(self.class_ids[i]),
                "label": label,
                "score": round(float(self.scores[i]), 5),
                "box": [round(float(v), 2) for v in self.boxes[i]],
            }
            if self.origins is not None:
                head, gx, gy, anchor = (int(v) for v in self.origins[i])
                record["origin"] = {"head": head, "grid_x": gx, "grid_y": gy, "anchor": anchor}
            records.append(record)
        return records


def empty_detections(class_names: tuple[str, ...], frame_size: tuple[int, int], model: str = "") -> Detections:
    return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
                      class_names, frame_size, model)
