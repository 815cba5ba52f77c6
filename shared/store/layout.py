"""Where every row lives: the PartitionKey and RowKey of each kind of row in the four tables,
built and read back here only, and the format of the resource ids those keys carry.

Data table, PartitionKey = tenant id. RowKeys (each `{…}` component escaped by `keys.escape`):

  U:{id} / G:{id}              a user / group: its document and scalar columns (directory.py)
  UN:{value} / GN:{value}      unique index: folded userName / group displayName -> `ref` id
  UX:{value}:{id} / GX:…       externalId index (caseExact, not folded) -> `ref` id
  UE:{value}:{id}              folded work email index -> `ref` id
  XU:{path}:{value} / XG:…     unique index of an attribute a tenant declared with
                               `uniqueness: server` (path: its lower-cased URN-qualified
                               name; value folded unless caseExact) -> `ref` id
  M:{gid}:{mid}                membership: group `gid` lists member `mid` (a user or a group)
  R:{mid}:{gid}                its reverse twin: the groups of `mid`
  J:{jid} / J:{jid}:{n}        a change too large for one transaction, and its parts (journal.py)
  E:{event id}                 an event as committed with its change (outbox.py); once
                               published (feed_log.py) it waits here for the tenant's webhook
  DL:{event id}                a dead-lettered event of the tenant's webhook
  D:{event id}                 an event waiting for the deployment-wide subscription
  DLD:{event id}               a dead-lettered event of the deployment-wide subscription
  P:{seq}                      a published event, pullable until the hold period ends; seq: the
                               tenant's publication order, 12 hex digits (feed_log.py)
  PX:{event id}                the seq its event was published under (resuming a pull by id)
  C:pub                        the next seq to publish under
  Q:deliver                    the tenant's delivery signal and lease (signals.py): state
                               (pending: a deliver message is on its way; running: a pass
                               holds the lease), since, leaseUntil, owner (the pass's id)

Every tag is followed by `:` and no tag is another tag followed by `:`; escaped components hold
no `:` either. So the rows of one tag, or of one tag and leading components (`M:{gid}:`), are
exactly one RowKey range (`keys.prefix_range`) that no other such range overlaps.

Tenants table, PartitionKey = tenant id:
  tenant                       the tenant record (tenants.py)
  use:{token id}               when a token was last used
  attr:{type}:{lower path}     an undeclared attribute Entra sent for resource type `type`
                               (User, Group): first and last seen, how often, its value types
  attr-overflow                sightings of undeclared names beyond the registry's limit

Tenants table, PartitionKey `~signing-keys` (never a tenant id: `~` is not in their alphabet):
  key:{kid}                    a signing key of the token endpoint's access tokens
                               (signing_keys.py)

Tenants table, PartitionKey `~subscriptions`:
  deployment                   the deployment-wide subscription: one endpoint for every
                               tenant's events (subscriptions.py): url, secret, types

Tenants table, PartitionKey `~feed`:
  token:{id}                   a deployment-wide feed credential: reads every tenant's pull
                               feed (feed_tokens.py): digest, created

Audit table, PartitionKey = escaped tenant id:
  {inverted microseconds}-{random}    an entry; a partition reads newest first

Audit table, PartitionKey `~stats:{escaped tenant id}` (never an audit partition: escaping
leaves no `:` in a tenant id, and a digest-escaped one is `~` and hex only):
  {inverted microseconds}-{instance}  one instance's request counters of one hour of the
                                      tenant: requests, errors, unauthorized, lastTime (its
                                      last authenticated request); the time is the hour's end,
                                      so retention's `RowKey gt` range purges a row with the
                                      entries once its whole hour is past. One row per hour
                                      and instance (a random id per process), replaced by its
                                      owner only: instances never contend; readers sum.

Runs table:
  PartitionKey reconcile, RowKey last     the reconciler's last run
  PartitionKey marks, RowKey {mark}       when periodic work last ran: repair:{tenant id},
                                          audit-sweep
  PartitionKey repair, RowKey {tenant id} the tenant's repair pass in progress (runs.py):
                                          after (last data RowKey handled), started, found,
                                          repaired, unrepaired, leaseUntil, owner
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from . import keys

SEPARATOR = ":"

# -- data table: resources ---------------------------------------------------------------------

USER = "U"
GROUP = "G"
RESOURCE_KINDS = (USER, GROUP)


def resource_key(kind: str, rid: str) -> str:
    return f"{kind}:{keys.escape(rid)}"


def resource_prefix(kind: str) -> str:
    """The start of every RowKey of a kind's resources (their range, in id order)."""
    return kind + SEPARATOR


def parse_resource_key(row_key: str) -> tuple[str, str]:
    """(kind, id) of a resource row's key."""
    kind, _, escaped = row_key.partition(SEPARATOR)
    return kind, keys.unescape(escaped)


def is_resource_key(row_key: str) -> bool:
    return tag(row_key) in RESOURCE_KINDS


def tag(row_key: str) -> str:
    """What kind of row a data-table RowKey names: its first component (`U`, `UN`, `M`, …)."""
    return row_key.partition(SEPARATOR)[0]


# -- data table: indexes -----------------------------------------------------------------------

@dataclass(frozen=True)
class Index:
    """An index: rows `{name}:{value}` when unique (a second row for the value cannot be
    created), else `{name}:{value}:{id}`; each row's `ref` is the id of the `owner` kind's
    resource it points to. Which attribute feeds which index is the service's choice."""

    name: str
    owner: str
    unique: bool


USER_NAME = Index("UN", USER, unique=True)
USER_EXTERNAL_ID = Index("UX", USER, unique=False)
USER_WORK_EMAIL = Index("UE", USER, unique=False)
GROUP_NAME = Index("GN", GROUP, unique=True)
GROUP_EXTERNAL_ID = Index("GX", GROUP, unique=False)
# Declared unique attributes: one index per kind, each attribute a leading component of it
# (`declared_index`), so that any number of them share one tag the invariants know.
USER_DECLARED = Index("XU", USER, unique=True)
GROUP_DECLARED = Index("XG", GROUP, unique=True)
INDEXES: Mapping[str, Index] = MappingProxyType({index.name: index for index in (
    USER_NAME, USER_EXTERNAL_ID, USER_WORK_EMAIL, GROUP_NAME, GROUP_EXTERNAL_ID,
    USER_DECLARED, GROUP_DECLARED)})


def unique_key(index: str, value: str) -> str:
    return f"{index}:{keys.escape(value)}"


def multi_key(index: str, value: str, rid: str) -> str:
    return f"{index}:{keys.escape(value)}:{keys.escape(rid)}"


def multi_prefix(index: str, value: str) -> str:
    """The start of every row of a non-unique index for one value."""
    return f"{index}:{keys.escape(value)}:"


def index_of(row_key: str) -> Index | None:
    """The index an index row's key belongs to; None for any other row."""
    return INDEXES.get(tag(row_key))


def declared_index(index: Index, path: str) -> str:
    """The name under which a declared unique attribute's rows are kept in `index`
    (USER_DECLARED / GROUP_DECLARED): `unique_key` of it is `XU:{path}:{value}`."""
    return f"{index.name}:{keys.escape(path.lower())}"


def unique_index_name(row_key: str) -> str:
    """The index name a unique index row's key was made from (`unique_key(name, value)`):
    `UN`, or `XU:{path}` for a declared attribute. Any other row: its tag."""
    index = index_of(row_key)
    if index is None or not index.unique:
        return tag(row_key)
    return row_key.rpartition(SEPARATOR)[0]


# -- data table: memberships -------------------------------------------------------------------

MEMBER = "M"
MEMBER_OF = "R"


def member_key(gid: str, mid: str) -> str:
    return f"{MEMBER}:{keys.escape(gid)}:{keys.escape(mid)}"


def reverse_member_key(mid: str, gid: str) -> str:
    return f"{MEMBER_OF}:{keys.escape(mid)}:{keys.escape(gid)}"


def members_prefix(gid: str) -> str:
    """The start of the M rows of one group."""
    return f"{MEMBER}:{keys.escape(gid)}:"


def groups_prefix(mid: str) -> str:
    """The start of the R rows of one member."""
    return f"{MEMBER_OF}:{keys.escape(mid)}:"


def membership_pair(row_key: str) -> tuple[str, str]:
    """The two ids an M or R row's key names, in key order: (group, member) for M,
    (member, group) for R."""
    _, _, rest = row_key.partition(SEPARATOR)
    first, _, second = rest.partition(SEPARATOR)
    return keys.unescape(first), keys.unescape(second)


def membership_twin(row_key: str) -> str:
    """The key of an M row's R twin, or an R row's M twin. Built from the escaped components
    as stored, so it is exact even for a component stored by digest."""
    row_tag, first, second = row_key.split(SEPARATOR)
    twin_tag = MEMBER_OF if row_tag == MEMBER else MEMBER
    return f"{twin_tag}:{second}:{first}"


# -- data table: journals ------------------------------------------------------------------------

JOURNAL = "J"
JOURNAL_PREFIX = JOURNAL + SEPARATOR


def journal_key(jid: str) -> str:
    return JOURNAL_PREFIX + jid


def journal_part_key(head_key: str, n: int) -> str:
    return f"{head_key}:{n:04d}"


def journal_head(row_key: str) -> tuple[str, bool]:
    """(the head's key, whether `row_key` is one of its parts) of a journal row."""
    jid, sep, _ = row_key[len(JOURNAL_PREFIX):].partition(SEPARATOR)
    return JOURNAL_PREFIX + jid, bool(sep)


# -- data table: outbox --------------------------------------------------------------------------

EVENT = "E"
DEAD_LETTER = "DL"
EVENT_PREFIX = EVENT + SEPARATOR
DEAD_LETTER_PREFIX = DEAD_LETTER + SEPARATOR


def event_key(event_id: str) -> str:
    return EVENT_PREFIX + event_id


def dead_letter_key(event_id: str) -> str:
    return DEAD_LETTER_PREFIX + event_id


def event_id(row_key: str) -> str:
    """The event id of a pending event's or a dead letter's key."""
    return row_key.partition(SEPARATOR)[2]


def is_event_key(row_key: str) -> bool:
    return tag(row_key) == EVENT


# -- data table: deployment-wide subscription lane -----------------------------------------------

DEPLOYMENT_EVENT = "D"
DEPLOYMENT_DEAD_LETTER = "DLD"
DEPLOYMENT_EVENT_PREFIX = DEPLOYMENT_EVENT + SEPARATOR
DEPLOYMENT_DEAD_LETTER_PREFIX = DEPLOYMENT_DEAD_LETTER + SEPARATOR


def deployment_event_key(event_id: str) -> str:
    return DEPLOYMENT_EVENT_PREFIX + event_id


def deployment_dead_letter_key(event_id: str) -> str:
    return DEPLOYMENT_DEAD_LETTER_PREFIX + event_id


# -- data table: the published feed (pull API) ---------------------------------------------------

PUBLISHED = "P"
PUBLISHED_INDEX = "PX"
COUNTER = "C"
PUBLISHED_PREFIX = PUBLISHED + SEPARATOR
PUBLISHED_INDEX_PREFIX = PUBLISHED_INDEX + SEPARATOR
PUBLISH_COUNTER = COUNTER + SEPARATOR + "pub"
_SEQ_DIGITS = 12  # 16**12 events per tenant: never reached


def published_key(seq: int) -> str:
    return PUBLISHED_PREFIX + format(seq, f"0{_SEQ_DIGITS}x")


def published_seq(row_key: str) -> int:
    return int(row_key[len(PUBLISHED_PREFIX):], 16)


def published_index_key(event_id: str) -> str:
    return PUBLISHED_INDEX_PREFIX + event_id


# -- data table: delivery signal -----------------------------------------------------------------

SIGNAL = "Q"
DELIVERY_MARK = SIGNAL + SEPARATOR + "deliver"

DATA_TAGS = frozenset({*RESOURCE_KINDS, *INDEXES, MEMBER, MEMBER_OF, JOURNAL, EVENT,
                       DEAD_LETTER, DEPLOYMENT_EVENT, DEPLOYMENT_DEAD_LETTER, PUBLISHED,
                       PUBLISHED_INDEX, COUNTER, SIGNAL})

# Every tag is upper-case ASCII letters, so [DATA_KEYS_LOW, DATA_KEYS_HIGH) holds every RowKey of
# a tenant's data partition ('Z' < 'a'). A walk of the partition bounds its query by them:
# Table Storage reads the same index range either way, and the benchmark's indexed emulator
# (tools/azurite_range_index.js) answers a range bounded at both ends without a table scan.
DATA_KEYS_LOW = "A"
DATA_KEYS_HIGH = "a"

# -- tenants table -------------------------------------------------------------------------------

TENANT_ROW = "tenant"
TOKEN_USE_PREFIX = "use" + SEPARATOR


def token_use_key(token_id: str) -> str:
    return TOKEN_USE_PREFIX + token_id


def token_of_use(row_key: str) -> str:
    return row_key[len(TOKEN_USE_PREFIX):]


UNDECLARED_PREFIX = "attr" + SEPARATOR
# Outside the `attr:` range ('-' sorts before ':'), so listing the names never reads it.
UNDECLARED_OVERFLOW_ROW = "attr-overflow"


def undeclared_key(resource_type: str, path: str) -> str:
    """The registry row of an undeclared attribute: one per resource type and path, whatever
    the case it was sent in (attribute names are case-insensitive, RFC 7643 §2.1; lower-cased
    as the engine matches them)."""
    return f"{UNDECLARED_PREFIX}{keys.escape(resource_type)}:{keys.escape(path.lower())}"


SIGNING_KEYS_PARTITION = "~signing-keys"
SIGNING_KEY_PREFIX = "key" + SEPARATOR


def signing_key_key(kid: str) -> str:
    return SIGNING_KEY_PREFIX + keys.escape(kid)


SUBSCRIPTIONS_PARTITION = "~subscriptions"
DEPLOYMENT_SUBSCRIPTION_ROW = "deployment"

FEED_TOKENS_PARTITION = "~feed"
FEED_TOKEN_PREFIX = "token" + SEPARATOR


def feed_token_key(token_id: str) -> str:
    return FEED_TOKEN_PREFIX + keys.escape(token_id)


def feed_token_id(row_key: str) -> str:
    return keys.unescape(row_key[len(FEED_TOKEN_PREFIX):])


# -- audit table ---------------------------------------------------------------------------------

_MAX_MICROS = 10**16  # inverted microseconds since the epoch stay 16 digits until 2286
_AUDIT_PARTITION_CHARS = 200


def audit_partition(tenant: str) -> str:
    """Any text names a partition: the tenant id of a failed authentication is the caller's."""
    return keys.escape(tenant)[:_AUDIT_PARTITION_CHARS] or "-"


def _inverted(at: datetime) -> str:
    return f"{_MAX_MICROS - int(at.timestamp() * 1_000_000):016d}"


def audit_row_key(at: datetime) -> str:
    return f"{_inverted(at)}-{secrets.token_hex(4)}"  # suffix: two entries in one microsecond


STATS_PARTITION_PREFIX = "~stats" + SEPARATOR


def stats_partition(tenant: str) -> str:
    """The audit-table partition of a tenant's request counters."""
    return STATS_PARTITION_PREFIX + audit_partition(tenant)


def stats_row_key(hour_end: datetime, instance: str) -> str:
    """One instance's counters of the hour ending at `hour_end`: sorted and purged as an
    entry at that time would be."""
    return f"{_inverted(hour_end)}-{instance}"


def audit_boundary(at: datetime) -> str:
    """A RowKey between the entries of `at` and those before it: entries at or after `at` sort
    below it, older ones above."""
    return _inverted(at) + "~"


# -- runs table ----------------------------------------------------------------------------------

LAST_RUN = ("reconcile", "last")  # (PartitionKey, RowKey)
MARKS_PARTITION = "marks"
AUDIT_SWEEP_MARK = "audit-sweep"


def repair_mark(tenant: str) -> str:
    return f"repair:{tenant}"


REPAIR_PARTITION = "repair"


# -- resource ids --------------------------------------------------------------------------------
# An id is 12 hex digits of milliseconds since the Unix epoch, then 20 of random bits: ids sort
# by creation time, so resources created during a walk in RowKey order append at its end.

ID_TIME_DIGITS = 12
ID_RANDOM_BYTES = 10
ID_LENGTH = ID_TIME_DIGITS + 2 * ID_RANDOM_BYTES
ID_EPOCH_MS = 1_704_067_200_000  # 2024-01-01: no id this service issued is older
ID_CLOCK_SLACK_MS = 86_400_000  # another instance's clock may run ahead of ours
_ID_SHAPE = re.compile(f"[0-9a-f]{{{ID_LENGTH}}}")


def format_id(millis: int, random: bytes) -> str:
    return f"{millis:0{ID_TIME_DIGITS}x}{random.hex()}"


def new_id() -> str:
    """A new resource id (never reused)."""
    return format_id(int(time.time() * 1000), secrets.token_bytes(ID_RANDOM_BYTES))


def id_millis(value: str) -> int:
    """When a generated id was issued (milliseconds since the epoch)."""
    return int(value[:ID_TIME_DIGITS], 16)


def is_generated_id(value: str) -> bool:
    """Whether `value` has the shape of an id `new_id` issues, as opposed to a member id of
    another system. Ids are never reused, so a missing resource with such an id is gone."""
    if len(value) != ID_LENGTH or not _ID_SHAPE.fullmatch(value):
        return False
    return ID_EPOCH_MS <= id_millis(value) <= int(time.time() * 1000) + ID_CLOCK_SLACK_MS
