"""The central's modules import each other in one direction only, and its domain rules are split by area."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.shared_data import REPO_ROOT

CENTRAL = REPO_ROOT / "central"


def central_imports(path: Path) -> set[str]:
    """Every central module this file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "central":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "central")
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {f"central.{path.stem}": path for path in CENTRAL.glob("*.py")}
    return {name: central_imports(path) & set(modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                found.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_central_modules_have_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_test_hooks_do_not_reach_back_into_the_api() -> None:
    assert "central.api" not in central_imports(CENTRAL / "test_hooks.py")


def test_each_area_of_the_rules_lives_in_its_own_module() -> None:
    areas = {"pickup": "lookup_code", "claims": "def claim(", "leases": "def expire_leases(", "keys": "def key_set("}
    for module, marker in areas.items():
        assert marker in (CENTRAL / f"{module}.py").read_text(encoding="utf-8"), module
    service = (CENTRAL / "service.py").read_text(encoding="utf-8")
    assert not any(marker in service for marker in areas.values())
