"""What the audit log costs a SCIM write, measured in-process against Azurite.

    .venv/bin/python benchmarks/audit_overhead.py [--rounds 300]

Times `ScimService.handle` for a user PATCH (one read + one conditional write) in three
modes, interleaved round by round so that drift hits all alike:

  off     the audit call is a no-op (the baseline)
  queued  what ships: the entry is built and queued; a background thread writes batches
  inline  for comparison: the entry is written to the audit table before answering

and reports median / p95 latency per mode and the difference to `off`.
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

from shared.auth.tenants import Tenant, issue_token, new_tenant_id, now_iso  # noqa: E402
from shared.service.app import ScimService  # noqa: E402
from shared.service.messages import ScimRequest  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store.audit import AuditTable  # noqa: E402
from shared.store.connection import open_tables  # noqa: E402

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
        base = statistics.median(timings["off"])
        print(f"user PATCH through ScimService.handle, {args.rounds} rounds, Azurite in memory")
        print(f"{'mode':8} {'median ms':>10} {'p95 ms':>8} {'added (median) ms':>18}")
        for mode, values in timings.items():
            median = statistics.median(values)
            print(f"{mode:8} {median:10.2f} {_percentile(values, 0.95):8.2f} "
                  f"{median - base:18.2f}")


if __name__ == "__main__":
    main()
