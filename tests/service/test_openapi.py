"""The published OpenAPI 3.1 description: generated from the schema definitions
(shared/service/openapi.py), served without authentication at /scim/v2/openapi.json, checked
in as docs/openapi.json (with the management API's paths) - and schemathesis (pinned in
requirements-peers.txt, run from .venv-peers) fuzzes the served app from it, bounded in
examples and time: the SCIM surface with a Secret Token, the pull API (tag `feed`) with a
feed credential."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from shared.auth import feed_tokens
from shared.manage.openapi import document as published
from shared.service.app import ScimService
from shared.service.openapi import document
from tests.support import figures

ROOT = Path(__file__).resolve().parents[2]
ST = ROOT / ".venv-peers" / "bin" / "st"


def test_the_checked_in_copy_holds_this_document() -> None:
    """The published copy is this document plus the management API's paths (composed and
    compared whole in tests/manage/test_openapi.py)."""
    checked_in = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    doc = document()
    assert {p: v for p, v in checked_in["paths"].items()
            if v.get("servers") != [{"url": "/manage/v1"}]} == doc["paths"], (
        "regenerate it: python -m shared.manage.openapi")
    for name, schema in doc["components"]["schemas"].items():
        assert checked_in["components"]["schemas"][name] == schema


def test_document_covers_every_endpoint_and_schema_attribute() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) >= {"/Users", "/Users/{id}", "/Users/.search", "/Groups",
                                 "/Groups/{id}", "/Groups/.search", "/ServiceProviderConfig",
                                 "/ResourceTypes", "/Schemas"}
    feed = doc["paths"]["/events"]
    assert feed["servers"][0]["url"] == "/feed/v1/{tenant}"
    assert feed["get"]["security"] == [{"feedToken": []}]
    assert {p["name"] for p in feed["get"]["parameters"]} == {"after", "limit", "wait"}
    assert set(feed["get"]["responses"]) == {"200", "400", "401", "405", "410", "414",
                                                   "503"}
    assert doc["components"]["securitySchemes"]["feedToken"]["scheme"] == "bearer"
    user = doc["components"]["schemas"]["User"]["properties"]
    assert {"userName", "name", "emails", "active",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:8x8:1.1:User"} <= set(user)


@pytest.mark.served
def test_served_without_auth_and_without_tenant_data(served: str,
                                                     tenant: tuple[str, str]) -> None:
    r = httpx.get(f"{served}/scim/v2/openapi.json")
    assert r.status_code == 200
    assert r.json() == published()
    assert tenant[0] not in r.text


@pytest.mark.served
def test_schemathesis_finds_no_server_error_or_nonconformance(
        served: str, tenant: tuple[str, str], tmp_path: Path) -> None:
    if not ST.exists():
        pytest.fail(f"{ST} is missing: run `make test` (it installs .venv-peers)")
    tenant_id, token = tenant
    run = subprocess.run(
        [str(ST), "run", f"{served}/scim/v2/openapi.json", "--url", f"{served}/scim/v2/{tenant_id}",
         "-H", f"Authorization: Bearer {token}", "--exclude-tag", "feed",
         "--exclude-tag", "manage",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance",
         "--max-examples", "12", "--seed", "20261126", "--workers", "2",
         "--max-time", "20", "--request-timeout", "30", "--generation-database", "none",
         "--no-color", "--report", "json", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    found = re.search(r"(\d+) generated", output)
    if found:
        figures.add("schemathesis test cases", int(found.group(1)))


@pytest.mark.served
def test_schemathesis_finds_no_server_error_or_nonconformance_in_the_pull_api(
        served: str, scim_service: ScimService, tenant: tuple[str, str],
        tmp_path: Path) -> None:
    if not ST.exists():
        pytest.fail(f"{ST} is missing: run `make test` (it installs .venv-peers)")
    tenant_id, token = tenant
    created = httpx.post(f"{served}/scim/v2/{tenant_id}/Users", timeout=30,
                         headers={"Authorization": f"Bearer {token}"},
                         json={"userName": "fuzz@x.test"})
    assert created.status_code == 201  # an event is there: a page without `after` is at once
    record = scim_service.tenants.get(tenant_id)
    assert record is not None
    reader = feed_tokens.issue(record)
    scim_service.tenants.save(record)
    run = subprocess.run(
        [str(ST), "run", f"{served}/scim/v2/openapi.json", "--url", f"{served}/feed/v1/{tenant_id}",
         "-H", f"Authorization: Bearer {reader}", "--include-tag", "feed",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance",
         "--max-examples", "25", "--seed", "20261203", "--workers", "2",
         "--max-time", "30", "--request-timeout", "70", "--generation-database", "none",
         "--no-color", "--report", "json", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
