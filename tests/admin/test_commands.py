"""Every command of the CLI, found by walking its argparse tree (so a command added later is
checked too): each has help text, shown in its group's listing and its own --help, and takes
--json."""

from __future__ import annotations

import argparse

import pytest

from shared.admin.__main__ import build_parser
from shared.admin.commands import leaves

LEAVES = leaves(build_parser())


def test_the_walk_finds_every_area() -> None:
    words = {path for path, _, _ in LEAVES}
    assert len(words) == len(LEAVES) > 40
    for expected in [("tenant", "list"), ("tenant", "show"), ("token", "revoke"),
                     ("deadletter", "list"), ("webhook", "show"), ("queue", "status"),
                     ("queue", "poison", "replay"), ("signing-key", "list"),
                     ("reconcile", "run"), ("tenant", "disable"), ("audit",),
                     ("feed", "tokens"), ("schema", "undeclared"), ("subscription", "test"),
                     ("client", "federate"), ("tenant", "delete")]:
        assert expected in words


@pytest.mark.parametrize(("path", "parser", "help_text"), LEAVES,
                         ids=[" ".join(path) for path, _, _ in LEAVES])
def test_every_command_has_help_and_json(path: tuple[str, ...],
                                         parser: argparse.ArgumentParser,
                                         help_text: str) -> None:
    assert help_text.strip(), f"{' '.join(path)} has no help in its group's listing"
    assert (parser.description or "").strip()
    options = {s for action in parser._actions for s in action.option_strings}
    assert "--json" in options
    json_switch = next(a for a in parser._actions if "--json" in a.option_strings)
    assert json_switch.help
    assert all(a.help for a in parser._actions if a.option_strings and a.dest != "help"), (
        "every option of the command explains itself")


@pytest.mark.parametrize("path", [(), *sorted({p[:n] for p, _, _ in LEAVES
                                               for n in range(1, len(p) + 1)})],
                         ids=lambda p: " ".join(p) or "(top)")
def test_help_of_every_group_and_command_runs(path: tuple[str, ...],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*path, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m shared.admin {' '.join(path)}".rstrip())


def test_json_is_accepted_by_every_command() -> None:
    """--json parses after each command's own arguments (placeholders for positionals)."""
    for path, parser, _ in LEAVES:
        positionals = [a for a in parser._actions if not a.option_strings
                       and a.nargs not in ("?", "*")]
        args = []
        for action in positionals:
            if action.choices:
                args.append(next(iter(action.choices)))
            else:
                args.append("x")
        required = [a for a in parser._actions if a.option_strings and a.required]
        for action in required:
            args += [action.option_strings[0], "x"]
        parsed = build_parser().parse_args([*path, *args, "--json"])
        assert parsed.json is True, path
        assert callable(parsed.handler), path
