"""`make run`: Azurite + the SCIM app on http://127.0.0.1:$PORT (7071), and a development tenant.

Starts Azurite on loopback (data kept in .run/azurite): the Table service on $AZURITE_PORT
(10002), Blob and Queue on $AZURITE_BLOB_PORT / $AZURITE_QUEUE_PORT (default: the two ports
below the Table port, 10000 and 10001 as in Azurite's defaults): Queue carries the deliver
queue (SCIM_QUEUE_STORAGE: change events reach webhooks within seconds), Blob the Functions
host's timer schedule and locks when Core Tools run the app. Then creates the tables and
queues, creates the tenant "development" when there is none (or issues it a fresh token), prints
the Tenant URL and Secret Token to paste into Entra (or curl) and the console's URL with a
development credential of the management API generated for this run (the app gets its
SHA-256, SCIM_MANAGE_DEV_CREDENTIAL_SHA256), and runs `func start` when Core
Tools are installed, otherwise the project's local host serving the same function_app.app.
Tenant URLs, `Location` and `meta.location` use $PORT unless SCIM_PUBLIC_BASE_URL is set in the
environment. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import azurite  # noqa: E402

from shared.auth.admin import dev_digest, new_dev_credential  # noqa: E402


def _port(name: str, default: int) -> int:
    text = os.environ.get(name, str(default))
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise SystemExit(f"{name}={text[:20]!r} is not a TCP port: set it to a number from 1 "
                         f"to 65535, or unset it for {default}.")
    return int(text)


AZURITE_PORT = _port("AZURITE_PORT", 10002)
APP_PORT = _port("PORT", 7071)
_SIDE_PORTS = azurite.default_side_ports(AZURITE_PORT)
AZURITE_BLOB_PORT = _port("AZURITE_BLOB_PORT", _SIDE_PORTS[0])
AZURITE_QUEUE_PORT = _port("AZURITE_QUEUE_PORT", _SIDE_PORTS[1])
DEV_TENANT = "development"
# Where Azurite keeps its data between runs (SCIM_RUN_DIR lets a test use a scratch folder).
RUN_DIR = Path(os.environ.get("SCIM_RUN_DIR", str(ROOT / ".run")))
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def local_settings() -> dict[str, str]:
    settings_file = ROOT / "local.settings.json"
    source = settings_file if settings_file.exists() else ROOT / "local.settings.example.json"
    values = json.loads(source.read_text(encoding="utf-8"))["Values"]
    return {str(k): str(v) for k, v in values.items()}


def app_environment(
    connection_string: str, *, app_port: int, host_storage: str | None = None,
    queue_storage: str | None = None, admin_digest: str | None = None,
    base: Mapping[str, str] | None = None, settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for the app (local host or `func start`).

    `base` (the process environment) wins over `settings` (local.settings*.json), except:
    - SCIM_STORAGE_CONNECTION_STRING is the Azurite this run uses;
    - SCIM_PUBLIC_BASE_URL, unless set in `base`, follows `app_port` when the settings name a
      loopback URL (the example's 7071 would send clients following Location to whatever
      else listens there); a non-loopback one (a tunnel) is kept;
    - AzureWebJobsStorage, unless set in `base`, is `host_storage` (Blob, Queue and Table of
      this run's Azurite) when given, instead of UseDevelopmentStorage=true's fixed ports;
    - SCIM_QUEUE_STORAGE, unless set in `base`, is `queue_storage` (this run's Queue service)
      when given: commits then reach webhooks within seconds through the deliver queue;
    - SCIM_DELIVER_QUEUE and SCIM_WORK_QUEUE have their defaults when no source sets them (a
      local.settings.json made before the queue triggers existed): the host cannot index the
      app without them;
    - SCIM_MANAGE_DEV_CREDENTIAL_SHA256 is `admin_digest` when given: the digest of this run's
      development credential of the management API, whatever any source says (a credential
      from an earlier run, printed on a terminal, must not keep working).
    """
    base = dict(os.environ if base is None else base)
    settings = dict(local_settings() if settings is None else settings)
    env = {**settings, **base}
    env["SCIM_STORAGE_CONNECTION_STRING"] = connection_string
    if "SCIM_PUBLIC_BASE_URL" not in base:
        configured = settings.get("SCIM_PUBLIC_BASE_URL", "")
        if not configured or urlsplit(configured).hostname in LOOPBACK_HOSTS:
            env["SCIM_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{app_port}"
    if host_storage is not None and "AzureWebJobsStorage" not in base:
        env["AzureWebJobsStorage"] = host_storage
    if queue_storage is not None and "SCIM_QUEUE_STORAGE" not in base:
        env["SCIM_QUEUE_STORAGE"] = queue_storage
    env.setdefault("SCIM_DELIVER_QUEUE", "scim-deliver")
    env.setdefault("SCIM_WORK_QUEUE", "scim-work")
    if admin_digest is not None:
        env["SCIM_MANAGE_DEV_CREDENTIAL_SHA256"] = admin_digest
    return env


def development_tenant(env: dict[str, str]) -> dict[str, str]:
    os.environ.update(env)
    from shared.auth.tenants import issue_token
    from shared.manage.context import Deployment
    from shared.manage.tenants import create_tenant
    from shared.settings import from_environ
    from shared.store.connection import open_tables
    from shared.store.tenants import TenantTable

    settings = from_environ(env)
    tables = open_tables(settings)
    tables.ensure()
    if settings.queues_enabled:
        from shared.store.queues import open_queues

        open_queues(settings).ensure()
    table = TenantTable(tables.tenants)
    existing = next((t for t in table.all() if t.name == DEV_TENANT), None)
    if existing is None:
        created = create_tenant(Deployment(settings, tables), DEV_TENANT)
        return {k: created[k] for k in ("tenant_id", "tenant_url", "token")}
    if len(existing.tokens) >= 2:
        existing.tokens = existing.tokens[1:]  # rotate out the oldest development token
    token = issue_token(existing)
    table.save(existing)
    return {"tenant_id": existing.id, "tenant_url": settings.tenant_url(existing.id),
            "token": token}


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    if port_in_use(APP_PORT):
        print(f"Port {APP_PORT} is already in use: stop the other server or set PORT=...",
              file=sys.stderr)
        return 1
    func = shutil.which("func")
    # The Functions host keeps timer schedules and locks in Blob storage; the deliver queue
    # trigger needs Queue. One azurite command runs Table alone or all three.
    services = azurite.SERVICES
    ports = {"table": AZURITE_PORT, "blob": AZURITE_BLOB_PORT, "queue": AZURITE_QUEUE_PORT}
    wanted = {name: ports[name] for name in services}
    with contextlib.ExitStack() as stack:
        described = ", ".join(f"{name.capitalize()} {port}" for name, port in wanted.items())
        listening = [name for name, port in wanted.items() if port_in_use(port)]
        if listening == list(wanted):
            step(f"Using the Azurite already listening on 127.0.0.1 ({described})")
        elif listening:
            print(f"Azurite ports in use ({', '.join(listening)}) but not all of {described}: "
                  "stop that Azurite or set AZURITE_PORT / AZURITE_BLOB_PORT / "
                  "AZURITE_QUEUE_PORT", file=sys.stderr)
            return 1
        else:
            shown = RUN_DIR / "azurite"
            if shown.is_relative_to(ROOT):
                shown = shown.relative_to(ROOT)
            step(f"Starting Azurite on 127.0.0.1 ({described}), data in {shown}")
            run_dir = RUN_DIR
            stack.enter_context(azurite.running(
                AZURITE_PORT, log=run_dir / "azurite.log", location=run_dir / "azurite",
                services=services, blob_port=AZURITE_BLOB_PORT, queue_port=AZURITE_QUEUE_PORT))
        conn = azurite.connection_string(AZURITE_PORT)
        host_storage = azurite.connection_string(
            AZURITE_PORT, blob_port=AZURITE_BLOB_PORT, queue_port=AZURITE_QUEUE_PORT
        ) if func else None
        # The management API's (and console's) credential for this run only.
        admin_credential = new_dev_credential()
        env = app_environment(conn, app_port=APP_PORT, host_storage=host_storage,
                              queue_storage=azurite.queue_connection_string(AZURITE_QUEUE_PORT),
                              admin_digest=dev_digest(admin_credential))
        step("Creating tables and the development tenant")
        info = development_tenant(env)
        print()
        print("  Tenant URL   : " + info["tenant_url"])
        print("  Secret Token : " + info["token"])
        print()
        print("  Try: curl -H 'Authorization: Bearer <Secret Token>' '<Tenant URL>/Users'")
        print("  OAuth client credentials instead (token endpoint "
              f"{info['tenant_url'].rsplit('/scim/v2/', 1)[0]}/oauth2/token):")
        print(f"       .venv/bin/python -m shared.admin client add {info['tenant_id']} --json")
        print()
        print(f"  Console: http://127.0.0.1:{APP_PORT}/console  Admin credential: "
              f"{admin_credential}")
        print("  (the credential also calls the management API: curl -H 'Authorization: "
              f"Bearer <Admin credential>' http://127.0.0.1:{APP_PORT}/manage/v1/tenants)")
        print()
        if func:
            step(f"Starting Azure Functions Core Tools (func start) on port {APP_PORT}")
            proc = subprocess.Popen([func, "start", "--port", str(APP_PORT)], cwd=ROOT, env=env)
            try:
                return proc.wait()
            except KeyboardInterrupt:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=20)
                return 0
        step(f"Core Tools not found: serving function_app.app with the local host on "
             f"http://127.0.0.1:{APP_PORT} (Ctrl-C stops)")
        os.environ.update(env)
        import function_app
        from devhost import serve

        with contextlib.suppress(KeyboardInterrupt):
            serve(function_app.app, host="127.0.0.1", port=APP_PORT,
                  host_json_path=str(ROOT / "host.json"))
    step("Stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
