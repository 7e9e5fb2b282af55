"""Defender pretraining: a backbone trained on public faces through the run's own mask starts the private run."""
import json

import numpy as np
import pytest
import torch

from freqmix.cli import main
from mixup_env.env import FreqMixUpEnv
from mixup_env.frequency import FrequencyTransform
from mixup_env.masking import FrequencyMixUp
from mixup_env.recipe import Recipe
from mixup_env.transform_config import TransformConfig
from recognizer.data import synthetic_faces
from recognizer.accuracy import identification_accuracy
from recognizer.pretrain import pretrain_backbone
from recognizer.config import RecognizerConfig
from recognizer.trainer import CheckpointError, Recognizer

MASK = TransformConfig(key=7)  # a keyed shuffle of every channel (synthetic faces hold little high frequency)
FAST = ["--image-size", "16", "--steps", "2", "--batch-size", "6", "--no-progress"]


@pytest.fixture(scope="module")
def public():
    return synthetic_faces(num_identities=6, images_per_identity=6, image_size=64, seed=1)


def _pretrained(public, steps: int, seed: int = 0) -> dict[str, torch.Tensor]:
    transform = FrequencyTransform.from_config(1, MASK)
    return pretrain_backbone(public, transform, RecognizerConfig(embedding_dim=16), steps, batch_size=12,
                             max_shift=2, seed=seed)


def test_pretraining_is_seeded_and_learns_the_public_identities(public):
    transform = FrequencyTransform.from_config(1, MASK)
    x = transform(public.images.float())
    first, again = _pretrained(public, 5), _pretrained(public, 5)
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)

    def accuracy(state):
        rec = Recognizer(x.shape[1], 2, embedding_dim=16, seed=5)
        if state is not None:
            rec.load_backbone(state)
        emb = rec.embed(x)
        even = torch.arange(len(x)) % 2 == 0  # half of each identity's images as gallery, half as probes
        return identification_accuracy(emb[even], public.labels[even], emb[~even], public.labels[~even])

    assert accuracy(_pretrained(public, 150)) >= 0.9 > accuracy(None) + 0.2


def test_every_fresh_recognizer_of_the_env_starts_from_the_initial_backbone(public):
    state = _pretrained(public, 2)
    env = FreqMixUpEnv(public, key=7, embedding_dim=16, batch_size=12,
                       initial_backbone=state, episode="run", total_steps=2)
    for _ in range(2):  # the first run, then the fresh one an episode end starts
        env.reset(seed=0) if env.recognizer is None else env.reset()
        weights = env.recognizer.backbone.state_dict()
        assert all(torch.equal(weights[k], state[k]) for k in state)
        for _ in range(2):
            env.step(env.action_space.sample())


def test_a_backbone_of_another_shape_is_refused(public):
    state = _pretrained(public, 1)
    with pytest.raises(CheckpointError, match="size mismatch"):
        Recognizer(36, 3, embedding_dim=16).load_backbone(state)


def test_train_pretrains_on_public_faces(tmp_path, image_folder, capsys):
    faces = image_folder({"ann": 4, "bob": 4, "cid": 4}, size=(16, 16), root="private")
    public_faces = image_folder({"dan": 3, "eve": 3}, size=(16, 16), root="public")
    out = tmp_path / "run"
    args = ["train", "--data", str(faces), "--channels", "high", "--n-high", "8", "--key", "3", "--out", str(out),
            *FAST]
    assert main([*args, "--pretrain-on", str(public_faces), "--pretrain-epochs", "2"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["task"]["pretrain_on"] == str(public_faces) and config["task"]["pretrain_epochs"] == 2
    pretrained = Recognizer.load(out / "recognizer.pt")
    assert main([*args, "--overwrite"]) == 0
    plain = Recognizer.load(out / "recognizer.pt")
    x = torch.randn(2, pretrained.config["in_channels"], 2, 2)
    assert not torch.allclose(pretrained.embed(x), plain.embed(x))


def test_mixed_pretraining_trains_on_the_runs_mixes_of_public_faces(public, tmp_path, image_folder):
    seen = []

    def spy(x, labels, rng):
        mixed = FrequencyMixUp(public.num_identities)(Recipe(k=3), x, labels, rng)
        seen.append(mixed.soft_labels)
        return mixed.x, mixed.soft_labels

    transform = FrequencyTransform.from_config(1, MASK)
    mixed = pretrain_backbone(public, transform, RecognizerConfig(embedding_dim=16), 4, batch_size=12, max_shift=2,
                              mix=spy)
    assert len(seen) == 4 and all(s.shape == (12, 6) and torch.allclose(s.sum(1), torch.ones(12)) for s in seen)
    assert max(int((s > 0).sum(1).max()) for s in seen) > 1  # labels of several identities: the faces were mixed
    plain = _pretrained(public, 4)
    assert any(not torch.equal(mixed[k], plain[k]) for k in plain)
    # Through the command: --pretrain-k is saved with the run and changes the start.
    faces = image_folder({"ann": 4, "bob": 4, "cid": 4}, size=(16, 16), root="private")
    public_faces = image_folder({"dan": 3, "eve": 3, "fay": 3}, size=(16, 16), root="public")
    args = ["train", "--data", str(faces), "--key", "3", "--pretrain-on", str(public_faces), "--pretrain-epochs", "2",
            *FAST]
    assert main([*args, "--pretrain-k", "3", "--out", str(tmp_path / "k3")]) == 0
    assert main([*args, "--out", str(tmp_path / "k1")]) == 0
    assert json.loads((tmp_path / "k3" / "config.json").read_text())["task"]["pretrain_k"] == 3
    x = torch.randn(2, Recognizer.load(tmp_path / "k1" / "recognizer.pt").config["in_channels"], 2, 2)
    embeddings = [Recognizer.load(tmp_path / run / "recognizer.pt").embed(x) for run in ("k1", "k3")]
    assert not torch.allclose(*embeddings)


@pytest.mark.parametrize("public, extra, message", [
    ("nowhere", [], "nowhere"),
    ("faces", ["--pretrain-epochs", "0"], "--pretrain-epochs must be > 0"),
    ("faces", ["--pretrain-k", "0"], "--pretrain-k must be 1 to the batch size (6), not 0"),
    ("faces", ["--pretrain-k", "7"], "--pretrain-k must be 1 to"),
])
def test_unusable_pretraining_is_a_user_error_before_anything_is_written(tmp_path, image_folder, capsys, public,
                                                                          extra, message):
    faces = image_folder({"ann": 6, "bob": 6}, size=(16, 16))
    out = tmp_path / "run"
    code = main(["train", "--data", str(faces), "--pretrain-on", str(tmp_path / public), *extra,
                 "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert code == 2 and err.count("freqmix: error:") == 1 and message in err
    assert not out.exists()


def test_pretraining_with_several_processes_is_refused(tmp_path, image_folder, capsys):
    faces = image_folder({"ann": 6, "bob": 6}, size=(16, 16))
    code = main(["train", "--data", str(faces), "--pretrain-on", str(faces), "--nproc", "2",
                 "--out", str(tmp_path / "run"), *FAST])
    assert code == 2 and "--nproc" in capsys.readouterr().err
