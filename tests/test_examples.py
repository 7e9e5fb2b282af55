"""Every script in examples/ runs top to bottom with a tiny budget and prints what it promises."""
import runpy
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).parents[1] / "examples"
TINY = ["--image-size", "32", "--steps", "8"]
EXPECTED = {
    "train_reinforce.py": ("learned P(k): k=2:", "running-mean baseline"),
    "train_ppo.py": ("PPO: 16 steps, held-out identification accuracy",),  # one whole rollout of ppo.yml
    "swap_algorithms.py": ("reinforce: mean reward", "dqn: mean reward", "sac: mean reward"),
    "use_registered_env.py": ("actions: MultiDiscrete([5 5 2 4])", "step   8  k=6", "vectorized: 2 envs"),
}


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script, monkeypatch, capsys, tmp_path):
    threads = torch.get_num_threads()
    extra = ["--agents", "reinforce,dqn,sac"] if script == "swap_algorithms.py" else []
    monkeypatch.setattr(sys, "argv", [script, *TINY, *extra])
    monkeypatch.chdir(tmp_path)
    try:
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    finally:
        torch.set_num_threads(threads)  # the scripts pin one thread
    out = capsys.readouterr().out
    for expected in EXPECTED[script]:
        assert expected in out
