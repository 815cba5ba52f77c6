"""The repository is the whole truth for someone who clones it: nothing in the code, tests,
tools or docs cites a document that is not in the repository, no path points outside it, and
every link between the docs resolves (anchors included)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_URL = re.compile(r"https?://\S+")
_MD_NAME = re.compile(r"(?<![\w.-])([\w./-]*[\w-]\.md)\b")
# Paths of the machines the project was written on, and the team folder beside the repository
# (spelt in pieces so that this file does not match itself).
_OUTSIDE = re.compile("(" + "|".join([r"/" + "work/", r"\.\./" + r"shared\b", r"/home/\w",
                                      r"/" + r"tmp/\w+/"]) + ")")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_TEXT_SUFFIXES = {".py", ".md", ".bicep", ".json", ".toml", ".txt", ".sh", ".js", ".yaml",
                  ".yml", ".cfg", ".ini", ""}


def _tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    files = []
    for name in names:
        path = ROOT / name
        if path.suffix in _TEXT_SUFFIXES and path.is_file() and "package-lock" not in name:
            files.append(path)
    return files


def _markdown_files() -> list[Path]:
    return [p for p in _tracked_text_files() if p.suffix == ".md"]


def _cited_documents(text: str) -> set[str]:
    return set(_MD_NAME.findall(_URL.sub("", text)))


def _exists(cited: str, source: Path, known: set[str]) -> bool:
    if "/" not in cited:
        return cited in known
    return (source.parent / cited).exists() or (ROOT / cited).exists()


# Files whose ".md" names are sample paths (data), not citations.
_SAMPLE_PATHS = {"tests/infra/test_funcignore.py", "tests/test_self_contained.py",
                 "tests/test_mirror.py"}


def test_no_file_cites_a_document_outside_the_repository() -> None:
    known = {p.name for p in _markdown_files()}
    missing = []
    for path in _tracked_text_files():
        if str(path.relative_to(ROOT)) in _SAMPLE_PATHS:
            continue
        for cited in _cited_documents(path.read_text(errors="replace")):
            if not _exists(cited, path, known):
                missing.append(f"{path.relative_to(ROOT)} cites {cited}")
    assert not missing, "\n".join(sorted(missing))


def test_no_file_points_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    found = []
    for path in _tracked_text_files():
        if path == this:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if _OUTSIDE.search(_URL.sub("", line)):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not found, "\n".join(found)


_REPO_PATH = re.compile(
    r"(?<![\w/.-])((?:shared|tests|devhost|tools|benchmarks|infra|docs)/[\w./-]*[\w/])")
# Paths that are not meant to exist in the tree: benchmark output (written by `make bench`) and
# the module a benchmark reads from an earlier git revision.
_NOT_IN_THE_TREE = {"benchmarks/results", "shared/adapter/devhost.py"}


def test_every_path_named_in_the_repository_exists() -> None:
    """Docs and comments name modules by path; a move or rename must take them along."""
    stale = []
    for path in _tracked_text_files():
        if str(path.relative_to(ROOT)) in _SAMPLE_PATHS:
            continue
        for named in set(_REPO_PATH.findall(_URL.sub("", path.read_text(errors="replace")))):
            named = named.rstrip("/.")
            if any(c in named for c in "*{<") or any(
                    named.startswith(p) for p in _NOT_IN_THE_TREE):
                continue
            if not (ROOT / named).exists():
                stale.append(f"{path.relative_to(ROOT)} names {named}")
    assert not stale, "\n".join(sorted(stale))


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            base = _anchor(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


@pytest.mark.parametrize("doc", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_in_the_docs_resolves(doc: Path) -> None:
    broken = []
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.DOTALL)
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, fragment = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in _anchors(linked):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, "\n".join(broken)


def test_the_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for command in ("make run", "make test"):
        assert command in readme
    for doc in ("architecture.md", "entra-admin.md", "operations.md", "change-feed.md",
                "performance.md", "deploy.md"):
        assert (ROOT / "docs" / doc).is_file(), doc
        assert f"docs/{doc}" in readme, f"README does not link docs/{doc}"
