"""What the audit log costs a SCIM write, measured in-process against Azurite.

    .venv/bin/python benchmarks/audit_overhead.py [--rounds 300]

Times `ScimService.handle` for a user PATCH (one read + one conditional write) in three
modes, interleaved round by round so that drift hits all alike:

  off     the audit call is a no-op (the baseline)
  queued  what ships: the entry is built and queued; a background thread writes batches
  inline  for comparison: the entry is written to the audit table before answering

and reports median / p95 latency per mode and the difference to `off`.

Then the writer's own cost: the process's CPU (all threads) per request over blocks of
sequential PATCHes, with the writer as shipped (it lingers 50 ms to batch entries) and with
no linger (a transaction per entry when requests come one at a time), blocks alternating.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import azurite  # noqa: E402

from shared.auth.tenants import issue_token, new_tenant_id  # noqa: E402
from shared.service.app import ScimService  # noqa: E402
from shared.service.audit import AuditWriter  # noqa: E402
from shared.service.messages import ScimRequest  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store.audit import AuditTable  # noqa: E402
from shared.store.connection import open_tables  # noqa: E402
from shared.store.tenants import Tenant  # noqa: E402
from shared.timestamps import now_iso  # noqa: E402

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    with azurite.running() as conn:
        tables = open_tables(Settings(storage_connection_string=conn))
        tables.ensure()
        service = ScimService(Settings(storage_connection_string=conn), tables)
        tenant = Tenant(id=new_tenant_id(), name="bench", created=now_iso())
        token = issue_token(tenant)
        service.tenants.create(tenant)
        headers = {"authorization": f"Bearer {token}", "content-type": "application/scim+json"}
        created = service.handle(ScimRequest(
            "POST", tenant.id, "Users", headers=headers,
            body=json.dumps({"userName": "bench@x.test"}).encode()))
        uid = str(created.body["id"]) if created.body else ""

        queued = service.audit.record
        table = AuditTable(tables.audit)
        modes: dict[str, Callable[[dict[str, Any]], None]] = {
            "off": lambda entry: None,
            "queued": queued,
            "inline": lambda entry: table.insert_many([entry]),
        }
        timings: dict[str, list[float]] = {m: [] for m in modes}
        for n in range(args.rounds + 20):
            for mode, record in modes.items():
                service.audit.record = record  # type: ignore[method-assign]
                body = {"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": "title", "value": f"{mode}-{n}"}]}
                started = time.perf_counter()
                response = service.handle(ScimRequest(
                    "PATCH", tenant.id, "Users", uid, headers=headers,
                    body=json.dumps(body).encode()))
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status == 200, response.body
                if n >= 20:  # warm-up rounds are not counted
                    timings[mode].append(elapsed)
        service.audit.record = queued  # type: ignore[method-assign]
        service.audit.flush()
        cpu = _writer_cpu(service, tenant.id, uid, headers, table)
        base = statistics.median(timings["off"])
        print(f"user PATCH through ScimService.handle, {args.rounds} rounds, Azurite in memory")
        print(f"{'mode':8} {'median ms':>10} {'p95 ms':>8} {'added (median) ms':>18}")
        for mode, values in timings.items():
            median = statistics.median(values)
            print(f"{mode:8} {median:10.2f} {_percentile(values, 0.95):8.2f} "
                  f"{median - base:18.2f}")
        print("\nprocess CPU per sequential user PATCH (all threads, median of blocks)")
        for name, values in cpu.items():
            print(f"{name:24} {statistics.median(values):6.3f} ms")


def _writer_cpu(service: ScimService, tenant: str, uid: str, headers: dict[str, str],
                table: AuditTable, blocks: int = 6, per_block: int = 200
                ) -> dict[str, list[float]]:
    writers = {"writer lingering 50 ms": AuditWriter(table.insert_many),
               "writer without linger": AuditWriter(table.insert_many, linger=0.0)}
    out: dict[str, list[float]] = {name: [] for name in writers}
    for block in range(blocks):
        for name, writer in writers.items():
            service.audit = writer
            started = time.process_time()
            for n in range(per_block):
                body = {"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": "title", "value": f"{block}-{n}-{name}"}]}
                response = service.handle(ScimRequest(
                    "PATCH", tenant, "Users", uid, headers=headers,
                    body=json.dumps(body).encode()))
                assert response.status == 200, response.body
            writer.flush()
            out[name].append((time.process_time() - started) * 1000 / per_block)
    return out


if __name__ == "__main__":
    main()
