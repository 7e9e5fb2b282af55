"""Epoch orders (recognizer.sampling): a balanced epoch's shares against hand counts, the shuffle it reduces to on
equal counts, and the env, a resumed env, the stream and pretraining each drawing the order they are told."""
import io

import numpy as np
import pytest
import torch

from freqmix.cli import main
from freqmix_base.errors import FreqmixError
from mixup_env.env import FreqMixUpEnv
from mixup_env.frequency import FrequencyTransform
from recognizer.config import RecognizerConfig
from recognizer.data import synthetic_faces
from recognizer.pretrain import pretrain_backbone
from recognizer.sampling import balanced_epoch, epoch_order
from recognizer.streaming import SeededStreamSampler, StreamedTrainingSet

# 15 faces of 3 identities held 10, 2 and 3 times: a balanced epoch gives each identity 5 slots, so identity 1's two
# faces fill them 3 and 2 times, identity 2's three faces 2, 2 and 1 times, and 5 of identity 0's ten appear once.
UNEVEN = np.array([0] * 10 + [1] * 2 + [2] * 3)


@pytest.mark.parametrize("seed", range(5))
def test_balanced_epoch_gives_each_identity_an_equal_share(seed):
    order = balanced_epoch(UNEVEN, np.random.default_rng(seed))
    assert order.shape == (15,) and order.dtype == np.int64
    uses = np.bincount(order, minlength=15)
    assert np.bincount(UNEVEN[order]).tolist() == [5, 5, 5]
    assert sorted(uses[10:12]) == [2, 3] and sorted(uses[12:15]) == [1, 2, 2]
    assert sorted(uses[:10]) == [0] * 5 + [1] * 5
    # 11 faces over 3 identities: shares of 4, 4 and 3, the larger ones drawn at random
    shares = np.bincount(np.array([0] * 8 + [1] * 2 + [2])[balanced_epoch(np.array([0] * 8 + [1] * 2 + [2]),
                                                                          np.random.default_rng(seed))])
    assert sorted(shares.tolist()) == [3, 4, 4]


def test_equal_counts_draw_exactly_the_shuffle():
    labels = np.repeat(np.arange(4), 5)
    balanced, shuffled = np.random.default_rng(3), np.random.default_rng(3)
    assert np.array_equal(balanced_epoch(labels, balanced), shuffled.permutation(20))
    assert balanced.random() == shuffled.random()  # and the generator is left where a shuffle leaves it
    assert np.array_equal(epoch_order("shuffle", UNEVEN, np.random.default_rng(1)),
                          np.random.default_rng(1).permutation(15))


def test_an_unknown_sampler_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FREQMIX_DEBUG", raising=False)
    with pytest.raises(FreqmixError, match="unknown sampler 'uniform'; choose one of shuffle, balanced"):
        epoch_order("uniform", UNEVEN, np.random.default_rng(0))
    faces = synthetic_faces(num_identities=3, images_per_identity=4, image_size=16, seed=0)
    with pytest.raises(FreqmixError, match="unknown sampler"):
        FreqMixUpEnv(faces, k_choices=(2,), batch_size=4, embedding_dim=8, sampler="uniform")
    with pytest.raises(SystemExit) as usage:
        main(["train", "--sampler", "uniform", "--out", str(tmp_path / "run")])
    assert usage.value.code == 2 and "invalid choice: 'uniform'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def _uneven_faces():
    # identity 0 holds 12 faces, identities 1-3 hold 2 each: 18 faces, 3 batches of 6 per epoch
    faces = synthetic_faces(num_identities=4, images_per_identity=12, image_size=16, seed=0)
    keep = [i for i in range(len(faces)) if faces.labels[i] == 0 or i % 12 < 2]
    return faces.subset(keep)


@pytest.mark.parametrize("sampler, shares", [("balanced", {4, 5}), ("shuffle", {2, 12})])
def test_the_env_trains_each_epoch_in_its_samplers_order(sampler, shares):
    faces = _uneven_faces()
    env = FreqMixUpEnv(faces, k_choices=(1,), batch_size=6, embedding_dim=8, augment_shift=0.0, sampler=sampler)
    env.reset(seed=0)
    seen, train_step = [], env.recognizer.train_step
    env.recognizer.train_step = lambda x, soft: seen.append(soft.argmax(1)) or train_step(x, soft)
    for _ in range(2 * env.steps_per_epoch):
        env.step(0)
    for epoch in (seen[:3], seen[3:]):
        assert set(np.bincount(torch.cat(epoch).numpy(), minlength=4).tolist()) == shares


def _through_disk(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_a_resumed_env_continues_a_balanced_order_bit_exactly():
    faces = _uneven_faces()

    def env():
        return FreqMixUpEnv(faces, k_choices=(2,), batch_size=6, embedding_dim=8, steps_per_episode=100)

    straight = env()
    straight.reset(seed=2)
    expected = [straight.step(0)[1] for _ in range(7)]
    first = env()
    first.reset(seed=2)
    head = [first.step(0)[1] for _ in range(4)]  # the second epoch's order is drawn at step 3
    resumed = env()
    resumed.load_state_dict(_through_disk(first.state_dict()))
    assert head + [resumed.step(0)[1] for _ in range(3)] == expected


def test_the_stream_balances_its_epochs_by_the_labels(image_folder):
    stream = iter(SeededStreamSampler(15, seed=2, balance=UNEVEN))
    epochs = [[next(stream) for _ in range(15)] for _ in range(2)]
    for e, order in enumerate(epochs):
        assert order == balanced_epoch(UNEVEN, np.random.default_rng([2, e])).tolist()
    with pytest.raises(FreqmixError, match="one label per image"):
        SeededStreamSampler(14, seed=2, balance=UNEVEN)
    streamed = StreamedTrainingSet(image_folder({"ann": 7, "bob": 2, "cy": 3}), image_size=16, num_workers=0)
    for sampler, shares in (("balanced", [4, 4, 4]), ("shuffle", [7, 2, 3])):
        loader = streamed.loader(batch_size=4, seed=0, sampler=sampler)
        labels = torch.cat([loader.next_batch()[1] for _ in range(3)])
        assert np.bincount(labels.numpy()).tolist() == shares


def test_pretraining_draws_its_epochs_in_the_samplers_order():
    public = _uneven_faces()
    transform = FrequencyTransform(1)
    for sampler, shares in (("balanced", {4, 5}), ("shuffle", {2, 12})):
        seen = []

        def record(x, labels, rng):
            seen.append(labels.clone())
            return x, torch.eye(4)[labels]

        pretrain_backbone(public, transform, RecognizerConfig(embedding_dim=8), steps=3, batch_size=6, mix=record,
                          sampler=sampler)
        assert set(np.bincount(torch.cat(seen).numpy(), minlength=4).tolist()) == shares


def test_on_equal_counts_a_balanced_env_is_the_shuffled_one_bit_for_bit():
    faces = synthetic_faces(num_identities=4, images_per_identity=6, image_size=16, seed=0)
    rewards = {}
    for sampler in ("balanced", "shuffle"):
        env = FreqMixUpEnv(faces, k_choices=(3,), batch_size=6, embedding_dim=8, steps_per_episode=100,
                           sampler=sampler)
        env.reset(seed=1)
        rewards[sampler] = [env.step(0)[1] for _ in range(9)]  # two epoch orders drawn
    assert rewards["balanced"] == rewards["shuffle"]
