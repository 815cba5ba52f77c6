"""Every Bicep file in infra/ parses with pycep-parser, and nothing is silently dropped.

There is no Bicep CLI here; pycep-parser is a grammar, so this is a syntax gate (no type checks).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lark.exceptions import LarkError

from tests.support.bicepmodel import INFRA, MAIN, bicep_files, declared_symbols, parse

FILES = bicep_files()


def test_templates_are_found() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in FILES}
    assert {
        "main.bicep",
        "modules/storage.bicep",
        "modules/monitoring.bicep",
        "modules/function.bicep",
        "modules/alerts.bicep",
        "modules/workbook.bicep",
    } <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_parses(path: Path) -> None:
    parsed = parse(path)  # raises on a syntax error, failing the test
    assert parsed["resources"] or parsed.get("modules", {}), f"{path.name} declares nothing"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_no_declaration_is_dropped(path: Path) -> None:
    """pycep keeps only the last of several nested child resources; every `resource` and
    `module` keyword in the text must therefore appear in the parsed result."""
    parsed = parse(path)
    resources, modules = declared_symbols(path)
    assert sorted(parsed["resources"]) == sorted(resources)
    assert sorted(parsed.get("modules", {})) == sorted(modules)


def test_modules_referenced_by_main_exist() -> None:
    for symbol, module in parse(MAIN)["modules"].items():
        assert module["type"] == "local", f"{symbol}: registry modules are invisible to checkov"
        assert (MAIN.parent / module["detail"]["path"]).is_file(), symbol


def test_the_parse_gate_rejects_broken_bicep(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bicep"
    broken.write_text(
        "resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'x'\n",
        encoding="utf-8",
    )  # missing closing brace
    with pytest.raises(LarkError):
        parse(broken)


def test_the_drop_check_catches_nested_children(tmp_path: Path) -> None:
    nested = tmp_path / "nested.bicep"
    nested.write_text(
        "resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n"
        "  name: 'x'\n"
        "  resource blobs 'blobServices' = {\n    name: 'default'\n  }\n"
        "  resource tables 'tableServices' = {\n    name: 'default'\n  }\n"
        "}\n",
        encoding="utf-8",
    )
    parsed = parse(nested)
    resources, _ = declared_symbols(nested)
    assert len(resources) == 3
    assert len(parsed["resources"]) < 3  # the parser bug the check above guards against
