"""Drawing tracks, counting lines and zones into images with OpenCV (CLI video output).

Same colours as ``annotate`` (per class); track ids are written as "#id". Coordinates are
frame pixels; images are uint8 BGR (H, W, 3), drawn in place.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.features.detect.annotate import class_color_bgr
from engine.features.detect.counting import Regions
from engine.features.detect.scene_analysis import TrackedFrame

LINE_BGR = (60, 220, 255)
ZONE_BGR = (255, 160, 60)


def draw_tracks(image: np.ndarray, tracked: TrackedFrame, regions: Regions,
                class_names: tuple[str, ...] = ()) -> np.ndarray:
    """Lines (with in/out totals), zones (with the count inside), trails and "#id label" boxes."""
    h, w = image.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    scale = max(0.4, max(h, w) / 1400)
    font = cv2.FONT_HERSHEY_SIMPLEX
    lines = tracked.counts.get("lines", {})
    zones = tracked.counts.get("zones", {})
    for zone in regions.zones:
        pts = np.round(np.asarray(zone.points)).astype(np.int32)
        cv2.polylines(image, [pts], True, ZONE_BGR, thick + 1, cv2.LINE_AA)
        inside = zones.get(zone.name, {}).get("inside", 0)
        cv2.putText(image, f"{zone.name}: {inside}", tuple(int(v) for v in pts[0]), font, scale, ZONE_BGR, thick,
                    cv2.LINE_AA)
    for line in regions.lines:
        p1 = tuple(int(round(v)) for v in line.p1)
        p2 = tuple(int(round(v)) for v in line.p2)
        cv2.line(image, p1, p2, LINE_BGR, thick + 1, cv2.LINE_AA)
        c = lines.get(line.name, {})
        cv2.putText(image, f"{line.name}: in {c.get('in_total', 0)} out {c.get('out_total', 0)}", p1, font, scale,
                    LINE_BGR, thick, cv2.LINE_AA)
    tracks = tracked.tracks
    for i in range(len(tracks)):
        color = class_color_bgr(int(tracks.class_ids[i]))
        trail = np.round(tracks.trail(i)).astype(np.int32)
        if len(trail) > 1:
            cv2.polylines(image, [trail], False, color, thick, cv2.LINE_AA)
        x1, y1, x2, y2 = (int(round(v)) for v in tracks.boxes[i])
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thick, cv2.LINE_AA)
        cid = int(tracks.class_ids[i])
        label = class_names[cid] if 0 <= cid < len(class_names) else f"class {cid}"
        cv2.putText(image, f"#{int(tracks.ids[i])} {label}", (x1, max(y1 - 4, 10)), font, scale, color, thick,
                    cv2.LINE_AA)
    return image
