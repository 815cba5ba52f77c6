"""Layering rules (DEVELOPERS.md): only the store imports azure.data.tables; only
function_app.py and shared/adapter import azure.functions; the engine imports neither and
does no I/O; importing function_app is cheap."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _importers(prefix: str) -> set[str]:
    out = set()
    for path in [ROOT / "function_app.py", *ROOT.joinpath("shared").rglob("*.py")]:
        if any(n == prefix or n.startswith(prefix + ".") for n in _imports(path)):
            out.add(str(path.relative_to(ROOT)))
    return out


def test_only_the_store_imports_azure_data_tables() -> None:
    importers = _importers("azure.data.tables")
    assert importers
    assert all(p.startswith("shared/store/") for p in importers), importers


def test_only_the_adapter_imports_azure_functions() -> None:
    importers = _importers("azure.functions")
    assert "function_app.py" in importers
    assert all(p == "function_app.py" or p.startswith("shared/adapter/") for p in importers), (
        importers)


def test_engine_imports_no_io() -> None:
    banned = ("azure", "requests", "httpx", "socket", "urllib.request", "http", "os",
              "subprocess", "shared.store", "shared.service", "shared.adapter")
    for path in ROOT.joinpath("shared", "scim").rglob("*.py"):
        for name in _imports(path):
            assert not any(name == b or name.startswith(b + ".") for b in banned), (path, name)


def test_importing_function_app_defers_heavy_modules() -> None:
    """Cold start (and the 1.5 s import budget, measured in benchmarks/) depends on indexing
    loading no storage SDK, pydantic or HTTP client: those load on the first request."""
    code = ("import sys, function_app; heavy = ['azure.data.tables', 'azure.identity', "
            "'pydantic', 'httpx', 'requests']; print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == "[]", out
