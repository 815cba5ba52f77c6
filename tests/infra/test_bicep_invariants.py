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

from .bicepmodel import (
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
    assert props["siteConfig"]["ftpsState"] == "Disabled"
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
    assert 40 <= value(scale["maximumInstanceCount"]) <= 1000
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


# --- app settings --------------------------------------------------------------------------------

EXPECTED_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AZURE_CLIENT_ID",
    "SCIM_STORAGE_TABLE_ENDPOINT",
    "SCIM_PUBLIC_BASE_URL",
    "SCIM_TABLE_PREFIX",
    "RECONCILE_SCHEDULE",
}


@pytest.fixture(scope="module")
def app_settings() -> dict[str, Any]:
    config = one("Microsoft.Web/sites/config")
    assert config.config["parent"] == "functionApp"
    assert config.config["name"] == "appsettings"
    inline = one("Microsoft.Web/sites").properties["siteConfig"]
    assert "appSettings" not in inline, "settings belong in one place (the config resource)"
    return config.properties


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
    for ra in all_resources("Microsoft.Authorization/roleAssignments"):
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
        METRICS_PUBLISHER: ("Microsoft.Insights/components", "monitoring.bicep"),
    }
    identity = one("Microsoft.ManagedIdentity/userAssignedIdentities")
    for module in ("storage", "monitoring"):
        assert module_args(module)["principalId"] == accessor(
            identity.symbol, "properties", "principalId"
        )


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
    raw = (INFRA / "main.parameters.json").read_text(encoding="utf-8")
    assert "${" not in raw, "literal values only, so `az deployment group create -p` works too"
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
