"""What authenticating a SCIM request costs with an access token, beside a Secret Token,
measured in-process against Azurite, the two kinds taking turns so that machine noise hits both
alike.

    .venv/bin/python benchmarks/auth_cost.py [--rounds 2000] [--refresh-rounds 200]

Three figures per kind, each the median over interleaved rounds:

  cached     `Authenticator.authenticate` with the (tenant, token) check cached: what almost
             every request of an Entra cycle pays (the cache holds 30 s).
  refresh    the cache expired: the tenant record is read again (one storage round trip) and
             the token checked against it; for an access token its claims, whose signature
             this instance verified before. Also measured with the record in memory: the
             check's own CPU, without the round trip both kinds pay alike.
  first use  a token this instance has never seen: for an access token, the ES256 signature
             check on top of `refresh` (once per token and instance; a token lives an hour).

and `ScimService.handle` of `GET /Users?filter=userName eq "..."` (Entra's most frequent
request) with each kind of token, cached, for the cost in context.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import azurite  # noqa: E402

from shared.auth import clients  # noqa: E402
from shared.auth.authenticator import Authenticator  # noqa: E402
from shared.auth.tenants import issue_token, new_tenant_id  # noqa: E402
from shared.service.app import ScimService  # noqa: E402
from shared.service.messages import ScimRequest  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store.connection import open_tables  # noqa: E402
from shared.store.tenants import Tenant  # noqa: E402
from shared.timestamps import now_iso  # noqa: E402

KINDS = ("secret token", "access token")


class Clock:
    """The authenticator's cache clock, moved by the benchmark to expire the cache at will."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _interleaved(rounds: int, calls: dict[str, Callable[[], object]],
                 warmup: int = 50) -> dict[str, list[float]]:
    """Microseconds per call of each entry, the entries taking turns round by round."""
    out: dict[str, list[float]] = {name: [] for name in calls}
    for n in range(rounds + warmup):
        for name, call in calls.items():
            started = time.perf_counter_ns()
            call()
            elapsed = (time.perf_counter_ns() - started) / 1000
            if n >= warmup:
                out[name].append(elapsed)
        if n % 200 == 0:
            print(f"\r  round {n + 1}/{rounds + warmup}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--refresh-rounds", type=int, default=200)
    args = parser.parse_args()
    print("starting Azurite (in memory)", file=sys.stderr)
    with azurite.running() as conn:
        settings = Settings(storage_connection_string=conn)
        tables = open_tables(settings)
        tables.ensure()
        service = ScimService(settings, tables)
        tenant = Tenant(id=new_tenant_id(), name="bench", created=now_iso())
        secret_token = issue_token(tenant)
        client = clients.add_client(tenant, datetime.now(UTC))
        clients.add_secret(client, datetime.now(UTC))
        service.tenants.create(tenant)

        def access_token() -> str:
            return service.access_tokens.mint(
                tenant_id=tenant.id, audience=settings.tenant_url(tenant.id),
                client_id=client.id, credential_id=client.secrets[0].id).token

        token = {"secret token": secret_token, "access token": access_token()}
        clock = Clock()
        auth = Authenticator(service.tenants.get, clock=clock, access=service.access_tokens,
                             audience_of=settings.tenant_url)
        # The same checks with the record already read: the CPU of the check alone, without
        # the storage round trip both kinds pay alike.
        record = service.tenants.get(tenant.id)
        in_memory = Authenticator(lambda tenant_id: record, clock=clock,
                                  access=service.access_tokens, audience_of=settings.tenant_url)

        def cached(kind: str) -> Callable[[], object]:
            header = f"Bearer {token[kind]}"
            return lambda: auth.authenticate(tenant.id, header)

        def refresh(kind: str, checker: Authenticator = auth) -> Callable[[], object]:
            header = f"Bearer {token[kind]}"

            def call() -> object:
                clock.now += 3600  # every entry of the cache has expired
                return checker.authenticate(tenant.id, header)
            return call

        fresh: list[str] = []

        def first_use(kind: str) -> Callable[[], object]:
            def call() -> object:
                clock.now += 3600
                return auth.authenticate(tenant.id, f"Bearer {fresh.pop()}")
            return call if kind == "access token" else refresh(kind)

        for kind in KINDS:
            cached(kind)()
        print("cached checks", file=sys.stderr)
        results = {"cached": _interleaved(args.rounds, {k: cached(k) for k in KINDS})}
        print("refresh, record in memory", file=sys.stderr)
        results["refresh (CPU only)"] = _interleaved(
            args.rounds, {k: refresh(k, in_memory) for k in KINDS})
        print("refresh (tenant read from Azurite)", file=sys.stderr)
        results["refresh"] = _interleaved(args.refresh_rounds, {k: refresh(k) for k in KINDS},
                                          warmup=10)
        fresh.extend(access_token() for _ in range(args.refresh_rounds + 10))
        print("first use (access token: signature verified)", file=sys.stderr)
        results["first use"] = _interleaved(args.refresh_rounds,
                                             {k: first_use(k) for k in KINDS}, warmup=10)

        service.auth = auth
        clock.now += 3600

        def handle(kind: str) -> Callable[[], object]:
            request = ScimRequest("GET", tenant.id, "Users", headers={
                "authorization": f"Bearer {token[kind]}"},
                params={"filter": 'userName eq "nobody@bench.test"'})

            def call() -> object:
                response = service.handle(request)
                assert response.status == 200, response.body
                return response
            return call
        print("GET /Users?filter through ScimService.handle", file=sys.stderr)
        results["GET /Users?filter"] = _interleaved(args.refresh_rounds,
                                                    {k: handle(k) for k in KINDS}, warmup=10)

    print(f"\nauthentication per SCIM request, median microseconds (Azurite in memory; "
          f"{args.rounds} cached rounds, {args.refresh_rounds} of each other)")
    print(f"{'':20} {'secret token':>14} {'access token':>14} {'access - secret':>16}")
    for name, by_kind in results.items():
        secret = statistics.median(by_kind["secret token"])
        access = statistics.median(by_kind["access token"])
        print(f"{name:20} {secret:14.1f} {access:14.1f} {access - secret:+16.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
