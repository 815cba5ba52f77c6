"""Property-based tests of PATCH (hypothesis): algebraic laws of add/remove/replace, input
immutability, robustness against arbitrary bodies, and member changes against a set model."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.scim.dialect import PATCH_OP_URN, normalize_patch
from shared.scim.errors import ScimError
from shared.scim.member_changes import MemberChanges
from shared.scim.patch import apply_patch
from shared.scim.resource import check_update, normalize
from shared.scim.schemas import EIGHT_BY_EIGHT_URN, ENTERPRISE_URN, GROUP, GROUP_URN, USER, USER_URN

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# -- documents -----------------------------------------------------------------------------

words = st.text(alphabet="abcXYZ01 @.-", min_size=1, max_size=8).filter(lambda s: s.strip())
types = st.sampled_from(["work", "home", "other", "mobile", "Work"])


def elements(*subs: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        **{s: words for s in subs}, "type": types, "primary": st.booleans()})


@st.composite
def user_docs(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {"schemas": [USER_URN], "id": "u-1", "userName": draw(words),
                           "meta": {"resourceType": "User", "version": 'W/"1"'}}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "displayName": words,
        "title": words,
        "active": st.booleans(),
        "name": st.fixed_dictionaries({}, optional={"givenName": words, "familyName": words,
                                                    "formatted": words}).filter(bool),
        "emails": st.lists(elements("value", "display"), max_size=3),
        "phoneNumbers": st.lists(elements("value"), max_size=3),
        "addresses": st.lists(elements("streetAddress", "country"), max_size=2),
        "roles": st.lists(elements("value", "display"), max_size=2),
        ENTERPRISE_URN: st.fixed_dictionaries({}, optional={
            "department": words, "employeeNumber": words,
            "manager": st.fixed_dictionaries({"value": words})}).filter(bool),
        EIGHT_BY_EIGHT_URN: st.fixed_dictionaries({"site": words}),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            doc[key] = draw(strategy)
    return doc


def body(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP_URN], "Operations": list(ops)}


def run(doc: dict[str, Any], raw: dict[str, Any], rtype: Any = USER) -> dict[str, Any]:
    return apply_patch(doc, normalize_patch(raw, rtype), rtype).doc


SIMPLE_PATHS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("displayName", lambda d: d.get("displayName")),
    ("title", lambda d: d.get("title")),
    ("nickName", lambda d: d.get("nickName")),
    ("externalId", lambda d: d.get("externalId")),
    ("name.givenName", lambda d: d.get("name", {}).get("givenName")),
    ("NAME.familyname", lambda d: d.get("name", {}).get("familyName")),
    (f"{ENTERPRISE_URN}:department", lambda d: d.get(ENTERPRISE_URN, {}).get("department")),
    (f"{ENTERPRISE_URN}:costCenter", lambda d: d.get(ENTERPRISE_URN, {}).get("costCenter")),
    ("manager", lambda d: d.get(ENTERPRISE_URN, {}).get("manager")),
    (f"{EIGHT_BY_EIGHT_URN}:site", lambda d: d.get(EIGHT_BY_EIGHT_URN, {}).get("site")),
]


# -- add then remove -----------------------------------------------------------------------


@FAST
@given(doc=user_docs(), which=st.integers(0, len(SIMPLE_PATHS) - 1), value=words,
       add_op=st.sampled_from(["add", "Add", "replace", "Replace"]))
def test_add_then_remove_leaves_the_attribute_absent(
    doc: dict[str, Any], which: int, value: str, add_op: str
) -> None:
    path, read = SIMPLE_PATHS[which]
    added = run(doc, body({"op": add_op, "path": path, "value": value}))
    assert read(added) in (value, {"value": value})
    removed = run(doc, body({"op": add_op, "path": path, "value": value},
                            {"op": "remove", "path": path}))
    assert read(removed) is None
    # Nothing else changed, and an emptied extension object is not left behind.
    assert {k: v for k, v in removed.items() if k not in ("name", ENTERPRISE_URN,
                                                           EIGHT_BY_EIGHT_URN)} == {
        k: v for k, v in doc.items()
        if k not in ("name", ENTERPRISE_URN, EIGHT_BY_EIGHT_URN, path)}
    for ext in (ENTERPRISE_URN, EIGHT_BY_EIGHT_URN):
        assert removed.get(ext, None) != {}


# -- replace is idempotent -----------------------------------------------------------------

maybe_blank = st.one_of(words, st.just(""), st.none())

replace_ops = st.one_of(
    st.builds(lambda p, v: {"op": "replace", "path": p, "value": v},
              st.sampled_from([p for p, _ in SIMPLE_PATHS]), maybe_blank),
    st.builds(lambda v: {"op": "Replace", "path": "active", "value": v},
              st.sampled_from([True, False, "True", "False", "false"])),
    st.builds(lambda p, v: {"op": "replace", "path": p, "value": v},
              st.sampled_from([
                  'emails[type eq "work"].value',
                  'emails[type eq "home"].display',
                  'emails[type eq "work"].primary',
                  'phoneNumbers[type eq "mobile"].value',
                  'addresses[type eq "work"].streetAddress',
                  'roles[primary eq "True"].value',
                  'emails[type eq "work" and primary eq true].value',
              ]), maybe_blank),
    st.builds(lambda v: {"op": "replace", "path": 'emails[type eq "work"]', "value": v},
              elements("value", "display").map(
                  lambda e: {k: v for k, v in e.items() if k != "type"})),
    st.builds(lambda v: {"op": "replace", "path": "emails", "value": v},
              st.lists(elements("value"), max_size=3)),
    st.builds(lambda v: {"op": "replace", "path": "name", "value": v},
              st.fixed_dictionaries({}, optional={"givenName": maybe_blank,
                                                  "middleName": maybe_blank})),
    st.builds(lambda v: {"op": "replace", "value": v},
              st.fixed_dictionaries({}, optional={
                  "displayName": maybe_blank, "name.familyName": maybe_blank,
                  f"{ENTERPRISE_URN}:employeeNumber": maybe_blank,
                  "manager": st.one_of(words, st.just({"value": ""}))})),
    st.builds(lambda v: {"op": "replace", "path": "roles", "value": v},
              st.lists(st.builds(lambda r: {"value": json.dumps({"value": r,
                                                                  "displayName": r})}, words),
                       max_size=2)),
)


def _multi_valued_target(op: dict[str, Any]) -> str:
    """Operations on one multi-valued attribute can interfere (clear `primary`, then set the
    value of the primary one: each replay adds an element), so a list holds at most one
    operation per multi-valued attribute; single-valued targets may repeat freely."""
    name = str(op.get("path") or "").split("[")[0].split(".")[0].lower()
    return name if name in ("emails", "phonenumbers", "addresses", "roles") else repr(op)


@FAST
@given(doc=user_docs(),
       ops=st.lists(replace_ops, min_size=1, max_size=5, unique_by=_multi_valued_target))
def test_replace_is_idempotent(doc: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    try:
        once = run(doc, body(*ops))
    except ScimError:
        return  # e.g. a filter that selects nothing creatable: nothing to compare
    assert run(once, body(*ops)) == once


# -- never mutates, never raises anything but ScimError -------------------------------------

SUB_NAMES = ["value", "Value", "type", "primary", "display", "givenName", "$ref",
             "streetAddress", "department", "manager", "members"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False,
                                                                 allow_infinity=False)
    | st.sampled_from(["", "True", "false", "x", "u1", "{\"value\":\"25\"}", "{bad"]) | words,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(SUB_NAMES) | words, inner, max_size=3),
    max_leaves=8,
)
PATHS = [p for p, _ in SIMPLE_PATHS] + [
    "active", "emails", "emails.value", "emails[type eq \"work\"]",
    "emails[type eq \"work\"].value", "emails[value co \"a\"].display",
    "phoneNumbers[type eq \"mobile\"].value", "roles", "roles[primary eq \"True\"].value",
    "addresses[type eq \"work\"].streetAddress", "name", "manager.value", "manager.displayName",
    ENTERPRISE_URN, EIGHT_BY_EIGHT_URN, "id", "meta.created", "groups", "schemas", "members",
    "members[value eq \"u1\"]", "nosuch", "emails[", "emails[type eq]", "name[givenName eq 1]",
    "urn:x:y:z", "", "  ", "a.b.c", "emails[type eq \"work\"].value.x",
]
# Mostly well-formed operations (so that most examples reach apply_patch), some garbage.
raw_ops = st.fixed_dictionaries(
    {"op": st.one_of(*[st.sampled_from(["add", "Add", "remove", "Remove", "replace",
                                        "REPLACE"])] * 6, st.sampled_from(["del", 1, None]))},
    optional={"path": st.one_of(st.sampled_from(PATHS), st.sampled_from(PATHS),
                                st.sampled_from(PATHS), st.text(max_size=12), st.none(),
                                st.integers()),
              "value": st.one_of(words, words, st.booleans(), st.none(), json_values,
                                 st.lists(elements("value", "display"), max_size=2))},
)
well_formed = st.builds(lambda ops: body(*ops), st.lists(raw_ops, min_size=1, max_size=4))
raw_bodies = st.one_of(
    well_formed, well_formed, well_formed,
    st.fixed_dictionaries({}, optional={"schemas": json_values, "Operations": json_values,
                                        "operations": st.lists(raw_ops, max_size=2)}),
    json_values,
)


def _check_pipeline(doc: dict[str, Any], raw: Any, rtype: Any) -> bool:
    """normalize -> apply -> check_update raises nothing but a 400 ScimError, and mutates
    neither the document nor the request body. True if the PATCH was accepted."""
    before = copy.deepcopy(doc)
    raw_before = copy.deepcopy(raw)
    refused: ScimError | None = None
    try:
        result = apply_patch(doc, normalize_patch(raw, rtype), rtype)
    except ScimError as exc:
        refused = exc
    if refused is not None:
        assert refused.status == 400
        assert refused.scim_type in {"invalidSyntax", "invalidPath", "invalidFilter",
                                     "invalidValue", "mutability", "noTarget"}
        assert refused.detail
    else:
        assert isinstance(result.doc, dict)
        if result.members is not None:
            assert not set(result.members.add) & set(result.members.remove)
        # The whole pipeline: the result is storable or a clean 400.
        invalid: ScimError | None = None
        try:
            check_update(doc, result.doc, rtype)
        except ScimError as exc:
            invalid = exc
        assert invalid is None or invalid.status == 400
    accepted = refused is None
    assert doc == before
    assert raw == raw_before
    return accepted


def _as_group(doc: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [GROUP_URN], "id": "g-1", "displayName": doc["userName"],
            "externalId": doc.get("title", "e")}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=user_docs(), raw=raw_bodies, as_group=st.booleans())
def test_arbitrary_bodies_only_raise_scim_errors_and_never_mutate(
    doc: dict[str, Any], raw: Any, as_group: bool
) -> None:
    _check_pipeline(_as_group(doc) if as_group else doc, raw, GROUP if as_group else USER)


valid_ops = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "Add", "remove", "Remove", "replace", "REPLACE"]),
     "path": st.sampled_from(PATHS)},
    optional={"value": st.one_of(words, st.booleans(), st.none(), st.just(""), json_values,
                                 st.lists(elements("value", "display"), max_size=2),
                                 st.lists(st.sampled_from(["u1", "u2"]), max_size=2))},
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=user_docs(), ops=st.lists(valid_ops, min_size=1, max_size=4), as_group=st.booleans())
def test_well_formed_operations_only_raise_scim_errors_and_never_mutate(
    doc: dict[str, Any], ops: list[dict[str, Any]], as_group: bool
) -> None:
    _check_pipeline(_as_group(doc) if as_group else doc, body(*ops), GROUP if as_group else USER)


def _outcome(fn: Callable[[], dict[str, Any]]) -> Any:
    try:
        return fn()
    except ScimError as exc:
        return (exc.status, exc.scim_type, exc.detail)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=user_docs(), ops=st.lists(valid_ops, min_size=1, max_size=4), as_group=st.booleans())
def test_check_update_reuses_untouched_values_with_the_same_result(
    doc: dict[str, Any], ops: list[dict[str, Any]], as_group: bool
) -> None:
    """check_update takes the values a PATCH left alone (the same objects as in the stored
    document) without coercing them again. A deep copy of the stored document shares nothing,
    so every value is parsed again: both must give the same document or the same error."""
    rtype = GROUP if as_group else USER
    try:
        current = normalize(_as_group(doc) if as_group else doc, rtype)
        updated = apply_patch(current, normalize_patch(body(*ops), rtype), rtype).doc
    except ScimError:
        return
    reused = _outcome(lambda: check_update(current, updated, rtype))
    parsed = _outcome(lambda: check_update(copy.deepcopy(current), updated, rtype))
    assert json.dumps(reused) == json.dumps(parsed)


# -- members against a set model -----------------------------------------------------------

ids = st.sampled_from(["u1", "u2", "u3", "u4", "U1", "a b", 'q"t'])
member_shapes = st.sampled_from(["object", "ref", "bare", "single"])


def _member_value(chosen: list[str], shape: str) -> Any:
    if shape == "bare":
        return chosen if len(chosen) != 1 else chosen[0]
    if shape == "single" and len(chosen) == 1:
        return {"value": chosen[0]}
    if shape == "ref":
        return [{"$ref": None, "value": i} for i in chosen]
    return [{"value": i} for i in chosen]


member_ops: st.SearchStrategy[tuple[str, list[str], str]] = st.one_of(
    st.tuples(st.just("add"), st.lists(ids, min_size=1, max_size=3), member_shapes),
    st.tuples(st.just("remove"), st.lists(ids, min_size=1, max_size=3), member_shapes),
    st.tuples(st.just("filter"), st.lists(ids, min_size=1, max_size=2), st.just("")),
    st.tuples(st.just("replace"), st.lists(ids, max_size=3), member_shapes),
    st.tuples(st.just("clear"), st.just([]), st.just("")),
)


def _to_raw(kind: str, chosen: list[str], shape: str) -> dict[str, Any]:
    if kind == "filter":
        terms = " or ".join(f"value eq {json.dumps(i)}" for i in chosen)
        return {"op": "remove", "path": f"members[{terms}]"}
    if kind == "clear":
        return {"op": "Remove", "path": "members"}
    op = {"add": "Add", "remove": "Remove", "replace": "replace"}[kind]
    return {"op": op, "path": "members", "value": _member_value(chosen, shape)}


@settings(max_examples=300, deadline=None)
@given(initial=st.sets(ids, max_size=5), ops=st.lists(member_ops, min_size=1, max_size=6))
def test_member_changes_match_the_set_model(
    initial: set[str], ops: list[tuple[str, list[str], str]]
) -> None:
    model = set(initial)
    for kind, chosen, _ in ops:
        if kind == "add":
            model |= set(chosen)
        elif kind in ("remove", "filter"):
            model -= set(chosen)
        elif kind == "replace":
            model = set(chosen)
        else:
            model = set()
    result = apply_patch({"schemas": [GROUP_URN], "id": "g", "displayName": "G"},
                         normalize_patch(body(*(_to_raw(*o) for o in ops)), GROUP), GROUP)
    changes = result.members
    if changes is None:  # only possible when every op named nobody
        assert model == initial
        return
    assert changes.apply_to(initial) == model
    # What the store relies on: disjoint add/remove, nothing else alongside a replace,
    # no duplicates, and never "remove all" unless an op asked for it.
    assert not set(changes.add) & set(changes.remove)
    assert len(set(changes.add)) == len(changes.add)
    assert len(set(changes.remove)) == len(changes.remove)
    if changes.replace is not None:
        assert changes.add == []
        assert changes.remove == []
        assert any(k in ("replace", "clear") for k, _, _ in ops)
    assert "members" not in result.doc


@FAST
@given(initial=st.sets(ids, max_size=5), chosen=st.lists(ids, min_size=1, max_size=4),
       shape=member_shapes)
def test_member_remove_with_values_never_removes_anyone_else(
    initial: set[str], chosen: list[str], shape: str
) -> None:
    raw = body({"op": "Remove", "path": "members", "value": _member_value(chosen, shape)})
    changes = apply_patch({"id": "g", "displayName": "G"}, normalize_patch(raw, GROUP),
                          GROUP).members
    assert changes == MemberChanges(add=[], remove=list(dict.fromkeys(chosen)), replace=None)
    assert changes.apply_to(initial) == initial - set(chosen)
