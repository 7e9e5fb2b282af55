"""Pieces added the documented way — a new attack and a new reward, each one file plus one registration — run
through the whole machinery; agents resume through their checkpoint protocol; two former special cases."""
import importlib.util
import json
import textwrap

import numpy as np
import pytest

from agents.policies import action_probabilities
from attacks.attack import Attack, no_seconds
from attacks.registry import ATTACKS
from freqmix.cli import main
from freqmix.compare import run_row
from freqmix.evaluate import evaluate_run
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.launch import run_training
from freqmix_base.errors import FreqmixError
from mixup_env.env import FreqMixUpEnv
from mixup_env.rewards import REWARDS, RewardConfig
from recognizer.data import synthetic_faces
from recognizer.streaming import StreamedTrainingSet
from test_attack_evaluate import TINY, _config

TINY_RUN = ["--image-size", "32", "--batch-size", "8", "--embedding-dim", "32", "--no-progress", "--seed", "3"]


def _module(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MEAN_FACE = """
    '''A black-box reconstruction attack that answers every protected tensor with the attacker's mean face.'''
    class MeanFace:
        def __init__(self, face):
            self.face = face

        def reconstruct(self, tensors):
            return self.face.expand(len(tensors), *self.face.shape).clone()


    def fit(setting):
        return MeanFace(setting.auxiliary.images.float().mean(dim=0))
"""


def test_a_new_attack_is_one_file_and_one_registration(tmp_path):
    attack = _module(tmp_path, "mean_face_attack", MEAN_FACE)
    ATTACKS.register("mean_face", Attack("reconstruction", "attacker's mean face", attack.fit, no_seconds,
                                         black_box=True))
    try:
        run = tmp_path / "run"
        run_training(_config(), run, progress=False)
        results = evaluate_run(run, TINY, progress=False)
        row = run_row(json.loads((run / "metrics.json").read_text()), results, None, 0.5, 1.0)  # compare's row
    finally:
        ATTACKS.unregister("mean_face")
    ours = results["reconstruction"]["mean_face"]
    others = {name: v for name, v in results["reconstruction"].items() if isinstance(v, dict)}
    assert results["summary"]["ssim"] == max(v["ssim_best"] for v in others.values())
    assert 0 < ours["ssim_best"] < 1 and "learning_curve" not in ours and "learning_curve" in others["cgan_black_box"]
    black = [v["ssim_best"] for name, v in others.items() if name in ("analytic_black_box", "cgan_black_box")]
    assert row["values"]["ssim_blackbox"] == max(black + [ours["ssim_best"]])
    assert "mean_face" not in ATTACKS


NEGATIVE_LOSS = """
    '''The recognizer's side of the game: reward = minus the loss of the mixed batch.'''
    from mixup_env.rewards import RewardTerms


    class NegativeLoss:
        needs_leakage = False

        def __init__(self, config):
            self.config = config

        def __call__(self, signals):
            return RewardTerms(-signals.loss, 0.0, 0.0)

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass
"""


def test_a_new_reward_is_one_file_and_one_registration(tmp_path):
    reward = _module(tmp_path, "negative_loss_reward", NEGATIVE_LOSS)
    REWARDS.register("negative_loss", reward.NegativeLoss)
    try:
        faces = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
        env = FreqMixUpEnv(faces, batch_size=8, embedding_dim=16, reward="negative_loss")
        env.reset(seed=0)
        rewards = [env.step(1)[1:] for _ in range(3)]
    finally:
        REWARDS.unregister("negative_loss")
    for value, _, _, info in rewards:
        assert value == pytest.approx(-info["loss"]) and info["loss"] > 0 and info["lambda"] == 0.0


@pytest.mark.parametrize("agent", ["linear", "saved"])
def test_schedules_and_saved_policies_resume_exactly(tmp_path, agent):
    if agent == "saved":
        assert main(["train", *TINY_RUN, "--agent", "reinforce", "--hp", "n_steps=4", "--steps", "4",
                     "--out", str(tmp_path / "policy")]) == 0
        agent = str(tmp_path / "policy" / "agent.zip")
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", *TINY_RUN, "--agent", agent, "--steps", "8", "--out", str(straight)]) == 0
    assert main(["train", *TINY_RUN, "--agent", agent, "--steps", "8", "--stop-at", "4", "--out", str(split)]) == 0
    assert main(["train", "--resume", str(split), "--no-progress"]) == 0
    assert (split / "steps.csv").read_text() == (straight / "steps.csv").read_text()
    ks = [line.split(",")[2] for line in (straight / "steps.csv").read_text().splitlines()[1:]]
    assert agent != "linear" or ks == sorted(ks, key=int)


def test_a_streamed_set_with_the_leakage_term_is_one_clear_error(image_folder):
    streamed = StreamedTrainingSet(image_folder({"ann": 4, "bob": 4}, size=(32, 32)), image_size=32, num_workers=0)
    with pytest.raises(FreqmixError, match="stream"):
        FreqMixUpEnv(streamed, batch_size=6, reward="constrained", privacy="leakage")


def test_a_secret_drop_in_the_env_keeps_each_face_s_channels_from_epoch_to_epoch_and_needs_named_faces(
        image_folder):
    faces = synthetic_faces(num_identities=4, images_per_identity=6, image_size=32, seed=0)
    env = FreqMixUpEnv(faces, batch_size=6, embedding_dim=16, steps_per_episode=100, channels="high", n_high=20,
                       key=3, k_choices=(1,), drop=0.5, drop_secret=True)
    env.reset(seed=0)
    trained_on = []
    train_step = env.recognizer.train_step
    env.recognizer.train_step = lambda x, soft: trained_on.append(x.clone()) or train_step(x, soft)
    seen = {}
    for _ in range(3 * env.steps_per_epoch):  # three epochs: every face three times, in other batches
        batch = env._batch_index.tolist()
        env.step(0)
        for face, row in zip(batch, trained_on[-1].flatten(2).abs().sum(2) == 0):
            seen.setdefault(face, set()).add(tuple(row.tolist()))
    assert len(seen) == len(faces) and all(sum(dropped) == 10 for subsets in seen.values() for dropped in subsets)
    assert all(len(subsets) == 1 for subsets in seen.values())
    with pytest.raises(FreqmixError, match="drop_secret .* secret key"):
        FreqMixUpEnv(faces, batch_size=6, drop=0.5, drop_secret=True)
    streamed = StreamedTrainingSet(image_folder({"ann": 4, "bob": 4}, size=(32, 32)), image_size=32, num_workers=0)
    with pytest.raises(FreqmixError, match="streamed set"):
        FreqMixUpEnv(streamed, batch_size=6, key=3, drop=0.5, drop_secret=True)


class _ValueAgent:
    """A value-based agent that is no DQN (as sb3-contrib's QRDQN is not): epsilon-greedy around predict()."""

    def __init__(self, space, greedy, exploration_rate):
        self.action_space, self.greedy, self.exploration_rate = space, greedy, exploration_rate

    def predict(self, observation, deterministic=False):
        assert deterministic
        return np.array(self.greedy), None


def test_epsilon_greedy_probabilities_need_no_dqn():
    from gymnasium import spaces

    probs = action_probabilities(_ValueAgent(spaces.Discrete(4), 2, 0.2), np.zeros(3, dtype=np.float32))
    assert np.allclose(probs[0], [0.05, 0.05, 0.85, 0.05])


def test_freqmix_error_is_public_and_the_run_defaults_are_stated_once():
    import freqmix

    assert freqmix.FreqmixError is FreqmixError and issubclass(FreqmixError, ValueError)
    # The run's own choices (the env alone defaults to the paper's loss reward, probing at episode ends) ...
    assert TrainConfig().objective.reward == "constrained" and TrainConfig().training.probe_every == 10
    # ... and every other default is the piece's: one the pieces change is the run's too.
    assert TrainConfig().env_config().objective == RewardConfig(reward="constrained")
