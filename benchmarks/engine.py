"""CPU of the SCIM engine (`shared/scim`, no I/O) for Entra's request shapes, per call: a user
create's normalisation, a multi-attribute PATCH and a deactivation (dialect normalisation,
apply, the storable check, the change-event diff), and the default rendering of a stored user.
`--base REV` times the engine as it was at git revision REV in the same process, rounds
alternating, so a change is judged against its previous version rather than across runs.

    .venv/bin/python benchmarks/engine.py [--number 3000] [--rounds 5] [--base REV]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import client  # noqa: E402
import revision  # noqa: E402

PATCH = {"schemas": [client.PATCH_OP], "Operations": [
    {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@contoso.example"},
    {"op": "Replace", "path": "name.familyName", "value": "Changed"},
    {"op": "Add", "path": "nickName", "value": "Nick"}]}
DEACTIVATE = {"schemas": [client.PATCH_OP], "Operations": [
    {"op": "Replace", "path": "active", "value": "False"}]}
META = {"resourceType": "User", "created": "2026-01-01T00:00:00.000Z",
        "lastModified": "2026-01-01T00:00:00.000Z", "version": 'W/"x"',
        "location": "https://scim.example/scim/v2/t/Users/0123"}


def _engine(package: str) -> dict[str, Callable[[], Any]]:
    """The timed calls, made with the engine modules of `package` ("shared" or a copy of it at
    a revision: the whole package, since the engine imports a few of its utilities)."""
    mod: Callable[[str], ModuleType] = (  # noqa: E731
        lambda name: revision.module(package, f"scim.{name}"))
    resource, dialect, patch = mod("resource"), mod("dialect"), mod("patch")
    projection, user = mod("projection"), mod("schemas").USER
    body = client._user(7, "bench")
    stored = json.loads(json.dumps(resource.prepare_create(body, user)))  # as read back

    def patched(request: dict[str, Any]) -> Callable[[], Any]:
        def run() -> Any:
            ops = dialect.normalize_patch(request, user)
            doc = resource.check_update(stored, patch.apply_patch(stored, ops, user).doc, user)
            return resource.diff_attributes(stored, doc)
        return run

    rendered = {"id": "0123", **stored, "meta": META}
    return {
        "create: normalise": lambda: resource.prepare_create(body, user),
        "PATCH (3 operations)": patched(PATCH),
        "deactivate": patched(DEACTIVATE),
        "render a user": lambda: projection.project(rendered, user),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=3000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--base", default="", help="git revision of the engine to compare")
    args = parser.parse_args()
    engines = revision.variants("shared", args.base, _engine)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, calls in engines.items():
            for shape, call in calls.items():
                timer = timeit.Timer(call, timer=time.thread_time)
                times.setdefault((shape, name), []).append(
                    min(timer.repeat(repeat=3, number=args.number)) / args.number * 1e6)
    shapes = list(engines["now"])
    print("CPU per call, µs (median of rounds, each the best of 3 x --number calls)")
    print(f"| call | {' | '.join(engines)} |")
    print("|---|" + "---|" * len(engines))
    for shape in shapes:
        cells = " | ".join(f"{statistics.median(times[(shape, n)]):.1f}" for n in engines)
        print(f"| {shape} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
