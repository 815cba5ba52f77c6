"""Admin command output: one JSON document with --json, the human text (or `key: value` lines)
otherwise."""

from __future__ import annotations

import json

import pytest

from shared.admin.output import fields, print_json, progress, report, show, table, warn


def test_json_is_one_object_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    show({"tenant_id": "t1", "token": "scim_x", "n": 2}, as_json=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {"tenant_id": "t1", "token": "scim_x", "n": 2}


def test_people_get_one_line_per_field_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    show({"tenant_id": "t1", "tenant_url": "https://x/scim/v2/t1"}, as_json=False)
    assert capsys.readouterr().out == "tenant_id: t1\ntenant_url: https://x/scim/v2/t1\n"


def test_report_prints_the_human_text_and_returns_the_exit_status(
        capsys: pytest.CaptureFixture[str]) -> None:
    done = {"tenant_id": "t1", "complete": False}
    code = report(done, False, lambda d: f"tenant {d['tenant_id']}\nnot finished",
                  ok=done["complete"])
    assert (code, capsys.readouterr().out) == (1, "tenant t1\nnot finished\n")
    assert report(done, False, lambda d: "finished") == 0


def test_report_with_json_prints_the_result_not_the_text(
        capsys: pytest.CaptureFixture[str]) -> None:
    def human(rows: list[str]) -> str:
        raise AssertionError("the human text is not made for --json")
    assert report(["a", "ü"], True, human, ok=False) == 1
    assert capsys.readouterr().out == '["a", "ü"]\n'


def test_an_empty_human_text_prints_no_blank_line(capsys: pytest.CaptureFixture[str]) -> None:
    report([], False, lambda rows: "\n".join(rows))
    assert capsys.readouterr().out == ""


def test_fields_are_key_value_lines_in_order() -> None:
    assert fields({"url": "https://h", "types": "*", "secret": None}) == (
        "url: https://h\ntypes: *\nsecret: None")
    assert fields({}) == ""


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
