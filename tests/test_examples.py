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
    "sb3_in_a_minute.py": ("PPO: 120 recognizer steps, episode returns [",),  # 20 episodes, as the README runs it
}
AS_IN_THE_README = {"sb3_in_a_minute.py"}  # run without arguments, the README's snippet as it stands


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script, monkeypatch, capsys, tmp_path):
    threads = torch.get_num_threads()
    extra = ["--agents", "reinforce,dqn,sac"] if script == "swap_algorithms.py" else []
    monkeypatch.setattr(sys, "argv", [script, *([] if script in AS_IN_THE_README else TINY), *extra])
    monkeypatch.chdir(tmp_path)
    try:
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    finally:
        torch.set_num_threads(threads)  # the scripts pin one thread
    out = capsys.readouterr().out
    for expected in EXPECTED[script]:
        assert expected in out


def test_the_readme_sb3_snippet_is_the_example():
    readme = (EXAMPLES.parent / "README.md").read_text()
    section = readme[readme.index("### Use the environment from your own code"):]
    start = section.index("```python\n") + len("```python\n")
    snippet = section[start:section.index("```", start)]
    assert snippet.strip() and snippet in (EXAMPLES / "sb3_in_a_minute.py").read_text()
