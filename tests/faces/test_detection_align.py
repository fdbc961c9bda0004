"""Haar detection on real photos and the geometry of alignment."""

from __future__ import annotations

import cv2
import numpy as np

from engine.features.faces.align import CHIP_SIZE, align_face, crop_box, similarity_matrix, template
from engine.features.faces.detectors import HaarDetector, make_detector
from engine.features.faces.types import FaceDetection


def test_haar_finds_the_astronauts_face(astronaut):
    faces = HaarDetector().detect(astronaut)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].box
    # Her face is in the upper middle of the photo and roughly a fifth of its width.
    assert 0.15 * 512 < (x2 - x1) < 0.35 * 512
    assert 0.25 * 512 < (x1 + x2) / 2 < 0.6 * 512 and (y1 + y2) / 2 < 0.4 * 512
    # Skin is brighter in red than in blue: the box really sits on a face, not on the suit.
    patch = astronaut[int(y1):int(y2), int(x1):int(x2)].reshape(-1, 3).mean(0)
    assert patch[2] > patch[0] + 20


def test_haar_box_follows_a_mirrored_photo(astronaut):
    det = HaarDetector()
    box = det.detect(astronaut)[0].box
    mirrored = det.detect(np.ascontiguousarray(astronaut[:, ::-1]))[0].box
    expected = np.array([512 - box[2], box[1], 512 - box[0], box[3]])
    assert np.abs(mirrored - expected).max() < 0.1 * (box[2] - box[0])


def test_haar_finds_no_face_in_photos_without_people(no_face_photos):
    det = make_detector("haar")
    for name, image in no_face_photos.items():
        assert det.detect(image) == [], name


def test_similarity_matrix_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = np.deg2rad(17), 1.7, np.array([12.0, -5.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = pts @ rot.T + shift
    m = similarity_matrix(pts, moved)
    assert np.allclose(m[:, :2], rot, atol=1e-4) and np.allclose(m[:, 2], shift, atol=1e-3)


def test_landmark_alignment_puts_the_eyes_on_the_template(astronaut):
    # Synthetic landmarks: the template itself, rotated by 20 degrees and moved into the photo.
    tpl = template(CHIP_SIZE)
    m = cv2.getRotationMatrix2D((80, 80), 20, 1.3)
    m[:, 2] += (150, 40)
    landmarks = (np.hstack([tpl, np.ones((5, 1), np.float32)]) @ m.T).astype(np.float32)
    marked = astronaut.copy()
    for x, y in landmarks:
        cv2.circle(marked, (int(round(x)), int(round(y))), 3, (0, 255, 0), -1)
    face = FaceDetection(np.array([150, 40, 360, 250], np.float32), 0.9, landmarks)
    chip = align_face(marked, face)
    assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3) and chip.flags.c_contiguous
    for x, y in tpl:
        b, g, r = chip[int(round(y)), int(round(x))]
        assert g > 180 and r < 120, (x, y, chip[int(round(y)), int(round(x))])


def test_box_crop_is_square_and_centred(astronaut):
    box = np.array([100, 100, 200, 160], np.float32)
    chip = crop_box(astronaut, box, size=64, margin=0.0)
    assert chip.shape == (64, 64, 3)
    # The centre pixel of the chip is the centre pixel of the box.
    assert np.abs(chip[32, 32].astype(int) - astronaut[130, 150].astype(int)).max() < 40
