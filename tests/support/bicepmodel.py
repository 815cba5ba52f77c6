"""Helpers over pycep-parser's JSON for the Bicep templates in infra/.

pycep gives a dict with `parameters`, `variables`, `resources`, `modules` and `outputs`. It is a
grammar, not a compiler: identifiers and string literals both come out as Python strings, so
`resolve()` treats a string that names a parameter or variable as a reference to it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
PARAMETERS_FILE = INFRA / "main.parameters.json"

_RESOURCE_DECL = re.compile(r"^\s*resource\s+(\w+)\s+'", re.MULTILINE)
_MODULE_DECL = re.compile(r"^\s*module\s+(\w+)\s+'", re.MULTILINE)


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def parse(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


@cache
def template(path: Path) -> dict[str, Any]:
    """Parsed template, cached per path (parsing is deterministic)."""
    return parse(path)


def declared_symbols(path: Path) -> tuple[list[str], list[str]]:
    """Symbolic names of `resource` and `module` declarations found in the raw text."""
    text = path.read_text(encoding="utf-8")
    return _RESOURCE_DECL.findall(text), _MODULE_DECL.findall(text)


@dataclass(frozen=True)
class Resource:
    file: Path
    symbol: str
    type: str
    api_version: str
    existing: bool
    config: dict[str, Any]  # the body; for a loop, the per-item body; for `if (...)`, the body
    loop: dict[str, Any] | None
    condition: Any = None  # the expression of `resource x '...' = if (condition) {...}`

    @property
    def properties(self) -> dict[str, Any]:
        return self.config.get("properties") or {}


def resources(path: Path) -> list[Resource]:
    out = []
    for symbol, res in template(path).get("resources", {}).items():
        config = res["config"]
        loop = None
        condition = None
        if "loop_type" in config:
            loop = config["loop_type"]
            config = config["config"]
        if "condition" in config and "config" in config:
            condition = config["condition"]
            config = config["config"]
        out.append(
            Resource(
                path, symbol, res["type"], res["api_version"], res["existing"], config, loop,
                condition,
            )
        )
    return out


def all_resources(of_type: str | None = None, *, include_existing: bool = False) -> list[Resource]:
    found = [r for p in bicep_files() for r in resources(p)]
    return [
        r
        for r in found
        if (of_type is None or r.type.lower() == of_type.lower())
        and (include_existing or not r.existing)
    ]


def one(of_type: str) -> Resource:
    found = all_resources(of_type)
    assert len(found) == 1, f"expected exactly one {of_type}, found {[r.symbol for r in found]}"
    return found[0]


def resolve(path: Path, value: Any, *, module_args: dict[str, Any] | None = None) -> Any:
    """Follow parameter and variable references inside one file.

    A parameter resolves to the argument passed by the caller (`module_args`, already resolved)
    when there is one, else to its default. Anything else is returned as is.
    """
    tpl = template(path)
    seen: set[str] = set()
    while isinstance(value, str) and value not in seen:
        seen.add(value)
        params, variables = tpl.get("parameters", {}), tpl.get("variables", {})
        if value in params:
            if module_args is not None and value in module_args:
                return module_args[value]
            return params[value].get("default")
        if value in variables:
            value = variables[value]["value"]
            continue
        break
    return value


def parameters_file() -> dict[str, Any]:
    data = json.loads(PARAMETERS_FILE.read_text(encoding="utf-8"))
    return {name: spec["value"] for name, spec in data["parameters"].items()}


def main_value(name: str) -> Any:
    """Effective value of a main.bicep parameter: main.parameters.json, else the default."""
    given = parameters_file()
    if name in given:
        return given[name]
    return template(MAIN)["parameters"][name].get("default")


def module_path(symbol: str) -> Path:
    module = template(MAIN)["modules"][symbol]
    return (MAIN.parent / module["detail"]["path"]).resolve()


def module_args(symbol: str) -> dict[str, Any]:
    """Arguments main.bicep passes to a module, as written (unresolved)."""
    return dict(template(MAIN)["modules"][symbol]["config"]["params"])


def resolved_module_args(symbol: str) -> dict[str, Any]:
    """Module arguments with main.bicep parameters replaced by their effective values."""
    params = template(MAIN)["parameters"]
    out: dict[str, Any] = {}
    for key, value in module_args(symbol).items():
        if isinstance(value, str) and value in params:
            out[key] = main_value(value)
        else:
            out[key] = resolve(MAIN, value)
    return out


def effective(symbol: str, path: Path, value: Any) -> Any:
    """Value of an expression in module `symbol` (file `path`) for the default deployment."""
    return resolve(path, value, module_args=resolved_module_args(symbol))


def accessor(*names: str) -> dict[str, Any]:
    """pycep's shape of `a.b.c` (property accessors nest to the right)."""
    if len(names) == 2:
        return {
            "operator": {
                "type": "property_accessor",
                "operands": {"operand_1": names[0], "operand_2": names[1]},
            }
        }
    return {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": names[0], "operand_2": accessor(*names[1:])},
        }
    }


def role_definition_guid(path: Path, role_definition_id: Any) -> str | None:
    """The GUID in `subscriptionResourceId('Microsoft.Authorization/roleDefinitions', X)`."""
    fn = role_definition_id.get("function", {}) if isinstance(role_definition_id, dict) else {}
    if fn.get("type") != "subscription_resource_id":
        return None
    params = fn["parameters"]
    if params.get("resource_type") != "Microsoft.Authorization/roleDefinitions":
        return None
    return resolve(path, params.get("resource_name_1"))
