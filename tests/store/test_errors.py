"""`shared.store.errors`: the storage outcomes the service turns into SCIM errors. One type per
outcome, all of them StoreErrors and none a kind of another (but a transport failure is a kind
of unavailability); and each outcome of a real transaction (Azurite) reaches the caller of the
store's transaction (`Directory.submit`, which the directory, the journal and the outbox write
through) as its type."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from shared.store import layout
from shared.store.backend import Operation, create, delete
from shared.store.directory import Directory, Indexes
from shared.store.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    PreconditionFailed,
    StoreError,
    TooLarge,
    TransactionFailed,
    TransportFailed,
    Unavailable,
)
from shared.store.long_text import PROPERTY_CHARS, split_text
from tests.support.storage_faults import busy, hooked, own_thread

OUTCOMES = (NotFound, AlreadyExists, PreconditionFailed, Conflict, TooLarge, Unavailable,
            TransactionFailed)


def test_every_outcome_is_a_store_error_and_none_is_a_kind_of_another() -> None:
    for outcome in OUTCOMES:
        assert issubclass(outcome, StoreError)
    for one, other in itertools.permutations(OUTCOMES, 2):
        assert not issubclass(one, other), (one, other)
    # a call that got no answer is unavailable storage to everyone but the write that retries
    assert issubclass(TransportFailed, Unavailable)


def test_a_refused_transaction_names_the_operation_and_what_refused_it() -> None:
    error = TransactionFailed(3, PreconditionFailed("412 UpdateConditionNotSatisfied"))
    assert (error.index, type(error.error)) == (3, PreconditionFailed)
    assert str(error) == "operation 3: PreconditionFailed: 412 UpdateConditionNotSatisfied"


def test_conflict_names_its_index() -> None:
    error = Conflict("UN")
    assert error.index == "UN"
    assert str(error) == "UN"
    assert error.args == ("UN",)


# -- outcomes of real transactions -----------------------------------------------------------

def _row(tenant: str, key: str, **props: Any) -> dict[str, Any]:
    return {"PartitionKey": tenant, "RowKey": key, **props}


def _keys(directory: Directory, tenant: str) -> list[str]:
    """Every RowKey of the tenant's partition."""
    return [e["RowKey"] for e in directory.table.query_entities(
        "PartitionKey eq @pk", parameters={"pk": tenant}, select=["RowKey"])]


def test_a_row_that_exists_already_is_a_conflict_naming_the_rows_index(
        directory: Directory, tenant_id: str) -> None:
    name = layout.unique_key(layout.GROUP_NAME.name, "staff")
    directory.submit([Operation("create", _row(tenant_id, name, ref="g1"))], Indexes())
    with pytest.raises(Conflict) as info:
        directory.submit([create(_row(tenant_id, layout.resource_key(layout.GROUP, "g2"))),
                          create(_row(tenant_id, name, ref="g2"))], Indexes())
    assert info.value.index == "GN"
    assert directory.get(tenant_id, layout.GROUP, "g2") is None  # nothing of it written


def test_a_write_based_on_a_stale_read_is_precondition_failed(directory: Directory,
                                                              tenant_id: str) -> None:
    key = layout.resource_key(layout.USER, "u1")
    first = directory.submit([Operation("create", _row(tenant_id, key, n=1))], Indexes())[0]["etag"]
    directory.submit([Operation("upsert", _row(tenant_id, key, n=2))], Indexes())
    with pytest.raises(PreconditionFailed):
        directory.submit([Operation("update", _row(tenant_id, key, n=3), "replace",
                                    etag=first)], Indexes())
    assert directory.table.get_entity(tenant_id, key)["n"] == 2


@pytest.mark.parametrize("build", [
    lambda t: Operation("update", _row(t, layout.resource_key(layout.GROUP, "gone"))),
    lambda t: Operation("delete", _row(t, layout.resource_key(layout.USER, "gone"))),
], ids=["update", "delete-resource"])
def test_a_resource_that_does_not_exist_is_not_found(
        directory: Directory, tenant_id: str, build: Callable[[str], Operation]) -> None:
    other = _row(tenant_id, layout.unique_key("UN", "other"), ref="x")
    with pytest.raises(NotFound):
        directory.submit([Operation("create", other), build(tenant_id)], Indexes())
    assert _keys(directory, tenant_id) == []


def test_removing_a_row_that_is_gone_is_not_an_error(directory: Directory,
                                                     tenant_id: str) -> None:
    kept = _row(tenant_id, layout.unique_key("UN", "kept"), ref="u1")
    directory.submit([Operation("delete", _row(tenant_id, layout.member_key("g", "gone"))),
                      Operation("create", kept),
                      delete(tenant_id, layout.unique_key("UN", "gone"))], Indexes())
    assert _keys(directory, tenant_id) == [kept["RowKey"]]


@pytest.mark.parametrize("build", [
    lambda t: [create(_row(t, "U:big", doc="\U0001F600" * PROPERTY_CHARS))],  # > 64 KiB
    lambda t: [Operation("create", _row(t, f"U:big{n}", **split_text("a" * 300_000, "doc")))
               for n in range(15)],  # a transaction > 4 MiB
], ids=["property", "transaction"])
def test_what_storage_cannot_hold_is_too_large(directory: Directory, tenant_id: str,
                                               build: Callable[[str], list[Any]]) -> None:
    with pytest.raises(TooLarge):
        directory.submit(build(tenant_id), Indexes())
    assert _keys(directory, tenant_id) == []


def test_a_transaction_storage_keeps_refusing_is_unavailable(directory: Directory,
                                                             tenant_id: str) -> None:
    with hooked(own_thread(busy)), pytest.raises(Unavailable):
        directory.submit([Operation("create", _row(tenant_id, "UN:a", ref="u1"))], Indexes())


def test_a_refusal_that_is_no_storage_outcome_is_a_plain_store_error(
        directory: Directory, tenant_id: str) -> None:
    """A malformed request is a bug of ours, not an outcome the client can act on."""
    with pytest.raises(StoreError) as info:
        directory.submit([Operation("create", _row(tenant_id, "UN:a/b", ref="u1"))], Indexes())
    assert type(info.value) is StoreError
    assert str(info.value).startswith("400")
