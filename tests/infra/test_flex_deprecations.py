"""No Bicep file sets a site property or app setting that Flex Consumption does not support.

ARM rejects some of them outright on a Flex Consumption site (for example "site configuration
properties (Site.SiteConfig.FtpsState, ...) for Flex Consumption sites is invalid"); the others are
ignored or overwritten. The list is Microsoft's, from the "Deprecated properties and settings"
section of "Azure Functions Flex Consumption plan hosting":
    https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#deprecated-properties-and-settings
which now points to the maintained table:
    https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bicepmodel import INFRA, PARAMETERS_FILE, bicep_files, parameters_file, parse

# Site properties, as Microsoft lists them (path as written there -> reason given there).
DEPRECATED_PROPERTIES = {
    "properties.ftpsState": "FTPS not supported",
    "properties.use32BitWorkerProcess": "32-bit not supported",
    "properties.isReserved": "Not valid",
    "properties.IsXenon": "Not valid",
    "properties.windowsFxVersion": "Not valid",
    "properties.alwaysOn": "Not valid",
    "properties.siteConfig.preWarmedInstanceCount": "Renamed (always-ready instances)",
    "properties.siteConfig.functionAppScaleLimit": "Renamed as maximumInstanceCount",
    "properties.containerSize": "Renamed as instanceMemoryMB",
    "properties.javaVersion": "Replaced by version in properties.functionAppConfig.runtime",
    "properties.powerShellVersion": "Replaced by version in properties.functionAppConfig.runtime",
    "properties.netFrameworkVersion": "Replaced by version in properties.functionAppConfig.runtime",
    "properties.LinuxFxVersion": "Replaced by properties.functionAppConfig.runtime",
}

# App settings, as Microsoft lists them.
DEPRECATED_SETTINGS = {
    "WEBSITE_NODE_DEFAULT_VERSION": "Replaced by version in properties.functionAppConfig.runtime",
    "FUNCTIONS_EXTENSION_VERSION": "Set by the backend",
    "FUNCTIONS_WORKER_RUNTIME": "Replaced by name in properties.functionAppConfig.runtime",
    "FUNCTIONS_WORKER_RUNTIME_VERSION": "Replaced by version in functionAppConfig.runtime",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY": "Replaced by scaleAndConcurrency's trigger section",
    "FUNCTIONS_WORKER_PROCESS_COUNT": "Setting not valid",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED": "Setting not valid",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "Replaced by functionAppConfig's deployment",
    "WEBSITE_CONTENTSHARE": "Replaced by functionAppConfig's deployment section",
    # Named on later revisions of the maintained table (second link above).
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT": "Replaced by maximumInstanceCount",
    "WEBSITE_RUN_FROM_PACKAGE": "Not used for deployments in Flex Consumption",
    "SCM_DO_BUILD_DURING_DEPLOYMENT": "Replaced by the remote build of the Flex deployment",
    "ENABLE_ORYX_BUILD": "Replaced by the remote build of the Flex deployment",
}

# A property is forbidden wherever its last segment appears as a key: the same property can be
# written at properties.X or properties.siteConfig.X, and Bicep property names are
# case-insensitive.
FORBIDDEN_NAMES = {p.rsplit(".", 1)[-1].lower() for p in DEPRECATED_PROPERTIES} | {
    s.lower() for s in DEPRECATED_SETTINGS
}
_WORD = re.compile(r"[A-Za-z0-9_]+")


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key).strip("'")
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


def violations(path: Path) -> list[str]:
    """Every forbidden name in one Bicep file: as a key of any Microsoft.Web resource's body
    (parsed), and as a word anywhere in the text (parameters, variables and objects that end up
    in union() included)."""
    found = []
    for symbol, res in parse(path).get("resources", {}).items():
        if not res["type"].lower().startswith("microsoft.web/"):
            continue
        for key in _keys(res["config"]):
            if key.lower() in FORBIDDEN_NAMES:
                found.append(f"{symbol}: {key}")
    text = path.read_text(encoding="utf-8")
    for lineno, line in enumerate(text.splitlines(), 1):
        for word in _WORD.findall(line):
            if word.lower() in FORBIDDEN_NAMES:
                found.append(f"line {lineno}: {word}")
    return found


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_no_flex_deprecated_property_or_setting(path: Path) -> None:
    assert not violations(path), f"{path.name} uses what Flex Consumption does not support"


def test_the_check_sees_each_entry(tmp_path: Path) -> None:
    """Each listed name is caught both as a nested site property and as an app setting."""
    spelled = [p.rsplit(".", 1)[-1] for p in DEPRECATED_PROPERTIES] + list(DEPRECATED_SETTINGS)
    for name in sorted(FORBIDDEN_NAMES):
        original = next(n for n in spelled if n.lower() == name)
        bicep = tmp_path / "probe.bicep"
        bicep.write_text(
            "resource app 'Microsoft.Web/sites@2024-04-01' = {\n"
            "  name: 'x'\n"
            "  properties: {\n"
            "    siteConfig: {\n"
            f"      {original}: 'x'\n"
            "    }\n"
            "  }\n"
            "}\n",
            encoding="utf-8",
        )
        assert any(v.startswith("app: ") for v in violations(bicep)), original


def test_ftp_is_gone_from_infra() -> None:
    """The FTP property is nowhere in infra/, in any spelling, not even in a comment."""
    for path in sorted(INFRA.rglob("*")):
        if path.is_file():
            assert "ftpsstate" not in path.read_text(encoding="utf-8").lower(), path


def test_parameters_file_adds_no_deprecated_setting() -> None:
    extra = parameters_file().get("extraAppSettings", {})
    assert not {k.lower() for k in extra} & FORBIDDEN_NAMES
    raw = json.loads(PARAMETERS_FILE.read_text(encoding="utf-8"))
    assert not {w.lower() for w in _WORD.findall(json.dumps(raw))} & FORBIDDEN_NAMES
