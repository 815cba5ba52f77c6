"""Admin command output: one JSON object with --json, `key: value` lines otherwise."""

from __future__ import annotations

import json

import pytest

from shared.admin.output import print_json, progress, show, table, warn


def test_json_is_one_object_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    show({"tenant_id": "t1", "token": "scim_x", "n": 2}, as_json=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {"tenant_id": "t1", "token": "scim_x", "n": 2}


def test_people_get_one_line_per_field_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    show({"tenant_id": "t1", "tenant_url": "https://x/scim/v2/t1"}, as_json=False)
    assert capsys.readouterr().out == "tenant_id: t1\ntenant_url: https://x/scim/v2/t1\n"


def test_tables_align_columns_without_trailing_blanks() -> None:
    text = table(["id", "name"], [["t1", "Contoso"], ["tenant-two", ""]])
    assert text.splitlines() == ["id          name", "t1          Contoso", "tenant-two"]


def test_progress_and_warnings_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    progress("tenant t1 done")
    warn("tenant t1 is disabled")
    print_json(["ü"])
    captured = capsys.readouterr()
    assert captured.err == "tenant t1 done\nwarning: tenant t1 is disabled\n"
    assert captured.out == '["ü"]\n'
