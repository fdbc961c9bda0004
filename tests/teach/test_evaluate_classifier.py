"""Classifier evaluation on a folder of class folders: the confusion matrix, precision and
recall agree with the model run picture by picture; `teach evaluate` prints them (or JSON);
`teach predict` on such a folder points to `teach evaluate`."""

from __future__ import annotations

import json
import shutil
import threading

import cv2
import numpy as np
import pytest
import torch

import main
from engine.core.errors import Cancelled
from engine.features.teach.evaluate import EvaluationError, evaluate_classifier
from engine.features.teach.imaging import to_batch
from engine.features.teach.model import save_model_dir


@pytest.fixture
def test_set(small_folder, tmp_path):
    """The small folder plus mislabelled pictures (stripes filed under checks), a class the
    model does not know, a text file and a broken picture."""
    root = tmp_path / "test"
    shutil.copytree(small_folder, root)
    for i in range(3):
        shutil.copy(small_folder / "stripes" / f"00{i}.png", root / "checks" / f"wrong{i}.png")
    (root / "zebra").mkdir()
    shutil.copy(small_folder / "blobs" / "000.png", root / "zebra" / "z.png")
    (root / "blobs" / "notes.txt").write_text("not a picture")
    (root / "blobs" / "broken.png").write_bytes(b"\x89PNG broken")
    return root


def _one_by_one(model, root):
    """(true index, predicted index, score, path) for each readable picture of a known class."""
    rows = []
    for k, label in enumerate(model.labels):
        for path in sorted((root / label).glob("*.png")):
            image = cv2.imread(str(path))
            if image is None:
                continue
            with torch.inference_mode():
                p = model.classifier(to_batch([image], model.input_size))[0].numpy()
            rows.append((k, int(p.argmax()), float(p.max()), path))
    return rows


def test_confusion_precision_recall_match_the_model_picture_by_picture(trained, test_set):
    model = trained.model
    done = []
    result = evaluate_classifier(model, test_set, progress=lambda d, t: done.append((d, t)))
    rows = _one_by_one(model, test_set)
    expected = np.zeros((3, 3), np.int64)
    for k, j, _, _ in rows:
        expected[k, j] += 1
    np.testing.assert_array_equal(result.confusion, expected)
    assert result.confusion.sum() == 8 * 3 + 3  # the broken picture and the unknown class are left out
    assert result.accuracy == pytest.approx(np.trace(expected) / expected.sum())
    np.testing.assert_allclose(result.recall, np.diag(expected) / expected.sum(axis=1))
    np.testing.assert_allclose(result.precision, np.diag(expected) / np.maximum(expected.sum(axis=0), 1))
    wrong = {(p, model.labels[k], model.labels[j]) for k, j, _, p in rows if k != j}
    assert len(wrong) >= 3  # the mislabelled stripes at least
    assert {(m.path, m.true_label, m.predicted) for m in result.misclassified} == wrong
    assert [m.score for m in result.misclassified] == sorted((m.score for m in result.misclassified), reverse=True)
    assert result.unknown_folders == ("zebra",)
    assert {f.rsplit("/", 1)[-1].split(":")[0] for f, _ in result.skipped} >= {"notes.txt", "broken.png"}
    assert done[-1] == (28, 28)


def test_no_known_class_folder_is_named(trained, tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "a.png"), np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(EvaluationError, match=r"none of its class folders \(cats, dogs\) is a class of the model"):
        evaluate_classifier(trained.model, tmp_path)


def test_cancel(trained, test_set):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        evaluate_classifier(trained.model, test_set, cancel=cancel)


def test_cli_evaluate_tables_json_and_predict_points_to_it(trained, test_set, tmp_path, capsys):
    model_dir = save_model_dir(trained.model, tmp_path / "model")
    assert main.main(["teach", "evaluate", str(model_dir), str(test_set)]) == 0
    out, err = capsys.readouterr()
    result = evaluate_classifier(trained.model, test_set)
    assert f"accuracy {result.accuracy:.1%} ({result.total} pictures" in out
    matrix = out.split("confusion matrix (rows: true class, columns: predicted class)\n")[1].splitlines()
    assert matrix[0].split() == ["true", "\\", "predicted", *trained.model.labels]
    for label, line in zip(trained.model.labels, matrix[1:4]):
        assert line.split() == [label, *map(str, result.confusion[trained.model.labels.index(label)])]
    assert "class folder 'zebra' is not a class of the model" in err
    assert "wrong0.png" in out  # a mislabelled picture is listed
    assert main.main(["teach", "evaluate", str(model_dir), str(test_set), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "classifier" and doc["confusion"]["matrix"] == result.confusion.tolist()
    assert doc["accuracy"] == pytest.approx(result.accuracy) and doc["unknown_folders"] == ["zebra"]
    assert main.main(["teach", "predict", str(model_dir), str(test_set)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"use `teach evaluate {model_dir} {test_set}`" in err[0]
