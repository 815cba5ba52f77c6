""".funcignore keeps the publish payload to the app: function_app.py, host.json, requirements.txt,
shared/ and the deployment's extension schemas (schemas/*.json). Checked under gitignore rules
and under Azure Functions Core Tools' own matcher, which differs from git (see
tests/support/funcignore.py)."""

from __future__ import annotations

import ast
import re
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest

from tests.support.funcignore import CoreToolsIgnore, GitIgnore, published_files

ROOT = Path(__file__).resolve().parents[2]
FUNCIGNORE = ROOT / ".funcignore"

MUST_PUBLISH = [
    "function_app.py",
    "host.json",
    "requirements.txt",
    "shared/__init__.py",
    "shared/settings.py",
    "shared/scim/schema.py",
    "shared/store/connection.py",
    "schemas/contoso-badges.json",  # a deployment's schema (shared/service/tenant_schemas.py)
    # the web console's static files, served from the package by blueprints/console.py
    "shared/console/index.html",
    "shared/console/console.css",
    "shared/console/console.js",
    "shared/console/icon.svg",
    "shared/console/vendor/msal-browser-5.30.0.min.js",
    "shared/console/vendor/msal-browser-LICENSE.txt",
]

MUST_NOT_PUBLISH = [
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/infra/test_funcignore.py",
    "infra/main.bicep",
    "infra/modules/storage.bicep",
    "infra/main.parameters.json",
    ".venv/bin/python",
    ".venv/lib/python3.11/site-packages/pytest/__init__.py",
    ".venv-checkov/pyvenv.cfg",
    ".venv-peers/bin/python",
    "node_modules/azurite/package.json",
    "node_modules/.bin/azurite",
    ".ci/run",
    "tools/azurite.py",
    "devhost/__init__.py",
    "devhost/server.py",
    "benchmarks/bench_filter.py",
    "docs/deploy.md",
    "README.md",
    "shared/README.md",
    "shared/scim/NOTES.md",
    "schemas/README.md",
    "schemas/examples/custom-extension-name.json",
    ".git/HEAD",
    ".gitignore",
    ".github/workflows/ci.yml",
    ".vscode/settings.json",
    ".azure/dev/.env",
    "local.settings.json",
    ".pytest_cache/v/cache/lastfailed",
    ".mypy_cache/3.11/cache.db",
    ".ruff_cache/CACHEDIR.TAG",
    ".hypothesis/examples/x",
    "package.json",
    "package-lock.json",
    "pyproject.toml",
    "requirements-dev.txt",
    "requirements-peers.txt",
    "local.settings.example.json",
    "Makefile",
    "azure.yaml",
    ".funcignore",
    ".env",
    "__pycache__/function_app.cpython-311.pyc",
    "shared/__pycache__/settings.cpython-311.pyc",
    "shared/scim/__pycache__/schema.cpython-311.pyc",
    ".python_packages/lib/site-packages/x.py",
    "__azurite_db_table__.json",
]


@pytest.fixture(scope="module")
def matchers() -> dict[str, GitIgnore | CoreToolsIgnore]:
    text = FUNCIGNORE.read_text(encoding="utf-8")
    return {"gitignore": GitIgnore(text), "core-tools": CoreToolsIgnore(text)}


# --- the two matcher models behave as documented (so the checks below mean something) ----------


def test_gitignore_model_follows_git_rules() -> None:
    m = GitIgnore("/build/\n*.log\n**/cache/\n/.venv*/\n!keep.log\nsub/dir\n")
    assert m.excluded("build/x.py")
    assert not m.excluded("src/build/x.py")  # anchored
    assert m.excluded("a/b/c.log")  # unanchored, any depth
    assert not m.excluded("keep.log")  # negation
    assert m.excluded("a/cache/x")
    assert m.excluded("cache/x")
    assert m.excluded(".venv/bin/python")  # "*" matches zero characters in git
    assert m.excluded("sub/dir")
    assert not m.excluded("x/sub/dir")


def test_core_tools_model_reproduces_its_quirks() -> None:
    m = CoreToolsIgnore("/build/\n*.md\n.venv*/\ntests\n")
    assert m.excluded("build/x.py")
    assert m.excluded("README.md")
    assert not m.excluded("docs/README.md")  # "*" never crosses "/" and is anchored at the root
    assert not m.excluded(".venv/bin/python")  # "*" needs at least one character
    assert m.excluded(".venv-x/bin/python")
    assert m.excluded("tests_helpers.py")  # prefix match: "tests" also hits tests_helpers.py
    assert m.excluded(".git/config")
    assert m.excluded("x/.vscode/settings.json")
    assert m.excluded("local.settings.json")  # always skipped


# --- the real .funcignore ----------------------------------------------------------------------


@pytest.mark.parametrize("path", MUST_PUBLISH)
def test_app_files_are_published(
    matchers: dict[str, GitIgnore | CoreToolsIgnore], path: str
) -> None:
    for name, matcher in matchers.items():
        assert not matcher.excluded(path), f"{name} semantics would leave {path} out of the package"


@pytest.mark.parametrize("path", MUST_NOT_PUBLISH)
def test_development_files_are_not_published(
    matchers: dict[str, GitIgnore | CoreToolsIgnore], path: str
) -> None:
    for name, matcher in matchers.items():
        assert matcher.excluded(path), f"{name} semantics would publish {path}"


@pytest.fixture(scope="module")
def published(matchers: dict[str, GitIgnore | CoreToolsIgnore]) -> dict[str, set[str]]:
    """The publish set of this working tree (a walk of the files on disk, as `func` does)."""
    return {name: published_files(ROOT, m) for name, m in matchers.items()}


def test_both_matchers_publish_the_same_files(published: dict[str, set[str]]) -> None:
    git, core = published["gitignore"], published["core-tools"]
    assert git == core, (
        f"only git-style: {sorted(git - core)}; only Core Tools: {sorted(core - git)}"
    )


def test_published_tree_contains_the_app(published: dict[str, set[str]]) -> None:
    files = published["core-tools"]
    assert "requirements.txt" in files
    for name in ("function_app.py", "host.json"):
        if (ROOT / name).is_file():
            assert name in files
    shared_sources = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "shared").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert shared_sources, "shared/ has no Python files?"
    assert shared_sources <= files, sorted(shared_sources - files)


def test_published_tree_holds_nothing_else(published: dict[str, set[str]]) -> None:
    files = published["core-tools"]
    forbidden = ("tests/", "infra/", ".venv", "node_modules/", ".ci/", "tools/", "docs/", ".git")
    leaked = sorted(f for f in files if f.startswith(forbidden))
    assert not leaked, f"published development files: {leaked}"

    def is_app_file(path: str) -> bool:
        if "/" not in path:
            return path in {"host.json", "requirements.txt"} or path.endswith(".py")
        if path.startswith("schemas/") and path.count("/") == 1:
            return path.endswith(".json")  # what tenant_schemas.py reads, nothing else
        top = path.split("/", 1)[0]
        # any other top-level directory must be a Python package of the app (like shared/)
        return (ROOT / top / "__init__.py").is_file() and top != "tests"

    strangers = sorted(f for f in files if not is_app_file(f))
    assert not strangers, (
        f"files outside the app would be published: {strangers}; "
        "add them to .funcignore or make them part of the app"
    )


# Top-level packages of this repository that only development uses.
DEV_ONLY_PACKAGES = ("devhost", "tools", "tests", "benchmarks")


def _normalized(distribution: str) -> str:
    return distribution.lower().replace("_", "-")


def _dev_only_distributions() -> set[str]:
    """Import names of the distributions pinned in requirements-dev.txt and not in
    requirements.txt (pytest, the dev host's cronsim, ...). A top-level name that runtime
    distributions share (the `azure` namespace) is not banned whole: the dev-only
    distribution's own packages under it are (azure.storage.queue)."""
    def pinned(name: str) -> set[str]:
        text = (ROOT / name).read_text(encoding="utf-8")
        return {_normalized(m[1])
                for m in re.finditer(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==", text, re.M)}

    dev_only = pinned("requirements-dev.txt") - pinned("requirements.txt")
    modules: set[str] = set()
    found: set[str] = set()
    for module, dists in packages_distributions().items():
        owners = {_normalized(d) for d in dists}
        if not owners & dev_only:
            continue
        found |= owners & dev_only
        if owners <= dev_only:
            modules.add(module)
        else:
            for owner in owners & dev_only:
                modules |= _packages_under(owner, module)
    assert dev_only <= found, f"not installed, cannot check: {sorted(dev_only - found)}"
    return modules


def _packages_under(distribution_name: str, top: str) -> set[str]:
    """The outermost regular packages `distribution_name` installs under the namespace `top`."""
    packages = {".".join(f.parent.parts) for f in distribution(distribution_name).files or ()
                if f.name == "__init__.py" and f.parts[0] == top}
    return {p for p in packages if not any(p.startswith(q + ".") for q in packages)}


def _banned(module: str, banned: set[str]) -> bool:
    return any(module == b or module.startswith(b + ".") for b in banned)


def test_published_tree_holds_no_dev_only_code(published: dict[str, set[str]]) -> None:
    assert (ROOT / "devhost" / "__init__.py").is_file()  # the dev host is there to leave out
    banned = set(DEV_ONLY_PACKAGES) | _dev_only_distributions()
    assert {"devhost", "pytest", "cronsim"} <= banned
    assert "h11" not in banned  # the store's HTTP framing: a runtime dependency
    assert "azure" not in banned  # a namespace: azure.functions is the app's own dependency
    for name, files in published.items():
        leaked = sorted(f for f in files if f.split("/", 1)[0] in DEV_ONLY_PACKAGES)
        assert not leaked, f"{name} semantics would publish development code: {leaked}"
        importers = []
        for path in sorted(f for f in files if f.endswith(".py")):
            tree = ast.parse((ROOT / path).read_text(encoding="utf-8"), filename=path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                importers += [(path, m) for m in modules if _banned(m, banned)]
        assert not importers, f"published code imports development-only code: {importers}"
