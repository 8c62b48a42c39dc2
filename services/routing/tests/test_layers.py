"""Routing's imports point one way, and every one is at the top of its module.

The layers, lowest first: the foundation (settings, errors, time, tables, the words people read), the
vocabulary (every aggregate's tables and API models), then the aggregates in the order they build on each other
(directory → rules → deadlines → surges → incidents), then the entry points (the routers and their
dependencies, the consumers, the app, the command line, the migrations). A module imports its own
layer and those below; an import inside a function (the old way to dodge a cycle) is refused, and so
is a cycle within a layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import routing

SOURCE = Path(routing.__file__).parent

FOUNDATION = {"routing", "routing.config", "routing.errors", "routing.tables", "routing.wording"}
ENTRY_POINTS = {
    "routing.access",
    "routing.deps",
    "routing.consumers",
    "routing.seed",
    "routing.main",
    "routing.cli",
    "routing.__main__",
}
AGGREGATES = ("directory", "rules", "deadlines", "surges", "incidents")  # lowest first
LAYERS = ("foundation", "vocabulary", *AGGREGATES, "entry points")


def layer_of(module: str) -> str:
    if module in FOUNDATION:
        return "foundation"
    if module in ENTRY_POINTS or module.endswith(".router") or module.startswith("routing.migrations"):
        return "entry points"
    if module == "routing.models" or module.rsplit(".", 1)[-1] in ("models", "schemas"):
        return "vocabulary"
    aggregate = module.split(".")[1]
    assert aggregate in AGGREGATES, f"{module} is in no layer: add it to one in {__name__}"
    return aggregate


def rank(module: str) -> int:
    return LAYERS.index(layer_of(module))


@dataclass(frozen=True)
class Import:
    target: str
    line: int
    top_level: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}


def imports_of(source: str, modules: set[str] | dict[str, Path]) -> Iterator[Import]:
    """Every import of a routing module in `source`, resolved to the module it loads."""
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            # `from routing.incidents import audit` loads the module routing.incidents.audit.
            targets = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "routing" or target.startswith("routing."):
                yield Import(target, node.lineno, id(node) in top_level)


def graph() -> dict[str, list[Import]]:
    return {module: list(imports_of(path.read_text(encoding="utf-8"), MODULES)) for module, path in MODULES.items()}


class TestLayers:
    def test_every_import_is_at_the_top_of_its_module(self) -> None:
        nested = [
            f"{MODULES[module].relative_to(SOURCE.parent)}:{i.line} imports {i.target}"
            for module, imports in graph().items()
            for i in imports
            if not i.top_level
        ]
        assert nested == []

    def test_imports_point_down(self) -> None:
        upward = [
            f"{module} ({layer_of(module)}) imports {i.target} ({layer_of(i.target)})"
            for module, imports in graph().items()
            for i in imports
            if rank(i.target) > rank(module)
        ]
        assert upward == []

    def test_no_cycle(self) -> None:
        edges = {module: {i.target for i in imports} for module, imports in graph().items()}
        cycles: list[list[str]] = []
        done: set[str] = set()

        def visit(module: str, path: list[str]) -> None:
            if module in path:
                cycles.append([*path[path.index(module) :], module])
                return
            if module in done:
                return
            for target in sorted(edges.get(module, ())):
                visit(target, [*path, module])
            done.add(module)

        for module in sorted(edges):
            visit(module, [])
        assert cycles == []

    def test_the_layers_are_known(self) -> None:
        assert layer_of("routing.incidents.decisions") == "incidents"
        assert layer_of("routing.incidents.models") == "vocabulary"
        assert layer_of("routing.rules.router") == "entry points"
        assert {layer_of(module) for module in MODULES} == set(LAYERS)


class TestChecker:
    """The checks above can fail: an import in a function and one that points up are both seen."""

    def test_an_import_inside_a_function_is_not_top_level(self) -> None:
        source = "import routing.config\n\ndef f():\n    from routing.incidents import writes\n"
        found = list(imports_of(source, {"routing.incidents.writes"}))
        assert [(i.target, i.top_level) for i in found] == [
            ("routing.config", True),
            ("routing.incidents.writes", False),
        ]

    def test_an_aggregate_importing_a_higher_one_points_up(self) -> None:
        (found,) = imports_of("from routing.incidents.writes import route_posts\n", set())
        assert rank(found.target) > rank("routing.directory.service")
