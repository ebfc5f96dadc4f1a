"""The walls import-linter cannot state: no import cycles, every function-level import explained, no request in
the domain, the environment read by the settings alone, and the walls again at run time (where a parent
package's __init__ runs too).

The walls between packages themselves are the import-linter contracts in pyproject.toml (`lint-imports`, run by
`make test` before pytest). What crosses the walls by name (jobs, meter profiles) is tests/test_contracts.py.
"""
from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import tokenize
from pathlib import Path

import grimp
import pytest

pytestmark = pytest.mark.no_db

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("portal", "worker")
#: the packages that hold domain rules (STYLE.md, "Walls worth keeping")
DOMAIN = ("ledger", "control", "tariffs", "metering", "payments", "counter", "monthly", "sites", "approvals",
          "staffing")

def source_files() -> list[Path]:
    """Every Python file of the portal, the worker and wsgi.py."""
    return sorted([*(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")), ROOT / "wsgi.py"])


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- import cycles -------------------------------------------------------------------------------------------


def import_graph() -> grimp.ImportGraph:
    """portal + worker as grimp sees them: imports inside functions count as much as those at the top."""
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def strongly_connected(graph: grimp.ImportGraph) -> list[frozenset[str]]:
    """The modules that import each other, directly or around a loop: Tarjan's algorithm, without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
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
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.find_modules_directly_imported_by(node):
                    found.append(frozenset(component))
    return found


def describe(graph: grimp.ImportGraph, component: frozenset[str]) -> str:
    """A cycle as the import lines that make it."""
    lines = [" ⇄ ".join(sorted(component))]
    for importer in sorted(component):
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & component):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(f"    {importer} -> {imported} (l.{detail['line_number']}: "
                             f"{detail['line_contents']})")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return import_graph()


def test_no_module_imports_itself_around_a_loop(graph):
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(describe(graph, c) for c in cycles)


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import():
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b", line_number=3, line_contents="from pkg import b")
    graph.add_import(importer="pkg.b", imported="pkg.c", line_number=9, line_contents="from pkg import c")
    graph.add_import(importer="pkg.c", imported="pkg.a", line_number=20, line_contents="from pkg import a")
    assert strongly_connected(graph) == [frozenset({"pkg.a", "pkg.b", "pkg.c"})]
    assert "pkg.c -> pkg.a (l.20: from pkg import a)" in describe(graph, frozenset({"pkg.a", "pkg.b", "pkg.c"}))


# --- function-level imports ----------------------------------------------------------------------------------


def unexplained_imports(source: str) -> list[tuple[int, str]]:
    """Imports inside a function with no comment saying why: (line, first line of the import).

    An import is explained by a comment on one of its lines, or on a line of its own just above it; an
    import right below an explained import (no line between them) shares its comment.
    """
    tree = ast.parse(source)
    comment_lines, own_line_comments = set(), set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comment_lines.add(tok.start[0])
            if not tok.line[:tok.start[1]].strip():
                own_line_comments.add(tok.start[0])
    inner = {id(node): node for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
             for node in ast.walk(fn) if isinstance(node, (ast.Import, ast.ImportFrom))}
    explained_ends: set[int] = set()
    found = []
    for node in sorted(inner.values(), key=lambda n: n.lineno):
        above = node.lineno - 1
        if (comment_lines & set(range(node.lineno, node.end_lineno + 1)) or above in own_line_comments
                or above in explained_ends):
            explained_ends.add(node.end_lineno)
        else:
            found.append((node.lineno, source.splitlines()[node.lineno - 1].strip()))
    return found


def files_with_function_level_imports() -> list[Path]:
    return [p for p in source_files() if any(
        isinstance(node, (ast.Import, ast.ImportFrom))
        for fn in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) for node in ast.walk(fn))]


def function_level_import_cases() -> list:
    """Each file with imports inside functions."""
    return [pytest.param(path, id=relative(path)) for path in sorted(files_with_function_level_imports())]


@pytest.mark.parametrize("path", function_level_import_cases())
def test_every_function_level_import_says_why(path):
    found = unexplained_imports(path.read_text(encoding="utf-8"))
    assert not found, "imports inside functions with no comment saying why:\n" + "\n".join(
        f"    {relative(path)}:{line}: {text}" for line, text in found)


@pytest.mark.parametrize("source, unexplained", [
    ("def f():\n    import json\n", [(2, "import json")]),
    ("def f():\n    import json  # only when asked: the module is slow to import\n", []),
    ("def f():\n    # the optional dependency, only when asked\n    import json\n    import csv\n", []),
    ("def f():\n    # the optional dependency\n    import json\n\n    import csv\n", [(5, "import csv")]),
    ("def f():\n    x = 1  # a comment about x\n    import json\n", [(3, "import json")]),
    ("def f():\n    from os import (\n        path,  # why\n    )\n", []),
    ("import json\n\nclass C:\n    async def f(self):\n        def g():\n            import csv\n",
     [(6, "import csv")]),
])
def test_an_import_inside_a_function_needs_a_comment(source, unexplained):
    assert unexplained_imports(source) == unexplained


# --- the domain decides without a request --------------------------------------------------------------------

#: request-bound state of Flask a domain rule must be handed, never read
REQUEST_STATE = {"request", "session"}


def request_uses(source: str) -> list[tuple[int, str]]:
    """Where a module reaches `flask.request` (or `flask.session`): imported by name, or as an attribute."""
    tree = ast.parse(source)
    flask_aliases = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names if alias.name in ("flask", "flask.globals")}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("flask", "flask.globals"):
            found += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names
                      if a.name in REQUEST_STATE]
        elif isinstance(node, ast.Attribute) and node.attr in REQUEST_STATE:
            owner = ast.unparse(node.value)
            if owner in flask_aliases or owner == "flask.globals":
                found.append((node.lineno, ast.unparse(node)))
    return found


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_rules_read_no_request(package):
    found = [f"    {relative(p)}:{line}: {text}" for p in sorted((ROOT / "portal" / package).rglob("*.py"))
             for line, text in request_uses(p.read_text(encoding="utf-8"))]
    assert not found, f"portal.{package} reads the request (pass it what it needs instead):\n" + "\n".join(found)


@pytest.mark.parametrize("source", [
    "from flask import current_app, request\n",
    "from flask import request as incoming\n",
    "from flask.globals import session\n",
    "import flask\n\ndef f():\n    return flask.request.args\n",
    "import flask as fl\n\ndef f():\n    return fl.session['user']\n",
])
def test_a_request_in_the_domain_is_seen(source):
    assert request_uses(source)


def environment_reads(source: str) -> list[tuple[int, str]]:
    """Where a module reads the process environment (os.environ, os.getenv, os.putenv): (line, code)."""
    return sorted((node.lineno, ast.unparse(node)) for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv")
                  and ast.unparse(node.value) == "os")


def test_the_environment_is_read_by_the_settings_alone():
    """Settings are read once, in create_app, by portal/settings.py: no module reads a variable of its own."""
    found = [f"    {relative(p)}:{line}: {text}" for p in source_files() if p != ROOT / "portal" / "settings.py"
             for line, text in environment_reads(p.read_text(encoding="utf-8"))]
    assert not found, "the environment read outside portal/settings.py:\n" + "\n".join(found)


def test_an_environment_read_is_seen():
    assert environment_reads("import os\nURL = os.environ.get('X')\nos.getenv('Y')\n") == [
        (2, "os.environ"), (3, "os.getenv")]


def test_current_app_is_not_a_request():
    assert request_uses("from flask import current_app, has_app_context\nimport flask\nflask.g\n") == []



# --- the walls at run time -----------------------------------------------------------------------------------
# import-linter follows import statements; Python also runs every parent package's __init__ on the way to a
# module (`from portal.cli.demo import demo` runs portal/cli/__init__.py). So each wall is checked once more
# here: a fresh interpreter imports every module on one side and must not have loaded any on the other.

VIEWS = ("portal.auth", "portal.tenant", "portal.staff", "portal.pay", "portal.api", "portal.web")

#: (sources, what importing them must not load, modules left out) by the import-linter contract's id
RUNTIME_WALLS = {
    "domain-no-views": ([f"portal.{d}" for d in DOMAIN], (*VIEWS, "portal.cli", "worker", "pymodbus"), ()),
    "notify-no-meters": (["portal.pay", "portal.payments"], ("portal.metering", "worker", "pymodbus"), ()),
    "simulator-independent": (["worker.simulator"], (
        "worker.meters", "worker.poller", "worker.buses", "worker.relays", "pymodbus"), ()),
    "worker-no-pages": (["worker"], VIEWS, ("worker.cli",)),
    "portal-no-worker": (["portal"], ("worker",), ()),
}

_LOADER = """
import importlib, json, sys
modules, forbidden = json.loads(sys.argv[1]), tuple(json.loads(sys.argv[2]))
def loaded():
    return {m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden)}
found, before = {}, loaded()
for name in modules:
    importlib.import_module(name)
    now = loaded()
    if now - before:
        found[name] = sorted(now - before)
    before = now
print(json.dumps(found))
"""


def modules_under(packages: list[str], but: tuple[str, ...] = ()) -> list[str]:
    """Every module of `packages` (from their files), but those in `but`."""
    names = []
    for package in packages:
        for path in sorted((ROOT / Path(*package.split("."))).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if not any(name == b or name.startswith(b + ".") for b in but):
                names.append(name)
    return names


def loaded_across(modules: list[str], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Import `modules` in order in a fresh interpreter: the forbidden modules each one loaded first."""
    assert modules
    done = subprocess.run([sys.executable, "-c", _LOADER, json.dumps(modules), json.dumps(forbidden)],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def report(found: dict[str, list[str]]) -> str:
    return "loaded across the wall (`python -X importtime -c 'import MODULE'` shows the way):\n" + "\n".join(
        f"    {name}: {', '.join(mods[:5])}{' ...' if len(mods) > 5 else ''}" for name, mods in found.items())


@pytest.mark.parametrize("wall", RUNTIME_WALLS)
def test_importing_one_side_of_a_wall_loads_nothing_of_the_other(wall):
    sources, forbidden, but = RUNTIME_WALLS[wall]
    found = loaded_across(modules_under(sources, but), forbidden)
    assert not found, report(found)


def test_the_worker_command_line_loads_no_page():
    found = loaded_across(["worker.cli"], VIEWS)
    assert not found, report(found)


def test_the_run_time_check_sees_a_parent_package_import():
    # portal.cli.demo imports no token code itself: its package's __init__ loads portal.cli.admin, which does
    found = loaded_across(["portal.cli.demo"], ("portal.staffing",))
    assert "portal.staffing.tokens" in found.get("portal.cli.demo", [])
