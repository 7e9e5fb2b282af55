"""CI must prove the README's set-up: .ci/run runs exactly the README's test commands."""
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_ci_runs_the_readme_test_commands():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"Run the tests.*?```bash\n(.*?)```", readme, re.S)
    assert block, "README.md has no 'Run the tests' bash block"
    readme_commands = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    position = [ci_lines.index(command) for command in readme_commands]  # ValueError names a missing command
    assert position == sorted(position) and readme_commands[-1].startswith("python -m pytest")
