"""The layout's two rules, checked on the source itself (ast, nothing imported):

* imports point down the data flow only: a module may import from its own stage or an earlier
  one, never from a later one (the order is `STAGES`, the module map of docs/architecture.md);
* DAG files are thin: a task's body only imports its entry point and returns its call, the
  DAG function only declares tasks and wires them, and a file holds one function (the DAG's).
  Logic lives in transforms/, where it is tested without Airflow.

Each rule is also run on a planted violation, so that a check that cannot fail is noticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The data flow, first to last: a module is in the stage with a prefix of its name (a package
# name is a prefix of its modules'). "shared" holds what every stage reads: the classification,
# the settings, the checksums, file and transaction helpers, the compaction of the warehouse.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("shared", ("transforms", "transforms.classification", "transforms.settings",
                "transforms.checksums", "transforms.files", "transforms.transaction",
                "transforms.compaction", "transforms.progress", "transforms.frames",
                "transforms.engines")),
    ("landing", ("transforms.landing",)),  # the delivery contract the source systems fulfil
    ("sources", ("transforms.sources",)),
    ("privacy", ("transforms.privacy",)),
    ("ingest", ("transforms.ingest",)),
    ("rights", ("transforms.rights",)),
    ("retention", ("transforms.retention",)),
    ("build", ("transforms.build",)),
    ("gate", ("expectations",)),
    ("publish", ("transforms.publish",)),
    ("operations", ("transforms.operations",)),
    ("dags", ("dags",)),
)
PACKAGES = ("transforms", "expectations", "dags")
# Statements a task body may hold beyond its docstring, its imports and its return.
TASK_EXTRA_STATEMENTS = 0


def stage_of(module: str) -> int:
    for index, (_, prefixes) in enumerate(STAGES):
        # "transforms" alone is the package's own __init__, not a prefix of every module
        if any(module == p or (p != "transforms" and module.startswith(p + "."))
               for p in prefixes):
            return index
    raise LookupError(f"{module} is in no stage: add it to STAGES (and docs/architecture.md)")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, package: str) -> set[str]:
    """Every module of ours the source imports, at top level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from transforms import settings` names a module; `from x.y import f` a member
            found.update(f"{node.module}.{a.name}" if node.module in PACKAGES else node.module
                         for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.add(package)  # a relative import stays in its own package
    return {m for m in found if m.split(".")[0] in PACKAGES}


def upward_imports(path: Path, root: Path = ROOT) -> list[str]:
    """`module -> imported` for each import of a later stage."""
    name = module_name(path, root)
    mine = stage_of(name)
    package = name.rpartition(".")[0] or name
    return [f"{name} ({STAGES[mine][0]}) -> {imported} ({STAGES[stage_of(imported)][0]})"
            for imported in sorted(imported_modules(path.read_text(encoding="utf-8"), package))
            if stage_of(imported) > mine]


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
        and isinstance(stmt.value.value, str)


def dag_logic(source: str) -> list[str]:
    """What in a DAG file is more than declaration and wiring."""
    problems: list[str] = []
    tree = ast.parse(source)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if len(functions) > 1:
        problems.append(f"{len(functions)} top-level functions (one @dag function per file)")
    for node in tree.body:
        if isinstance(node, ast.If | ast.For | ast.While | ast.With | ast.Try | ast.ClassDef):
            problems.append(f"line {node.lineno}: {type(node).__name__} at module level")
    for dag_fn in functions:
        for stmt in dag_fn.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                problems.extend(_task_logic(stmt))
            elif not isinstance(stmt, ast.Expr | ast.Assign) and not _is_docstring(stmt):
                problems.append(f"line {stmt.lineno}: {type(stmt).__name__} in the DAG "
                                    "function (only tasks and their wiring belong there)")
    return problems


def _task_logic(task: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    body = [s for s in task.body if not _is_docstring(s)]
    imports = [s for s in body if isinstance(s, ast.Import | ast.ImportFrom)]
    rest = [s for s in body if s not in imports]
    problems = []
    if not rest or not isinstance(rest[-1], ast.Return):
        problems.append(f"task {task.name}: does not end by returning its entry point's result")
    extra = rest[:-1]
    if len(extra) > TASK_EXTRA_STATEMENTS or any(
            isinstance(n, ast.If | ast.For | ast.While | ast.With | ast.Try | ast.FunctionDef
                       | ast.Lambda | ast.ListComp | ast.DictComp | ast.SetComp)
            for s in extra for n in ast.walk(s)):
        problems.append(f"task {task.name}: holds logic ({len(extra)} statement(s) besides "
                        "imports and return); move it to transforms/")
    return problems


def _our_modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", _our_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_the_flow(path: Path) -> None:
    assert upward_imports(path) == []


@pytest.mark.parametrize("path", sorted((ROOT / "dags").glob("*.py")), ids=lambda p: p.name)
def test_dag_files_hold_no_logic(path: Path) -> None:
    assert dag_logic(path.read_text(encoding="utf-8")) == []


def test_a_planted_upward_import_is_found(tmp_path: Path) -> None:
    module = tmp_path / "transforms" / "ingest" / "planted.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from transforms.publish.publication import publish\n"
                      "from transforms import settings\n")
    assert upward_imports(module, tmp_path) == [
        "transforms.ingest.planted (ingest) -> transforms.publish.publication (publish)"]
    module.write_text("from expectations import run_gate\n")
    assert upward_imports(module, tmp_path) == [
        "transforms.ingest.planted (ingest) -> expectations.run_gate (gate)"]


def test_a_module_outside_every_stage_is_refused() -> None:
    with pytest.raises(LookupError, match="in no stage"):
        stage_of("transforms.somewhere_new")


PLANTED_DAG = '''
from airflow.sdk import dag, task


@dag(dag_id="planted")
def planted() -> None:
    @task
    def thin(ds=None) -> dict:
        from transforms.operations.tasks import ingest_system

        return ingest_system("claims", ds)

    @task
    def thick(ds=None) -> dict:
        from transforms.operations.tasks import ingest_system

        results = {}
        for system in ("claims", "dpo"):
            results[system] = ingest_system(system, ds)
        return results

    thin() >> thick()


def helper(rows):
    return [r for r in rows if r]


planted()
'''


def test_planted_dag_logic_is_found() -> None:
    problems = dag_logic(PLANTED_DAG)
    assert any(p.startswith("task thick: holds logic") for p in problems)
    assert "2 top-level functions (one @dag function per file)" in problems
    assert not any("task thin" in p for p in problems)


def test_assets_are_declared_once() -> None:
    """Two DAG files declaring `Asset("warehouse_pseudonymised")` each can drift apart."""
    declaring = sorted(str(p.relative_to(ROOT)) for pkg in PACKAGES
                       for p in (ROOT / pkg).rglob("*.py")
                       if "Asset(" in p.read_text(encoding="utf-8"))
    assert declaring == ["transforms/operations/assets.py"]
