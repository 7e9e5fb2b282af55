"""The wheel a plain ``pip install .`` builds: the packages users import, and the data files they read."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from agents.hyperparams import HYPERPARAMS_DIR

ROOT = Path(__file__).parents[1]
PACKAGES = ("mixup_env", "recognizer", "agents", "attacks", "freqmix")


def test_wheel_ships_the_packages_and_the_hyperparameter_files(tmp_path):
    # Build from a copy, so that no build/ folder is left in the source tree to leak into later builds.
    source = tmp_path / "source"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
                           str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("freqmix-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == set(PACKAGES)  # no tests/, examples/, nor a top-level "benchmarks" in site-packages
    shipped_yaml = {name for name in names if name.startswith("agents/hyperparams_yaml/")}
    assert shipped_yaml == {f"agents/hyperparams_yaml/{path.name}" for path in HYPERPARAMS_DIR.glob("*.yml")}
    assert len(shipped_yaml) == 6 and "freqmix/benchmarks/timing.py" in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "freqmix = freqmix.cli:main" in entry_points
