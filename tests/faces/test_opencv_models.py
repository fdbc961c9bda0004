"""YuNet and SFace cannot be downloaded here: missing or corrupt files must say what to do."""

from __future__ import annotations

import pytest

from engine.features.faces.detectors import FaceModelError, YuNetDetector, make_detector
from engine.features.faces.embedders import SFaceEmbedder, default_embedder_name, installed_embedders, make_embedder
from engine.models.cache import WeightsCache, WeightsError
from engine.models.catalog import catalog


@pytest.fixture()
def cache(tmp_path):
    return WeightsCache(tmp_path / "models", bundled=False)  # nothing installed, not even dlib's models


def test_catalog_entries_have_urls_licenses_and_metrics():
    entries = {e.name: e for e in catalog().entries("faces")}
    assert set(entries) >= {"facenet-vggface2", "facenet-casia", "sface", "yunet"}
    assert entries["sface"].license == "Apache-2.0" and entries["yunet"].license == "MIT"
    for entry in entries.values():
        assert entry.files and all(f.url.startswith("https://") for f in entry.files)
    # The facts live once, in each entry's meta; the embedders read them from there.
    assert entries["facenet-vggface2"].meta["metric"] == "euclidean" and entries["sface"].meta["embedding_dim"] == 128


def test_missing_models_name_the_commands_that_install_them(cache):
    with pytest.raises(FaceModelError, match="models fetch yunet"):
        make_detector("yunet", cache)
    with pytest.raises(FaceModelError, match="models import sface"):
        make_embedder("sface", cache)
    with pytest.raises(FaceModelError, match="models fetch facenet-casia"):
        make_embedder("facenet-casia", cache)
    with pytest.raises(ValueError, match="unknown embedder 'arcface'"):
        make_embedder("arcface", cache)
    with pytest.raises(ValueError, match="unknown face detector"):
        make_detector("mtcnn", cache)
    assert installed_embedders(cache) == ["lbp"]
    assert default_embedder_name(cache) == "lbp"


def test_corrupt_onnx_files_are_refused_at_import_and_at_load(cache, tmp_path):
    bad = tmp_path / "face_detection_yunet_2023mar.onnx"
    bad.write_bytes(b"\x08\x07not really protobuf" * 50)
    with pytest.raises(WeightsError, match="not usable as 'yunet'"):
        cache.import_file(catalog().get("yunet"), bad)
    assert not cache.is_installed(catalog().get("yunet"))
    # A file that got damaged after installation is reported when it is loaded.
    with pytest.raises(FaceModelError, match="could not be read by OpenCV"):
        YuNetDetector(bad)
    sface = SFaceEmbedder(catalog().get("sface"), bad)
    with pytest.raises(FaceModelError, match="fetch or import 'sface' again"):
        sface.load()
