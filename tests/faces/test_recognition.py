"""Enrol from photos, then identify and verify — with the offline embedder, on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from engine.features.faces.detectors import HaarDetector
from engine.features.faces.embedders import LBPEmbedder
from engine.features.faces.gallery import PersonExistsError
from engine.features.faces.quality import EnrolmentError
from engine.features.faces.recognizer import FaceRecognizer
from engine.features.faces.tracking import FaceTracker, iou_matrix
from engine.features.faces.types import UNKNOWN

ENROL = ("original", "brighter", "cropped")
PROBES = ("flipped", "darker", "smaller", "rotated", "noisy", "blurred")


@pytest.fixture()
def recognizer(gallery):
    return FaceRecognizer(HaarDetector(), LBPEmbedder(), gallery)


def test_enrol_then_identify_matches_and_impostors_are_unknown(recognizer, astronaut_variants, coins):
    person = recognizer.enrol("Eileen", [(n, astronaut_variants[n]) for n in ENROL])
    assert person.name == "Eileen" and person.shots == len(ENROL)
    for name in PROBES:
        found = recognizer.identify(astronaut_variants[name])
        assert len(found) == 1, name
        face, match = found[0]
        assert match.name == "Eileen", (name, match)
        assert match.distance <= recognizer.embedder.default_threshold
    for face, match in recognizer.identify(coins):
        assert match.name == UNKNOWN and match.candidate == "Eileen"
        assert match.distance > recognizer.embedder.default_threshold


def test_identify_picks_the_right_person_among_several(recognizer, astronaut_variants, coins):
    recognizer.enrol("Eileen", [(n, astronaut_variants[n]) for n in ENROL])
    faces, chips = recognizer.faces(coins)
    recognizer.enrol_chips("Coin A", [chips[0]])
    recognizer.enrol_chips("Coin B", [chips[1]])
    (_, eileen), = recognizer.identify(astronaut_variants["noisy"])
    assert eileen.name == "Eileen"
    by_box = {tuple(f.box): m.name for f, m in recognizer.identify(coins)}
    assert by_box[tuple(faces[0].box)] == "Coin A" and by_box[tuple(faces[1].box)] == "Coin B"


def test_enrolment_photos_with_no_face_or_several_faces_are_refused(recognizer, astronaut, coins, no_face_photos):
    with pytest.raises(EnrolmentError, match="no face found in coffee.jpg"):
        recognizer.enrol("X", [("astronaut.png", astronaut), ("coffee.jpg", no_face_photos["coffee"])])
    with pytest.raises(EnrolmentError, match="2 faces found in coins.png"):
        recognizer.enrol("X", [("coins.png", coins)])
    assert recognizer.gallery.people() == []  # nothing half-enrolled


def test_an_existing_name_is_refused_unless_shots_are_added(recognizer, astronaut_variants):
    recognizer.enrol("Eileen", [("a", astronaut_variants["original"])])
    with pytest.raises(PersonExistsError, match="add these shots"):
        recognizer.enrol("eileen", [("b", astronaut_variants["brighter"])])
    person = recognizer.enrol("eileen", [("b", astronaut_variants["brighter"])], add_to_existing=True)
    assert person.name == "Eileen" and person.shots == 2


def test_verify_pair(recognizer, astronaut_variants, coins):
    same, d_same = recognizer.verify_pair(astronaut_variants["original"], astronaut_variants["flipped"])
    assert same and d_same <= recognizer.embedder.default_threshold
    with pytest.raises(EnrolmentError, match="2 faces"):
        recognizer.verify_pair(astronaut_variants["original"], coins)


def test_tracker_keeps_a_label_through_one_bad_frame():
    tracker = FaceTracker(history=5)
    box = np.array([[100, 100, 200, 200]], np.float32)
    shown = []
    for i, label in enumerate(["Ann", "Ann", "Ann", UNKNOWN, "Ann", "Ann"]):
        (track_id, name, _), = tracker.update(box + i, [(label, 0.1)])
        shown.append((track_id, name))
    assert {t for t, _ in shown} == {shown[0][0]}
    assert [n for _, n in shown] == ["Ann"] * 6
    # A face far away starts a new track.
    (other, _, _), = tracker.update(np.array([[400, 400, 450, 450]], np.float32), [("Bob", 0.2)])
    assert other != shown[0][0]


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    assert np.allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])
