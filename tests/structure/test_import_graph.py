"""The import graph of the product's packages: no cycles, and only the allowed directions.

Every ``import`` statement counts, at module level or inside a function or a ``TYPE_CHECKING``
block: a lazy import still ties two modules together, it only hides the cycle until run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kiosk", "devices", "backend_client", "central")
# Who may import central/: its own modules, the tests, and the demo launchers (they start a local central).
# `kiosk demo` (and its year-card images, made with the demo central's issuer keys; its recovery, which
# reads the central's SMS simulator), `kiosk record --demo`
CENTRAL_IMPORTERS = {"kiosk.demo", "kiosk.demo_card", "kiosk.demo_recovery", "kiosk.recording.demo_session"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            # The longest known module the name falls in ("kiosk.flows.pickup.PickupFlow" -> kiosk.flows.pickup).
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {name: set(_imports(name, path, known)) for name, path in modules.items()}
    # A package's __init__ is not an edge to every submodule: drop "pkg -> pkg" parent links the
    # resolution above produces for ``from pkg import submodule``.
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _package_cycles(prefix: str) -> list[list[str]]:
    graph = import_graph()
    return [c for c in _cycles(graph) if any(_in(m, prefix) for m in c)]


def test_the_kiosk_has_no_import_cycles() -> None:
    assert _package_cycles("kiosk") == []


def test_devices_and_the_client_have_no_import_cycles() -> None:
    assert _package_cycles("devices") == [] and _package_cycles("backend_client") == []


def test_devices_and_the_client_never_import_the_kiosk() -> None:
    wrong = sorted(f"{source} -> {target}" for source, targets in import_graph().items() for target in targets
                   if (_in(source, "devices") or _in(source, "backend_client")) and _in(target, "kiosk"))
    assert wrong == []


def test_only_the_central_and_the_demo_launcher_import_the_central() -> None:
    wrong = sorted(f"{source} -> {target}" for source, targets in import_graph().items() for target in targets
                   if _in(target, "central") and not _in(source, "central") and source not in CENTRAL_IMPORTERS)
    assert wrong == []


def test_the_central_has_no_import_cycles() -> None:
    assert _package_cycles("central") == []


def test_flows_and_the_host_never_import_kivy() -> None:
    wrong = []
    for name, path in _modules().items():
        if not (_in(name, "kiosk.flows") or name == "kiosk.host"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            wrong += [f"{name} -> {n}" for n in names if n == "kivy" or n.startswith("kivy.")]
    assert wrong == []


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def test_the_kiosks_card_terminal_reaches_no_issuer_code_and_no_simulator() -> None:
    # the kiosk side of the year-card only passes APDUs between card and PSAM: no personalisation
    # (it holds master keys), no emulator (its images hold card keys)
    graph = import_graph()
    reached = _reachable(graph, "devices.yearcard.terminal")
    assert "devices.yearcard.personalise" not in reached
    assert not any(_in(module, "devices.sim") for module in reached)
    wrong = sorted(f"{source} -> {target}" for source, targets in graph.items() for target in targets
                   if _in(source, "kiosk") and target == "devices.yearcard.personalise")
    assert wrong == []
