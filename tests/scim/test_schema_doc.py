"""shared.scim.schema_doc: RFC 7643 §7 schema documents read into `Schema` definitions, strictly
(every refusal names the key and what is allowed), and the resource type an extension URN names."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.scim.schema import (
    BOOLEAN,
    COMPLEX,
    DEFAULT,
    IMMUTABLE,
    INTEGER,
    READ_WRITE,
    REQUEST,
    STRING,
    Attribute,
    Schema,
)
from shared.scim.schema_doc import SchemaError, load_schema, resource_type_of
from shared.scim.schemas import (
    ALL_SCHEMAS,
    EIGHT_BY_EIGHT_URN,
    ENTERPRISE_URN,
    GROUP_URN,
    USER_URN,
)

CUSTOM_URN = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"


def document(**attribute: Any) -> dict[str, Any]:
    """A one-attribute schema document; keyword arguments become the attribute's keys."""
    return {"id": CUSTOM_URN, "attributes": [{"name": "CustomAttribute", **attribute}]}


def refusal(doc: Any) -> str:
    with pytest.raises(SchemaError) as caught:
        load_schema(doc)
    return str(caught.value)


# --------------------------------------------------------------------------------------------
# Fidelity: what /Schemas serves reads back as the same definition
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("built_in", ALL_SCHEMAS, ids=lambda s: s.name)
def test_every_built_in_schema_round_trips_under_a_urn_of_its_own(built_in: Schema) -> None:
    served = built_in.to_scim("https://scim.example.com")
    served["id"] = f"urn:example:copy:2.0:{built_in.name}"
    loaded = load_schema(served)
    assert loaded.id == served["id"]
    assert (loaded.name, loaded.description) == (built_in.name, built_in.description)
    # id and meta are never served (advertised=False); everything else must come back equal,
    # characteristic by characteristic (dataclass equality compares them all).
    assert loaded.attributes == tuple(a for a in built_in.attributes if a.advertised)
    assert loaded.to_scim("https://scim.example.com")["attributes"] == served["attributes"]


def test_entra_custom_attribute_document() -> None:
    loaded = load_schema({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": CUSTOM_URN,
        "name": "Custom",
        "description": "Attributes Entra sends as CustomExtensionName",
        "attributes": [{"name": "CustomAttribute", "type": "string", "multiValued": False,
                        "required": False, "caseExact": False, "mutability": "readWrite",
                        "returned": "default", "uniqueness": "none"}],
    })
    assert loaded == Schema(CUSTOM_URN, "Custom", "Attributes Entra sends as CustomExtensionName",
                            (Attribute("CustomAttribute"),))


def test_left_out_characteristics_take_the_rfc7643_defaults() -> None:
    [attr] = load_schema({"id": CUSTOM_URN, "attributes": [{"name": "badge"}]}).attributes
    assert attr == Attribute("badge")
    assert (attr.type, attr.mutability, attr.returned, attr.uniqueness) == (
        STRING, READ_WRITE, DEFAULT, "none")
    assert (attr.multi_valued, attr.required, attr.case_exact) == (False, False, False)


def test_the_name_defaults_to_the_segment_entra_leaves_to_the_application() -> None:
    assert load_schema(document()).name == "CustomExtensionName"
    assert load_schema({"id": "urn:example:badges", "attributes": [{"name": "x"}]}).name == (
        "badges")


def test_keys_and_characteristic_values_match_in_any_case_and_are_stored_canonically() -> None:
    [attr] = load_schema({"ID": CUSTOM_URN, "Attributes": [{
        "NAME": "level", "Type": "INTEGER", "multivalued": True, "MUTABILITY": "IMMUTABLE",
        "returned": "Request", "caseexact": True}]}).attributes
    assert (attr.type, attr.multi_valued, attr.mutability, attr.returned, attr.case_exact) == (
        INTEGER, True, IMMUTABLE, REQUEST, True)


def test_one_level_of_sub_attributes() -> None:
    [attr] = load_schema(document(type="complex", multiValued=True, subAttributes=[
        {"name": "value"}, {"name": "primary", "type": "boolean"}])).attributes
    assert attr.type == COMPLEX
    assert [(s.name, s.type) for s in attr.sub_attributes] == [
        ("value", STRING), ("primary", BOOLEAN)]
    assert attr.sub("PRIMARY") is attr.sub_attributes[1]


def test_the_document_is_not_modified() -> None:
    doc = document(type="complex", subAttributes=[{"name": "value"}])
    before = copy.deepcopy(doc)
    load_schema(doc)
    assert doc == before


# --------------------------------------------------------------------------------------------
# Refusals: each names the key at fault and what is allowed
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("doc", "words"), [
    ([], ["JSON object", "an array"]),
    ({"attributes": [{"name": "x"}]}, ["no 'id'", "CustomExtensionName"]),
    ({"id": 7, "attributes": [{"name": "x"}]}, ["'id'", "7"]),
    ({"id": "not-a-urn", "attributes": [{"name": "x"}]}, ["'id'", "not-a-urn", "urn:"]),
    ({"id": "urn:example:has space", "attributes": [{"name": "x"}]}, ["'id'"]),
    ({"id": CUSTOM_URN}, ["no 'attributes'", CUSTOM_URN]),
    ({"id": CUSTOM_URN, "attributes": []}, ["'attributes'", "non-empty list"]),
    ({"id": CUSTOM_URN, "attributes": {"name": "x"}}, ["'attributes'", "an object"]),
    ({"id": CUSTOM_URN, "attributes": ["x"]}, ["attribute", "JSON object", "a string"]),
    ({"id": CUSTOM_URN, "attributes": [{"type": "string"}]}, ["'name' is required", "None"]),
    ({"id": CUSTOM_URN, "attributes": [{"name": "1st"}]}, ["'1st'", "starts with a letter"]),
    ({"id": CUSTOM_URN, "attributes": [{"name": "a.b"}]}, ["'a.b'"]),
    ({"id": CUSTOM_URN, "attribute": [{"name": "x"}]}, ["Unknown key 'attribute'",
                                                        "allowed keys", "attributes"]),
    ({"id": CUSTOM_URN, "name": 5, "attributes": [{"name": "x"}]}, ["'name'", "a string"]),
    ({"id": CUSTOM_URN, "schemas": ["urn:other"], "attributes": [{"name": "x"}]},
     ["'schemas'", "urn:ietf:params:scim:schemas:core:2.0:Schema"]),
    ({"id": CUSTOM_URN, "attributes": [{"name": "x"}, {"name": "X"}]},
     ["'X' appears twice", "case-insensitive"]),
])
def test_malformed_documents_are_refused_naming_the_key(doc: Any, words: list[str]) -> None:
    message = refusal(doc)
    for word in words:
        assert word in message


@pytest.mark.parametrize(("attribute", "words"), [
    ({"type": "text"}, ["'type'", "'text'", "string, boolean, decimal, integer, dateTime, "
                        "reference, complex, binary"]),
    ({"type": 1}, ["'type'", "allowed values"]),
    ({"type": "any"}, ["'type'", "'any'"]),  # the engine's own type for undeclared values
    ({"mutability": "writeable"}, ["'mutability'", "'writeable'",
                                   "readOnly, readWrite, immutable, writeOnly"]),
    ({"returned": "sometimes"}, ["'returned'", "always, never, default, request"]),
    ({"uniqueness": "unique"}, ["'uniqueness'", "'unique'", "none, server"]),
    ({"uniqueness": "global"}, ["'uniqueness'", "'global' is not offered"]),
    ({"multiValued": "false"}, ["'multiValued'", "true or false", "'false'"]),
    ({"required": 1}, ["'required'", "true or false"]),
    ({"caseExact": None}, ["'caseExact'", "true or false"]),
    ({"canonicalValues": "a"}, ["'canonicalValues'", "list of strings"]),
    ({"referenceTypes": [1]}, ["'referenceTypes'", "list of strings"]),
    ({"description": ["x"]}, ["'description'", "a string"]),
    ({"multivalue": True}, ["Unknown key 'multivalue'", "multiValued"]),
    ({"subAttributes": [{"name": "v"}]}, ["'subAttributes'", "only type 'complex'"]),
    ({"type": "complex"}, ["complex", "needs 'subAttributes'"]),
    ({"type": "complex", "subAttributes": []}, ["needs 'subAttributes'"]),
    ({"type": "complex", "subAttributes": [{"name": "inner", "type": "complex",
                                            "subAttributes": [{"name": "deep"}]}]},
     ["'inner'", "one level of subAttributes"]),
    ({"type": "complex", "subAttributes": [{"name": "v", "bogus": 1}]},
     ["Unknown key 'bogus'", "'v'", "'CustomAttribute'"]),
    ({"type": "complex", "subAttributes": [{"name": "v"}, {"name": "V"}]},
     ["'V' appears twice", "subAttributes"]),
    ({"uniqueness": "server", "multiValued": True}, ["'uniqueness'", "single-valued"]),
    ({"uniqueness": "server", "type": "complex", "subAttributes": [{"name": "v"}]},
     ["'uniqueness'", "simple"]),
    ({"type": "complex", "subAttributes": [{"name": "v", "uniqueness": "server"}]},
     ["'uniqueness'", "top-level"]),
])
def test_bad_characteristics_are_refused_naming_the_key_and_the_choices(
    attribute: dict[str, Any], words: list[str]
) -> None:
    message = refusal(document(**attribute))
    assert "CustomAttribute" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("urn", [
    USER_URN, GROUP_URN, ENTERPRISE_URN, EIGHT_BY_EIGHT_URN, ENTERPRISE_URN.upper(),
    USER_URN.lower(),
    # Inside or around a built-in URN: split_urn (longest known URN wins) would misroute paths.
    f"{USER_URN}:custom", f"{ENTERPRISE_URN}:more",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0",
])
def test_built_in_urns_cannot_be_redefined(urn: str) -> None:
    message = refusal({"id": urn, "attributes": [{"name": "x"}]})
    assert "'id'" in message
    assert "clashes with the built-in schema" in message
    assert urn in message


def test_a_urn_merely_sharing_a_prefix_with_a_built_in_one_is_accepted() -> None:
    urn = ENTERPRISE_URN + "Plus"  # not a ':'-separated continuation
    assert load_schema({"id": urn, "attributes": [{"name": "x"}]}).id == urn


# --------------------------------------------------------------------------------------------
# resource_type_of
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("urn", "expected"), [
    (CUSTOM_URN, "User"),
    ("urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:Group", "Group"),
    ("urn:example:ext:1.1:user", "User"),
    (ENTERPRISE_URN, "User"),
    ("urn:example:ext:2.0:Device", None),
    ("urn:example:ext:2.0:Users", None),
    ("urn:example:User:2.0", None),
])
def test_resource_type_of_reads_the_last_segment(urn: str, expected: str | None) -> None:
    assert resource_type_of(urn) == expected
