"""A package of this repository as it was at a git revision, importable next to today's, for
benchmarks that measure a change against its previous version in one process."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


def package_at(rev: str, folder: str, into: Path) -> tuple[str, str]:
    """Copy the modules of `folder` (e.g. "shared/store", or all of "shared") and its
    subfolders at revision `rev` into package `<last folder part>_<commit>` under `into` (their
    imports must be relative, within the folder; an empty top __init__ keeps the rest out) and
    put `into` on sys.path. Returns the package name and the short commit."""
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()  # HEAD~1 -> a name
    name = f"{Path(folder).name}_{commit}"
    package = into / name
    top = folder.rstrip("/") + "/"
    files = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, top],
                           cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    for path in files:
        if not path.endswith(".py"):
            continue
        target = package / path[len(top):]
        target.parent.mkdir(parents=True, exist_ok=True)
        source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
        target.write_text(source)
    (package / "__init__.py").write_text("")
    if str(into) not in sys.path:
        sys.path.insert(0, str(into))
    return name, commit


def variants(folder: str, base: str, make: Callable[[str], T]) -> dict[str, T]:
    """`make(package)` for today's package of `folder` as "now" and, when `base` names a
    revision, for its copy at that revision under the short commit: what an A/B compares."""
    out = {"now": make(folder.replace("/", "."))}
    if base:
        package, commit = package_at(base, folder, Path(tempfile.mkdtemp(prefix="revision-")))
        out[commit] = make(package)
    return out


def module(package: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.{name}")
