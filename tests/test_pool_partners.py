"""Partners from a public pool (InstaHide's cross-dataset mode): the env, the run and the attacker's view mix each
private face with public ones only, and the attacker, who holds the pool, regresses it out."""
import json

import numpy as np
import pytest
import torch

from attacks.attack import AttackSetting
from attacks.augment import dominant_faces
from attacks.budget import get_budget
from attacks.pool_regression import PoolRegression, pool_white_box, regress_pool
from attacks.protection import Protection, black_box_guess
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.defenses import defense_of, secret_key
from freqmix.experiment.launch import run_training
from freqmix.experiment.task import load_task
from freqmix_base.errors import FreqmixError
from mixup_env.env import FreqMixUpEnv
from mixup_env.frequency import FrequencyTransform
from mixup_env.recipe import Recipe
from recognizer.data import load_dataset, synthetic_faces
from recognizer.splits import private_split, split_identities


def _correlation(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    a, b = a.flatten(1).double(), b.flatten(1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return ((a / a.norm(dim=1, keepdim=True)) * (b / b.norm(dim=1, keepdim=True))).sum(dim=1).numpy()


@pytest.mark.parametrize("k", [2, 4])
def test_the_attacker_holding_the_pool_regresses_it_out_of_orl_mixes(shared_data, k):
    orl = private_split(load_dataset(shared_data("orl"), image_size=112, seed=0), 0.5, seed=0)
    truth = Protection.of(FrequencyTransform(1, "high", 36, secret_key(0)), {k: 1.0}, Recipe(partners="pool"),
                          pool=orl.auxiliary.images)
    faces = orl.train.images[:40].float()
    observed = truth.protect_all(faces, orl.train.labels[:40], np.random.default_rng(0))
    clean = truth.transform(faces)
    # Each row mixes its own face with pool faces only: nothing of another private face to score or separate.
    assert torch.equal(observed.components[:, 0], torch.arange(40)) and (observed.components[:, 1:] == -1).all()
    assert np.median(_correlation(observed.tensors, clean)) < 0.8
    recovered = regress_pool(observed.tensors, truth.pool_tensors, k)
    assert np.median(_correlation(recovered, clean)) >= 0.99  # measured 0.999


def test_the_pool_attack_is_the_decoder_where_rows_are_not_linear_pool_mixes():
    faces = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    private, aux = split_identities(faces, 0.5, seed=0)

    def setting(recipe: Recipe, shared: dict) -> AttackSetting:
        truth = Protection.of(FrequencyTransform(1, "high", 36, key=3), {2: 1.0}, recipe, batch_size=8,
                              pool=aux.images)
        observed = truth.protect_all(private.images.float(), private.labels, np.random.default_rng(0))
        guess = black_box_guess(truth, 1)
        return AttackSetting(truth, observed, guess, guess, aux, aux, None, torch.arange(2), None,
                             get_budget("smoke"), seed=0, shared=shared)

    shared = {}
    attack = pool_white_box(setting(Recipe(partners="pool"), shared))
    assert isinstance(attack, PoolRegression) and attack.k == 2
    assert attack.reconstruct(torch.randn(3, 36, 4, 4)).shape == (3, 1, 32, 32)
    flipped = pool_white_box(setting(Recipe(partners="pool", sign_flip=True), shared))
    assert not isinstance(flipped, PoolRegression)  # |y| is not linear: the decoder of magnitudes
    assert not isinstance(pool_white_box(setting(Recipe(), shared)), PoolRegression)


def test_a_mix_s_learned_target_is_never_a_pool_face():
    images = torch.arange(3.0).view(3, 1, 1, 1)
    partners = torch.tensor([[0, -1, -2], [1, 2, -1]])
    weights = torch.tensor([[0.2, 0.5, 0.3], [0.3, 0.6, 0.1]])
    assert dominant_faces(images, partners, weights).flatten().tolist() == [0.0, 2.0]


def test_a_run_with_pool_partners_trains_on_its_attacker_identities(tmp_path):
    options = dict(data="synthetic", image_size=32, private_fraction=0.5, steps=4, batch_size=8, embedding_dim=16,
                   channels="high", key=5, hyperparams={"k": 3})
    config = TrainConfig.of(**options, partners="pool")
    task = load_task(config)
    assert task.pool is not None and set(task.pool.names).isdisjoint(task.train.names)
    run_training(config, tmp_path / "run", progress=False)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["identification_accuracy"] is not None
    with pytest.raises(FreqmixError, match="--private-fraction"):
        load_task(TrainConfig.of(**{**options, "private_fraction": None}, partners="pool"))
    with pytest.raises(FreqmixError, match="pass pool="):
        FreqMixUpEnv(task.train, partners="pool")
    with pytest.raises(FreqmixError, match="set partners='pool'"):
        FreqMixUpEnv(task.train, pool=task.pool)
    small = synthetic_faces(num_identities=2, images_per_identity=2, image_size=16, seed=0)
    with pytest.raises(FreqmixError, match="the pool's faces are 16 px"):
        FreqMixUpEnv(task.train, partners="pool", pool=small)


def test_the_pool_defenses_mix_at_k_4_with_public_partners():
    config = TrainConfig().defended_by(defense_of("hybrid4-pool", 0))
    assert config.recipe == Recipe(partners="pool") and config.agent.fixed_k() == 4
    flipped = TrainConfig().defended_by(defense_of("hybrid4-flip-pool", 0))
    assert flipped.recipe == Recipe(partners="pool", sign_flip=True)
