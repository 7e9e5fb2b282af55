"""Figures and facts that README.md and docs/ state and the code can produce, checked against the code: the quick
start's budget, what an epoch trains, the defaults the option tables quote. (Times are quoted from a command's
output, and say so; no test times anything. The import graph that docs/interfaces.md prints is checked in
tests/test_import_graph.py, one registration per algorithm in tests/test_agents_train.py.)"""
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from freqmix.experiment.assembly import total_steps
from freqmix.experiment.config import RUN_OBJECTIVE, RUN_PROBE_EVERY, TaskConfig, TrainConfig
from freqmix.experiment.task import load_task
from mixup_env.env import FreqMixUpEnv
from mixup_env.env_config import EnvConfig
from mixup_env.spaces import PAPER_K_CHOICES
from mixup_env.transform_config import DEFAULT_N_HIGH
from recognizer.faces import FaceDataset
from recognizer.sampling import epoch_order

ROOT = Path(__file__).resolve().parents[1]
README = " ".join((ROOT / "README.md").read_text().split())  # one line: sentences wrap anywhere


def test_the_quick_start_trains_the_default_budget_the_readme_states():
    found = re.search(r"The main job trains (\d+) recognizer steps \(the default budget: (\d+) epochs of the (\d+) "
                      r"training faces of the synthetic set, (\d+)×\d+, each epoch (\d+) batches of (\d+)\)", README)
    assert found, "README's Set-up no longer states the main job's budget in the form this test reads"
    config = TrainConfig()
    train = load_task(config).train
    per_epoch = len(train) // config.training.batch_size
    assert tuple(map(int, found.groups())) == (total_steps(config, len(train)), config.training.epochs, len(train),
                                               config.task.image_size, per_epoch, config.training.batch_size)
    # Its time is a command's output, quoted as such.
    assert re.search(r"`freqmix train --threads 1` printed `[\d.]+ s` \(its `wall_seconds`", README)


def test_an_episode_is_an_epoch_whose_leftover_faces_sit_out_and_balanced_epochs_repeat_faces():
    assert "trains each training image exactly once" not in README
    sentence = "an episode is one epoch of ⌊N / batch⌋ steps over the N training faces"
    assert sentence in README and "the N mod batch faces at the epoch's end sit it out" in README
    labels = torch.tensor([0] * 7 + [1] * 3)
    faces = FaceDataset(images=torch.zeros(10, 1, 16, 16, dtype=torch.uint8), labels=labels, names=["a", "b"],
                        paths=[""] * 10)
    env = FreqMixUpEnv(faces, batch_size=4, embedding_dim=8, k_choices=(2, 3, 4))
    assert env.steps_per_episode == 10 // 4  # two faces of every epoch sit it out
    order = epoch_order("balanced", labels.numpy(), np.random.default_rng(0))
    assert len(order) == 10 and len(np.unique(order)) < 10  # identity b's 3 faces fill half: some come twice


@pytest.mark.parametrize("phrase, value", [
    (r"multiple of 8 \(default (\d+)\)", TaskConfig().image_size),
    (r"for E epochs \(default (\d+)\)", TaskConfig().pretrain_epochs),
    (r"default ([\d.]+): (\d+) px at (\d+)", None),
    (r"clean-probe target \(default ([\d.]+)\)", RUN_OBJECTIVE.accuracy_target),
    (r"dual ascent step \(default ([\d.]+)\)", RUN_OBJECTIVE.lambda_lr),
    (r"`--probe-every N` \| clean-probe accuracy every N steps \(default (\d+)", RUN_PROBE_EVERY),
    (r"clean-probe accuracy on (\d+) training faces", EnvConfig().probe_size),
    (r"PPFR-FD's (\d+) high-frequency channels", DEFAULT_N_HIGH),
    (r"\(default N = (\d+)\)", DEFAULT_N_HIGH),
    (r"k choices \| \{([\d, ]+)\}", PAPER_K_CHOICES),
])
def test_the_defaults_the_readme_quotes_are_the_code_s(phrase, value):
    found = re.search(phrase, README)
    assert found, f"README no longer says {phrase!r}"
    if value is None:  # the augmentation's shift: its default and the pixels it makes at 112
        shift, pixels, side = float(found[1]), int(found[2]), int(found[3])
        assert shift == EnvConfig().augment_shift and round(shift * side) == pixels
    elif isinstance(value, tuple):
        assert tuple(int(k) for k in found[1].split(",")) == value
    else:
        assert float(found[1]) == value
