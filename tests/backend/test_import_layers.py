"""The layering of backend/ is enforced, not hoped for: the import-linter contracts, and what
import-linter cannot see (top-level modules, cycles through them, function-level imports)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "backend"
PROJECT = {
    "api", "app", "commands", "config", "errors", "extensions", "ledger", "models", "mt5sim",
    "schemas", "services", "utils", "workers", "wsgi",
}  # fmt: skip


def modules() -> dict[str, Path]:
    found = {}
    for path in BACKEND.rglob("*.py"):
        relative = path.relative_to(BACKEND)
        if relative.parts[0] == "migrations":
            continue
        name = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.Import | ast.ImportFrom, module: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:  # relative imports are not used here; resolve them anyway
        base = module.rsplit(".", node.level)[0]
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
    yield target
    for alias in node.names:
        yield f"{target}.{alias.name}"


def module_level_imports(module: str, path: Path) -> set[str]:
    """Project modules imported when ``module`` is imported (not in functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(_imported(node, module))
    return {name for name in found if name.split(".")[0] in PROJECT}


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = set()
        for name in module_level_imports(module, path):
            # "from a.b import c": c may be a module or a name in a.b
            target = name if name in known else name.rsplit(".", 1)[0]
            if target in known and target != module:
                targets.add(target)
                parts = target.split(".")
                # importing a.b.c runs a/__init__ and a/b/__init__ first
                targets.update(".".join(parts[:i]) for i in range(1, len(parts)))
        # A submodule runs while its package's __init__ is already in sys.modules: importing
        # an ancestor from inside it is a no-op, not a cycle.
        ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        edges[module] = {t for t in targets if t in known and t != module} - ancestors
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def importers_of(target: str) -> set[str]:
    return {m for m, targets in graph().items() if target in targets or any(
        t.startswith(f"{target}.") for t in targets
    )}  # fmt: skip


def test_import_linter_contracts_are_kept():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), str(ROOT / ".importlinter")],
        cwd=BACKEND,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout


def test_no_module_level_import_cycle_in_backend():
    assert cycles(graph()) == []


def test_cycle_finder_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_wsgi_imports_app_and_nothing_imports_wsgi():
    assert importers_of("app") == {"wsgi"}
    assert importers_of("wsgi") == set()


def test_only_the_app_factory_imports_the_cli():
    assert importers_of("commands") == {"app"}


def test_only_the_sim_source_and_the_cli_import_the_simulator():
    outside = {m for m in importers_of("mt5sim") if not m.startswith("mt5sim")}
    assert outside == {"services.mt5.sources", "commands"}


def test_every_function_level_project_import_says_why():
    unexplained = []
    for module, path in modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                if not any(n.split(".")[0] in PROJECT for n in _imported(node, module)):
                    continue
                here, above = lines[node.lineno - 1], lines[node.lineno - 2]
                if "#" not in here and not above.strip().startswith("#"):
                    unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert unexplained == []
