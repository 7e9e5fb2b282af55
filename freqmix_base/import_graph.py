"""Print the import graph of the freqmix packages; exit 1 on an upward import or an import cycle.

Run ``python -m freqmix_base.import_graph [ROOT]`` (ROOT: the source tree, default the one holding this package).
Layers, top to bottom: the command line (``freqmix``), the experiment (``freqmix.experiment``), the domain packages
(``attacks`` and ``agents`` over ``mixup_env`` over ``recognizer``) and the base layer (``freqmix_base``). A module
may import its own layer or the layers it points at in :data:`ALLOWED`; every import counts, also one inside a
function. Cycles are found between modules (strongly connected components of the module graph).
"""
from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

#: Which layers each layer may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "freqmix_base": set(),
    "recognizer": {"freqmix_base"},
    "mixup_env": {"recognizer", "freqmix_base"},
    "agents": {"mixup_env", "freqmix_base"},
    "attacks": {"mixup_env", "recognizer", "freqmix_base"},
    "freqmix.experiment": {"attacks", "agents", "mixup_env", "recognizer", "freqmix_base"},
    "freqmix": {"freqmix.experiment", "attacks", "agents", "mixup_env", "recognizer", "freqmix_base"},
}
PACKAGES = ("freqmix_base", "recognizer", "mixup_env", "agents", "attacks", "freqmix")


def layer_of(module: str) -> str:
    """The layer of a dotted module name (``freqmix.experiment.task`` -> ``freqmix.experiment``)."""
    if module == "freqmix.experiment" or module.startswith("freqmix.experiment."):
        return "freqmix.experiment"
    return module.split(".")[0]


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of :data:`PACKAGES` under ``root``."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(path: Path, module: str, known: set[str]) -> set[str]:
    """The project modules that ``path`` (module ``module``) imports, anywhere in its body."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main(argv: list[str] | None = None) -> int:
    """Print the layer graph, the upward imports and the cycles; 0 when there are none, else 1."""
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent
    files = module_files(root)
    graph = {module: imports_of(path, module, set(files)) for module, path in files.items()}
    edges = Counter((layer_of(a), layer_of(b)) for a, targets in graph.items() for b in targets
                    if layer_of(a) != layer_of(b))
    print(f"{len(files)} modules; imports between layers (count of module imports):")
    for layer in ALLOWED:
        targets = ", ".join(f"{b} ({n})" for (a, b), n in sorted(edges.items()) if a == layer) or "nothing"
        print(f"  {layer} -> {targets}")
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                    if layer_of(a) != layer_of(b) and layer_of(b) not in ALLOWED[layer_of(a)])
    loops = cycles(graph)
    print(f"upward imports: {len(upward)}")
    for line in upward:
        print(f"  {line}")
    print(f"import cycles: {len(loops)}")
    for loop in loops:
        print(f"  {' <-> '.join(loop)}")
    return 1 if upward or loops else 0


if __name__ == "__main__":
    raise SystemExit(main())
