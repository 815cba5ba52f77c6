"""Every third-party distribution the published app imports directly is pinned in requirements.txt.

The remote build installs requirements.txt only; a package reached through another one's
dependencies (azure-core through azure-data-tables, say) can change version under the app when
that other package moves.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.support.bicepmodel import ROOT

PUBLISHED = [ROOT / "function_app.py", *sorted((ROOT / "shared").rglob("*.py"))]
# azure.functions' worker is supplied by the platform (see the note in requirements.txt).
PLATFORM = {"azure-functions-worker"}


def imported_top_level_names(paths: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return names


def distributions_for(modules: set[str]) -> set[str]:
    """Map dotted module names to installed distributions (namespace packages like azure.* by
    their longest importable prefix)."""
    table = packages_distributions()
    found: set[str] = set()
    for module in modules:
        parts = module.split(".")
        if parts[0] in sys.stdlib_module_names or parts[0] in {"shared", "function_app"}:
            continue
        dists: list[str] = []
        for i in range(len(parts), 0, -1):
            # packages_distributions() keys are top-level names; azure.* needs the file owner
            dists = _owner("/".join(parts[:i])) or []
            if dists:
                break
        if not dists:
            dists = table.get(parts[0], [])
        assert dists, f"{module}: no installed distribution provides it"
        found.update(d.lower() for d in dists)
    return found - PLATFORM


def _owner(relative: str) -> list[str]:
    from importlib.metadata import distributions

    out = []
    for dist in distributions():
        for f in dist.files or ():
            text = str(f)
            if text in (f"{relative}/__init__.py", f"{relative}.py"):
                out.append(dist.metadata["Name"].replace("_", "-"))
    return out


def pinned() -> dict[str, str]:
    out = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s#]+)", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_every_direct_import_is_pinned() -> None:
    used = distributions_for(imported_top_level_names(PUBLISHED))
    assert "azure-core" in used  # shared/store imports it by name
    missing = sorted(used - pinned().keys())
    assert not missing, f"imported by the app but not pinned in requirements.txt: {missing}"
