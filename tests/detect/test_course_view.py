"""What the course shows of the new families in the Detect tab (issue 22, item 5), drawn
offscreen by a real tab and VideoView: YOLOX's grid points of each stride as dots (no
cell lines) and the point that predicted the selected box; a set predictor's encoder
proposals and the selected object's box after each decoder layer, with why no NMS."""

from __future__ import annotations

import numpy as np
import pytest

from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.features.detect.backends.yolox.course import point_levels, predicting_point
from engine.models.catalog import Capabilities, InputSize
from gui.features.detect.course_view import SET_TEXT
from tests.detect.test_detect_tab import context, render_overlay, run_task_once, tab  # noqa: F401 (fixtures)

IMAGE = synthetic_image(240, 320, seed=7)


@pytest.fixture(scope="module")
def yolox_pth(tmp_path_factory):
    from engine.features.detect.backends.yolox.random_weights import write_random_pth

    return write_random_pth(tmp_path_factory.mktemp("yolox") / "street.pth", "nano", num_classes=80, seed=4)


@pytest.fixture(scope="module")
def set_folder(tmp_path_factory):
    from tests.detect.dfine_reference import TINY, save_reference, tiny_config

    folder = tmp_path_factory.mktemp("set") / "shelves"
    save_reference(tiny_config(next(iter(TINY))), folder, seed=5)
    return folder


def _open_and_detect(tab, path, keep: int = 3) -> None:
    """Open the model, then detect with a threshold that keeps about ``keep`` boxes (random
    weights: many low scores) so the picture stays mostly free of boxes."""
    assert tab.open_user_model(str(path)), tab.model_box.problem.text()
    tab.settings_box.conf_slider.setValue(1)
    task = tab.make_task()
    scores = np.sort(run_task_once(task, IMAGE).result.scores)[::-1]
    tab.settings_box.conf_slider.setValue(int(scores[min(keep, len(scores)) - 1] * 100))
    task.configure(tab.task_settings())
    tab.on_result(run_task_once(task, IMAGE, 1))
    assert 0 < len(tab.detections)


def _pixel(image: np.ndarray, x: float, y: float) -> np.ndarray:
    return image[int(y), int(x)].astype(int)


def test_yolox_grid_points_and_the_predicting_point(tab, yolox_pth):
    _open_and_detect(tab, yolox_pth)
    box = tab.settings_box
    assert box.form.isRowVisible(box.grid_check) and box.grid_check.text() == "Show the grid"
    plain = render_overlay(tab, IMAGE)
    box.grid_check.setChecked(True)
    d, row = tab.detections, tab.selected
    shown = render_overlay(tab, IMAGE)
    tab.refresh_views()
    levels = point_levels(d)
    assert [level.stride for level in levels] == [8, 16, 32]
    # A dot on the stride-32 points (a box edge may cover a few); none on the cell corners
    # where Darknet's lines would cross.
    inside = [(x, y) for x, y in levels[2].points if x < 319 and y < 239]
    dotted = [(_pixel(shown, x, y) != _pixel(plain, x, y)).any() for x, y in inside]
    assert np.mean(dotted) > 0.9
    corners = [d.mapping.to_frame(float(32 * i), float(32 * j)) for i in range(1, 9) for j in range(1, 7)]
    clear = [(_pixel(shown, x, y) == _pixel(plain, x, y)).all() for x, y in corners]
    assert np.mean(clear) > 0.9
    # A selected box's predicting point: ringed, with the explanation. (Random weights
    # may predict a box from a point in the letterbox padding, below the frame: choose one
    # whose point is in view.)
    row = next(i for i in range(len(d)) if predicting_point(d, i).centre[1] < 239)
    tab.detection_list.setCurrentRow(row)
    assert tab.selected == row
    shown = render_overlay(tab, IMAGE)
    tab.refresh_views()
    point = predicting_point(d, row)
    assert point is not None and box.grid_label.text() == point.text
    assert f"stride {d.grids[point.level].stride}" in point.text and "no anchors" in point.text
    cx, cy = point.centre
    assert (_pixel(shown, cx, cy) != _pixel(plain, cx, cy)).any()


def test_a_set_predictor_shows_its_queries(tab, set_folder):
    assert Capabilities(input_size=InputSize((64, 64)), postprocess="set", set_view=True).set_view
    with pytest.raises(ValueError, match="set_view needs postprocess 'set'"):
        Capabilities(input_size=InputSize((64, 64)), postprocess="nms", set_view=True)
    _open_and_detect(tab, set_folder)
    box = tab.settings_box
    assert box.form.isRowVisible(box.grid_check) and box.grid_check.text() == "Show the queries"
    plain = render_overlay(tab, IMAGE)
    box.grid_check.setChecked(True)  # selects the most confident object
    d, row = tab.detections, tab.selected
    assert row == 0
    trace = d.extra["set_trace"]
    query = int(d.extra["rows"]["query"][row])
    shown = render_overlay(tab, IMAGE)
    tab.refresh_views()
    text = box.grid_label.text()
    assert text.startswith(f"{d.labels[row]} {d.scores[row]:.2f}: query {query} of {len(trace.proposals)}")
    assert f"refined by {trace.num_layers} decoder layers" in text and text.endswith(SET_TEXT)
    # The selected query's proposal is drawn (its left edge changed the picture) ...
    steps = trace.refinement(query)
    x1, y1, x2, y2 = np.clip(steps[0], 0, [319, 239, 319, 239])
    column = slice(int(y1), int(y2) + 1), int(x1)
    assert (shown[column] != plain[column]).any()
    # ... and the encoder's other proposals, faintly: far more of the picture changed than the boxes alone.
    changed = (shown != plain).any(axis=2).mean()
    assert changed > 0.05
    box.grid_check.setChecked(False)
    assert box.grid_label.text() == ""
    tab.detection_list.setCurrentRow(-1)  # nothing selected, as before: the picture as before
    assert np.array_equal(render_overlay(tab, IMAGE), plain)
