"""The code's shape, checked: no import cycles, small modules, lint and types clean.

The layer and independence rules themselves are import-linter contracts in
pyproject.toml (tests/test_architecture.py runs them); this file checks what
import-linter does not: cycles anywhere (function-level imports included), module size,
ruff, and mypy --strict on the engine's core.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "gui", "cli")
MAX_MODULE_LINES = 600


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Components of more than one module in ``graph`` (Tarjan, iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> modules it imports (ours only), function-level imports included.

    Imports under ``if TYPE_CHECKING:`` are left out: they never run, so they cannot
    make an import-time cycle or hide misplaced code.
    """
    import grimp  # import-linter's graph builder, in the test extra: missing, this test fails

    sys.path.insert(0, str(ROOT))
    try:
        graph = grimp.build_graph(*PACKAGES, include_external_packages=False, exclude_type_checking_imports=True)
    finally:
        sys.path.remove(str(ROOT))
    return {m: {d for d in graph.find_modules_directly_imported_by(m)} for m in graph.modules}


def test_there_are_no_import_cycles():
    cycles = strongly_connected(import_graph())
    assert cycles == [], "import cycles (each list imports itself round): " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_module_is_over_the_size_limit():
    too_long = []
    for package in (*PACKAGES, "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            lines = path.read_text(encoding="utf-8").count("\n")
            if lines > MAX_MODULE_LINES:
                too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert too_long == [], f"modules over {MAX_MODULE_LINES} lines (split them by concern): {too_long}"


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(Path(sys.executable).parent))
    assert exe, f"{name} is part of the test extra (pip install -e '.[test]')"
    return exe


def test_ruff_finds_nothing():
    proc = subprocess.run([_tool("ruff"), "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_mypy_strict_on_the_engine_core():
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "engine/core"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
