"""Tests mirror the code: every module of the app and of the local host has its own test file,
`tests/<package>/test_<module>.py` (`tests/test_<module>.py` for the utilities at the top of
`shared/`), so the next engineer finds a module's tests without searching. Cross-cutting suites
live beside them in tests/e2e, tests/reliability, tests/security and tests/infra."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Modules whose tests are shared with siblings, by design: the blueprints are a few lines each
# and are indexed and called together.
_SHARED_TEST_FILE = {
    "shared/adapter/blueprints/deliver.py": "tests/adapter/test_blueprints.py",
    "shared/adapter/blueprints/feed.py": "tests/adapter/test_blueprints.py",
    "shared/adapter/blueprints/health.py": "tests/adapter/test_blueprints.py",
    "shared/adapter/blueprints/manage.py": "tests/adapter/test_blueprints.py",
    "shared/adapter/blueprints/oauth.py": "tests/adapter/test_blueprints.py",
    "shared/adapter/blueprints/openapi.py": "tests/adapter/test_blueprints.py",
    "shared/adapter/blueprints/reconcile.py": "tests/adapter/test_blueprints.py",
    "shared/adapter/blueprints/scim.py": "tests/adapter/test_blueprints.py",
}


def _modules() -> list[Path]:
    found = [*ROOT.joinpath("shared").rglob("*.py"), *ROOT.joinpath("devhost").rglob("*.py")]
    return sorted(p for p in found if p.name != "__init__.py")


def _test_file(module: Path) -> str:
    relative = module.relative_to(ROOT).as_posix()
    if relative in _SHARED_TEST_FILE:
        return _SHARED_TEST_FILE[relative]
    parts = module.relative_to(ROOT).with_suffix("").parts
    package = [p for p in parts[:-1] if p != "shared"]
    name = "main" if parts[-1] == "__main__" else parts[-1]
    return "/".join(["tests", *package, f"test_{name}.py"])


@pytest.mark.parametrize("module", _modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_module_has_its_test_file(module: Path) -> None:
    expected = _test_file(module)
    assert (ROOT / expected).is_file(), f"{module.relative_to(ROOT)} has no {expected}"


def test_every_test_package_mirrors_a_code_package() -> None:
    packages = {p.name for p in ROOT.joinpath("shared").iterdir() if p.is_dir()
                and (p / "__init__.py").exists()} | {"devhost"}
    cross_cutting = {"e2e", "reliability", "security", "infra", "support", "tools"}
    test_dirs = {p.name for p in ROOT.joinpath("tests").iterdir() if p.is_dir()
                 and (p / "__init__.py").exists()}
    assert test_dirs - packages - cross_cutting == set()
    assert packages - test_dirs == set()
