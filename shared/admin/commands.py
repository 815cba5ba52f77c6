"""How the CLI declares a command: every area is a group of actions, and every action (a leaf
of the argparse tree) has help text, a `--json` switch and the handler that runs it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..manage.context import Deployment

# Runs one command: its arguments, the deployment; returns the exit status.
Handler = Callable[[argparse.Namespace, Deployment], int]
JSON_HELP = "print the result as one JSON document on stdout"


def group(sub: Any, name: str, help_text: str, dest: str = "action") -> Any:
    """An area (or a group inside one) whose actions are added to what this returns."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest=dest, required=True)


def leaf(sub: Any, name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
    """An action: help text, `--json`, and its handler."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text,
                                                     description=help_text)
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    parser.set_defaults(handler=handler)
    return parser


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
           ) -> list[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """Every action under `parser`: (its words, its parser, the help its group lists)."""
    found = []
    for action in parser._actions:  # argparse keeps its tree there, and only there
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, child in action.choices.items():
                below = leaves(child, (*path, name))
                found += below or [((*path, name), child, helps.get(name, ""))]
    return found
