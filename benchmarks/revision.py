"""A package of this repository as it was at a git revision, importable next to today's, for
benchmarks that measure a change against its previous version in one process."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def package_at(rev: str, folder: str, into: Path) -> tuple[str, str]:
    """Copy the modules of `folder` (e.g. "shared/store") at revision `rev` into package
    `<last folder part>_<commit>` under `into` (their imports must be relative, within the
    folder; an empty __init__ keeps the rest out) and put `into` on sys.path. Returns the
    package name and the short commit."""
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()  # HEAD~1 -> a name
    name = f"{Path(folder).name}_{commit}"
    package = into / name
    package.mkdir()
    files = subprocess.run(["git", "ls-tree", "--name-only", rev, folder.rstrip("/") + "/"],
                           cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    for path in files:
        if path.endswith(".py") and not path.endswith("__init__.py"):
            source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True,
                                    capture_output=True, text=True).stdout
            (package / Path(path).name).write_text(source)
    (package / "__init__.py").write_text("")
    if str(into) not in sys.path:
        sys.path.insert(0, str(into))
    return name, commit


def module(package: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.{name}")
