"""The Faces tab's networks as the Feature maps tab opens them (``Feature.inspectables``)."""

from __future__ import annotations

from engine.models.inspectable import ModelSpec


def facenet_spec() -> ModelSpec:
    """FaceNet's Inception-ResNet v1 (512-d embeddings, random weights)."""
    from engine.features.faces.catalog import FACENET_TRANSFORMS
    from engine.features.faces.inception_resnet_v1 import InceptionResnetV1

    return ModelSpec(
        name="facenet",
        title="FaceNet Inception-ResNet v1",
        build=lambda: InceptionResnetV1(num_classes=None),
        transforms=FACENET_TRANSFORMS,
        categories=(),
    )
