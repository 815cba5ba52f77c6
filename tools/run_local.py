"""`make run`: Azurite + the SCIM app on http://127.0.0.1:7071, and a development tenant.

Starts Azurite's Table service on 127.0.0.1:10002 (data kept in .run/azurite), creates the
tables, creates the tenant "development" when there is none (or issues it a fresh token), prints
the Tenant URL and Secret Token to paste into Entra (or curl), then runs `func start` when Azure
Functions Core Tools are installed, otherwise the project's local host serving the same
function_app.app. Ctrl-C stops everything it started.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import azurite  # noqa: E402

AZURITE_PORT = int(os.environ.get("AZURITE_PORT", "10002"))
APP_PORT = int(os.environ.get("PORT", "7071"))
DEV_TENANT = "development"


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def app_environment(connection_string: str) -> dict[str, str]:
    env = dict(os.environ)
    settings_file = ROOT / "local.settings.json"
    source = settings_file if settings_file.exists() else ROOT / "local.settings.example.json"
    for key, value in json.loads(source.read_text())["Values"].items():
        env.setdefault(key, str(value))
    env["SCIM_STORAGE_CONNECTION_STRING"] = connection_string
    env.setdefault("SCIM_PUBLIC_BASE_URL", f"http://127.0.0.1:{APP_PORT}")
    return env


def development_tenant(env: dict[str, str]) -> dict[str, str]:
    os.environ.update(env)
    from shared.admin.__main__ import create_tenant
    from shared.auth.tenants import issue_token
    from shared.settings import from_environ
    from shared.store.connection import open_tables
    from shared.store.tenants import TenantTable

    settings = from_environ(env)
    tables = open_tables(settings)
    tables.ensure()
    table = TenantTable(tables.tenants)
    existing = next((t for t in table.all() if t.name == DEV_TENANT), None)
    if existing is None:
        return create_tenant(settings, DEV_TENANT)
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
    with contextlib.ExitStack() as stack:
        if port_in_use(AZURITE_PORT):
            step(f"Using the Azurite already listening on 127.0.0.1:{AZURITE_PORT}")
            conn = azurite.connection_string(AZURITE_PORT)
        else:
            step(f"Starting Azurite (Table) on 127.0.0.1:{AZURITE_PORT}, data in .run/azurite")
            run_dir = ROOT / ".run"
            conn = stack.enter_context(azurite.running(
                AZURITE_PORT, log=run_dir / "azurite.log", location=run_dir / "azurite"))
        env = app_environment(conn)
        step("Creating tables and the development tenant")
        info = development_tenant(env)
        print()
        print("  Tenant URL   : " + info["tenant_url"])
        print("  Secret Token : " + info["token"])
        print()
        print("  Try: curl -H 'Authorization: Bearer <Secret Token>' '<Tenant URL>/Users'")
        print()
        func = shutil.which("func")
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
        from shared.adapter.devhost import serve

        with contextlib.suppress(KeyboardInterrupt):
            serve(function_app.app, host="127.0.0.1", port=APP_PORT,
                  host_json_path=str(ROOT / "host.json"))
    step("Stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
