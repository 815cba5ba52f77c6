"""shared.settings: every setting is read from exactly its environment variable, unusable
values are refused with an error that names the variable and what to set, and the two
deployment-specific settings (SCIM_DOCUMENTATION_URI, SCIM_EVENT_TYPE_PREFIX) reach
/ServiceProviderConfig and the change events end to end (ScimService, outbox, delivery)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.service.app import ScimService
from shared.service.reconcile import run
from shared.settings import (
    MAX_EVENT_TYPE_PREFIX,
    Settings,
    SettingsError,
    current,
    from_environ,
    variables,
)
from shared.store.outbox import Outbox
from tests.support.scim_calls import Caller
from tests.support.webhooks import Receiver, events_of, use_webhook

ROOT = Path(__file__).resolve().parent.parent

# The variable names operators, Bicep and local.settings.json already use: they must not drift.
VARIABLES = {
    "storage_connection_string": "SCIM_STORAGE_CONNECTION_STRING",
    "storage_table_endpoint": "SCIM_STORAGE_TABLE_ENDPOINT",
    "azure_client_id": "AZURE_CLIENT_ID",
    "storage_client": "SCIM_STORAGE_CLIENT",
    "table_prefix": "SCIM_TABLE_PREFIX",
    "public_base_url": "SCIM_PUBLIC_BASE_URL",
    "max_results": "SCIM_MAX_RESULTS",
    "max_payload_bytes": "SCIM_MAX_PAYLOAD_BYTES",
    "entra_jwks_url": "SCIM_ENTRA_JWKS_URL",
    "entra_assertion_jwks_url": "SCIM_ENTRA_ASSERTION_JWKS_URL",
    "access_token_minutes": "SCIM_ACCESS_TOKEN_MINUTES",
    "storage_deadline_seconds": "SCIM_STORAGE_DEADLINE_SECONDS",
    "reconcile_schedule": "RECONCILE_SCHEDULE",
    "documentation_uri": "SCIM_DOCUMENTATION_URI",
    "schemas_dir": "SCIM_SCHEMAS_DIR",
    "event_type_prefix": "SCIM_EVENT_TYPE_PREFIX",
    "reconcile_budget_seconds": "SCIM_RECONCILE_BUDGET_SECONDS",
    "webhook_max_attempts": "SCIM_WEBHOOK_MAX_ATTEMPTS",
    "webhook_backoff_seconds": "SCIM_WEBHOOK_BACKOFF_SECONDS",
    "webhook_backoff_max_seconds": "SCIM_WEBHOOK_BACKOFF_MAX_SECONDS",
    "webhook_timeout_seconds": "SCIM_WEBHOOK_TIMEOUT_SECONDS",
    "webhook_concurrency": "SCIM_WEBHOOK_CONCURRENCY",
    "feed_hold_days": "SCIM_FEED_HOLD_DAYS",
    "feed_max_wait_seconds": "SCIM_FEED_MAX_WAIT_SECONDS",
    "repair_interval_hours": "SCIM_REPAIR_INTERVAL_HOURS",
    "repair_concurrency": "SCIM_REPAIR_CONCURRENCY",
    "retention_days": "SCIM_RETENTION_DAYS",
    "audit_retention_days": "SCIM_AUDIT_RETENTION_DAYS",
    "queue_connection_string": "SCIM_QUEUE_STORAGE",
    "queue_service_uri": "SCIM_QUEUE_STORAGE__queueServiceUri",
    "deliver_queue": "SCIM_DELIVER_QUEUE",
    "delivery_budget_seconds": "SCIM_DELIVERY_BUDGET_SECONDS",
    "work_queue": "SCIM_WORK_QUEUE",
    "work_budget_seconds": "SCIM_WORK_BUDGET_SECONDS",
    "manage_dev_credential_sha256": "SCIM_MANAGE_DEV_CREDENTIAL_SHA256",
    "manage_entra_tenant_id": "SCIM_MANAGE_ENTRA_TENANT_ID",
    "manage_audience": "SCIM_MANAGE_AUDIENCE",
    "manage_role": "SCIM_MANAGE_ROLE",
}

DEFAULTS: dict[str, Any] = {
    "storage_connection_string": None,
    "storage_table_endpoint": None,
    "azure_client_id": None,
    "storage_client": "direct",
    "table_prefix": "scim",
    "public_base_url": "http://127.0.0.1:7071",
    "max_results": 200,
    "max_payload_bytes": 1_048_576,
    "entra_jwks_url": "https://login.microsoftonline.com/{tid}/discovery/keys",
    "entra_assertion_jwks_url": "https://login.microsoftonline.com/{tid}/discovery/v2.0/keys",
    "access_token_minutes": 60,
    "storage_deadline_seconds": 10.0,
    "reconcile_schedule": "0 */15 * * * *",
    "documentation_uri": None,
    "schemas_dir": "schemas",
    "event_type_prefix": "com.github.entra-scim-connector",
    "reconcile_budget_seconds": 240.0,
    "webhook_max_attempts": 12,
    "webhook_backoff_seconds": 60.0,
    "webhook_backoff_max_seconds": 21_600.0,
    "webhook_timeout_seconds": 10.0,
    "webhook_concurrency": 4,
    "feed_hold_days": 7.0,
    "feed_max_wait_seconds": 20,
    "repair_interval_hours": 24.0,
    "repair_concurrency": 4,
    "retention_days": 0.0,
    "audit_retention_days": 90.0,
    "queue_connection_string": None,
    "queue_service_uri": None,
    "deliver_queue": "scim-deliver",
    "delivery_budget_seconds": 30.0,
    "work_queue": "scim-work",
    "work_budget_seconds": 120.0,
    "manage_dev_credential_sha256": None,
    "manage_entra_tenant_id": None,
    "manage_audience": None,
    "manage_role": "Connector.Admin",
}

# A usable value for each variable (as text, the way the environment holds it), different
# from its default, and what the field must then hold.
SAMPLES: dict[str, tuple[str, Any]] = {
    "SCIM_STORAGE_CONNECTION_STRING": ("UseDevelopmentStorage=true",
                                       "UseDevelopmentStorage=true"),
    "SCIM_STORAGE_TABLE_ENDPOINT": ("https://acct.table.core.windows.net",
                                    "https://acct.table.core.windows.net"),
    "AZURE_CLIENT_ID": ("6f1c3b1e-0d6a-4f43-9c55-0b3b8a2d7e11",
                        "6f1c3b1e-0d6a-4f43-9c55-0b3b8a2d7e11"),
    "SCIM_STORAGE_CLIENT": ("sdk", "sdk"),
    "SCIM_TABLE_PREFIX": ("contoso", "contoso"),
    "SCIM_PUBLIC_BASE_URL": ("https://scim.contoso.example", "https://scim.contoso.example"),
    "SCIM_MAX_RESULTS": ("57", 57),
    "SCIM_MAX_PAYLOAD_BYTES": ("2048", 2048),
    "SCIM_ENTRA_JWKS_URL": ("https://keys.example.net/{tid}", "https://keys.example.net/{tid}"),
    "SCIM_ENTRA_ASSERTION_JWKS_URL": ("https://keys.example.net/v2/{tid}",
                                      "https://keys.example.net/v2/{tid}"),
    "SCIM_ACCESS_TOKEN_MINUTES": ("360", 360),
    "SCIM_STORAGE_DEADLINE_SECONDS": ("3.5", 3.5),
    "RECONCILE_SCHEDULE": ("0 0 * * * *", "0 0 * * * *"),
    "SCIM_DOCUMENTATION_URI": ("https://docs.contoso.example/scim",
                               "https://docs.contoso.example/scim"),
    "SCIM_EVENT_TYPE_PREFIX": ("com.contoso.scim", "com.contoso.scim"),
    "SCIM_SCHEMAS_DIR": ("/srv/scim-schemas", "/srv/scim-schemas"),
    "SCIM_RECONCILE_BUDGET_SECONDS": ("100", 100.0),
    "SCIM_WEBHOOK_MAX_ATTEMPTS": ("4", 4),
    "SCIM_WEBHOOK_BACKOFF_SECONDS": ("1.5", 1.5),
    "SCIM_WEBHOOK_BACKOFF_MAX_SECONDS": ("99", 99.0),
    "SCIM_WEBHOOK_TIMEOUT_SECONDS": ("2", 2.0),
    "SCIM_WEBHOOK_CONCURRENCY": ("32", 32),
    "SCIM_FEED_HOLD_DAYS": ("3", 3.0),
    "SCIM_FEED_MAX_WAIT_SECONDS": ("45", 45),
    "SCIM_REPAIR_INTERVAL_HOURS": ("0", 0.0),
    "SCIM_REPAIR_CONCURRENCY": ("12", 12),
    "SCIM_RETENTION_DAYS": ("30", 30.0),
    "SCIM_AUDIT_RETENTION_DAYS": ("0", 0.0),
    "SCIM_QUEUE_STORAGE": ("UseDevelopmentStorage=true", "UseDevelopmentStorage=true"),
    "SCIM_QUEUE_STORAGE__queueServiceUri": ("https://acct.queue.core.windows.net",
                                            "https://acct.queue.core.windows.net"),
    "SCIM_DELIVER_QUEUE": ("contoso-deliver", "contoso-deliver"),
    "SCIM_DELIVERY_BUDGET_SECONDS": ("12.5", 12.5),
    "SCIM_WORK_QUEUE": ("contoso-work", "contoso-work"),
    "SCIM_WORK_BUDGET_SECONDS": ("60", 60.0),
    # Upper-case hex and GUIDs are kept lower-case: what tokens and digests carry.
    "SCIM_MANAGE_DEV_CREDENTIAL_SHA256": ("AB" * 32, "ab" * 32),
    "SCIM_MANAGE_ENTRA_TENANT_ID": ("72F988BF-86F1-41AF-91AB-2D7CD011DB47",
                                    "72f988bf-86f1-41af-91ab-2d7cd011db47"),
    "SCIM_MANAGE_AUDIENCE": ("api://scim-connector.contoso", "api://scim-connector.contoso"),
    "SCIM_MANAGE_ROLE": ("Scim.Operator", "Scim.Operator"),
}
FIELD_OF = {var: name for name, var in VARIABLES.items()}


def values(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in VARIABLES}


# --------------------------------------------------------------------------------------------
# Declared once: names and defaults
# --------------------------------------------------------------------------------------------


def test_every_setting_has_its_variable_and_no_other() -> None:
    assert variables() == VARIABLES
    assert set(SAMPLES) == set(VARIABLES.values())


def test_defaults_without_any_variable() -> None:
    assert values(from_environ({})) == DEFAULTS
    assert values(Settings()) == DEFAULTS
    assert all(SAMPLES[VARIABLES[n]][1] != d for n, d in DEFAULTS.items())  # samples differ


@pytest.mark.parametrize("var", sorted(SAMPLES))
def test_each_setting_is_read_from_exactly_its_variable(var: str) -> None:
    text, expected = SAMPLES[var]
    assert values(from_environ({var: text})) == {**DEFAULTS, FIELD_OF[var]: expected}
    # Near misses are not that setting: the field's name, other spellings of the variable.
    name = FIELD_OF[var]
    near = {name, name.upper(), var.lower(), f"SCIM_{name.upper()}", var + "_"} - {var}
    assert values(from_environ(dict.fromkeys(near, text))) == DEFAULTS


def test_all_variables_at_once() -> None:
    settings = from_environ({var: text for var, (text, _) in SAMPLES.items()})
    assert values(settings) == {FIELD_OF[var]: value for var, (_, value) in SAMPLES.items()}


@pytest.mark.parametrize("var", sorted(SAMPLES))
def test_an_empty_variable_counts_as_unset(var: str) -> None:
    assert values(from_environ({var: ""})) == DEFAULTS


def test_the_process_environment_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIM_MAX_RESULTS", "33")
    monkeypatch.setenv("SCIM_EVENT_TYPE_PREFIX", "net.example.directory")
    settings = from_environ()
    assert (settings.max_results, settings.event_type_prefix) == (33, "net.example.directory")


def test_fields_can_still_be_given_by_name() -> None:
    # Tests, benchmarks and tools build settings by field name and copy them with updates.
    settings = Settings(storage_connection_string="UseDevelopmentStorage=true", max_results=5)
    assert (settings.storage_connection_string, settings.max_results) == (
        "UseDevelopmentStorage=true", 5)
    assert settings.model_copy(update={"max_results": 9}).max_results == 9


def test_the_connection_string_never_appears_in_a_repr() -> None:
    settings = Settings(storage_connection_string="AccountName=a;AccountKey=S3CRETKEY==")
    assert "S3CRETKEY" not in repr(settings)
    assert "S3CRETKEY" not in str(settings)


def test_the_operations_guide_lists_every_variable() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = guide.split("## Settings", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([A-Za-z0-9_]+)` \|", section, flags=re.MULTILINE)
    # The guide also lists the host's own settings (AZURE_CLIENT_ID, the timer schedule).
    assert set(VARIABLES.values()) <= set(listed)


# --------------------------------------------------------------------------------------------
# Unusable values: the error names the variable, the problem and what to set
# --------------------------------------------------------------------------------------------

BAD = [
    ("SCIM_MAX_RESULTS", "abc", "valid integer"),
    ("SCIM_MAX_RESULTS", "1.5", "valid integer"),
    ("SCIM_MAX_PAYLOAD_BYTES", "1MB", "valid integer"),
    ("SCIM_STORAGE_CLIENT", "azure", "'direct' or 'sdk'"),
    ("SCIM_STORAGE_CLIENT", "Direct", "'direct' or 'sdk'"),
    ("SCIM_STORAGE_DEADLINE_SECONDS", "ten", "valid number"),
    ("SCIM_STORAGE_DEADLINE_SECONDS", "0", "greater than 0"),
    ("SCIM_STORAGE_DEADLINE_SECONDS", "60", "less than or equal to 50"),
    ("SCIM_RECONCILE_BUDGET_SECONDS", "soon", "valid number"),
    ("SCIM_ACCESS_TOKEN_MINUTES", "59", "greater than or equal to 60"),
    ("SCIM_ACCESS_TOKEN_MINUTES", "361", "less than or equal to 360"),
    ("SCIM_ACCESS_TOKEN_MINUTES", "1h", "valid integer"),
    ("SCIM_WEBHOOK_MAX_ATTEMPTS", "0", "greater than or equal to 1"),
    ("SCIM_WEBHOOK_BACKOFF_SECONDS", "-1", "greater than 0"),
    ("SCIM_WEBHOOK_BACKOFF_MAX_SECONDS", "0", "greater than 0"),
    ("SCIM_WEBHOOK_TIMEOUT_SECONDS", "0", "greater than 0"),
    ("SCIM_WEBHOOK_CONCURRENCY", "0", "greater than or equal to 1"),
    ("SCIM_WEBHOOK_CONCURRENCY", "33", "less than or equal to 32"),
    ("SCIM_WEBHOOK_CONCURRENCY", "four", "valid integer"),
    ("SCIM_FEED_HOLD_DAYS", "-1", "greater than or equal to 0"),
    ("SCIM_FEED_MAX_WAIT_SECONDS", "61", "less than or equal to 60"),
    ("SCIM_FEED_MAX_WAIT_SECONDS", "-1", "greater than or equal to 0"),
    ("SCIM_REPAIR_INTERVAL_HOURS", "-0.5", "greater than or equal to 0"),
    ("SCIM_REPAIR_CONCURRENCY", "0", "greater than or equal to 1"),
    ("SCIM_REPAIR_CONCURRENCY", "33", "less than or equal to 32"),
    ("SCIM_RETENTION_DAYS", "forever", "valid number"),
    ("SCIM_AUDIT_RETENTION_DAYS", "-90", "greater than or equal to 0"),
    ("SCIM_DELIVER_QUEUE", "Scim-Deliver", "lower-case letters"),
    ("SCIM_DELIVER_QUEUE", "scim--deliver", "single '-'"),
    ("SCIM_DELIVER_QUEUE", "-scim", "starting and ending"),
    ("SCIM_DELIVER_QUEUE", "q" * 57, "3 to 56"),
    ("SCIM_DELIVER_QUEUE", "q", "3 to 56"),
    ("SCIM_WORK_QUEUE", "Scim-Work", "lower-case letters"),
    ("SCIM_WORK_BUDGET_SECONDS", "541", "540"),
    ("SCIM_DELIVERY_BUDGET_SECONDS", "0", "greater than 0"),
    ("SCIM_DELIVERY_BUDGET_SECONDS", "301", "less than or equal to 300"),
    ("SCIM_DOCUMENTATION_URI", "docs.contoso.example/scim", "absolute http(s) URL"),
    ("SCIM_DOCUMENTATION_URI", "ftp://docs.contoso.example", "absolute http(s) URL"),
    ("SCIM_DOCUMENTATION_URI", "javascript:alert(1)", "absolute http(s) URL"),
    ("SCIM_DOCUMENTATION_URI", "https://", "absolute http(s) URL"),
    ("SCIM_DOCUMENTATION_URI", "https://docs.example/a b", "without spaces"),
    ("SCIM_DOCUMENTATION_URI", "https://docs.example/\x1b[2J", "control characters"),
    ("SCIM_DOCUMENTATION_URI", "https://docs.example/" + "a" * 2048, "at most 2048"),
    ("SCIM_EVENT_TYPE_PREFIX", "com.contoso.", "must not end with '.'"),
    ("SCIM_EVENT_TYPE_PREFIX", "contoso", "reverse-DNS"),
    ("SCIM_EVENT_TYPE_PREFIX", "com contoso.scim", "reverse-DNS"),
    ("SCIM_EVENT_TYPE_PREFIX", "com.contoso\nscim", "reverse-DNS"),
    ("SCIM_EVENT_TYPE_PREFIX", ".com.contoso", "reverse-DNS"),
    ("SCIM_EVENT_TYPE_PREFIX", "com..contoso", "reverse-DNS"),
    ("SCIM_EVENT_TYPE_PREFIX", "com.-contoso", "reverse-DNS"),
    ("SCIM_EVENT_TYPE_PREFIX", "com/contoso.scim", "reverse-DNS"),
    ("SCIM_EVENT_TYPE_PREFIX", "com." + "a" * MAX_EVENT_TYPE_PREFIX, "at most 100"),
    ("SCIM_MANAGE_ENTRA_TENANT_ID", "contoso.onmicrosoft.com", "must be a GUID"),
    ("SCIM_MANAGE_ENTRA_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db4", "must be a GUID"),
    ("SCIM_MANAGE_AUDIENCE", "https://scim.contoso.example", "Application (client) ID"),
    ("SCIM_MANAGE_AUDIENCE", "api://a b", "Application (client) ID"),
    ("SCIM_MANAGE_AUDIENCE", "scim-connector", "Application (client) ID"),
    ("SCIM_MANAGE_ROLE", "Connector Admin", "without spaces"),
    ("SCIM_MANAGE_ROLE", "r" * 121, "1 to 120"),
    ("SCIM_MANAGE_ROLE", "Connector.\x1bAdmin", "without spaces"),
]


@pytest.mark.parametrize(("var", "text", "problem"), BAD)
def test_an_unusable_value_is_refused_with_what_to_set(var: str, text: str,
                                                       problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        from_environ({var: text})
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert message.startswith("Invalid app settings:\n")
    [line] = message.splitlines()[1:]  # one line per unusable variable
    assert line.startswith(var + "=")
    assert problem in line
    assert "Set a valid value, or remove the setting" in line
    # What the setting is (its declared description) comes with the error.
    description = Settings.model_fields[FIELD_OF[var]].description
    assert description is not None
    assert description in line
    # The value is quoted back as one bounded printable line (it may be a terminal escape).
    assert "\n" not in line
    assert "\x1b" not in line


def test_an_error_says_what_the_default_is_or_that_the_setting_is_optional() -> None:
    with pytest.raises(SettingsError, match=r"use the default \(200\)"):
        from_environ({"SCIM_MAX_RESULTS": "many"})
    with pytest.raises(SettingsError, match=r"remove the setting \(it is optional\)"):
        from_environ({"SCIM_DOCUMENTATION_URI": "not a url"})


def test_every_unusable_variable_is_reported_at_once() -> None:
    bad = {"SCIM_MAX_RESULTS": "x", "SCIM_EVENT_TYPE_PREFIX": "x", "SCIM_FEED_HOLD_DAYS": "-1",
           "SCIM_TABLE_PREFIX": "fine"}
    with pytest.raises(SettingsError) as caught:
        from_environ(bad)
    lines = str(caught.value).splitlines()[1:]
    assert sorted(line.split("=", 1)[0] for line in lines) == [
        "SCIM_EVENT_TYPE_PREFIX", "SCIM_FEED_HOLD_DAYS", "SCIM_MAX_RESULTS"]


_LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_-]{0,10}[A-Za-z0-9])?", fullmatch=True)
_PREFIX = st.lists(_LABEL, min_size=2, max_size=6).map(".".join).filter(
    lambda p: len(p) <= MAX_EVENT_TYPE_PREFIX)


@given(_PREFIX)
def test_reverse_dns_prefixes_are_accepted_as_given(prefix: str) -> None:
    assert from_environ({"SCIM_EVENT_TYPE_PREFIX": prefix}).event_type_prefix == prefix


@given(_PREFIX, st.data())
def test_a_prefix_with_a_space_control_or_other_character_is_refused(
        prefix: str, data: st.DataObject) -> None:
    bad = data.draw(st.sampled_from([" ", "\t", "\n", "\r", "\x00", "\x7f", "\u2028", "\u00a0",
                                     "/", ":", "#", "*", "é", "\u212a", "..", "@"]))
    at = data.draw(st.integers(0, len(prefix)))
    with pytest.raises(SettingsError, match="SCIM_EVENT_TYPE_PREFIX"):
        from_environ({"SCIM_EVENT_TYPE_PREFIX": prefix[:at] + bad + prefix[at:]})


# --------------------------------------------------------------------------------------------
# current(): read once per process
# --------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_current(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    current.cache_clear()
    yield monkeypatch
    current.cache_clear()  # the next caller reads the restored environment


def test_current_reads_the_environment_once(fresh_current: pytest.MonkeyPatch) -> None:
    fresh_current.setenv("SCIM_MAX_RESULTS", "17")
    first = current()
    fresh_current.setenv("SCIM_MAX_RESULTS", "18")
    assert current() is first
    assert first.max_results == 17
    current.cache_clear()  # what the Functions host's restart on a setting change amounts to
    assert current().max_results == 18


def test_current_does_not_cache_a_refusal(fresh_current: pytest.MonkeyPatch) -> None:
    fresh_current.setenv("SCIM_MAX_RESULTS", "lots")
    with pytest.raises(SettingsError, match="SCIM_MAX_RESULTS"):
        current()
    fresh_current.setenv("SCIM_MAX_RESULTS", "12")
    assert current().max_results == 12


# --------------------------------------------------------------------------------------------
# End to end: the settings reach /ServiceProviderConfig and the change events
# --------------------------------------------------------------------------------------------

DOCS = "https://docs.contoso.example/scim-connector"
PREFIX = "com.contoso.identity.scim"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def configured(scim_service: ScimService, app_env: dict[str, str]) -> ScimService:
    """A service configured through the environment, on the session's Azurite tables."""
    settings = from_environ({**app_env, "SCIM_DOCUMENTATION_URI": DOCS,
                             "SCIM_EVENT_TYPE_PREFIX": PREFIX})
    return ScimService(settings, scim_service.tables)


def test_documentation_uri_reaches_service_provider_config(
        configured: ScimService, tenant: tuple[str, str]) -> None:
    response = Caller(configured, *tenant).call("GET", "ServiceProviderConfig")
    assert response.status == 200
    assert response.body is not None
    assert response.body["documentationUri"] == DOCS
    [scheme] = response.body["authenticationSchemes"]
    assert scheme["documentationUri"] == DOCS


def test_without_documentation_uri_the_attribute_is_left_out(client: httpx.Client) -> None:
    # The served app (the session's environment sets no SCIM_DOCUMENTATION_URI).
    response = client.get("/ServiceProviderConfig")
    assert response.status_code == 200
    assert "documentationUri" not in response.text
    assert response.json()["authenticationSchemes"][0]["specUri"]


def test_event_type_prefix_reaches_the_outbox_and_the_receiver(
        configured: ScimService, tenant: tuple[str, str], outbox: Outbox,
        receiver: Receiver) -> None:
    caller = Caller(configured, *tenant)
    uid = caller.create("Users", {"schemas": [USER], "userName": "ada@contoso.example"})
    gid = caller.create("Groups", {"schemas": [GROUP], "displayName": "Staff"})
    assert caller.add_members(gid, [uid]).status == 204
    assert caller.call("DELETE", "Users", uid).status == 204

    expected = [f"{PREFIX}.user.created", f"{PREFIX}.group.created",
                f"{PREFIX}.group.members.added", f"{PREFIX}.user.deleted"]
    tenant_id = tenant[0]
    assert [e["type"] for e in events_of(outbox, tenant_id)] == expected
    assert [r.type for r in outbox.pending(tenant_id)] == expected  # the row's own column

    use_webhook(configured, tenant_id, receiver.url)
    summary = run(configured, tenants=[tenant_id])
    assert (summary["delivered"], summary["failed"]) == (4, 0)
    # Several resources are delivered at once (order holds per resource only): by commit order.
    arrived = sorted((r.event for r in receiver.received), key=lambda e: str(e["id"]))
    assert [e["type"] for e in arrived] == expected
    assert all(r.valid for r in receiver.received)


def test_queues_are_enabled_by_either_connection_setting() -> None:
    assert not from_environ({}).queues_enabled
    assert from_environ({"SCIM_QUEUE_STORAGE": "UseDevelopmentStorage=true"}).queues_enabled
    assert from_environ({"SCIM_QUEUE_STORAGE__queueServiceUri":
                         "https://acct.queue.core.windows.net"}).queues_enabled


def test_the_queue_connection_string_never_appears_in_a_repr() -> None:
    settings = Settings(queue_connection_string="AccountName=a;AccountKey=S3CRETKEY==")
    assert "S3CRETKEY" not in repr(settings)


@pytest.mark.parametrize("text", ["abc", "g" * 64, "a" * 63, "a" * 65, " " + "a" * 63])
def test_a_development_credential_digest_must_be_64_hex_characters(text: str) -> None:
    with pytest.raises(SettingsError) as caught:
        from_environ({"SCIM_MANAGE_DEV_CREDENTIAL_SHA256": text})
    [line] = str(caught.value).splitlines()[1:]
    assert line.startswith("SCIM_MANAGE_DEV_CREDENTIAL_SHA256 is not usable: must be 64 "
                           "hexadecimal characters")
