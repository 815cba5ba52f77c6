"""Two models of how `.funcignore` selects the files that get published.

* `GitIgnore`: gitignore rules (what git-style tools such as azd apply).
* `CoreToolsIgnore`: a port of Azure Functions Core Tools' own matcher
  (`src/Azure.Functions.Cli/Common/GitIgnoreParser.cs`, itself a port of codemix/gitignore-parser,
  plus the directories and files `FileSystemHelpers.GetLocalFiles` always skips). It differs from
  git: a leading "/" is dropped, every pattern is a regex matched as a PREFIX of the relative path,
  "*" means one or more non-"/" characters and "**" one or more characters.

Both are implemented here (no dependency) and answer `excluded(path, is_dir)` for a path relative
to the project root with "/" separators. `published_files(root, matcher)` walks a tree the way a
publish does, pruning excluded directories.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


def _glob_to_regex(glob: str) -> str:
    """Translate one gitignore glob segment sequence (no leading/trailing slash) to a regex."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            if glob[i : i + 2] == "**":
                # "**/" = zero or more directories; "/**" = everything inside; bare "**" = anything
                if glob[i : i + 3] == "**/":
                    out.append("(?:.*/)?")
                    i += 3
                    continue
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = glob[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        elif c == "\\" and i + 1 < len(glob):
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class _GitRule:
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool


class GitIgnore:
    """gitignore semantics for a single ignore file at the project root."""

    def __init__(self, text: str) -> None:
        self.rules: list[_GitRule] = []
        for raw in text.splitlines():
            line = raw.rstrip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line  # a slash at the start or in the middle anchors to the root
            line = line.lstrip("/")
            body = _glob_to_regex(line)
            pattern = f"^{body}$" if anchored else f"^(?:.*/)?{body}$"
            self.rules.append(_GitRule(re.compile(pattern), negated, dir_only))

    def _match(self, path: str, is_dir: bool) -> bool | None:
        verdict: bool | None = None
        for rule in self.rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.match(path):
                verdict = not rule.negated
        return verdict

    def excluded(self, path: str, is_dir: bool = False) -> bool:
        # A path is excluded when it, or any directory above it, is excluded (git cannot
        # re-include a file whose parent directory is excluded).
        parts = path.split("/")
        for depth in range(1, len(parts)):
            if self._match("/".join(parts[:depth]), is_dir=True):
                return True
        return bool(self._match(path, is_dir))


class CoreToolsIgnore:
    """Azure Functions Core Tools' `.funcignore` behaviour (func azure functionapp publish)."""

    ALWAYS_SKIPPED_DIRS = frozenset({".git", ".vscode"})
    ALWAYS_SKIPPED_FILES = frozenset(
        {".funcignore", ".gitignore", "local.settings.json", "project.lock.json"}
    )
    _SPECIAL = re.compile(r"[\-\[\]/{}()+?.\\^$|]")

    def __init__(self, text: str) -> None:
        positive: list[str] = []
        negative: list[str] = []
        for raw in text.split("\n"):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            if line.startswith("/"):
                line = line[1:]
            (negative if negated else positive).append(self._prepare(line))
        self._positive = self._compile(sorted(positive))
        self._negative = self._compile(sorted(negative))
        self.has_negations = bool(negative)

    @classmethod
    def _prepare(cls, pattern: str) -> str:
        escaped = cls._SPECIAL.sub(lambda m: "\\" + m.group(0), pattern)
        return escaped.replace("**", "(.+)").replace("*", "([^\\/]+)")

    @staticmethod
    def _compile(parts: list[str]) -> re.Pattern[str] | None:
        if not parts:
            return None
        return re.compile("^((" + ")|(".join(parts) + "))")

    def denies(self, path: str) -> bool:
        positive = bool(self._positive and self._positive.match(path))
        negative = bool(self._negative and self._negative.match(path))
        return positive and not negative

    def excluded(self, path: str, is_dir: bool = False) -> bool:
        parts = path.split("/")
        if any(part in self.ALWAYS_SKIPPED_DIRS for part in (parts if is_dir else parts[:-1])):
            return True
        if is_dir:
            # Core Tools tests files only. A directory can be pruned when the prefix regex already
            # matches "dir/" (then it matches every path below it) and nothing is re-included.
            return not self.has_negations and self.denies(path + "/")
        if parts[-1].lower() in self.ALWAYS_SKIPPED_FILES:
            return True
        return self.denies(path)


def published_files(root: Path, matcher: GitIgnore | CoreToolsIgnore) -> set[str]:
    """Relative paths ("/"-separated) of the files a publish of `root` would include."""
    published: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not matcher.excluded(prefix + d, is_dir=True))
        for name in filenames:
            rel = prefix + name
            if not matcher.excluded(rel):
                published.add(rel)
    return published
