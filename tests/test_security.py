"""Security over the whole source tree: every ``torch.load`` passes ``weights_only=True``, nothing unpickles or
evaluates what it reads, and folder names derived from user input stay inside ``--out``.

The source checks read the code (ast), so a future unsafe load fails CI wherever it is added.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from agents.registry import AGENTS
from freqmix.cli import main
from freqmix.experiment.defenses import DEFENSES

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {".git", "build", "dist", "runs", "__pycache__", ".venv", "venv", ".eggs"}
UNPICKLING_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
UNSAFE_YAML = {"yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "yaml.unsafe_load_all"}
# The one reader of pickles: insightface's .bin sets, through an unpickler that builds no objects (its refusal of a
# reduce payload is tested in tests/test_insightface_io.py, which writes such files with pickle.dumps).
PICKLE_ALLOWED = {"recognizer/insightface_io.py", "tests/test_insightface_io.py"}
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def sources() -> list[Path]:
    """Every Python file of the repository (tests and examples included), build outputs and caches aside."""
    return [path for path in sorted(ROOT.rglob("*.py"))
            if not any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in path.relative_to(ROOT).parts)]


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _keyword_is(call: ast.Call, name: str, value: object) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is value for k in call.keywords)


def offences(source: str, where: str) -> tuple[list[str], int]:
    """(unsafe constructs in ``source``, number of torch.load calls seen), each offence as ``where:line: what``."""
    found, loads = [], 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{where}:{node.lineno}: imports {a.name}" for a in node.names
                      if a.name.split(".")[0] in UNPICKLING_MODULES]
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")[0]
            if module in UNPICKLING_MODULES:
                found.append(f"{where}:{node.lineno}: imports from {node.module}")
            if module == "torch" and any(a.name == "load" for a in node.names):
                found.append(f"{where}:{node.lineno}: imports torch's load bare (write torch.load(..., "
                             "weights_only=True) so that it can be checked)")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in ("torch.load", "torch.serialization.load"):
                loads += 1
                if not _keyword_is(node, "weights_only", True):
                    found.append(f"{where}:{node.lineno}: torch.load without weights_only=True")
            elif name in ("np.load", "numpy.load") and not _keyword_is(node, "allow_pickle", False) and any(
                    k.arg == "allow_pickle" for k in node.keywords):
                found.append(f"{where}:{node.lineno}: np.load with allow_pickle")
            elif name in UNSAFE_YAML:
                found.append(f"{where}:{node.lineno}: {name} (use yaml.safe_load)")
            elif name in ("eval", "exec"):
                found.append(f"{where}:{node.lineno}: {name}()")
    return found, loads


def test_every_torch_load_is_weights_only_and_nothing_unpickles():
    found, loads = [], 0
    for path in sources():
        where = path.relative_to(ROOT).as_posix()
        more, n = offences(path.read_text(encoding="utf-8"), where)
        found += [f for f in more if not (where in PICKLE_ALLOWED and f.endswith(": imports pickle"))]
        loads += n
    assert not found, "\n".join(found)
    assert loads >= 1  # the scan does see the loads there are (Recognizer.load, the training checkpoint)


def test_the_source_check_catches_unsafe_code():
    unsafe = """
import pickle
from torch import load
import torch, yaml, numpy as np
torch.load(path)
torch.load(path, weights_only=False)
torch.load(path, map_location="cpu", weights_only=True)
yaml.load(text)
np.load(path, allow_pickle=True)
eval(text)
"""
    found, loads = offences(unsafe, "sample.py")
    assert loads == 3 and len(found) == 7, found


def test_registered_names_are_single_path_components():
    # Agent and defense names become folder names under --out (ablate: OUT/AGENT/seedS, compare: OUT/DEFENSE).
    for name in (*AGENTS, *DEFENSES):
        assert SAFE_NAME.fullmatch(name) and name not in (".", ".."), name


@pytest.mark.parametrize("argv", [
    ["ablate", "--agents", "../../escaped", "--steps", "1"],
    ["ablate", "--agents", "fixed:../escaped", "--steps", "1"],
    ["ablate", "--agents", "/tmp/escaped", "--steps", "1"],
    ["compare", "--defenses", "../escaped", "--steps", "1"],
    ["compare", "--defenses", "none,/tmp/escaped", "--steps", "1"],
])
def test_names_from_the_command_line_cannot_leave_out(argv, tmp_path, monkeypatch, capsys):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("freqmix: error:") and "escaped" in error  # rejected, naming the culprit
    outside = [p for p in tmp_path.rglob("*") if p != cwd and out not in (p, *p.parents)]
    assert not outside and not (out.exists() and any(out.iterdir()))
