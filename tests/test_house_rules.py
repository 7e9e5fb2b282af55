"""The house's size rules, checked on the source tree: no module over 450 lines, no function over 60 (docstring
included), so that each file stays one idea and each function readable in one screen."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("freqmix_base", "recognizer", "mixup_env", "agents", "attacks", "freqmix")
MAX_FILE_LINES, MAX_FUNCTION_LINES = 450, 60


def _sources():
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _too_long(source: str) -> list[str]:
    tree = ast.parse(source)
    return [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


def test_no_module_over_450_lines_and_no_function_over_60():
    sources = _sources()
    assert len(sources) > 90  # the whole tree was read
    long_files = [f"{p.relative_to(ROOT)} ({n})" for p in sources
                  if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES]
    long_functions = [f"{p.relative_to(ROOT)}: {f}" for p in sources for f in _too_long(p.read_text())]
    assert long_files == [] and long_functions == []


def test_the_checker_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert _too_long(f"def fine():\n    pass\n\n\ndef long():\n{body}\n") == ["long (61 lines)"]
