"""The package import graph: arrows point one way (command line -> experiment -> domain packages -> base layer)
and no module imports itself back through others."""
import subprocess
import sys
from pathlib import Path

from freqmix_base.import_graph import cycles, main

ROOT = Path(__file__).resolve().parent.parent


def test_the_project_has_no_upward_import_and_no_cycle():
    done = subprocess.run([sys.executable, "-m", "freqmix_base.import_graph", str(ROOT)], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "upward imports: 0" in done.stdout and "import cycles: 0" in done.stdout
    # docs/interfaces.md prints this output: its module count and its arrows between layers are the tool's.
    doc = (ROOT / "docs" / "interfaces.md").read_text()
    printed = doc.split("`python -m freqmix_base.import_graph` on this tree:\n```\n", 1)[1].split("```", 1)[0]
    assert printed == done.stdout, f"paste this into docs/interfaces.md:\n{done.stdout}"


def test_an_upward_import_and_a_cycle_fail(tmp_path):
    for package in ("freqmix_base", "recognizer", "mixup_env", "agents", "attacks", "freqmix"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "recognizer" / "a.py").write_text("from recognizer.b import x\n")
    (tmp_path / "recognizer" / "b.py").write_text("def f():\n    from recognizer.a import y\n")
    (tmp_path / "freqmix_base" / "errors.py").write_text("import freqmix.cli\n")
    (tmp_path / "freqmix" / "cli.py").write_text("from freqmix_base import errors\n")
    assert main([str(tmp_path)]) == 1
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
