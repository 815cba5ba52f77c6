"""shared.service.body: a request body read as a JSON object, or a SCIM error that says what
to send instead (size, media type, encoding, syntax, duplicate or case-variant keys, numbers
JSON or a double cannot hold, unpaired surrogates). Whatever the bytes, nothing but a
ScimError comes out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.scim.errors import ScimError
from shared.service.body import json_body
from shared.service.messages import ScimRequest

LIMIT = 4096


def read(body: bytes, content_type: str | None = "application/scim+json",
         limit: int = LIMIT) -> dict[str, Any]:
    headers = {"content-type": content_type} if content_type is not None else {}
    return json_body(ScimRequest("POST", "t", "Users", headers=headers, body=body), limit)


def refused(body: bytes, content_type: str | None = "application/scim+json",
            limit: int = LIMIT) -> ScimError:
    with pytest.raises(ScimError) as caught:
        read(body, content_type, limit)
    return caught.value


@pytest.mark.parametrize("content_type", [
    "application/scim+json", "application/json", "application/json; charset=utf-8",
    "Application/SCIM+JSON", None, ""])
def test_a_json_object_is_read(content_type: str | None) -> None:
    assert read(b' {"userName": "ada", "n": 1.5, "tags": [null, true]} ',
                content_type) == {"userName": "ada", "n": 1.5, "tags": [None, True]}


def test_a_utf8_byte_order_mark_is_allowed() -> None:
    assert read(b'\xef\xbb\xbf{"a": "\xc3\xa9"}') == {"a": "\u00e9"}


def test_a_body_over_the_limit_is_413_naming_both_sizes() -> None:
    at_limit = b'{"a":"' + b"x" * (LIMIT - 8) + b'"}'
    assert len(at_limit) == LIMIT
    assert read(at_limit)["a"].startswith("x")
    err = refused(at_limit + b" ")
    assert err.status == 413
    assert f"{LIMIT + 1} bytes" in err.detail
    assert f"limit is {LIMIT}" in err.detail
    assert "maxPayloadSize" in err.detail


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml",
                                          "multipart/form-data; boundary=x"])
def test_another_media_type_is_415(content_type: str) -> None:
    err = refused(b'{"a": 1}', content_type)
    assert (err.status, err.scim_type) == (415, "invalidSyntax")
    assert "application/scim+json" in err.detail


@pytest.mark.parametrize(("body", "says"), [
    (b"", "empty"), (b"  \r\n\t", "empty"),
    (b'{"a": "\xff"}', "not valid UTF-8 (byte 7)"),
    (b'{"a": 1,}', "not valid JSON: Expecting property name enclosed in double quotes at "
                   "line 1 column 9"),
    (b'{"a":\n tru}', "line 2 column 2"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"n": ' + b"9" * 5000 + b"}", "too many digits"),
    (b'{"a": "\\ud800"}', "unpaired UTF-16 surrogate"),
    (b'{"a": {"b": ["\\udfff x"]}}', "unpaired UTF-16 surrogate"),
    (b'["a"]', "must be a JSON object, not list"),
    (b'"text"', "must be a JSON object, not str"),
    (b"null", "must be a JSON object, not NoneType"),
])
def test_unreadable_bodies_are_invalid_syntax_saying_why(body: bytes, says: str) -> None:
    err = refused(body, limit=len(body))
    assert (err.status, err.scim_type) == (400, "invalidSyntax")
    assert says in err.detail


def test_a_paired_surrogate_escape_is_text() -> None:
    assert read(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001F600"}


@pytest.mark.parametrize("body", [b'{"userName": "a", "userName": "b"}',
                                  b'{"x": [{"v": 1, "v": 1}]}'])
def test_a_key_sent_twice_is_invalid_syntax(body: bytes) -> None:
    err = refused(body)
    assert (err.status, err.scim_type) == (400, "invalidSyntax")
    assert "twice" in err.detail


@pytest.mark.parametrize("body", [b'{"userName": "a", "USERNAME": "b"}',
                                  b'{"emails": [{"value": "a", "Value": "b"}]}'])
def test_case_variant_keys_are_one_attribute_sent_twice(body: bytes) -> None:
    err = refused(body)
    assert (err.status, err.scim_type) == (400, "invalidSyntax")
    assert "case-insensitive" in err.detail


@pytest.mark.parametrize(("number", "says"), [
    ("NaN", "the number NaN"), ("Infinity", "the number Infinity"),
    ("-Infinity", "the number -Infinity"), ("1e400", "too large to hold"),
    ("-1.5e999", "too large to hold")])
def test_numbers_json_or_a_double_cannot_hold_are_invalid_value(number: str, says: str) -> None:
    err = refused(b'{"startIndex": %s}' % number.encode())
    assert (err.status, err.scim_type) == (400, "invalidValue")
    assert says in err.detail


# --------------------------------------------------------------------------------------------
# Any bytes
# --------------------------------------------------------------------------------------------


def _outcome(body: bytes, content_type: str | None) -> dict[str, Any] | ScimError:
    try:
        return read(body, content_type)
    except ScimError as err:  # anything else escapes and fails the test
        return err


def _check(body: bytes, content_type: str | None) -> None:
    got = _outcome(body, content_type)
    if isinstance(got, ScimError):
        assert got.status in (400, 413, 415)
        assert got.scim_type in (None, "invalidSyntax", "invalidValue")
        assert got.detail
        assert len(got.detail) <= 300
        got.detail.encode("utf-8")  # sendable: no lone surrogate quoted back
    else:
        assert isinstance(got, dict)
        json.dumps(got, ensure_ascii=False).encode("utf-8")  # storable and answerable


_content_types = st.none() | st.sampled_from(["application/scim+json", "text/plain", "json"])


@given(body=st.binary(max_size=LIMIT + 64), content_type=_content_types)
def test_arbitrary_bytes_give_an_object_or_a_scim_error(body: bytes,
                                                        content_type: str | None) -> None:
    _check(body, content_type)


# JSON values as json.dumps writes them (NaN and Infinity included), with keys that differ
# only in case and strings holding half of a surrogate pair (json.dumps escapes it).
_strings = st.text(max_size=10) | st.sampled_from(["\ud800", "a\udfff", "\U0001F600"])
_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | _strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["a", "A", "userName", "USERNAME", "\ud800"]) | _strings, inner,
        max_size=4),
    max_leaves=12)
_fragments = st.lists(st.sampled_from(['{"a":', '"\\ud800"', "[", "]", "{", "}", ",",
                                       "1e400", "NaN", '"x"', '"A":', '"a":', "9" * 30, " "]),
                      max_size=20).map("".join)


@given(text=_fragments | _values.map(json.dumps))
def test_json_like_text_gives_an_object_or_a_scim_error(text: str) -> None:
    _check(text.encode("utf-8", "surrogatepass"), "application/scim+json")
