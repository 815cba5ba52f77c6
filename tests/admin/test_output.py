"""Admin command output: one JSON object with --json, `key: value` lines otherwise."""

from __future__ import annotations

import json

import pytest

from shared.admin.output import show


def test_json_is_one_object_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    show({"tenant_id": "t1", "token": "scim_x", "n": 2}, as_json=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {"tenant_id": "t1", "token": "scim_x", "n": 2}


def test_people_get_one_line_per_field_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    show({"tenant_id": "t1", "tenant_url": "https://x/scim/v2/t1"}, as_json=False)
    assert capsys.readouterr().out == "tenant_id: t1\ntenant_url: https://x/scim/v2/t1\n"
