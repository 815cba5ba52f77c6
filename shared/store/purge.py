"""Deleting every row of a partition (a tenant's offboarding): the keys are streamed a page at
a time and deleted in entity-group transactions of up to 100, so memory stays bounded however
large the partition; a deadline check between transactions lets the caller stop and resume
(the next call reads what is left)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from .backend import Backend, delete
from .errors import NotFound, TransactionFailed

_TRANSACTION_OPERATIONS = 100  # Table Storage's limit per entity-group transaction
_PAGE = 1000  # keys per page read: a page feeds ten transactions


def delete_partition(table: Backend, partition: str, *, keep: Collection[str] = (),
                     over: Callable[[], bool] | None = None,
                     deleted: Callable[[int], None] | None = None) -> bool:
    """Delete the rows of `partition` but those whose RowKey is in `keep`. `deleted(n)` is
    told each transaction's count; `over()` is asked after each one, and True stops the
    purge. Returns True when every row (but the kept ones) is gone, False when stopped."""
    keys: list[str] = []
    for entity in table.query_entities("PartitionKey eq @pk", parameters={"pk": partition},
                                       select=["RowKey"], results_per_page=_PAGE):
        row_key = str(entity["RowKey"])
        if row_key in keep:
            continue
        keys.append(row_key)
        if len(keys) == _TRANSACTION_OPERATIONS:
            _delete(table, partition, keys, deleted)
            keys = []
            if over is not None and over():
                return False
    if keys:
        _delete(table, partition, keys, deleted)
    return True


def _delete(table: Backend, partition: str, row_keys: list[str],
            deleted: Callable[[int], None] | None) -> None:
    try:
        table.submit_transaction([delete(partition, rk) for rk in row_keys])
    except TransactionFailed as exc:
        if not isinstance(exc.error, NotFound):
            raise exc.error from exc
        # Another deleter (a second call, retention) removed one of them since the read: the
        # transaction refuses a delete of a missing row, a single delete does not.
        for rk in row_keys:
            table.delete_entity(partition, rk)
    if deleted is not None:
        deleted(len(row_keys))
