"""The Faces tab's networks as the Feature maps tab opens them (``Feature.inspectables``)."""

from __future__ import annotations

from engine.models.inspectable import ModelSpec, Preprocessing


def facenet_spec() -> ModelSpec:
    """FaceNet's Inception-ResNet v1 (512-d embeddings, random weights)."""
    from engine.features.faces.inception_resnet_v1 import InceptionResnetV1

    # FaceNet standardises pixels as (x - 127.5) / 128, i.e. mean 0.5 and std ~0.502 on [0, 1].
    return ModelSpec(
        name="facenet",
        title="FaceNet Inception-ResNet v1",
        build=lambda: InceptionResnetV1(num_classes=None),
        preprocessing=Preprocessing(input_size=160, mean=(0.5, 0.5, 0.5), std=(128 / 255,) * 3),
        categories=(),
    )
