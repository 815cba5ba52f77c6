"""Security and configuration invariants of the Bicep templates, read from pycep-parser's JSON.

Values are followed through parameters, variables and module arguments to what the default
deployment (main.bicep + main.parameters.json) actually sets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.bicepmodel import (
    INFRA,
    MAIN,
    accessor,
    all_resources,
    bicep_files,
    effective,
    main_value,
    module_args,
    module_path,
    one,
    parameters_file,
    resolve,
    role_definition_guid,
    template,
)

STORAGE = INFRA / "modules" / "storage.bicep"
MONITORING = INFRA / "modules" / "monitoring.bicep"
FUNCTION = INFRA / "modules" / "function.bicep"

BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"


def test_modules_are_wired_as_expected() -> None:
    assert template(MAIN)["globals"]["scope"]["value"] == "resourceGroup"
    assert {s: module_path(s) for s in ("storage", "monitoring", "function")} == {
        "storage": STORAGE.resolve(),
        "monitoring": MONITORING.resolve(),
        "function": FUNCTION.resolve(),
    }


# --- storage -----------------------------------------------------------------------------------


def test_storage_account_is_locked_down() -> None:
    sa = one("Microsoft.Storage/storageAccounts")
    assert sa.file == STORAGE
    props = sa.properties
    assert props["allowSharedKeyAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["allowBlobPublicAccess"] is False
    assert props["defaultToOAuthAuthentication"] is True
    assert sa.config["kind"] == "StorageV2"
    assert effective("storage", STORAGE, sa.config["sku"]["name"]) == "Standard_LRS"


def test_child_resources_are_top_level_with_parent() -> None:
    """Nested children get dropped by the parser (and so by checkov): use `parent:` instead."""
    for res in all_resources():
        if res.type.count("/") > 1 and not res.type.startswith("Microsoft.Authorization/"):
            assert "parent" in res.config, f"{res.file.name}:{res.symbol} has no parent:"
            assert "__" not in res.symbol, f"{res.symbol} was declared nested"


def test_the_four_tables_are_declared() -> None:
    tables = one("Microsoft.Storage/storageAccounts/tableServices/tables")
    assert tables.config["parent"] == "tableService"
    assert tables.loop is not None
    assert tables.loop["detail"]["array_name"] == "tableNames"
    assert tables.config["name"] == tables.loop["detail"]["item_name"]
    table_service = next(r for r in all_resources() if r.symbol == "tableService")
    assert table_service.type == "Microsoft.Storage/storageAccounts/tableServices"
    assert table_service.config["parent"] == "storage"
    # main.bicep passes <prefix>data, <prefix>tenants, <prefix>audit, <prefix>runs
    assert module_args("storage")["tableNames"] == "tableNames"
    names = resolve(MAIN, "tableNames")
    assert sorted(names) == sorted(
        f"${{tablePrefix}}{suffix}" for suffix in ("data", "tenants", "audit", "runs")
    )
    assert main_value("tablePrefix") == "scim"
    # the app reads the same prefix the tables were created with
    assert module_args("function")["tablePrefix"] == "tablePrefix"


def test_the_deliver_and_work_queues_and_their_poison_queues_are_declared() -> None:
    queues = one("Microsoft.Storage/storageAccounts/queueServices/queues")
    assert queues.config["parent"] == "queueService"
    assert queues.loop is not None
    assert queues.loop["detail"]["array_name"] == "queueNames"
    assert queues.config["name"] == queues.loop["detail"]["item_name"]
    queue_service = next(r for r in all_resources() if r.symbol == "queueService")
    assert queue_service.type == "Microsoft.Storage/storageAccounts/queueServices"
    assert queue_service.config["parent"] == "storage"
    assert module_args("storage")["queueNames"] == "queueNames"
    # the host's poison queue is the queue's name + "-poison"
    assert resolve(MAIN, "queueNames") == ["deliverQueueName", "${deliverQueueName}-poison",
                                           "workQueueName", "${workQueueName}-poison"]
    assert resolve(MAIN, "deliverQueueName") == "${toLower(tablePrefix)}-deliver"
    assert resolve(MAIN, "workQueueName") == "${toLower(tablePrefix)}-work"
    assert module_args("function")["deliverQueueName"] == "deliverQueueName"
    assert module_args("function")["workQueueName"] == "workQueueName"


def test_table_prefix_must_start_with_a_letter() -> None:
    """Bicep has no regular expressions: @minLength(1) guarantees a first character, main.bicep
    checks it against the alphabet (case-insensitively), and the storage module's parameter for
    the result allows only `true`, so ARM stops a bad prefix before any table is created."""
    param = template(MAIN)["parameters"]["tablePrefix"]
    decorators = {d["type"]: d.get("argument") for d in param["decorators"]}
    assert decorators["min_length"] == 1
    check = resolve(MAIN, "tablePrefixStartsWithLetter")["function"]
    assert check["type"] == "contains"
    assert resolve(MAIN, check["parameters"]["container"]) == "abcdefghijklmnopqrstuvwxyz"
    lowered = check["parameters"]["item_to_find"]["function"]
    assert lowered["type"] == "to_lower"
    first = lowered["parameters"]["string_to_change"]["function"]
    assert first == {"type": "first", "parameters": {"arg_1": "tablePrefix"}}
    assert module_args("storage")["tablePrefixStartsWithLetter"] == "tablePrefixStartsWithLetter"
    gate = template(STORAGE)["parameters"]["tablePrefixStartsWithLetter"]
    assert gate["type"] == "bool"
    assert gate.get("default") is None  # no default: main.bicep must pass the result
    allowed = [d["argument"] for d in gate["decorators"] if d["type"] == "allowed"]
    assert allowed == [[True]]
    # the tables hang off the storage module, so the gate runs before any of them exists
    tables = one("Microsoft.Storage/storageAccounts/tableServices/tables")
    assert tables.file == STORAGE


def test_storage_account_name_is_lowercase() -> None:
    """Storage account names allow lowercase letters and digits only; baseName may have capitals."""
    assert module_args("storage")["name"] == "storageAccountName"
    expr = resolve(MAIN, "storageAccountName")["function"]
    assert expr["type"] == "to_lower"
    inner = expr["parameters"]["string_to_change"]["function"]
    assert inner["type"] == "take"
    assert inner["parameters"]["number_to_take"] == 24


def test_deployment_container_is_private_and_used_by_the_app() -> None:
    container = one("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container.file == STORAGE
    assert container.config["parent"] == "blobService"
    assert container.properties["publicAccess"] == "None"
    assert container.config["name"] == "deploymentContainerName"
    app = one("Microsoft.Web/sites")
    storage = app.properties["functionAppConfig"]["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["value"] == "${storageBlobEndpoint}${deploymentContainerName}"
    args = module_args("function")
    assert args["deploymentContainerName"] == accessor(
        "storage", "outputs", "deploymentContainerName"
    )
    assert args["storageBlobEndpoint"] == accessor("storage", "outputs", "blobEndpoint")
    outputs = template(STORAGE)["outputs"]
    assert outputs["blobEndpoint"]["value"] == accessor(
        "storage", "properties", "primaryEndpoints", "blob"
    )
    assert outputs["deploymentContainerName"]["value"] == accessor("deploymentContainer", "name")


# --- Flex Consumption function app ---------------------------------------------------------------


def test_plan_is_flex_consumption_on_linux() -> None:
    plan = one("Microsoft.Web/serverfarms")
    assert plan.config["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan.properties["reserved"] is True  # Linux
    assert plan.config["kind"] == "functionapp"


def test_function_app_uses_the_user_assigned_identity() -> None:
    app = one("Microsoft.Web/sites")
    assert app.file == FUNCTION
    assert app.config["kind"] == "functionapp,linux"
    assert app.config["identity"]["type"] == "UserAssigned"
    assert list(app.config["identity"]["userAssignedIdentities"]) == ["'${identityId}'"]
    auth = app.properties["functionAppConfig"]["deployment"]["storage"]["authentication"]
    assert auth == {"type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "identityId"}
    identity = one("Microsoft.ManagedIdentity/userAssignedIdentities")
    assert identity.file == MAIN
    args = module_args("function")
    assert args["identityId"] == accessor(identity.symbol, "id")
    assert args["identityClientId"] == accessor(identity.symbol, "properties", "clientId")


def test_function_app_is_https_only_python_311() -> None:
    app = one("Microsoft.Web/sites")
    props = app.properties
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    runtime = props["functionAppConfig"]["runtime"]
    assert runtime["name"] == "python"
    assert effective("function", FUNCTION, runtime["version"]) == "3.11"
    allowed = next(
        d["argument"]
        for d in template(FUNCTION)["parameters"]["pythonVersion"]["decorators"]
        if d["type"] == "allowed"
    )
    assert allowed == ["3.11"]


def test_scale_settings() -> None:
    scale = one("Microsoft.Web/sites").properties["functionAppConfig"]["scaleAndConcurrency"]

    def value(expr: Any) -> Any:
        return effective("function", FUNCTION, expr)

    assert value(scale["instanceMemoryMB"]) == 2048
    assert 1 <= value(scale["maximumInstanceCount"]) <= 1000
    concurrency = value(scale["triggers"]["http"]["perInstanceConcurrency"])
    assert isinstance(concurrency, int)
    assert 1 <= concurrency <= 16
    # always-ready HTTP instances only when the operator asks for them (default: scale to zero)
    assert scale["alwaysReady"] == "alwaysReady"
    conditional = resolve(FUNCTION, "alwaysReady")["operator"]
    assert conditional["type"] == "conditional"
    operands = conditional["operands"]
    assert operands["condition"] == {
        "operator": {
            "type": "greater_than",
            "operands": {"operand_1": "alwaysReadyInstanceCount", "operand_2": 0},
        }
    }
    assert operands["true_value"] == [{"name": "http", "instanceCount": "alwaysReadyInstanceCount"}]
    assert operands["false_value"] == []
    assert value("alwaysReadyInstanceCount") == 0
    assert template(MAIN)["parameters"]["alwaysReadyInstanceCount"]["default"] == 0


def test_maximum_instance_count_accepts_the_documented_range() -> None:
    """Flex Consumption takes any maximum from 1 to 1000; 40 was a preview-era floor."""
    for path in (MAIN, FUNCTION):
        decorators = {
            d["type"]: d.get("argument")
            for d in template(path)["parameters"]["maximumInstanceCount"]["decorators"]
        }
        assert (decorators["min_value"], decorators["max_value"]) == (1, 1000), path.name
    assert module_args("function")["maximumInstanceCount"] == "maximumInstanceCount"


# --- app settings --------------------------------------------------------------------------------

EXPECTED_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    "AZURE_CLIENT_ID",
    "SCIM_STORAGE_TABLE_ENDPOINT",
    "SCIM_PUBLIC_BASE_URL",
    "SCIM_TABLE_PREFIX",
    "RECONCILE_SCHEDULE",
    "SCIM_DELIVER_QUEUE",
    "SCIM_WORK_QUEUE",
    "SCIM_QUEUE_STORAGE__queueServiceUri",
    "SCIM_QUEUE_STORAGE__credential",
    "SCIM_QUEUE_STORAGE__clientId",
}


@pytest.fixture(scope="module")
def app_settings() -> dict[str, Any]:
    config = one("Microsoft.Web/sites/config")
    assert config.config["parent"] == "functionApp"
    assert config.config["name"] == "appsettings"
    inline = one("Microsoft.Web/sites").properties["siteConfig"]
    assert "appSettings" not in inline, "settings belong in one place (the config resource)"
    merged = config.config["properties"]["function"]
    assert merged["type"] == "union"
    # union(extraAppSettings, manageSettings, ours): the operator's settings are kept, the
    # template's win on a clash
    assert merged["parameters"]["arg_1"] == "extraAppSettings"
    assert merged["parameters"]["arg_2"] == "manageSettings"
    ours: dict[str, Any] = merged["parameters"]["arg_3"]
    return ours


def test_the_management_api_accepts_entra_tokens_only_for_a_named_app_registration() -> None:
    """SCIM_MANAGE_AUDIENCE and SCIM_MANAGE_ENTRA_TENANT_ID are set only when main.bicep's
    manageAppClientId names an app registration, and then for this deployment's own directory;
    by default (empty) no Entra token is accepted and no setting is written."""
    assert template(MAIN)["parameters"]["manageAppClientId"]["default"] == ""
    assert parameters_file()["manageAppClientId"] == ""
    assert module_args("function")["manageAppClientId"] == "manageAppClientId"
    assert template(FUNCTION)["parameters"]["manageAppClientId"]["default"] == ""
    choice = template(FUNCTION)["variables"]["manageSettings"]["value"]["operator"]
    assert choice["type"] == "conditional"
    operands = choice["operands"]
    assert operands["condition"]["function"] == {
        "type": "empty", "parameters": {"item_to_test": "manageAppClientId"}}
    assert operands["true_value"] == {}
    named = operands["false_value"]
    assert named["SCIM_MANAGE_AUDIENCE"] == "manageAppClientId"
    tenant_id = named["SCIM_MANAGE_ENTRA_TENANT_ID"]["operator"]
    assert tenant_id["operands"]["operand_1"]["function"]["type"] == "tenant"
    assert tenant_id["operands"]["operand_2"] == "tenantId"


def test_operator_settings_survive_reprovisioning() -> None:
    """The appsettings resource replaces the whole list on every deployment, so operator-added
    settings must flow in through the extraAppSettings parameter, from main.bicep down."""
    assert template(FUNCTION)["parameters"]["extraAppSettings"]["default"] == {}
    assert module_args("function")["extraAppSettings"] == "extraAppSettings"
    assert template(MAIN)["parameters"]["extraAppSettings"]["default"] == {}
    assert parameters_file()["extraAppSettings"] == {}


def test_only_known_settings(app_settings: dict[str, Any]) -> None:
    assert set(app_settings) == EXPECTED_SETTINGS


def test_host_storage_is_identity_based(app_settings: dict[str, Any]) -> None:
    assert "AzureWebJobsStorage" not in app_settings  # no connection string with a key
    assert app_settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert app_settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert app_settings["AzureWebJobsStorage__accountName"] == "storageAccountName"
    assert module_args("function")["storageAccountName"] == accessor("storage", "outputs", "name")


def test_connector_settings(app_settings: dict[str, Any]) -> None:
    assert app_settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert app_settings["SCIM_STORAGE_TABLE_ENDPOINT"] == "storageTableEndpoint"
    assert module_args("function")["storageTableEndpoint"] == accessor(
        "storage", "outputs", "tableEndpoint"
    )
    assert template(STORAGE)["outputs"]["tableEndpoint"]["value"] == accessor(
        "storage", "properties", "primaryEndpoints", "table"
    )
    assert (
        app_settings["SCIM_PUBLIC_BASE_URL"] == "https://${functionApp.properties.defaultHostName}"
    )
    assert effective("function", FUNCTION, app_settings["SCIM_TABLE_PREFIX"]) == "scim"
    schedule = effective("function", FUNCTION, app_settings["RECONCILE_SCHEDULE"])
    assert schedule == "0 */15 * * * *"
    assert len(schedule.split()) == 6  # NCRONTAB has a seconds field


def test_the_queue_connection_is_identity_based(app_settings: dict[str, Any]) -> None:
    """One connection prefix for the host's deliver trigger (URI, managedidentity, the UAMI's
    client id) and the app's own sender (the URI, with AZURE_CLIENT_ID); no key anywhere."""
    assert "SCIM_QUEUE_STORAGE" not in app_settings
    assert app_settings["SCIM_QUEUE_STORAGE__credential"] == "managedidentity"
    assert app_settings["SCIM_QUEUE_STORAGE__clientId"] == "identityClientId"
    assert app_settings["SCIM_QUEUE_STORAGE__queueServiceUri"] == "storageQueueEndpoint"
    assert module_args("function")["storageQueueEndpoint"] == accessor(
        "storage", "outputs", "queueEndpoint")
    assert template(STORAGE)["outputs"]["queueEndpoint"]["value"] == accessor(
        "storage", "properties", "primaryEndpoints", "queue")
    # the trigger's binding is %SCIM_DELIVER_QUEUE%: the queue the storage module declares
    assert app_settings["SCIM_DELIVER_QUEUE"] == "deliverQueueName"
    assert app_settings["SCIM_WORK_QUEUE"] == "workQueueName"


def test_application_insights_uses_entra_auth(app_settings: dict[str, Any]) -> None:
    assert app_settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD"
    )
    assert app_settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == accessor(
        "applicationInsights", "properties", "ConnectionString"
    )
    existing = next(
        r
        for r in all_resources(include_existing=True)
        if r.file == FUNCTION and r.symbol == "applicationInsights"
    )
    assert existing.existing
    assert existing.type == "Microsoft.Insights/components"
    component = one("Microsoft.Insights/components")
    assert component.properties["DisableLocalAuth"] is True
    assert component.properties["WorkspaceResourceId"] == accessor("logAnalytics", "id")
    one("Microsoft.OperationalInsights/workspaces")


# --- role assignments ---------------------------------------------------------------------------


def test_role_assignments_are_the_documented_roles_on_the_narrowest_scope() -> None:
    found: dict[str, tuple[str, str]] = {}
    app_assignments = [
        ra
        for ra in all_resources("Microsoft.Authorization/roleAssignments")
        if ra.symbol != "operatorTableDataContributor"
    ]
    for ra in app_assignments:
        guid = role_definition_guid(ra.file, ra.properties["roleDefinitionId"])
        assert guid, f"{ra.symbol}: roleDefinitionId is not a subscriptionResourceId(...)"
        scope = ra.config.get("scope")
        assert isinstance(scope, str), f"{ra.symbol} must be scoped to a resource, not the group"
        target = next(
            r
            for r in all_resources(include_existing=True)
            if r.file == ra.file and r.symbol == scope
        )
        assert ra.properties["principalType"] == "ServicePrincipal"
        assert ra.properties["principalId"] == "principalId"
        assert guid not in found, f"role {guid} assigned twice"
        found[guid] = (target.type, ra.file.name)
    assert found == {
        BLOB_DATA_OWNER: ("Microsoft.Storage/storageAccounts", "storage.bicep"),
        TABLE_DATA_CONTRIBUTOR: ("Microsoft.Storage/storageAccounts", "storage.bicep"),
        QUEUE_DATA_CONTRIBUTOR: ("Microsoft.Storage/storageAccounts", "storage.bicep"),
        METRICS_PUBLISHER: ("Microsoft.Insights/components", "monitoring.bicep"),
    }
    identity = one("Microsoft.ManagedIdentity/userAssignedIdentities")
    for module in ("storage", "monitoring"):
        assert module_args(module)["principalId"] == accessor(
            identity.symbol, "properties", "principalId"
        )


def test_operator_gets_table_access_only_when_named() -> None:
    """azd's AZURE_PRINCIPAL_ID (the signed-in operator) gets Storage Table Data Contributor on
    the account, so `python -m shared.admin tenant create` works right after `azd up`; with no
    principal (or azd's placeholder left unsubstituted by plain `az deployment`) nothing is
    granted."""
    ra = next(
        r
        for r in all_resources("Microsoft.Authorization/roleAssignments")
        if r.symbol == "operatorTableDataContributor"
    )
    assert ra.file == STORAGE
    assert ra.config["scope"] == "storage"
    assert role_definition_guid(ra.file, ra.properties["roleDefinitionId"]) == (
        TABLE_DATA_CONTRIBUTOR
    )
    assert ra.properties["principalId"] == "operatorPrincipalId"
    assert ra.properties["principalType"] == "operatorPrincipalType"
    assert ra.condition == "grantOperator"
    grant = resolve(STORAGE, "grantOperator")["operator"]
    assert grant["type"] == "and"
    left, right = grant["operands"]["operand_1"], grant["operands"]["operand_2"]
    assert left == {
        "operator": {
            "type": "not",
            "operands": {
                "bool_value": {
                    "function": {
                        "type": "empty",
                        "parameters": {"item_to_test": "operatorPrincipalId"},
                    }
                }
            },
        }
    }
    assert right["operator"]["type"] == "not"
    starts = right["operator"]["operands"]["bool_value"]["function"]
    assert starts["type"] == "starts_with"
    assert list(starts["parameters"].values()) == ["operatorPrincipalId", "$"]
    # the role name is unique per operator, and differs from the app identity's assignment
    assert "operatorPrincipalId" in ra.config["name"]["function"]["parameters"].values()
    assert template(STORAGE)["parameters"]["operatorPrincipalId"]["default"] == ""
    assert module_args("storage")["operatorPrincipalId"] == "operatorPrincipalId"
    assert module_args("storage")["operatorPrincipalType"] == "operatorPrincipalType"
    assert template(MAIN)["parameters"]["operatorPrincipalId"]["default"] == ""
    assert parameters_file()["operatorPrincipalId"] == "${AZURE_PRINCIPAL_ID}"


def test_log_analytics_has_a_daily_cap() -> None:
    ws = one("Microsoft.OperationalInsights/workspaces")
    assert ws.file == MONITORING
    cap = ws.properties["workspaceCapping"]["dailyQuotaGb"]
    assert cap == "dailyCapGb"
    assert effective("monitoring", MONITORING, cap) == 1
    assert module_args("monitoring")["dailyCapGb"] == "logAnalyticsDailyCapGb"
    assert main_value("logAnalyticsDailyCapGb") == 1


# --- outputs and secrets ------------------------------------------------------------------------

SECRET_WORDS = re.compile(r"key|secret|password|connectionstring|token|sas", re.IGNORECASE)
SECRET_VALUES = re.compile(
    r"listkeys|listsecrets|listaccountsas|listservicesas|connectionstring|"
    r"accountkey|instrumentationkey",
    re.IGNORECASE,
)


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_no_secret_looking_outputs(path: Path) -> None:
    for name, output in template(path).get("outputs", {}).items():
        assert not SECRET_WORDS.search(name), f"{path.name}: output {name}"
        assert not SECRET_VALUES.search(json.dumps(output)), f"{path.name}: output {name}"
        decorators = {d["type"] for d in output.get("decorators", [])}
        assert "secure" not in decorators


def test_no_list_keys_anywhere() -> None:
    for path in bicep_files():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\blist(Keys|Secrets|AccountSas|ServiceSas)\s*\(", text), path.name


def test_main_outputs() -> None:
    outputs = {k: v["value"] for k, v in template(MAIN)["outputs"].items()}
    assert outputs["AZURE_FUNCTION_APP_NAME"] == accessor("function", "outputs", "name")
    assert outputs["FUNCTION_APP_DEFAULT_HOST_NAME"] == accessor(
        "function", "outputs", "defaultHostName"
    )
    assert outputs["SCIM_TENANT_URL_BASE"] == "https://${function.outputs.defaultHostName}/scim/v2/"
    assert outputs["SCIM_PUBLIC_BASE_URL"] == "https://${function.outputs.defaultHostName}"
    assert template(FUNCTION)["outputs"]["defaultHostName"]["value"] == accessor(
        "functionApp", "properties", "defaultHostName"
    )


# --- parameters file and azd --------------------------------------------------------------------


def test_parameters_file_matches_main() -> None:
    params = template(MAIN)["parameters"]
    given = parameters_file()
    # Literal values, so `az deployment group create -p` works too; the one azd placeholder is
    # harmless there (storage.bicep treats an unsubstituted `${...}` as no operator).
    placeholders = {n: v for n, v in given.items() if isinstance(v, str) and "${" in v}
    assert placeholders == {"operatorPrincipalId": "${AZURE_PRINCIPAL_ID}"}
    for name, value in given.items():
        assert name in params, f"{name} is not a parameter of main.bicep"
        decorators = {d["type"]: d.get("argument") for d in params[name]["decorators"]}
        if "allowed" in decorators:
            assert value in decorators["allowed"], name
        if "min_value" in decorators:
            assert value >= decorators["min_value"], name
        if "max_value" in decorators:
            assert value <= decorators["max_value"], name
    assert given["alwaysReadyInstanceCount"] == 0
    assert given["instanceMemoryMB"] == 2048


def test_azure_yaml_deploys_the_function_app() -> None:
    text = (INFRA.parent / "azure.yaml").read_text(encoding="utf-8")
    lines = [
        line.rstrip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert "services:" in lines
    block = lines[lines.index("services:") + 1 :]
    assert block[0] == "  api:"
    service = {}
    for line in block[1:]:
        if not line.startswith("    "):
            break
        key, _, value = line.strip().partition(":")
        service[key] = value.strip()
    assert service == {"project": ".", "language": "python", "host": "function"}
    tag = one("Microsoft.Web/sites").config["tags"]["function"]["parameters"]["arg_2"]
    assert tag == {"'azd-service-name'": "api"}
