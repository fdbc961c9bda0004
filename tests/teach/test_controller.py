"""The Qt-free controller behind the Teach tab."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.features.teach.controller import TeachController
from engine.features.teach.synthetic import make_image


def _drain(job):
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


def test_recording_rate_strip_and_embedding_projection(tmp_path):
    c = TeachController(projects_dir=tmp_path)
    project = c.open_or_create(None)
    assert project.class_names() == ["Class 1", "Class 2"]
    project.set_backbone("mobilenet_v3_small", untrained=True)
    rng = np.random.default_rng(0)
    c.record_rate = 4.0
    assert not c.offer_frame(make_image(0, rng))  # not recording
    c.start_recording("Class 1")
    added = [c.offer_frame(make_image(0, rng), now=t) for t in (10.0, 10.1, 10.2, 10.26, 10.52, 10.8)]
    assert added == [True, False, False, True, True, True]
    c.stop_recording()
    c.start_recording("Class 2")
    for t in range(4):
        c.offer_frame(make_image(1, rng), now=100.0 + t)
    c.stop_recording()
    assert project.counts() == {"Class 1": 4, "Class 2": 4}

    strip = c.strip()
    assert [b.state for b in strip].count("trained") == 0
    assert [b.state for b in strip].count("unused") == 13 - 8  # the untrained backbone is cut after block 8
    project.set_train_settings(replace(project.train_settings, finetune=2))
    assert [b.state for b in c.strip()][6:8] == ["trained", "trained"]
    trained, frozen = c.trainable_summary()
    blocks = c.backbone().block_params()
    assert trained == blocks[6][1] + blocks[7][1] + c.backbone().feature_dim * 2 + 2
    assert frozen == sum(n for _, n in blocks[:6])

    assert _drain(c.embed_job()) == 8
    points, labels, names = c.pca_points()
    assert points.shape == (8, 2) and list(labels) == [0] * 4 + [1] * 4 and names == ["Class 1", "Class 2"]
    # the two textures separate along the first principal component
    assert abs(points[labels == 0, 0].mean() - points[labels == 1, 0].mean()) > points[:, 0].std()

    again = TeachController(projects_dir=tmp_path).open_or_create(str(tmp_path / "gone"))
    assert again.root == project.root  # the most recent project reopens when the last one is gone
