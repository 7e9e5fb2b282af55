"""k schedules as agents, episodes that are whole runs, and a saved policy deployed without learning."""
import pytest
import torch

from agents.baselines import KSchedule
from agents.build import build_agent
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.launch import run_training
from freqmix_base.errors import FreqmixError
from mixup_env.env import FreqMixUpEnv
from mixup_env.spaces import ActionCodec
from recognizer.data import synthetic_faces


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=6, images_per_identity=6, image_size=32, seed=0)


@pytest.mark.parametrize("name, expected", [
    ("linear", [2, 3, 4, 5, 6]),   # 2 + 4p at p = 0, .25, .5, .75, 1
    ("step", [2, 2, 6, 6, 6]),
    ("cosine", [2, 3, 4, 5, 6]),   # 2 + 4 (1 − cos πp)/2 = 2, 2.59, 4, 5.41, 6
])
def test_schedules_by_hand(name, expected):
    schedule = KSchedule(name, ActionCodec())
    assert [schedule.k_at(p) for p in (0, 0.25, 0.5, 0.75, 1.0)] == expected
    assert KSchedule("cosine", ActionCodec()).k_at(0.2) == 2  # 2 + 4 × 0.095 rounds to 2, the ramp's 2.8 to 3


def test_a_schedule_agent_ramps_k_over_the_run(faces):
    env = FreqMixUpEnv(faces, batch_size=12, embedding_dim=32)
    agent = build_agent("linear", env, seed=0)
    ks = []
    env_step = env.step

    def logged(action):
        out = env_step(action)
        ks.append(out[4]["k"])
        return out

    env.step = logged
    agent.learn(total_timesteps=10)
    assert ks == [2, 2, 3, 3, 4, 4, 4, 5, 5, 6]  # nearest k to 2 + 4 t/10


def test_run_episodes_train_a_fresh_recognizer_for_the_whole_budget(faces):
    env = FreqMixUpEnv(faces, batch_size=12, embedding_dim=32, episode="run", total_steps=5)
    assert env.steps_per_episode == 5
    env.reset(seed=0)
    first = env.recognizer
    for _ in range(5):
        *_, truncated, info = env.step(0)
    assert truncated and info["step"] == 5
    env.reset()
    assert env.recognizer is not first and env.recognizer.step == 0
    assert env.step(0)[4]["step"] == 1
    with pytest.raises(FreqmixError, match="total_steps"):
        FreqMixUpEnv(faces, batch_size=12, episode="run")


def test_a_saved_policy_acts_on_other_faces_without_learning(tmp_path):
    common = dict(data="synthetic", image_size=32, batch_size=8, embedding_dim=32, private_fraction=0.5,
                  channels="high", key=3, steps=12, probe_every=4)
    learned = tmp_path / "learn"
    run_training(TrainConfig.of(**common, agent="reinforce", episode="run", episodes=2,
                             train_identities="auxiliary"), learned, progress=False)
    before = (learned / "agent.zip").read_bytes()
    metrics = run_training(TrainConfig.of(**common, agent=str(learned / "agent.zip")), tmp_path / "deployed",
                           progress=False)
    assert metrics["steps"] == 12 and (learned / "agent.zip").read_bytes() == before
    assert not (tmp_path / "deployed" / "agent.zip").exists()  # it only acted
    with pytest.raises(FreqmixError, match="saved policy acts on"):
        run_training(TrainConfig.of(**{**common, "channels": "all"}, agent=str(learned / "agent.zip")),
                     tmp_path / "mismatch", progress=False)
    with pytest.raises(FreqmixError, match="no saved policy"):
        run_training(TrainConfig.of(**common, agent=str(tmp_path / "missing" / "agent.zip")), tmp_path / "none",
                     progress=False)


def test_learning_over_runs_measures_the_last_one(tmp_path):
    config = TrainConfig.of(data="synthetic", image_size=32, batch_size=8, embedding_dim=32, steps=6,
                         agent="reinforce", episode="run", episodes=3, reward="loss")
    metrics = run_training(config, tmp_path / "run", progress=False)
    rows = (tmp_path / "run" / "steps.csv").read_text().splitlines()
    assert len(rows) == 1 + 18 and metrics["steps"] == 6
    saved = torch.load(tmp_path / "run" / "recognizer.pt", weights_only=True)
    assert saved["step"] == 6  # the last run's trained recognizer, not the fresh one the final reset built
    steps = [int(row.split(",")[0]) for row in rows[1:]]
    assert steps == [1, 2, 3, 4, 5, 6] * 3  # each run's recognizer starts from step 0
    with pytest.raises(FreqmixError, match="--episodes"):
        run_training(TrainConfig.of(data="synthetic", image_size=32, steps=6, episodes=2), tmp_path / "bad",
                     progress=False)
