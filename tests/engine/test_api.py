"""The public Python API (engine/api.py) against the engine paths the app itself runs.

Models are random weights written in their real file formats (Darknet .weights, a Teach
model folder, a FaceNet state_dict), installed into a weights cache under a
CNN_STUDIO_HOME of the test's own; the pictures are real photos from scikit-image.
"""

from __future__ import annotations

import json
import shutil
import time

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from engine import api
from engine.core.frame import Frame
from engine.features.detect.backends.darknet import int8
from engine.features.detect.backends.darknet.random_weights import write_random_weights
from engine.features.detect.detector import Detector, DetectorError
from engine.features.detect.factory import load_detector as build_catalog_detector
from engine.features.detect.names import bundled_path
from engine.features.detect.onnx_export import export_darknet_onnx
from engine.features.detect.task import DetectionTask
from engine.features.detect.types import empty_detections
from engine.models.cache import WeightsCache, WeightsMissingError
from engine.models.catalog import CapabilityError, UnknownModelError, catalog
from engine.runtime.precision import resolve_precision
from engine.runtime.sync import run_task


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """An empty CNN Studio home: nothing installed."""
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CNN_STUDIO_MODELS", raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="module")
def yolo_weights(tmp_path_factory):
    """Random yolov4-tiny weights in Darknet's file format (some detections on any photo)."""
    path = tmp_path_factory.mktemp("yolo") / "random.weights"
    write_random_weights(bundled_path("yolov4-tiny.cfg"), path, seed=0)
    return path


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """512x512 uint8 BGR: a real photo (an astronaut, a flag, a helmet)."""
    return _bgr(skimage.data.astronaut())


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _install(name: str, path) -> None:
    WeightsCache().import_file(catalog().get(name), path, force=True)


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.class_ids, b.class_ids)
    assert a.labels == b.labels


# -- detection -------------------------------------------------------------------------
def test_a_catalog_detector_finds_what_the_detect_task_finds(home, yolo_weights, photo):
    with pytest.raises(WeightsMissingError, match=r"models fetch yolov4-tiny.*models import yolov4-tiny FILE"):
        api.load_detector("yolov4-tiny", device="cpu")
    _install("yolov4-tiny", yolo_weights)
    det = api.load_detector("yolov4-tiny", device="cpu")
    found = det(photo)
    assert isinstance(found, api.Detections) and len(found) > 0
    assert found.boxes.dtype == np.float32 and found.boxes.shape == (len(found), 4)
    assert found.scores.dtype == np.float32 and found.class_ids.dtype == np.int64
    assert (found.boxes[:, 2] <= 512).all() and (found.scores >= 0.25).all()
    # "auto": bfloat16 on CPUs with native bf16 (AVX512-BF16, AMX), float32 elsewhere.
    auto = resolve_precision("auto", ("fp32", "bf16")).mode
    assert det.input_size == (416, 416) and det.device == torch.device("cpu")
    assert det.precision == {"bf16": "bfloat16", "fp32": "float32"}[auto]

    task = DetectionTask(lambda device: build_catalog_detector("yolov4-tiny", device=device))
    live = next(run_task(task, [Frame(photo, 0, time.monotonic(), "photo")], device="cpu"))
    _same(found, live.result)
    _same(det.detect(photo), found)

    det.conf_threshold = 0.5
    fewer = det(photo)
    assert 0 < len(fewer) < len(found) and (fewer.scores > 0.5).all()


def test_a_darknet_cfg_with_its_files_beside_it_or_given(home, yolo_weights, photo, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    cfg = folder / "street.cfg"
    shutil.copy(bundled_path("yolov4-tiny.cfg"), cfg)
    with pytest.raises(DetectorError, match=r"street\.weights: no such \.weights file.*weights=PATH"):
        api.load_detector(cfg, device="cpu")
    given = api.load_detector(cfg, device="cpu", weights=yolo_weights)
    assert given.name == "street"
    shutil.copy(yolo_weights, folder / "street.weights")
    beside = api.load_detector(str(cfg), device="cpu")
    _install("yolov4-tiny", yolo_weights)
    _same(beside(photo), api.load_detector("yolov4-tiny", device="cpu")(photo))
    _same(given(photo), beside(photo))

    names = [f"thing {i}" for i in range(80)]
    (folder / "street.names").write_text("\n".join(names) + "\n")
    named = api.load_detector(cfg, device="cpu")
    assert named.class_names == tuple(names)
    assert set(named(photo).labels) <= set(names)


def test_precision_size_and_bad_arguments(home, yolo_weights, photo):
    _install("yolov4-tiny", yolo_weights)
    small = api.load_detector("yolov4-tiny", device="cpu", precision="fp32", size=(320, 256))
    assert small.input_size == (320, 256) and small.precision == "float32"
    assert api.load_detector("yolov4-tiny", device="cpu", size=320).input_size == (320, 320)
    if int8.available():
        assert api.load_detector("yolov4-tiny", device="cpu", precision="int8").precision == "int8"
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, int8"):
        api.load_detector("yolov4-tiny", precision="fp16")
    # What a model takes is its catalog entry's capabilities to say (the app's own checks).
    with pytest.raises(CapabilityError, match="multiples of 32"):
        api.load_detector("yolov4-tiny", device="cpu", size=(300, 300))
    with pytest.raises(CapabilityError, match="fixed input size"):
        api.load_detector("ssdlite320_mobilenet_v3_large", device="cpu", size=320)
    with pytest.raises(CapabilityError, match="int8"):
        api.load_detector("ssdlite320_mobilenet_v3_large", device="cpu", precision="int8")
    with pytest.raises(UnknownModelError, match="yolov9"):
        api.load_detector("yolov9")
    with pytest.raises(DetectorError, match="is a faces model"):
        api.load_detector("facenet-vggface2")
    with pytest.raises(ValueError, match=r"uint8 BGR of shape \(H, W, 3\), got float32 \(480, 640, 3\)"):
        small(np.zeros((480, 640, 3), np.float32))
    with pytest.raises(ValueError, match=r"got uint8 \(480, 640\)"):
        small(np.zeros((480, 640), np.uint8))
    with pytest.raises(ValueError, match="conf_threshold must be between 0 and 1"):
        small.conf_threshold = 1.5


def test_the_exported_onnx_network_gives_our_raw_outputs(home, yolo_weights, photo, tmp_path):
    import onnxruntime as ort  # a test dependency: missing, this test fails rather than skips

    _install("yolov4-tiny", yolo_weights)
    # The default precision (bf16 on CPUs that have it) exports the float32 network all the same.
    det = api.load_detector("yolov4-tiny", device="cpu", size=(320, 256))
    path = det.export_onnx(tmp_path / "yolo.onnx")
    assert path == tmp_path / "yolo.onnx" and not list(tmp_path.glob(".tmp-*"))
    network = api.load_detector("yolov4-tiny", device="cpu", size=(320, 256), precision="fp32").engine_detector
    with torch.inference_mode():
        x = network.prepare(photo)[0].clone().contiguous()
        ours = [head.numpy() for head in network.model(x)]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {"image": x.numpy()})
    assert [o.name for o in session.get_outputs()] == ["head0", "head1"]
    assert [t.shape for t in theirs] == [o.shape for o in ours] == [(1, 255, 8, 10), (1, 255, 16, 20)]
    for a, b in zip(ours, theirs):
        assert np.abs(a - b).max() < 1e-4
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == list(det.class_names)
    assert json.loads(meta["input_size"]) == [320, 256]
    assert [h["stride"] for h in json.loads(meta["heads"])] == [32, 16]


    class Boxless(Detector):
        name = "boxless"

        def detect(self, image_bgr):
            return empty_detections(self.class_names, (image_bgr.shape[1], image_bgr.shape[0]))

    with pytest.raises(DetectorError, match="covers Darknet YOLO models; boxless is not one"):
        export_darknet_onnx(Boxless(("thing",)), tmp_path / "other.onnx")


# -- classification --------------------------------------------------------------------
@pytest.fixture(scope="module")
def pictures() -> list[np.ndarray]:
    return [_bgr(skimage.data.chelsea()), _bgr(skimage.data.coffee()), _bgr(skimage.data.rocket())]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, pictures):
    """A Teach model folder: the untrained (seeded) MobileNetV3-Small and a random linear
    head, standardised on the pictures' features as training would, so they score apart."""
    from engine.features.teach.backbones import load_backbone
    from engine.features.teach.imaging import to_batch
    from engine.features.teach.model import Classifier, Head, TrainedModel, save_model_dir

    net = load_backbone("mobilenet_v3_small", untrained=True).net
    torch.manual_seed(0)
    classifier = Classifier(net, Head(net.output_dim(), 3)).eval()
    with torch.no_grad():
        features = net((to_batch(pictures) - classifier.mean) / classifier.std)
        classifier.head.mean.copy_(features.mean(0))
        classifier.head.std.copy_(features.std(0) + 1e-6)
    info = {"backbone": "mobilenet_v3_small", "backbone_blocks": len(net.block_names),
            "head": {"kind": "linear", "hidden": 128}}
    return save_model_dir(TrainedModel(classifier, ["cat", "coffee", "rocket"], info), tmp_path_factory.mktemp("teach") / "model")


def test_a_teach_model_classifies_as_the_cli_does_and_exports_to_onnx(model_dir, pictures, tmp_path):
    import onnxruntime as ort

    from engine.features.teach.imaging import to_batch
    from engine.features.teach.model import ModelDirError, load_model_dir

    clf = api.load_classifier(model_dir, device="cpu")
    assert clf.labels == ("cat", "coffee", "rocket") and clf.input_size == 224
    reference = load_model_dir(model_dir)
    batch = to_batch(pictures)
    with torch.inference_mode():
        expected = reference.classifier(batch).numpy()  # what `teach predict` computes
    for picture, want in zip(pictures, expected):
        label, score, probabilities = clf(picture)
        assert probabilities.dtype == np.float32 and probabilities.shape == (3,)
        np.testing.assert_allclose(probabilities, want, atol=1e-6)
        assert label == clf.labels[int(want.argmax())] and score == pytest.approx(float(want.max()), abs=1e-6)
    assert len({int(p.argmax()) for p in expected}) > 1  # the pictures are told apart

    path = clf.export_onnx(tmp_path / "classifier.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"image": batch.numpy()})[0] - expected).max() < 1e-4
    assert (tmp_path / "labels.txt").read_text().split() == ["cat", "coffee", "rocket"]

    with pytest.raises(ModelDirError, match="a Teach model folder"):
        api.load_classifier(tmp_path / "nothing-here")


# -- face embeddings -------------------------------------------------------------------
@pytest.fixture(scope="module")
def facenet_checkpoint(tmp_path_factory):
    """A random Inception-ResNet-v1 saved as a plain state_dict, FaceNet's published layout."""
    from engine.features.faces.inception_resnet_v1 import InceptionResnetV1

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("facenet") / "random-facenet.pt"
    torch.save(InceptionResnetV1().state_dict(), path)
    return path


def test_a_face_embedder_embeds_as_the_faces_pipeline_does(home, facenet_checkpoint, photo):
    from engine.features.faces.align import align_face
    from engine.features.faces.detectors import HaarDetector
    from engine.features.faces.embedders import make_embedder
    from engine.features.faces.recognizer import FaceRecognizer

    with pytest.raises(WeightsMissingError, match="models fetch facenet-vggface2"):
        api.load_face_embedder("facenet-vggface2", device="cpu")
    _install("facenet-vggface2", facenet_checkpoint)
    emb = api.load_face_embedder("facenet-vggface2", device="cpu")
    meta = catalog().get("facenet-vggface2").meta
    assert (emb.dim, emb.metric, emb.threshold) == (512, meta["metric"], meta["threshold"])

    astronaut = photo
    face = HaarDetector().detect(astronaut)[0]
    vector = emb(astronaut, face.box)
    assert vector.dtype == np.float32 and vector.shape == (512,)
    pipeline = FaceRecognizer(HaarDetector(), make_embedder("facenet-vggface2"))
    expected = pipeline.embed_faces(astronaut, [face], [align_face(astronaut, face)])[0]
    np.testing.assert_allclose(vector, expected, atol=1e-5)
    np.testing.assert_allclose(emb(align_face(astronaut, face)), expected, atol=1e-5)

    coffee = _bgr(skimage.data.coffee())
    other = emb(coffee, [100, 100, 260, 260])
    assert emb.distance(vector, vector) == pytest.approx(0.0, abs=1e-3) and emb.same_person(vector, vector)
    assert emb.distance(vector, other) > 0
    with pytest.raises(ValueError, match="box must be x1, y1, x2, y2"):
        emb(astronaut, [10, 10, 5, 50])
    with pytest.raises(ValueError, match="a face chip is square"):
        emb(astronaut[:, :300])

    lbp = api.load_face_embedder("lbp")  # classical: always there
    assert lbp(align_face(astronaut, face)).shape == (lbp.dim,)
    with pytest.raises(ValueError, match="unknown embedder 'nobody'"):
        api.load_face_embedder("nobody")
