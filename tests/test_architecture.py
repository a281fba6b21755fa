"""The architecture made executable: the rooms' layer rules, read from the AST of
``src/winback`` (module-level and function-level imports alike).

The layers, top to bottom (a module may import its own layer and the layers below)::

    cli, web                                  the two ways in; web never imports cli
    cycle, demo, demo_cases, backup           the cross-room sequences (the demo; backups)
    desk, outreach, listening, insights       the rooms of the work
    scan, simulate                            the scan; the simulated business
    models, ledger                            the pure core; the store of facts
    errors, settings, policy, clock, schedule what everything may use

Beyond the layers: ``models`` imports nothing of winback but ``errors``; ``ledger`` only the
bottom layer; ``desk`` never the web, the cycle or the CLI; only the CLI imports the demo
and the simulator; only ``winback.cli`` imports Typer or Rich; and no two modules import
each other, however long the way round. A package's ``__init__`` that Python runs before
a submodule is not counted as an import of it; an explicit ``import winback.x`` is.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "winback"

LAYERS: dict[str, int] = {
    "winback": 0,  # the package root: __version__ only
    "errors": 0,
    "settings": 0,
    "policy": 0,
    "clock": 0,
    "schedule": 0,  # when the cycle runs: cron and interval times, no room of winback
    "models": 1,
    "ledger": 1,
    "scan": 2,
    "simulate": 2,
    "desk": 3,
    "outreach": 3,
    "listening": 3,
    "insights": 3,
    "cycle": 4,
    "backup": 4,  # the workspace's parts (ledger, runs, desk) copied out and back
    "demo": 4,
    "demo_cases": 4,
    "web": 5,
    "cli": 5,
    "__main__": 6,
}
FOUNDATION = {"winback", "errors", "settings", "policy", "clock", "schedule"}
# room -> the only rooms it may import (besides itself).
ONLY: dict[str, set[str]] = {
    "models": {"errors"},
    "ledger": {"errors", "settings", "clock", "policy"},
}
# room -> rooms it must never import (the layers forbid these too; the rule names why).
NEVER: dict[str, set[str]] = {
    "scan": {"desk", "insights", "web", "cli", "cycle", "outreach", "listening"},
    "desk": {"web", "cycle", "cli"},
    "web": {"cli"},
}
# room -> the only rooms that may import it (besides itself).
ONLY_IMPORTED_BY: dict[str, set[str]] = {
    "demo": {"cli", "demo_cases"},
    "demo_cases": {"cli", "demo"},
    "simulate": {"cli", "demo"},
    "cli": {"__main__"},
}
CLI_ONLY_LIBRARIES = {"typer", "rich"}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. winback.desk.cases
    target: str  # a winback module, or the top-level name of a library
    where: str  # file:line
    internal: bool


def module_names(src: Path) -> dict[str, Path]:
    """Every module under ``src`` (a ``winback`` package folder) by its dotted name."""
    names = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_in(src: Path) -> list[Import]:
    """Every import statement of every module under ``src``, wherever it sits in the file."""
    modules = module_names(src)
    found: list[Import] = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        where = str(path.relative_to(src.parents[1]))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                # `from winback.web import pages` imports the module winback.web.pages.
                targets = [
                    f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                    for alias in node.names
                ]
            for target in dict.fromkeys(targets):
                internal = target == "winback" or target.startswith("winback.")
                found.append(
                    Import(
                        name,
                        target if internal else target.split(".")[0],
                        f"{where}:{node.lineno}",
                        internal,
                    )
                )
    return found


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_violations(src: Path) -> list[str]:
    """Each import that breaks a layer rule, as ``file:line: what, and the rule``."""
    problems = []
    for imp in imports_in(src):
        source = room_of(imp.source)
        if not imp.internal:
            if imp.target in CLI_ONLY_LIBRARIES and source != "cli":
                problems.append(
                    f"{imp.where}: {imp.source} imports {imp.target}: only winback.cli "
                    "imports Typer or Rich"
                )
            continue
        target = room_of(imp.target)
        said = f"{imp.where}: {imp.source} imports {imp.target}"
        if target == source:
            continue
        for room in (source, target):
            if room not in LAYERS:
                problems.append(
                    f"{said}: the room {room!r} has no layer; add it to LAYERS in "
                    "tests/test_architecture.py"
                )
        if source not in LAYERS or target not in LAYERS:
            continue
        if LAYERS[target] > LAYERS[source]:
            problems.append(
                f"{said}: imports point down the layers, and {target} (layer "
                f"{LAYERS[target]}) is above {source} (layer {LAYERS[source]})"
            )
        if source in ONLY and target not in ONLY[source]:
            allowed = ", ".join(sorted(ONLY[source]))
            problems.append(f"{said}: {source} imports nothing of winback but {allowed}")
        if target in NEVER.get(source, set()):
            problems.append(f"{said}: {source} never imports {target}")
        if target in ONLY_IMPORTED_BY and source not in ONLY_IMPORTED_BY[target]:
            allowed = ", ".join(sorted(ONLY_IMPORTED_BY[target]))
            problems.append(f"{said}: only {allowed} import {target}")
    return problems


def _strongly_connected(graph: dict[str, dict[str, str]]) -> Iterator[list[str]]:
    """Tarjan's components of ``graph``, iteratively (no recursion limit to meet)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, {}))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
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
                yield component


def import_cycles(src: Path) -> list[str]:
    """One path round each cycle of imports, e.g. ``a -> b (a.py:3) -> a (b.py:9)``."""
    graph: dict[str, dict[str, str]] = {}
    for imp in imports_in(src):
        graph.setdefault(imp.source, {})
        if imp.internal and imp.target != imp.source:
            graph[imp.source].setdefault(imp.target, imp.where)
    cycles = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        members = set(component)
        start = min(component)
        # Breadth first from start, inside the component, back to start: the shortest loop.
        came_from: dict[str, str] = {}
        frontier = [start]
        while start not in came_from:
            following = []
            for node in frontier:
                for child in sorted(graph[node]):
                    if child in members and child not in came_from:
                        came_from[child] = node
                        following.append(child)
            frontier = following
        path = [start]
        while len(path) == 1 or path[-1] != start:
            path.append(came_from[path[-1]])
        path.reverse()
        steps = [path[0]] + [f"{b} ({graph[a][b]})" for a, b in itertools.pairwise(path)]
        cycles.append(" -> ".join(steps))
    return cycles


WRITE_METHODS = {"add", "add_all", "delete", "commit", "flush", "merge"}
WRITE_STATEMENTS = {"insert", "update", "delete"}
SQL_WRITE = re.compile(r"\b(INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET)\b")
SESSION_TYPE = re.compile(r"\b(Session|Db)\b")


def _session_names(tree: ast.AST) -> set[str]:
    """Names that hold a desk session: annotated so, or bound from something session-like."""
    names = {"db", "session"}
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            if SESSION_TYPE.search(ast.unparse(node.annotation)):
                names.add(node.arg)
        elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            if "session" in ast.unparse(node.context_expr).lower():
                names.add(node.optional_vars.id)
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and "session" in ast.unparse(node.value.func).lower()
        ):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def direct_desk_writes(src: Path, rooms: tuple[str, ...] = ("web", "cli")) -> list[str]:
    """Each place in ``rooms`` that writes the desk itself instead of through a service."""
    problems = []
    for room in rooms:
        for path in sorted((src / room).rglob("*.py")):
            where = str(path.relative_to(src.parents[1]))
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            sessions = _session_names(tree)
            sqlalchemy_modules = {"sqlalchemy"}
            statements: set[str] = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    sqlalchemy_modules.update(
                        a.asname or a.name for a in node.names if a.name.startswith("sqlalchemy")
                    )
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "sqlalchemy"
                ):
                    for alias in node.names:
                        if alias.name in WRITE_STATEMENTS:
                            statements.add(alias.asname or alias.name)
                            problems.append(
                                f"{where}:{node.lineno}: imports sqlalchemy's {alias.name}(): "
                                "routes and commands never write the desk; call a desk service"
                            )
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    func = node.func
                    if (
                        isinstance(func, ast.Attribute)
                        and func.attr in WRITE_METHODS
                        and (
                            (isinstance(func.value, ast.Name) and func.value.id in sessions)
                            or "session" in ast.unparse(func.value).lower()
                        )
                    ):
                        problems.append(
                            f"{where}:{node.lineno}: {ast.unparse(func)}(): routes and "
                            "commands never write the desk; call a desk service"
                        )
                    elif (isinstance(func, ast.Name) and func.id in statements) or (
                        isinstance(func, ast.Attribute)
                        and func.attr in WRITE_STATEMENTS
                        and isinstance(func.value, ast.Name)
                        and func.value.id in sqlalchemy_modules
                    ):
                        problems.append(
                            f"{where}:{node.lineno}: {ast.unparse(func)}() statement: routes "
                            "and commands never write the desk; call a desk service"
                        )
                elif (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and SQL_WRITE.search(node.value)
                ):
                    problems.append(
                        f"{where}:{node.lineno}: SQL that writes ({SQL_WRITE.search(node.value)}"
                        "): routes and commands never write the desk; call a desk service"
                    )
    return sorted(problems, key=_file_and_line)


def _file_and_line(problem: str) -> tuple[str, int]:
    where = problem.split(": ")[0]
    name, _, line = where.rpartition(":")
    return name, int(line)


# The rules over winback itself.


def test_imports_point_down_the_layers() -> None:
    assert layer_violations(SRC) == []


def test_no_module_imports_itself_round_a_cycle() -> None:
    assert import_cycles(SRC) == []


def test_routes_and_commands_never_write_the_desk_directly() -> None:
    assert direct_desk_writes(SRC) == []


def test_every_room_has_a_layer() -> None:
    rooms = {room_of(name) for name in module_names(SRC)}
    assert rooms - set(LAYERS) == set()
    assert rooms | {"winback"} >= FOUNDATION


# The checks can fail: each rule, broken on purpose in a small tree of its own.


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src" / "winback"
    for name, text in {"__init__.py": "", **files}.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return src


def test_an_import_up_the_layers_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "desk/__init__.py": "",
            "desk/cases.py": "import os\n\n\ndef f():\n    from winback.web import app\n",
            "web/__init__.py": "",
            "web/app.py": "",
            "models/__init__.py": "from winback.ledger import store\n",
            "ledger/store.py": "",
            "scan/runs.py": "import rich.table\n",
            "outreach/mail.py": "from winback import demo\n",
            "demo.py": "",
        },
    )
    problems = layer_violations(src)
    assert any(
        p.startswith("src/winback/desk/cases.py:5: winback.desk.cases imports winback.web.app")
        and "desk never imports web" in p
        for p in problems
    ), problems
    assert any(
        "layer 5" in p and "above desk (layer 3)" in p
        for p in problems
        if p.startswith("src/winback/desk/cases.py:5")
    )
    assert any(
        p.startswith("src/winback/models/__init__.py:1:")
        and "models imports nothing of winback but errors" in p
        for p in problems
    ), problems
    assert any(
        p.startswith("src/winback/scan/runs.py:1:")
        and "only winback.cli imports Typer or Rich" in p
        for p in problems
    ), problems
    assert any(
        p.startswith("src/winback/outreach/mail.py:1:") and "only cli, demo_cases import demo" in p
        for p in problems
    ), problems
    assert len(problems) == 6, problems  # desk: two rules; models, rich, outreach: the demo twice


def test_a_cycle_is_reported_as_its_path(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "web/__init__.py": "",
            "web/app.py": "def create():\n    from winback.web import pages\n",
            "web/pages.py": "from winback.web import render\n",
            "web/render.py": "\n\nfrom .app import create\n",
            "web/other.py": "from winback.web import app\n",
        },
    )
    assert import_cycles(src) == [
        "winback.web.app -> winback.web.pages (src/winback/web/app.py:2)"
        " -> winback.web.render (src/winback/web/pages.py:1)"
        " -> winback.web.app (src/winback/web/render.py:3)"
    ]


def test_a_route_writing_the_desk_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    route = """\
from sqlalchemy import update
import sqlalchemy as sa
from sqlalchemy.orm import Session

@router.delete("/x")
def drop(store: Session, seen: set[int]) -> None:
    seen.add(1)
    store.delete(thing)
    with desk_session(settings) as s:
        s.commit()
    sa.insert(Case)
    text = "UPDATE cases SET state = 'closed'"
"""
    src = _tree(tmp_path, {"web/routes.py": route, "cli/ok.py": "import sys\nsys.stdout.flush()\n"})
    problems = direct_desk_writes(src)
    lines = [p.split(": ")[0] for p in problems]
    assert lines == [
        "src/winback/web/routes.py:1",
        "src/winback/web/routes.py:8",
        "src/winback/web/routes.py:10",
        "src/winback/web/routes.py:11",
        "src/winback/web/routes.py:12",
    ], problems


@pytest.mark.parametrize("room", ["models", "ledger"])
def test_the_core_rooms_import_only_the_bottom_layer(room: str) -> None:
    imported = {
        room_of(imp.target)
        for imp in imports_in(SRC)
        if imp.internal and room_of(imp.source) == room
    }
    assert imported - {room} <= ONLY[room] <= FOUNDATION
