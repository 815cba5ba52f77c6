"""Layering rules. The package order (adapter/admin → service → feed/auth → store → scim →
utilities) and "the engine does no I/O" are import-linter contracts in pyproject.toml, run by
`make lint`; the tests here prove those contracts catch a planted violation, and check the two
rules a contract over squashed external packages cannot say: only the store imports
azure.data.tables, and only the adapter imports azure.functions. Imports are resolved the way
Python resolves them, relative ones included."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of everything `path` imports; `from ..store import keys` in
    shared/scim/errors.py yields shared.store and shared.store.keys."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _importers(prefix: str) -> set[str]:
    out = set()
    for path in [ROOT / "function_app.py", *ROOT.joinpath("shared").rglob("*.py")]:
        if any(n == prefix or n.startswith(prefix + ".") for n in _imports(path)):
            out.add(str(path.relative_to(ROOT)))
    return out


def test_relative_imports_are_resolved() -> None:
    names = _imports(ROOT / "shared" / "store" / "directory.py")
    assert "shared.store.keys" in names
    assert "shared.caseless" in _imports(ROOT / "shared" / "scim" / "filter.py")


def test_only_the_store_imports_azure_data_tables() -> None:
    importers = _importers("azure.data.tables")
    assert importers
    assert all(p.startswith("shared/store/") for p in importers), importers


def test_only_the_adapter_imports_azure_functions() -> None:
    importers = _importers("azure.functions")
    assert "function_app.py" in importers
    assert all(p == "function_app.py" or p.startswith("shared/adapter/") for p in importers), (
        importers)


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")],
        cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120)


@pytest.fixture
def copy_of_the_tree(tmp_path: Path) -> Path:
    for package in ("shared", "devhost"):
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold_on_the_tree(copy_of_the_tree: Path) -> None:
    result = _lint_imports(copy_of_the_tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(("module", "planted", "message"), [
    ("shared/scim/errors.py", "from ..store import keys",
     "shared.scim is not allowed to import shared.store"),
    ("shared/store/keys.py", "from ..service import kinds",
     "shared.store is not allowed to import shared.service"),
    ("shared/feed/events.py", "from ..auth import tokens",
     "shared.feed is not allowed to import shared.auth"),
    ("shared/scim/patch.py", "import socket",
     "shared.scim is not allowed to import socket"),
    ("shared/service/listing.py", "from azure.data.tables import UpdateMode",
     "shared.service is not allowed to import azure"),
    ("shared/adapter/http.py", "import devhost",
     "shared.adapter.http -> devhost"),
])
def test_make_lint_catches_a_planted_violation(
        copy_of_the_tree: Path, module: str, planted: str, message: str) -> None:
    target = copy_of_the_tree / module
    target.write_text(target.read_text() + f"\n{planted}  # planted by the test\n")
    result = _lint_imports(copy_of_the_tree)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout


def test_importing_function_app_defers_heavy_modules() -> None:
    """Cold start depends on indexing loading no storage SDK, pydantic or HTTP client: those
    load on the first request (benchmarks/import_time.py measures it)."""
    code = ("import sys, function_app; heavy = ['azure.data.tables', 'azure.identity', "
            "'azure.storage.queue', 'pydantic', 'httpx', 'requests']; "
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == "[]", out


@pytest.mark.azurite
def test_the_default_backend_runs_without_azure_core_or_the_tables_sdk(
        storage_connection_string: str) -> None:
    """The direct backend speaks to storage itself: serving requests with it must not load
    azure-core's pipeline or azure-data-tables (their import is most of a cold start's), and
    nothing may reach them through another import. A fresh process imports the app, builds
    the service and makes real storage calls (tables, a tenant lookup, a read, a write)."""
    code = (
        "import sys, function_app\n"
        "from shared.adapter import runtime\n"
        "svc = runtime.service()\n"
        "assert svc.tenants.get('nobody') is None\n"
        "assert svc.directory.get('t', 'U', 'nobody') is None\n"
        "svc.directory.table.upsert_entity({'PartitionKey': 't', 'RowKey': 'probe'})\n"
        "print(sorted(m for m in sys.modules if m.startswith(('azure.core', 'azure.data'))))\n")
    env = {**os.environ, "SCIM_STORAGE_CONNECTION_STRING": storage_connection_string,
           "SCIM_STORAGE_CLIENT": "direct", "SCIM_TABLE_PREFIX": "imports"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env=env,
                         capture_output=True, text=True).stdout.strip()
    assert out == "[]", out


def test_no_module_of_the_app_is_longer_than_700_lines() -> None:
    """A module that outgrows this holds more than one concept: split it along one."""
    long = {str(p.relative_to(ROOT)): n for p in ROOT.joinpath("shared").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 700}
    assert not long, long
