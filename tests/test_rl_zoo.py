"""RL Baselines3 Zoo as a client: ``python -m rl_zoo3.train`` on our env ids with the shipped YAML files."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from stable_baselines3 import PPO, TD3

from agents.hyperparams import HYPERPARAMS_DIR, load_hyperparams
from mixup_env import ENV_IDS

ROOT = Path(__file__).parents[1]
# A tiny env through --env-kwargs: 32-pixel synthetic faces, batches of 8 (k up to 6 needs >= 6), 8-step episodes.
TINY_ENV = ["image_size:32", "batch_size:8", "steps_per_episode:8"]
# RL Zoo's own keys for the Box algorithms: the wrapper freqmix train applies itself, and TD3's Gaussian noise.
BOX_PARAMS = ["env_wrapper:'agents.continuous.BoxRelaxation'", "noise_type:'normal'"]


def rl_zoo_train(algo: str, env_id: str, steps: int, logs: Path, params: list[str] = ()) -> Path:
    """Run ``rl_zoo3.train`` with ``-conf`` our YAML file; returns the saved model's path."""
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", env_id, "--gym-packages", "mixup_env",
               "-conf", str(HYPERPARAMS_DIR / f"{algo}.yml"), "-n", str(steps), "--eval-freq", "-1", "--seed", "0",
               "-f", str(logs), "--num-threads", "1", "--env-kwargs", *TINY_ENV]
    if params:
        command += ["-params", *params]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=logs.parent, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return logs / algo / f"{env_id}_1" / f"{env_id}.zip"


@pytest.mark.parametrize("algo, algorithm, env_id, steps, params", [
    ("ppo", PPO, "FreqMixUpRecipe-v0", 32, []),  # on-policy, two rollouts of n_steps=16 and one update
    ("td3", TD3, "FreqMixUp-v0", 40, BOX_PARAMS),  # off-policy through the Box relaxation, updates from step 32
])
def test_rl_zoo_trains_with_the_shipped_yaml(tmp_path, algo, algorithm, env_id, steps, params):
    model_path = rl_zoo_train(algo, env_id, steps, tmp_path / "logs", params)
    model = algorithm.load(model_path, device="cpu")
    ours = load_hyperparams(algo, env_id)
    assert model.num_timesteps == steps and model.gamma == ours["gamma"]
    assert model.policy_kwargs["net_arch"] == ours["policy_kwargs"]["net_arch"]
    assert model.lr_schedule(1.0) == pytest.approx(ours["learning_rate"])
    if algo == "td3":
        assert model.action_noise._sigma.tolist() == [ours["noise_std"]]


def test_shipped_yaml_carries_rl_zoo_budget_that_freqmix_drops():
    for path in sorted(HYPERPARAMS_DIR.glob("*.yml")):
        for env_id, entry in yaml.safe_load(path.read_text()).items():
            assert env_id in ENV_IDS and int(entry["n_timesteps"]) > 0, (path.name, env_id)
            assert "n_timesteps" not in load_hyperparams(path.stem, env_id)
