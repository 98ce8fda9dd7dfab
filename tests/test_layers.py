"""The package's shape, as rules that fail in CI instead of sentences in a review.

The layers contract (import-linter, `[tool.importlinter]` in pyproject.toml)
says which folder may import which; these tests add what it cannot say: no
two modules import each other (directly or round a loop, counting imports
inside functions and under TYPE_CHECKING: a cycle a reader must hold in mind
is a cycle), no module or class grows past what one sitting can read, and
`AsyncClient` is composed, not mixed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import xenodia_jupyter

PACKAGE = Path(xenodia_jupyter.__file__).parent
MAX_MODULE_LINES = 550  # "about 500"
MAX_CLASS_LINES = 320  # "about 300"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_between_the_packages_modules() -> None:
    graph = grimp.build_graph("xenodia_jupyter", include_external_packages=False)
    assert len(graph.modules) > 50  # the graph really holds the package
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that cannot fail proves nothing: a cycle through an import
    inside a function and one under TYPE_CHECKING is found."""
    pkg = tmp_path / "loopy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n")
    (pkg / "c.py").write_text("from . import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles(grimp.build_graph("loopy")) == [["loopy.a", "loopy.b"]]


def test_the_layers_contract_passes() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], capture_output=True, text=True, cwd=PACKAGE.parent, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and "Contracts: 3 kept, 0 broken." in done.stdout


def _python_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_or_class_is_too_long_to_read_in_one_sitting(path: Path) -> None:
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: {text.count(chr(10))} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_CLASS_LINES, f"class {node.name}: {length} lines"


def test_async_client_is_composed_not_mixed() -> None:
    from xenodia_jupyter import AsyncClient, Client

    assert AsyncClient.__bases__ == (object,)
    assert Client.__bases__ == (object,)
    # No class of ours subclasses the client (the cluster worker builds a generator instead).
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b) for b in node.bases}
                assert not bases & {"AsyncClient", "Client"}, f"{path.name}: class {node.name}({', '.join(bases)})"


def test_top_level_holds_at_most_about_twelve_modules() -> None:
    top = [p for p in PACKAGE.iterdir() if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())]
    assert len(top) <= 14, sorted(p.name for p in top)
    for sub in PACKAGE.iterdir():
        if sub.is_dir() and (sub / "__init__.py").exists():
            doc = ast.get_docstring(ast.parse((sub / "__init__.py").read_text()))
            assert doc and len(doc) > 80, f"{sub.name}/__init__.py needs a docstring saying what the layer holds"


def _readme_layout() -> set[str]:
    """The module paths the README's Layout block names (indentation = folder)."""
    text = (PACKAGE.parent / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    listed: set[str] = set()
    folders: list[tuple[int, str]] = []
    for line in block.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        name = stripped.split()[0]
        depth = (len(line) - len(line.lstrip())) // 2
        folders = [(d, f) for d, f in folders if d < depth]
        if name.endswith("/"):
            folders.append((depth, name.rstrip("/")))
        elif name.endswith(".py"):
            listed.add("/".join([f for _, f in folders] + [name]))
    return listed


def test_the_readme_layout_names_every_module_and_only_those() -> None:
    real = {
        "xenodia_jupyter/" + str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" or p.parent == PACKAGE
    }
    listed = _readme_layout()
    assert len(listed) > 80  # the block was really read
    assert sorted(real - listed) == [], "modules the README's Layout does not name"
    assert sorted(listed - real) == [], "the README's Layout names modules that do not exist"
