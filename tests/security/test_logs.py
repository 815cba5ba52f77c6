"""Logs never carry a token or an attribute value: captured in-process (caplog, every logger
at DEBUG, including the SDK's) and from the dev host's stderr while it serves a scenario of
creates, PATCHes, filters, failures and bad tokens."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.service.app import ScimService
from shared.service.messages import ScimRequest

ROOT = Path(__file__).resolve().parents[2]
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def secrets_of(token: str) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    """Distinctive values: anything of them found in a log is a leak."""
    mark = uuid.uuid4().hex[:10]
    user = {"userName": f"leak-{mark}@example.com", "externalId": f"ext-{mark}",
            "name": {"givenName": f"Given{mark}", "familyName": f"Family{mark}"},
            "emails": [{"type": "work", "value": f"mail-{mark}@example.com"}],
            "title": f"Title{mark}"}
    patch = {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "title", "value": f"Patched{mark}"}]}
    return [token, mark], user, patch


def scenario(send: Any, user: dict[str, Any], patch: dict[str, Any], token: str) -> None:
    created = send("POST", "Users", None, user, None, token)
    uid = created["id"]
    send("PATCH", "Users", uid, patch, None, token)
    send("GET", "Users", None, None, {"filter": f'userName eq "{user["userName"]}"'}, token)
    send("POST", "Users", None, user, None, token)  # 409 uniqueness, detail names the value?
    send("PATCH", "Users", uid, {"Operations": [{"op": "bogus", "value": user["title"]}]},
         None, token)
    send("GET", "Users", None, None, {"filter": f'title eq "{user["title"]}" and ('}, token)
    send("GET", "Users", None, None, None, token + "x")
    send("GET", "Users", None, None, None, "scim_" + token[::-1])
    send("DELETE", "Users", uid, None, None, token)


def test_in_process_logs_hold_no_token_and_no_value(scim_service: ScimService,
                                                    tenant: tuple[str, str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    tenant_id, token = tenant
    needles, user, patch = secrets_of(token)

    def send(method: str, resource: str, rid: str | None, body: Any,
             params: dict[str, str] | None, bearer: str) -> Any:
        r = scim_service.handle(ScimRequest(
            method, tenant_id, resource, rid, params=params or {},
            headers={"authorization": f"Bearer {bearer}",
                     "content-type": "application/scim+json"},
            body=json.dumps(body).encode() if body is not None else b""))
        return r.body or {}

    with caplog.at_level(logging.DEBUG):
        scenario(send, user, patch, token)
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "status=201" in text  # the request lines were captured
    for needle in needles:
        assert needle not in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.served
def test_dev_host_stderr_holds_no_token_and_no_value(app_env: dict[str, str],
                                                     tenant: tuple[str, str]) -> None:
    tenant_id, token = tenant
    needles, user, patch = secrets_of(token)
    port = _free_port()
    env = {**os.environ, **app_env, "SCIM_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "shared.adapter.devhost", "function_app:app",
                             "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/scim/v2/{tenant_id}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)

        def send(method: str, resource: str, rid: str | None, body: Any,
                 params: dict[str, str] | None, bearer: str) -> Any:
            url = f"{base}/{resource}" + (f"/{rid}" if rid else "")
            r = httpx.request(method, url, params=params, timeout=30,
                              headers={"Authorization": f"Bearer {bearer}",
                                       "Content-Type": "application/scim+json"},
                              content=json.dumps(body).encode() if body is not None else None)
            return r.json() if r.content else {}

        scenario(send, user, patch, token)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert "/Users" in err + out  # the host did log the requests
    for needle in needles:
        assert needle not in err
        assert needle not in out
