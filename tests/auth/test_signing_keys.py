"""The key ring on Azurite, with a clock the test moves: the first key signs at once; a key
signs ROTATE_AFTER, then its successor is published PUBLISH_LEAD ahead of signing; the old key
stays published until RETIRE_AFTER past its successor's activation; an unknown kid re-reads
the set at most once per UNKNOWN_KID_REFRESH; an immediate rotation deletes every other key;
two instances share one set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from shared.auth import signing_keys
from shared.auth.signing_keys import (
    KEY_SET_TTL,
    PUBLISH_LEAD,
    RETIRE_AFTER,
    ROTATE_AFTER,
    UNKNOWN_KID_REFRESH,
    KeyRing,
)
from shared.store.signing_keys import SigningKeyTable


class Clock:
    def __init__(self) -> None:
        self.wall = datetime(2026, 12, 3, tzinfo=UTC)
        self.mono = 1000.0

    def advance(self, delta: timedelta) -> None:
        self.wall += delta
        self.mono += delta.total_seconds()


class CountingTable(SigningKeyTable):
    def __init__(self, inner: SigningKeyTable) -> None:
        super().__init__(inner.table)
        self.reads = 0

    def all(self):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super().all()


def _ring(table: SigningKeyTable, clock: Clock) -> KeyRing:
    return KeyRing(table, now=lambda: clock.wall, monotonic=lambda: clock.mono)


def test_first_key_signs_at_once_and_is_published(key_table: SigningKeyTable) -> None:
    clock = Clock()
    ring = _ring(key_table, clock)
    key = ring.signing_key()
    assert key.activates == clock.wall
    assert [k["kid"] for k in ring.jwks()["keys"]] == [key.kid]
    jwk = ring.jwks()["keys"][0]
    assert jwk["kty"] == "EC"
    assert jwk["crv"] == "P-256"
    assert jwk["alg"] == "ES256"
    assert "d" not in jwk  # never the private part
    assert ring.signing_key().kid == key.kid


def test_rotation_publishes_ahead_and_retires_after_the_longest_token(
        key_table: SigningKeyTable) -> None:
    clock = Clock()
    ring = _ring(key_table, clock)
    first = ring.signing_key()
    clock.advance(ROTATE_AFTER)
    assert ring.signing_key().kid == first.kid  # still signs: the next one is only published
    published = [k["kid"] for k in ring.jwks()["keys"]]
    assert len(published) == 2
    assert published[0] == first.kid
    second = published[1]
    clock.advance(PUBLISH_LEAD - timedelta(seconds=1))
    assert ring.signing_key().kid == first.kid
    assert len(ring.jwks()["keys"]) == 2  # no third key while one is pending
    clock.advance(timedelta(seconds=1))
    assert ring.signing_key().kid == second
    clock.advance(RETIRE_AFTER - timedelta(seconds=1))
    ring.signing_key()
    assert first.kid in {k.kid for k in ring.published()}
    clock.advance(timedelta(seconds=1))
    ring.signing_key()
    assert [k.kid for k in ring.published()] == [second]


def test_a_new_key_is_known_to_another_instance_before_it_signs(
        key_table: SigningKeyTable) -> None:
    clock = Clock()
    minting, verifying = _ring(key_table, clock), _ring(key_table, clock)
    verifying.verification_key("none-yet")
    minting.signing_key()
    clock.advance(ROTATE_AFTER)
    minting.signing_key()
    clock.advance(PUBLISH_LEAD)
    new = minting.signing_key()
    assert PUBLISH_LEAD.total_seconds() >= KEY_SET_TTL
    counting = CountingTable(key_table)
    late = _ring(counting, clock)
    assert late.verification_key(new.kid) is not None
    assert verifying.verification_key(new.kid) is not None


def test_unknown_kids_reread_the_set_at_most_once_per_interval(
        key_table: SigningKeyTable) -> None:
    clock = Clock()
    table = CountingTable(key_table)
    ring = _ring(table, clock)
    ring.signing_key()
    before = table.reads
    for n in range(50):
        assert ring.verification_key(f"forged-{n}") is None
    assert table.reads == before + 1
    clock.advance(timedelta(seconds=UNKNOWN_KID_REFRESH))
    ring.verification_key("forged-again")
    assert table.reads == before + 2


def test_a_key_created_elsewhere_is_found_by_an_unknown_kid_refresh(
        key_table: SigningKeyTable) -> None:
    clock = Clock()
    verifying = _ring(key_table, clock)
    verifying.jwks()  # caches an empty set
    key = _ring(key_table, clock).signing_key()
    assert verifying.verification_key(key.kid) is not None


def test_immediate_rotation_deletes_every_other_key(key_table: SigningKeyTable) -> None:
    clock = Clock()
    ring = _ring(key_table, clock)
    old = ring.signing_key()
    other = _ring(key_table, clock)
    assert other.verification_key(old.kid) is not None
    new = ring.rotate(immediately=True)
    assert ring.signing_key().kid == new.kid
    assert [k.kid for k in ring.published()] == [new.kid]
    assert other.verification_key(old.kid) is not None  # its cached set, until KEY_SET_TTL
    clock.advance(timedelta(seconds=KEY_SET_TTL))
    assert other.verification_key(old.kid) is None


def test_scheduled_rotation_keeps_the_current_key_signing(key_table: SigningKeyTable) -> None:
    clock = Clock()
    ring = _ring(key_table, clock)
    current = ring.signing_key()
    pending = ring.rotate()
    assert pending.activates == clock.wall + PUBLISH_LEAD
    assert ring.signing_key().kid == current.kid
    clock.advance(PUBLISH_LEAD)
    assert ring.signing_key().kid == pending.kid


def test_a_damaged_row_is_skipped_not_fatal(key_table: SigningKeyTable) -> None:
    from shared.store.signing_keys import StoredSigningKey

    clock = Clock()
    key_table.create(StoredSigningKey(kid="broken", created="x", activates="y",
                                      private_pem="not a key"))
    ring = _ring(key_table, clock)
    key = ring.signing_key()
    assert key.kid != "broken"
    token = jwt.encode({"a": 1}, key.private_key, algorithm=signing_keys.ALGORITHM)
    assert jwt.decode(token, ring.verification_key(key.kid).public_key,  # type: ignore[union-attr]
                      algorithms=["ES256"])["a"] == 1
