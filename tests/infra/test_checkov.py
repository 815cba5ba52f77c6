"""checkov's Bicep policies over infra/, with the accepted findings in infra/checkov-skips.toml.

The scan runs in `.venv-checkov/` (see conftest.py) with every check enabled; these tests decide
what a failure means.
"""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tests.support.bicepmodel import INFRA

SKIPS_FILE = INFRA / "checkov-skips.toml"


def load_skips() -> dict[tuple[str, str], str]:
    data = tomllib.loads(SKIPS_FILE.read_text(encoding="utf-8"))
    skips: dict[tuple[str, str], str] = {}
    for entry in data["skip"]:
        reason = " ".join(entry["reason"].split())
        assert entry["check"].startswith("CKV"), entry
        assert len(reason) >= 40, f"{entry['check']}: write down why it is accepted"
        assert entry["resources"], entry
        for resource in entry["resources"]:
            key = (entry["check"], resource)
            assert key not in skips, f"listed twice: {key}"
            skips[key] = reason
    return skips


def failures(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]}


def test_skip_file_is_well_formed() -> None:
    assert load_skips()


def test_checkov_parsed_every_template(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["checkov_version"] == "3.3.30"
    assert summary["parsing_errors"] == 0, checkov_report["results"].get("parsing_errors")
    scanned = {
        c["file_path"]
        for kind in ("passed_checks", "failed_checks")
        for c in checkov_report["results"][kind]
    }
    # checkov has Bicep checks for storage and web resources (none for the identity, Log
    # Analytics or Application Insights): both modules holding those must have been checked
    assert {"/modules/storage.bicep", "/modules/function.bicep"} <= scanned, scanned
    assert summary["resource_count"] > 0


def test_no_unaccepted_failures(checkov_report: dict[str, Any]) -> None:
    skips = load_skips()
    unexpected = sorted(failures(checkov_report) - skips.keys())
    details = [
        f"{c['check_id']} {c['check_name']} on {c['resource']} ({c['file_path']})"
        for c in checkov_report["results"]["failed_checks"]
        if (c["check_id"], c["resource"]) in unexpected
    ]
    assert not unexpected, "checkov failures not accepted in infra/checkov-skips.toml:\n" + (
        "\n".join(details)
    )


def test_every_skip_is_still_needed(checkov_report: dict[str, Any]) -> None:
    stale = sorted(load_skips().keys() - failures(checkov_report))
    assert not stale, f"remove these from infra/checkov-skips.toml, they pass now: {stale}"


@pytest.mark.parametrize(
    ("check_id", "resource"),
    [
        ("CKV_AZURE_3", "Microsoft.Storage/storageAccounts.storage"),  # HTTPS only
        ("CKV_AZURE_44", "Microsoft.Storage/storageAccounts.storage"),  # TLS 1.2
        (
            "CKV_AZURE_34",
            "Microsoft.Storage/storageAccounts/blobServices/containers.deploymentContainer",
        ),
        ("CKV_AZURE_70", "Microsoft.Web/sites.functionApp"),  # function app HTTPS only
        ("CKV_AZURE_145", "Microsoft.Web/sites.functionApp"),  # latest TLS
        ("CKV_AZURE_71", "Microsoft.Web/sites.functionApp"),  # managed identity
        ("CKV_AZURE_67", "Microsoft.Web/sites.functionApp"),  # latest HTTP version
    ],
)
def test_key_checks_pass(checkov_report: dict[str, Any], check_id: str, resource: str) -> None:
    passed = {(c["check_id"], c["resource"]) for c in checkov_report["results"]["passed_checks"]}
    assert (check_id, resource) in passed
