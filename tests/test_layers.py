"""The package's shape, held by test: layers import only those below them, no module imports
itself back through others, the core knows nothing of the web, the queue or SQL, and the
speed rules written in comments hold."""

from __future__ import annotations

import ast
import re
import os
import subprocess
import sys
from pathlib import Path

from storemon.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "storemon"
# Lowest first: a module may import its own layer and those before it (docs/architecture.md).
LAYERS = [
    {"storemon", "storemon.config", "storemon.logs", "storemon.timeparse", "storemon.memory"},
    {"storemon.core"}, {"storemon.sources"}, {"storemon.database"}, {"storemon.reports", "storemon.alerts"},
    {"storemon.web"},
    {"storemon.cli", "storemon.__main__"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def _known(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> set[str]:
    """The storemon modules ``module`` imports: at the top, inside functions, or for type checking
    alone (a cycle there is one too, to a reader and to a type checker)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found |= {target for name in names if (target := _known(name)) and target != module
                  and not module.startswith(target + ".")}  # (a package's own __init__ runs first anyway)
    return found


def layer_of(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if module in layer or module.rpartition(".")[0] in layer and module.count(".") == 2:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def test_no_module_imports_itself_back_through_others():
    graph = {module: imports(module) for module in MODULES}
    cycles, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(path[path.index(module):] + [module])
            return
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert not cycles, cycles


def test_each_layer_imports_only_those_below_it():
    upward = [(module, target) for module in MODULES for target in imports(module)
              if layer_of(target) > layer_of(module)]
    assert not upward, upward


def test_the_core_and_sources_know_nothing_of_the_web_the_queue_or_sql():
    forbidden = ("flask", "rq", "redis", "sqlalchemy", "psycopg", "werkzeug")
    found = []
    for module, path in MODULES.items():
        if not module.startswith(("storemon.core", "storemon.sources")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [(module, n) for n in names if n.split(".")[0] in forbidden]
    assert not found, found


def test_only_the_web_process_imports_flask():
    for module, path in MODULES.items():
        if not module.startswith("storemon.web"):
            text = path.read_text(encoding="utf-8")
            assert "import flask" not in text and "from flask" not in text, module


def test_a_work_horse_imports_only_what_a_report_needs(tmp_path):
    """The speed rules written beside the code, held here, in a fresh process that imports the
    jobs (as a worker does) and computes a whole report (as its work horse does):

    - no numpy.ma (uptime.py avoids np.unique for it: 13 ms in every fresh work horse);
    - no Flask (storemon/__init__.py is kept import-light for the worker);
    - not the sources' parsers (queries.py imports them only for a store's page);
    - no Alembic (only init-db and demo migrate; a command that checks the schema does not import it).
    """
    from storemon.database.engines import make_engine, upgrade
    from storemon.database.loader import load_directory

    url = f"sqlite:///{tmp_path / 'rules.db'}"
    engine = make_engine(url)
    upgrade(engine)
    load_directory(engine, PROJECT_ROOT / "seed" / "2023-01")
    engine.dispose()
    code = f"""
import sys
import storemon.reports.jobs
from storemon.database.engines import check_schema, make_engine
from storemon.reports.build import build_report
engine = make_engine({url!r})
check_schema(engine)
build_report(engine)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "alembic") or m == "numpy.ma"
             or m.startswith(("numpy.ma.", "storemon.sources"))))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_web_process_queues_a_report_without_importing_its_job():
    """queue.py names the job functions by path, so the web process never imports the jobs
    (and what they import for the work horse)."""
    code = """
import sys
from storemon.web.app import create_app
create_app()
print(sorted(m for m in sys.modules if m in ("storemon.reports.jobs", "storemon.reports.build")))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": "sqlite://"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_sql_is_spoken_one_way():
    """SQLAlchemy Core, or ``text()`` with ``:name`` parameters: no SQL in a driver's own
    placeholders, and the driver connection only where SQLAlchemy has no way (bulk.py: COPY
    and binary results; engines.py: SQLite's BEGIN recipe; queries.py: cancelling a query)."""
    allowed = {"exec_driver_sql": {"storemon.database.engines"},
               "driver_connection": {"storemon.database.bulk", "storemon.database.queries"}}
    found = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and module not in allowed.get(node.attr, {module}):
                found.append(f"{module}:{node.lineno} uses {node.attr}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and re.search(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE)\b[^\n]*%(\(\w+\))?s", node.value):
                found.append(f"{module}:{node.lineno} writes SQL with a driver's placeholder")
    assert found == []
