"""The published OpenAPI document with the management API (shared/manage/openapi.py): the
checked-in copy equals it, every route of the API's table is there (tag `manage`, security
`adminBearer`, its path parameters, success statuses and refusals) and nothing else is; and
schemathesis (run from .venv-peers) fuzzes the served management API from it with the
development credential, finding no server error and no answer the document does not
describe."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from shared.manage.api import ROUTES
from shared.manage.openapi import PREFIX, document
from shared.service import openapi as service_openapi
from tests.support import figures

ROOT = Path(__file__).resolve().parents[2]
ST = ROOT / ".venv-peers" / "bin" / "st"
# The deployment-wide subscription and feed credentials are one for the session's storage:
# other test files running meanwhile set and count them, so the fuzzer leaves them alone
# (tests/manage/test_api.py covers those routes).
# The webhook test sends to whatever URL the fuzzer set: no requests leave the machine.
SHARED_STATE = ("setSubscription", "clearSubscription", "testSubscription",
                "issueDeploymentFeedToken", "revokeDeploymentFeedToken", "testWebhook")


def test_checked_in_copy_equals_the_generated_document() -> None:
    checked_in = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert checked_in == document(), "regenerate it: python -m shared.manage.openapi"


def test_every_route_and_only_those_is_described() -> None:
    doc = document()
    described = {(method.upper(), path) for path, item in doc["paths"].items()
                 if item.get("servers") == [{"url": PREFIX}]
                 for method in item if method != "servers"}
    assert described == {(r.method, f"/{r.template}") for r in ROUTES}
    for route in ROUTES:
        item = doc["paths"][f"/{route.template}"]
        operation = item[route.method.lower()]
        assert operation["tags"] == ["manage"]
        assert operation["security"] == [{"adminBearer": []}]
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert names == set(re.findall(r"\{(\w+)\}", route.template))
        assert {str(s) for s in route.statuses} | {"401", "403", "404", "503"} <= set(
            operation["responses"])
    ids = [op["operationId"] for item in doc["paths"].values() for key, op in item.items()
           if key in ("get", "put", "post", "patch", "delete")]
    assert len(ids) == len(set(ids))


def test_the_scim_and_feed_parts_are_the_services_document() -> None:
    doc, service = document(), service_openapi.document()
    assert {p: v for p, v in doc["paths"].items()
            if v.get("servers") != [{"url": PREFIX}]} == service["paths"]
    assert doc["security"] == service["security"]  # the SCIM default; manage paths override
    assert doc["components"]["securitySchemes"]["adminBearer"]["scheme"] == "bearer"


@pytest.mark.served
def test_schemathesis_finds_no_server_error_or_nonconformance_in_the_management_api(
        served: str, admin_credential: str, tmp_path: Path) -> None:
    if not ST.exists():
        pytest.fail(f"{ST} is missing: run `make test` (it installs .venv-peers)")
    # A tenant of the fuzzer's own, so that its paths reach the operations (not only 404s).
    made = httpx.post(f"{served}/manage/v1/tenants", json={"name": "fuzzed"}, timeout=30,
                      headers={"Authorization": f"Bearer {admin_credential}"})
    assert made.status_code == 201, made.text
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.tenant" = "{made.json()["tenant_id"]}"\n',
                      encoding="utf-8")
    run = subprocess.run(
        [str(ST), "--config-file", str(config), "run", f"{served}/scim/v2/openapi.json",
         "--url", f"{served}{PREFIX}",
         "-H", f"Authorization: Bearer {admin_credential}", "--include-tag", "manage",
         *[arg for op in SHARED_STATE for arg in ("--exclude-operation-id", op)],
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance",
         "--max-examples", "6", "--seed", "20261203", "--workers", "1",
         "--max-time", "40", "--request-timeout", "60", "--generation-database", "none",
         "--no-color", "--report", "json", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    found = re.search(r"(\d+) generated", output)
    if found:
        figures.add("schemathesis management API test cases", int(found.group(1)))
