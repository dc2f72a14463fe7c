"""The package's layers: every import between streamrec's modules points down, and none is circular.

Data flows one way, data -> model -> ranking -> evaluation -> training, and serving uses data,
model and ranking only. ``settings`` is below everything (anything may read it); the command
line (``cli/``) and the entry modules beside it are above everything. The graph is read from
the source with :mod:`ast` (imports inside functions too), so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "streamrec"

# What each layer may import, besides itself.
BASE = {"settings"}
CHAIN = ["data", "model", "ranking", "evaluation", "training"]
MAY_IMPORT: dict[str, set[str]] = {
    "settings": set(),
    **{layer: BASE | set(CHAIN[:i]) for i, layer in enumerate(CHAIN)},
    "serving": BASE | {"data", "model", "ranking"},
    "cli": BASE | set(CHAIN) | {"serving"},
    "entry": BASE | set(CHAIN) | {"serving", "cli"},
}
# streamrec's own modules outside the layer folders.
TOP_LEVEL = {
    "streamrec": "settings",  # the package itself: only a docstring
    "streamrec.settings": "settings",
    "streamrec.__main__": "entry",
    "streamrec.quickstart": "entry",
}


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of ``package`` by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer_of(module: str) -> str:
    if module in TOP_LEVEL:
        return TOP_LEVEL[module]
    layer = module.split(".")[1]
    if layer not in MAY_IMPORT or layer in ("settings", "entry"):
        raise AssertionError(
            f"{module} is in no layer: put it in a layer folder ({', '.join(CHAIN)}, serving, "
            "cli) or name it in tests/test_layers.py"
        )
    return layer


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The streamrec modules that ``module`` imports, each with the line of its first import.

    ``from P import name`` counts as importing the module ``P.name`` when there is one, else
    ``P``; an import of something that is not a module counts as its nearest enclosing module.
    """

    def nearest(name: str) -> str:
        while name not in modules and "." in name:
            name = name.rpartition(".")[0]
        return name

    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                for alias in node.names
            ]
        for target in targets:
            if target == "streamrec" or target.startswith("streamrec."):
                target = nearest(target)
                if target != module:
                    found.setdefault(target, node.lineno)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    modules = module_files(package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def downward_violations(graph: dict[str, dict[str, int]]) -> list[str]:
    """One line per import from a lower layer to a higher one (or to a sibling it may not use)."""
    bad = []
    for module, targets in sorted(graph.items()):
        layer = layer_of(module)
        for target, line in sorted(targets.items()):
            other = layer_of(target)
            if other != layer and other not in MAY_IMPORT[layer]:
                bad.append(
                    f"{module} (layer {layer}) imports {target} (layer {other}) at line {line}"
                )
    return bad


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The import cycles found by a depth-first search, each as the modules along it."""
    found, state, stack = [], dict.fromkeys(graph, 0), []  # 0 new, 1 on the stack, 2 done

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                found.append(stack[stack.index(target) :] + [target])
            elif state.get(target) == 0:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if state[module] == 0:
            visit(module)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return import_graph()


def test_the_graph_sees_the_package(graph: dict[str, dict[str, int]]) -> None:
    assert {"streamrec.data.sessions", "streamrec.model.als", "streamrec.serving.api"} <= set(graph)
    assert "streamrec.data.sessions" in graph["streamrec.model.artifact"]
    # `from streamrec.data import loader` is an import of the module streamrec.data.loader
    assert "streamrec.data.loader" in graph["streamrec.data.sessions"]


def test_every_module_is_in_a_layer(graph: dict[str, dict[str, int]]) -> None:
    for module in graph:
        layer_of(module)


def test_imports_point_down(graph: dict[str, dict[str, int]]) -> None:
    bad = downward_violations(graph)
    assert not bad, "imports that point up a layer:\n" + "\n".join(bad)


def test_no_import_cycle(graph: dict[str, dict[str, int]]) -> None:
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "streamrec"
    for name, source in {
        "__init__.py": "",
        "data/__init__.py": "",
        "data/a.py": "from streamrec.model import b\n",
        "model/__init__.py": "",
        "model/b.py": "from streamrec.data.a import x\n",
        "serving/__init__.py": "",
        "serving/c.py": "def f():\n    from streamrec.training import d\n",
        "training/__init__.py": "",
        "training/d.py": "from ..data import a\n",
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(source)
    graph = import_graph(package)
    assert downward_violations(graph) == [
        "streamrec.data.a (layer data) imports streamrec.model.b (layer model) at line 1",
        "streamrec.serving.c (layer serving) imports streamrec.training.d (layer training) "
        "at line 2",
    ]
    assert cycles(graph) == [["streamrec.data.a", "streamrec.model.b", "streamrec.data.a"]]
