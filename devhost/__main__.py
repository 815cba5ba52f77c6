"""``python -m devhost [module:attribute]``: serve a FunctionApp on http://127.0.0.1:7071."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path

from .functions import StartupError
from .host import serve
from .server import ServerLimits


def load_local_settings(
    path: str | os.PathLike[str], environ: MutableMapping[str, str] | None = None
) -> list[str]:
    """Copy ``Values`` of a local.settings.json into the environment (existing variables win,
    as they should for CI); returns the names that were set. Values are never logged."""
    env = os.environ if environ is None else environ
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    values = (data.get("Values") or {}) if isinstance(data, dict) else {}
    set_names = []
    for name, value in values.items():
        if name not in env and value is not None:
            env[name] = str(value)
            set_names.append(name)
    return set_names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="Serve an Azure Functions Python v2 app locally (no Core Tools needed).",
    )
    parser.add_argument("app", nargs="?", default="function_app:app", help="module:attribute")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--host-json", default=None, help="default: ./host.json if present")
    defaults = ServerLimits()
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="threads serving connections (default %(default)s)")
    parser.add_argument("--waiting", type=int, default=defaults.waiting,
                        help="connections that may wait for a worker; beyond them: 503 "
                        "(default %(default)s)")
    parser.add_argument("--settings", default=None,
                        help="local.settings.json whose Values become environment variables "
                        "(default: ./local.settings.json if present; existing variables win)")
    args = parser.parse_args(argv)
    try:
        limits = ServerLimits(workers=args.workers, waiting=args.waiting)
    except ValueError as exc:
        parser.error(str(exc))
    settings = args.settings
    if settings is None and Path("local.settings.json").is_file():
        settings = "local.settings.json"
    if settings:
        names = load_local_settings(settings)
        print(f"devhost: settings from {settings}: {', '.join(names) or 'none'}", file=sys.stderr)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, _, attribute = args.app.partition(":")
    app = getattr(importlib.import_module(module_name), attribute or "app")
    try:
        serve(app, args.host, args.port, args.host_json, limits)
    except StartupError as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
