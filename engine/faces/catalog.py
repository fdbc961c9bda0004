"""Catalog entries of the Faces tab's downloadable models.

The classical LBP embedder and the Haar detector ship with the app (OpenCV carries the
cascade), so they need no entry. Sizes and SHA-256 digests that are not published are
recorded on first download by the weights cache.
"""

from __future__ import annotations

from pathlib import Path

from engine.weights.catalog import CatalogEntry, ModelFile

_FACENET_RELEASE = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9"
_OPENCV_ZOO = "https://github.com/opencv/opencv_zoo/raw/main/models"
_FACENET_LICENSE = "MIT (weights: see note)"
_FACENET_NOTE = (
    " Weights ported to PyTorch by facenet-pytorch (MIT) from David Sandberg's FaceNet (MIT);"
    " the training set's own terms (research use) may apply to the weights."
)


def _validate_facenet(path: Path) -> None:
    # Imported lazily: the catalog is read by the GUI's pickers, which need no torch model.
    from engine.faces.facenet import load_checkpoint

    load_checkpoint(path)


def _validate_onnx(path: Path) -> None:
    from engine.faces.models import check_onnx_file

    check_onnx_file(path)


ENTRIES: list[CatalogEntry] = [
    CatalogEntry(
        name="facenet-vggface2",
        task="faces",
        title="FaceNet Inception-ResNet-v1 (VGGFace2) — 512-d embeddings",
        files=(ModelFile("20180402-114759-vggface2.pt", f"{_FACENET_RELEASE}/20180402-114759-vggface2.pt"),),
        license=_FACENET_LICENSE,
        source="https://github.com/timesler/facenet-pytorch",
        description="FaceNet trained on VGGFace2 (LFW accuracy 0.9965)." + _FACENET_NOTE,
        preprocessing={"input_size": 160, "colour": "RGB", "mean": 127.5, "std": 128.0},
        extra={"kind": "embedder", "metric": "euclidean", "threshold": 1.1, "dim": 512, "num_classes": 8631},
        default=True,
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
        preprocessing={"input_size": 160, "colour": "RGB", "mean": 127.5, "std": 128.0},
        extra={"kind": "embedder", "metric": "euclidean", "threshold": 1.1, "dim": 512, "num_classes": 10575},
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
        preprocessing={"input_size": 112, "colour": "BGR", "alignment": "5-point ArcFace template"},
        extra={"kind": "embedder", "metric": "cosine", "threshold": round(1.0 - 0.363, 3), "dim": 128},
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
        preprocessing={"colour": "BGR", "input_size": "any (set per frame)"},
        extra={"kind": "detector"},
        validator=_validate_onnx,
    ),
]
