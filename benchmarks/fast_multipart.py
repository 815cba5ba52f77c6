"""Prototype for a proposal (not used by the app): build an entity-group transaction's
multipart body by plain byte concatenation instead of azure-core's `email.message` round trip,
which the benchmark's profile shows as the largest single CPU cost of every write.

    .venv/bin/python benchmarks/fast_multipart.py [--reps 150]

1. checks that the body is byte-for-byte what azure-core builds (same boundaries), for
   transactions of 1, 2 and 99 operations of every kind the store sends;
2. measures process CPU and wall time per transaction (2 and 99 operations) with azure-core's
   builder and with this one, alternating rounds, against Azurite (both commit).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from pathlib import Path
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import azurite  # noqa: E402

from benchmarks.multipart import measure  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store.connection import open_tables  # noqa: E402

CRLF = b"\r\n"


def _body(request: Any, index: int) -> tuple[bytes, int]:
    parts, boundary = request.multipart_mixed_info[0], request.multipart_mixed_info[2]
    mark = b"--" + boundary.encode("ascii")
    out: list[bytes] = []
    for part in parts:
        out.append(mark + CRLF)
        if part.multipart_mixed_info:
            inner, index = _body(part, index)
            content_type = "multipart/mixed; boundary=" + part.multipart_mixed_info[2]
            part.set_bytes_body(inner)
            part.headers["Content-Type"] = content_type
            out += [b"Content-Type: ", content_type.encode("ascii"), CRLF, CRLF, inner]
        else:
            out += [b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                    b"Content-ID: ", str(index).encode("ascii"), CRLF, CRLF, part.serialize()]
            index += 1
        out.append(CRLF)
    out.append(mark + b"--" + CRLF)
    return b"".join(out), index


def fast_prepare_multipart(request: Any) -> None:
    """Drop-in for `Pipeline._prepare_multipart` (after the part policies have run)."""
    info = request.multipart_mixed_info
    if not info:
        return
    if info[2] is None or any(p.multipart_mixed_info and p.multipart_mixed_info[2] is None
                              for p in info[0]):
        request.prepare_multipart_body()  # no boundary given: let the SDK choose one
        return
    body, _ = _body(request, 0)
    request.set_bytes_body(body)
    request.headers["Content-Type"] = "multipart/mixed; boundary=" + info[2]


def _ops(pk: str, size: int) -> list[Any]:
    kinds: list[Any] = [
        ("create", {"PartitionKey": pk, "RowKey": "U:x", "doc": '{"userName":"a@b.c"}', "n": 1}),
        ("update", {"PartitionKey": pk, "RowKey": "G:x", "lastModified": "now"},
         {"mode": UpdateMode.MERGE}),
        ("update", {"PartitionKey": pk, "RowKey": "U:y", "doc": "{}"},
         {"mode": UpdateMode.REPLACE, "etag": 'W/"datetime\'2026\'"',
          "match_condition": MatchConditions.IfNotModified}),
        ("delete", {"PartitionKey": pk, "RowKey": "UN:a"}),
        ("upsert", {"PartitionKey": pk, "RowKey": "M:g:u", "type": "User"}),
    ]
    out = []
    for n in range(size):
        verb, entity, *rest = kinds[n % len(kinds)]
        out.append((verb, {**entity, "RowKey": f"{entity['RowKey']}{n}"}, *rest))
    return out


def check_identical(tables: Any) -> None:
    from azure.core.pipeline import Pipeline

    pipeline = tables.data._client._client._pipeline
    captured: list[tuple[bytes, str]] = []

    class Stop(Exception):
        pass

    def capture(request: Any) -> None:
        snapshot = [(p, dict(p.headers)) for p in request.multipart_mixed_info[0]]
        Pipeline._prepare_multipart(pipeline, request)
        sdk = (bytes(request.body), request.headers["Content-Type"])
        for p, headers in snapshot:  # undo what the SDK's builder set on the changeset
            p.headers.clear()
            p.headers.update(headers)
        fast_prepare_multipart(request)
        captured.append(sdk)
        captured.append((bytes(request.body), request.headers["Content-Type"]))
        raise Stop

    pipeline._prepare_multipart = capture
    try:
        for size in (1, 2, 5, 99):
            with contextlib.suppress(Stop):
                tables.data.submit_transaction(_ops("check", size))
            sdk, fast = captured[-2], captured[-1]
            assert sdk == fast, f"bodies differ for {size} operations:\n{sdk}\n{fast}"
    finally:
        del pipeline._prepare_multipart
    print("bodies identical to azure-core's for 1, 2, 5 and 99 operations")


def _doc_row(pk: str, j: int) -> dict[str, Any]:
    return {"PartitionKey": pk, "RowKey": f"r{j}", "doc": '{"a":1}'}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with azurite.running() as conn:
        tables = open_tables(Settings.model_validate(
            {"storage_connection_string": conn, "table_prefix": "fm"}))
        tables.ensure()
        check_identical(tables)
        pipeline = tables.data._client._client._pipeline
        results: dict[tuple[str, int], tuple[list[float], list[float]]] = {}
        for _ in range(args.rounds):
            for variant in ("azure-core email builder", "byte concatenation"):
                if variant == "byte concatenation":
                    pipeline._prepare_multipart = fast_prepare_multipart  # type: ignore[method-assign]
                else:
                    pipeline.__dict__.pop("_prepare_multipart", None)
                for size, reps in ((2, args.reps), (99, max(1, args.reps // 10))):
                    cpus, walls = measure(tables.data, size, reps, row=_doc_row)
                    old = results.get((variant, size), ([], []))
                    results[(variant, size)] = (old[0] + cpus, old[1] + walls)
    print(f"| {'multipart body':<25} | ops | CPU ms p50 | wall ms p50 |")
    print("|---|---|---|---|")
    for (variant, size), (cpus, walls) in sorted(results.items(), key=lambda kv: kv[0][1]):
        print(f"| {variant:<25} | {size:>3} | {statistics.median(cpus):10.2f} | "
              f"{statistics.median(walls):11.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
