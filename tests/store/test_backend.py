"""`shared.store.backend`: the typed operations and entities both backends share. What each
backend does with them is tested in test_table.py, test_sdk_table.py and, side by side,
test_backend_parity.py."""

from __future__ import annotations

import dataclasses

import pytest

from shared.store.backend import (
    Entity,
    MemberGuard,
    Operation,
    create,
    delete,
    update,
    upsert,
)


def test_the_constructors_build_the_operation_they_name() -> None:
    row = {"PartitionKey": "p", "RowKey": "r", "v": 1}
    assert create(row) == Operation("create", row, "merge", None, None)
    assert update(row) == Operation("update", row, "merge", None, None)
    assert update(row, "replace", etag="W/1") == Operation("update", row, "replace", "W/1")
    assert upsert(row, "replace") == Operation("upsert", row, "replace")
    assert delete("p", "r", etag="W/2") == Operation(
        "delete", {"PartitionKey": "p", "RowKey": "r"}, etag="W/2")


def test_an_update_or_delete_without_etag_is_unconditional() -> None:
    assert update({"PartitionKey": "p", "RowKey": "r"}).etag is None
    assert delete("p", "r").etag is None


def test_operations_are_immutable_values() -> None:
    op = delete("p", "r")
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.etag = "W/1"  # type: ignore[misc]
    assert op == delete("p", "r")
    assert op != delete("p", "r", etag="W/1")
    assert op.row_key == "r"
    assert Operation("create", {"PartitionKey": "p"}).row_key == ""


def test_a_member_guard_names_its_unit_and_alternative() -> None:
    guard = MemberGuard(3, "G:x")
    op = Operation("update", {"PartitionKey": "p", "RowKey": "U:x"}, guard=guard)
    assert (op.guard.unit, op.guard.alt) == (3, "G:x")  # type: ignore[union-attr]


def test_an_entity_is_its_properties_with_metadata_beside_them() -> None:
    entity = Entity({"PartitionKey": "p", "RowKey": "r", "v": 1},
                    metadata={"etag": "W/1", "timestamp": "2026-01-01T00:00:00Z"})
    assert dict(entity) == {"PartitionKey": "p", "RowKey": "r", "v": 1}
    assert entity.metadata["etag"] == "W/1"
    assert "etag" not in entity
    assert Entity().metadata == {}
    assert Entity({"a": 1}).metadata is not Entity({"a": 1}).metadata
