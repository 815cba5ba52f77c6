"""Azure Monitor's alert rules and workbook (infra/modules/alerts.bicep, workbook.bicep), read
from pycep-parser's JSON, and their KQL (infra/alerts/*.kql, infra/workbook.json) checked
against the structured fields the app actually logs: the names come from shared/telemetry.py,
so renaming a field there without the queries fails here.

No KQL engine runs here (that needs Azure): the queries are checked for the fields and events
they read, the columns the rules measure and split by, and balanced brackets and quotes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared import telemetry
from tests.support.bicepmodel import (
    INFRA,
    MAIN,
    ROOT,
    accessor,
    all_resources,
    main_value,
    module_path,
    one,
    parameters_file,
    resolve,
    template,
)

ALERTS = INFRA / "modules" / "alerts.bicep"
WORKBOOK = INFRA / "modules" / "workbook.bicep"
MONITORING = INFRA / "modules" / "monitoring.bicep"
RULE_TYPE = "Microsoft.Insights/scheduledQueryRules"

# rule symbol -> (KQL file, the event(s) it must read, measured column, split by tenant?)
RULES: dict[str, tuple[str, tuple[str, ...], str, bool]] = {
    "serverErrorRate": ("scim-5xx-rate.kql", (telemetry.SCIM_REQUEST,), "rate_percent", False),
    "authFailureSpike": ("auth-failures.kql", (telemetry.AUTH_FAILURE,), "failures", True),
    "deadLetters": ("dead-letters.kql", (telemetry.DEAD_LETTER,), "dead_letters", True),
    "reconcilerProblems": ("reconciler.kql",
                           (telemetry.RECONCILE_RUN, telemetry.RECONCILE_TENANT), "problems",
                           False),
    "backlogAge": ("backlog-age.kql", (telemetry.DELIVERY_PASS, telemetry.RECONCILE_RUN),
                   "backlog_age_minutes", True),
}

# The web console's views the workbook mirrors, by item name.
WORKBOOK_VIEWS = {
    "requests-per-tenant", "errors-and-401-per-tenant", "likely-quarantined",
    "provisioning-activity", "feed-backlog", "dead-letters", "reconciler-runs",
}

# Every dimension shared/telemetry.py defines: the module's upper-case string constants that
# are not event names.
DIMENSIONS = {
    value for name, value in vars(telemetry).items()
    if name.isupper() and isinstance(value, str) and value not in telemetry.EVENTS
    and name != "UNKNOWN_TENANT"
}
# Fields of the host's own request telemetry the workbook reads with bracket syntax; ours are
# read as customDimensions.<name>.
HOST_FIELDS = {"http.request.method", "HttpMethod", "http.method"}

_DOTTED = re.compile(r"customDimensions\.(\w+)")
_BRACKETED = re.compile(r"customDimensions\[\"([^\"]+)\"\]")
_EVENT_LITERAL = re.compile(r"\"((?:scim|delivery|reconcile)\.[a-z_]+)\"")


def rules() -> dict[str, Any]:
    return {r.symbol: r for r in all_resources(RULE_TYPE)}


def loaded_file(path: Path, expr: Any) -> Path:
    """The file a `loadTextContent('...')` expression reads, relative to its template."""
    fn = expr["function"]
    assert fn["type"] == "load_text_content", expr
    target = (path.parent / fn["parameters"]["file_path"]).resolve()
    assert target.is_file(), target
    return target


def fields_read(kql: str) -> set[str]:
    return set(_DOTTED.findall(kql))


def unknown_fields(kql: str) -> set[str]:
    """customDimensions read by a query that the app does not write (nor the host)."""
    ours = fields_read(kql) - DIMENSIONS - {telemetry.EVENT}
    host = set(_BRACKETED.findall(kql)) - HOST_FIELDS
    return ours | host


def unknown_events(kql: str) -> set[str]:
    return set(_EVENT_LITERAL.findall(kql)) - set(telemetry.EVENTS)


def balanced(kql: str) -> bool:
    text = re.sub(r"//[^\n]*", "", kql)
    if text.count('"') % 2:
        return False
    text = re.sub(r"\"[^\"]*\"", "\"\"", text)
    depth = {"(": 0, "[": 0, "{": 0}
    closing = {")": "(", "]": "[", "}": "{"}
    for ch in text:
        if ch in depth:
            depth[ch] += 1
        elif ch in closing:
            depth[closing[ch]] -= 1
            if depth[closing[ch]] < 0:
                return False
    return not any(depth.values())


# --- wiring -------------------------------------------------------------------------------------


def test_main_wires_the_alerts_and_the_workbook() -> None:
    assert module_path("alerts") == ALERTS.resolve()
    assert module_path("workbook") == WORKBOOK.resolve()
    modules = template(MAIN)["modules"]
    # the workbook always; the rules only when there is someone to tell
    assert "condition" not in modules["workbook"]["config"]
    assert modules["alerts"]["config"]["condition"] == "alertsEnabled"
    # !(empty(alertActionGroupId) && empty(alertEmailAddress)); pycep reads `!a || !b` wrongly
    enabled = resolve(MAIN, "alertsEnabled")["operator"]
    assert enabled["type"] == "not"
    both_empty = enabled["operands"]["bool_value"]["operator"]
    assert both_empty["type"] == "and"
    tested = [operand["function"] for operand in both_empty["operands"].values()]
    assert [f["parameters"]["item_to_test"] for f in tested] == [
        "alertActionGroupId", "alertEmailAddress"]
    assert all(f["type"] == "empty" for f in tested)
    args = modules["alerts"]["config"]["config"]["params"]
    assert args["actionGroupId"] == "alertActionGroupId"
    assert args["emailAddress"] == "alertEmailAddress"
    for module in ("alerts", "workbook"):
        config = modules[module]["config"]
        params = config["config"]["params"] if "condition" in config else config["params"]
        assert params["applicationInsightsName"] == accessor(
            "monitoring", "outputs", "applicationInsightsName")


def test_the_default_deployment_creates_no_rules_until_given_a_recipient() -> None:
    for name in ("alertActionGroupId", "alertEmailAddress"):
        assert template(MAIN)["parameters"][name]["default"] == ""
        assert main_value(name) == ""
        assert parameters_file()[name] == ""


def test_the_rules_target_the_connectors_application_insights() -> None:
    """The `existing` component in alerts.bicep is the one monitoring.bicep creates: the same
    name flows from monitoring's output through main.bicep."""
    existing = next(r for r in all_resources(include_existing=True)
                    if r.file == ALERTS and r.symbol == "applicationInsights")
    assert existing.existing
    assert existing.type == "Microsoft.Insights/components"
    assert existing.config["name"] == "applicationInsightsName"
    component = one("Microsoft.Insights/components")
    assert component.file == MONITORING
    assert template(MONITORING)["outputs"]["applicationInsightsName"]["value"] == accessor(
        component.symbol, "name")
    for symbol, rule in rules().items():
        assert rule.properties["scopes"] == [accessor("applicationInsights", "id")], symbol


# --- the five rules ------------------------------------------------------------------------------


def test_the_five_rules_exist_and_nothing_else() -> None:
    found = rules()
    assert set(found) == set(RULES)
    for rule in found.values():
        assert rule.file == ALERTS
        assert rule.api_version >= "2023-12-01"
        assert rule.config["kind"] == "LogAlert"
        assert rule.config["location"] == "location"


@pytest.mark.parametrize("symbol", sorted(RULES))
def test_each_rule_is_complete(symbol: str) -> None:
    props = rules()[symbol].properties
    assert isinstance(props["severity"], int)
    assert 0 <= props["severity"] <= 4
    assert props["enabled"] is True
    assert props["autoMitigate"] is True
    assert re.fullmatch(r"PT\d+[MH]", props["evaluationFrequency"])
    assert re.fullmatch(r"PT\d+[MH]", props["windowSize"])
    assert props["displayName"]
    assert "docs/operations.md" in props["description"]
    (criterion,) = props["criteria"]["allOf"]
    assert criterion["timeAggregation"] == "Maximum"
    assert criterion["operator"] == "GreaterThan"
    assert criterion["failingPeriods"] == {"numberOfEvaluationPeriods": 1,
                                           "minFailingPeriodsToAlert": 1}
    assert props["actions"] == {"actionGroups": "actionGroups"}


def test_the_window_is_no_shorter_than_the_frequency() -> None:
    def minutes(duration: str) -> int:
        value = int(duration[2:-1])
        return value * 60 if duration.endswith("H") else value

    for symbol, rule in rules().items():
        props = rule.properties
        assert minutes(props["windowSize"]) >= minutes(props["evaluationFrequency"]), symbol


def test_every_rule_notifies_the_action_group() -> None:
    """The given action group, or the one created here (e-mail) when none is given."""
    (value,) = resolve(ALERTS, "actionGroups")
    choice = value["operator"]
    assert choice["type"] == "conditional"
    assert choice["operands"]["condition"] == {
        "function": {"type": "empty", "parameters": {"item_to_test": "actionGroupId"}}}
    assert choice["operands"]["true_value"] == accessor("actionGroup", "id")
    assert choice["operands"]["false_value"] == "actionGroupId"
    group = one("Microsoft.Insights/actionGroups")
    assert group.file == ALERTS
    assert group.condition == {
        "function": {"type": "empty", "parameters": {"item_to_test": "actionGroupId"}}}
    assert group.config["location"] == "global"
    (receiver,) = group.properties["emailReceivers"]
    assert receiver["emailAddress"] == "emailAddress"
    assert len(group.properties["groupShortName"]) <= 12  # the API's limit


@pytest.mark.parametrize("symbol", sorted(RULES))
def test_each_rules_query_reads_what_the_app_logs(symbol: str) -> None:
    kql_file, events, measured, split = RULES[symbol]
    (criterion,) = rules()[symbol].properties["criteria"]["allOf"]
    path = loaded_file(ALERTS, criterion["query"])
    assert path == (INFRA / "alerts" / kql_file).resolve()
    kql = path.read_text(encoding="utf-8")
    for event in events:
        assert f'"{event}"' in kql, f"{kql_file} does not read {event}"
    assert not unknown_events(kql), unknown_events(kql)
    assert not unknown_fields(kql), f"{kql_file} reads fields nobody writes: {unknown_fields(kql)}"
    assert criterion["metricMeasureColumn"] == measured
    assert re.search(rf"\b{measured}\b", kql), f"{kql_file} has no column {measured}"
    assert balanced(kql), kql_file
    if split:
        assert criterion["dimensions"] == [
            {"name": telemetry.TENANT, "operator": "Include", "values": ["*"]}]
        assert re.search(rf"\bby {telemetry.TENANT}\b", kql), f"{kql_file} is not per tenant"
    else:
        assert "dimensions" not in criterion


def test_the_queries_read_the_statuses_and_numbers_the_rules_need() -> None:
    def kql(name: str) -> str:
        return (INFRA / "alerts" / name).read_text(encoding="utf-8")

    assert {telemetry.STATUS} <= fields_read(kql("scim-5xx-rate.kql"))
    assert ">= 500" in kql("scim-5xx-rate.kql")
    assert {telemetry.TENANT} <= fields_read(kql("auth-failures.kql"))
    assert {telemetry.TENANT} <= fields_read(kql("dead-letters.kql"))
    assert {telemetry.ERRORS, telemetry.INCOMPLETE, telemetry.POISON_WORK,
            telemetry.POISON_DELIVER} <= fields_read(kql("reconciler.kql"))
    assert {telemetry.TENANT, telemetry.BACKLOG_AGE_S, telemetry.MODE} <= fields_read(
        kql("backlog-age.kql"))


def test_thresholds_are_parameters_with_bounds() -> None:
    params = template(ALERTS)["parameters"]
    expected = {"serverErrorRate": "serverErrorRatePercent",
                "authFailureSpike": "authFailureThreshold", "backlogAge": "backlogAgeMinutes"}
    for symbol, param in expected.items():
        (criterion,) = rules()[symbol].properties["criteria"]["allOf"]
        assert criterion["threshold"] == param
        decorators = {d["type"]: d.get("argument") for d in params[param]["decorators"]}
        assert decorators.get("min_value", 0) >= 1
        assert params[param]["default"] >= decorators["min_value"]
    # any dead letter, any reconciler problem
    for symbol in ("deadLetters", "reconcilerProblems"):
        (criterion,) = rules()[symbol].properties["criteria"]["allOf"]
        assert criterion["threshold"] == 0


def test_the_cross_check_catches_a_field_or_event_nobody_writes() -> None:
    """The checks above can fail: a renamed field or a misspelt event is reported."""
    planted = ('traces | where tostring(customDimensions.event) == "scim.requests"\n'
               '| extend t = tostring(customDimensions.tennant)')
    assert unknown_events(planted) == {"scim.requests"}
    assert unknown_fields(planted) == {"tennant"}
    assert not balanced("print x = toint(customDimensions.status")
    assert not balanced('print x = "open')


# --- the workbook -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workbook_data() -> dict[str, Any]:
    workbook = one("Microsoft.Insights/workbooks")
    assert workbook.file == WORKBOOK
    path = loaded_file(WORKBOOK, workbook.properties["serializedData"])
    assert path == (INFRA / "workbook.json").resolve()
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _queries(data: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["content"]["query"] for item in data["items"]
            if item["type"] == 3}


def test_the_workbook_resource() -> None:
    workbook = one("Microsoft.Insights/workbooks")
    assert workbook.config["kind"] == "shared"
    assert workbook.properties["category"] == "workbook"
    assert workbook.properties["sourceId"] == accessor("applicationInsights", "id")
    assert workbook.config["name"]["function"]["type"] == "guid"  # the API wants a GUID name
    existing = next(r for r in all_resources(include_existing=True)
                    if r.file == WORKBOOK and r.symbol == "applicationInsights")
    assert existing.existing
    assert existing.config["name"] == "applicationInsightsName"


def test_the_workbook_is_a_valid_workbook_document(workbook_data: dict[str, Any]) -> None:
    assert workbook_data["version"] == "Notebook/1.0"
    names = [item["name"] for item in workbook_data["items"]]
    assert len(names) == len(set(names))
    for item in workbook_data["items"]:
        assert item["type"] in (1, 3, 9), item["name"]
        if item["type"] == 3:
            content = item["content"]
            assert content["version"] == "KqlItem/1.0"
            assert content["resourceType"] == "microsoft.insights/components"
            assert content["queryType"] == 0  # logs
            assert content["timeContextFromParameter"] == "TimeRange"
            assert content["visualization"] in ("timechart", "table", "barchart")
    (parameters,) = [i for i in workbook_data["items"] if i["type"] == 9]
    declared = {p["name"] for p in parameters["content"]["parameters"]}
    assert declared == {"TimeRange", "Tenant"}
    for name, kql in _queries(workbook_data).items():
        used = set(re.findall(r"\{(\w+)(?::\w+)?\}", kql))
        assert used <= declared, f"{name} uses undeclared parameters {used - declared}"


def test_the_workbook_has_the_consoles_views(workbook_data: dict[str, Any]) -> None:
    queries = _queries(workbook_data)
    assert set(queries) == WORKBOOK_VIEWS
    quarantine = queries["likely-quarantined"]
    assert "ago(2h)" in quarantine
    assert "error_rate > 50" in quarantine
    assert telemetry.AUTH_FAILURE in queries["errors-and-401-per-tenant"]
    assert telemetry.DEAD_LETTER in queries["dead-letters"]
    assert telemetry.DELIVERY_PASS in queries["feed-backlog"]
    assert telemetry.RECONCILE_RUN in queries["reconciler-runs"]


def test_the_workbooks_queries_read_what_the_app_logs(workbook_data: dict[str, Any]) -> None:
    read: set[str] = set()
    for name, kql in _queries(workbook_data).items():
        assert not unknown_events(kql), (name, unknown_events(kql))
        assert not unknown_fields(kql), (name, unknown_fields(kql))
        assert balanced(kql), name
        read |= fields_read(kql)
    assert {telemetry.TENANT, telemetry.STATUS, telemetry.BACKLOG, telemetry.BACKLOG_AGE_S,
            telemetry.ERRORS, telemetry.INCOMPLETE, telemetry.LANE} <= read


# --- the path the fields take to Application Insights -------------------------------------------


def test_the_worker_exports_its_records_with_opentelemetry() -> None:
    """docs/operations.md: host.json's telemetryMode, the worker's switch, and the distro the
    worker configures; without all three the records' fields do not become custom dimensions."""
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["telemetryMode"] == "OpenTelemetry"
    arguments = one("Microsoft.Web/sites/config").config["properties"]["function"]["parameters"]
    settings = arguments[max(arguments)]  # union(…, the template's own): the last argument
    assert settings["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "true"
    # the exporter authenticates with the identity named here (local auth is off)
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD")
    pins = [line for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
            if line.startswith("azure-monitor-opentelemetry==")]
    assert len(pins) == 1
