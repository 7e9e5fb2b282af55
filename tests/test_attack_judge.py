"""The pretrained judge (dlib's ResNet descriptor, nearest centroid): clean ORL faces identified, descriptors
normalised and deterministic, bad input refused."""
import pytest
import torch

import attacks.judge

from attacks.judge import PretrainedJudge, describe, face_chips
from freqmix_base.errors import FreqmixError
from recognizer.data import load_dataset, synthetic_faces
from recognizer.splits import split_identities, split_per_identity


def test_descriptors_are_unit_vectors_and_deterministic():
    faces = synthetic_faces(num_identities=2, images_per_identity=2, image_size=32, seed=0).images.float()
    first = describe(faces)
    assert first.shape == (4, 128)
    assert torch.allclose(first.norm(dim=1), torch.ones(4, dtype=torch.float64))
    assert torch.equal(first, describe(faces))
    assert [chip.shape for chip in face_chips(faces[:1], "whole")] == [(150, 150, 3)]


def test_judge_describes_each_distinct_face_once(monkeypatch):
    faces = synthetic_faces(num_identities=2, images_per_identity=3, image_size=32, seed=0).images.float()
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    described = []

    def counting_describe(images, alignment="landmarks"):
        described.append(len(images))
        return describe(images, alignment)

    monkeypatch.setattr(attacks.judge, "describe", counting_describe)
    judge = PretrainedJudge(faces[:4], labels[:4])
    # Faces seen in the gallery, a face twice in one call and a new face differing only below rounding: one new.
    again = torch.cat([faces[1:3], faces[5:6], faces[5:6] + 0.2])
    assert torch.equal(judge.embed(again), describe(again))
    assert described == [4, 1]
    assert judge.embed(faces[:0]).shape == (0, 128)


def test_bad_input_is_refused():
    with pytest.raises(FreqmixError, match="alignment"):
        face_chips(torch.zeros(1, 1, 16, 16), "tilted")
    with pytest.raises(FreqmixError, match="N, 1 or 3"):
        describe(torch.zeros(1, 2, 16, 16))


@pytest.mark.slow
@pytest.mark.data
def test_judge_identifies_clean_orl_faces(shared_data):
    # The private half of ORL as freqmix evaluate splits it: 20 identities, 5 gallery and 5 held-out faces each.
    full = load_dataset(shared_data("orl"), image_size=112, seed=0)
    private, _ = split_identities(full, 0.5, seed=0)
    gallery, held_out = split_per_identity(private, seed=0)
    judge = PretrainedJudge(gallery.images, gallery.labels)
    accuracy = (judge.logits(held_out.images).argmax(dim=1) == held_out.labels).float().mean().item()
    assert accuracy >= 0.95
