"""shared.feed.signing: Standard Webhooks signatures (https://www.standardwebhooks.com): the
`whsec_` secret format, `v1,` HMAC-SHA256 signatures of "{id}.{timestamp}.{body}", and
verification as a receiver does it (fresh timestamp, any one of several signatures)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.feed import signing

SECRET = signing.new_secret()
NOW = 1_700_000_000
SIGNATURE = re.compile(r"v1,[A-Za-z0-9+/]{43}=")  # 32 bytes of HMAC-SHA256, base64
# The example of the Standard Webhooks reference libraries (their test_sign_function).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def key_of(length: int) -> str:
    return signing.PREFIX + base64.b64encode(bytes(range(length))).decode()


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


def test_a_new_secret_is_whsec_and_32_random_bytes_in_base64() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[len("whsec_"):], validate=True)) == 32
    assert signing.is_secret(secret)
    assert len({signing.new_secret() for _ in range(100)}) == 100


@pytest.mark.parametrize("secret", [VECTOR_SECRET, key_of(16), key_of(64)])
def test_is_secret_accepts_whsec_keys_of_at_least_16_bytes(secret: str) -> None:
    assert signing.is_secret(secret)


@pytest.mark.parametrize("secret", [
    VECTOR_SECRET.removeprefix("whsec_"),   # the key without its prefix
    "WHSEC_" + VECTOR_SECRET[6:],          # the prefix is lower case
    key_of(15),                            # too short a key
    "whsec_",                              # no key at all
    "whsec_not base64!",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",  # a character short: bad padding
    "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 12).decode(),  # base64url is not base64
    "",
])
def test_is_secret_refuses_anything_else(secret: str) -> None:
    assert not signing.is_secret(secret)


# --------------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------------


def test_known_standard_webhooks_vector() -> None:
    assert signing.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == (
        VECTOR_SIGNATURE)
    assert signing.verify(VECTOR_SECRET, VECTOR_ID, str(VECTOR_TIMESTAMP), VECTOR_SIGNATURE,
                          VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_the_signature_is_the_hmac_of_id_timestamp_and_body() -> None:
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, b"e1.1700000000.{}", hashlib.sha256).digest()
    assert signing.sign(SECRET, "e1", NOW, b"{}") == "v1," + base64.b64encode(digest).decode()


def test_headers_carry_id_timestamp_and_signature() -> None:
    assert signing.headers(SECRET, "e1", NOW, b"{}") == {
        "webhook-id": "e1", "webhook-timestamp": "1700000000",
        "webhook-signature": signing.sign(SECRET, "e1", NOW, b"{}")}


@given(st.text(max_size=40), st.integers(0, 2**40), st.binary(max_size=200))
def test_every_signature_verifies_and_has_the_v1_form(msg_id: str, timestamp: int,
                                                      body: bytes) -> None:
    header = signing.sign(SECRET, msg_id, timestamp, body)
    assert SIGNATURE.fullmatch(header)
    assert signing.verify(SECRET, msg_id, str(timestamp), header, body, now=timestamp)


# --------------------------------------------------------------------------------------------
# Verifying
# --------------------------------------------------------------------------------------------


def test_signature_verification_rejects_tampering_and_stale_timestamps() -> None:
    body = b'{"id":"e1"}'
    now = int(time.time())
    header = signing.sign(SECRET, "e1", now, body)
    assert signing.verify(SECRET, "e1", str(now), header, body, now=now)
    assert signing.verify(SECRET, "e1", str(now), f"v1,bogus {header}", body, now=now)
    assert not signing.verify(SECRET, "e1", str(now), header, body + b" ", now=now)
    assert not signing.verify(SECRET, "e2", str(now), header, body, now=now)
    assert not signing.verify(signing.new_secret(), "e1", str(now), header, body, now=now)
    assert not signing.verify(SECRET, "e1", str(now), header, body, now=now + 3600)


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_any_other_body_is_refused(body: bytes, other: bytes) -> None:
    header = signing.sign(SECRET, "e1", NOW, body)
    assert signing.verify(SECRET, "e1", str(NOW), header, other, now=NOW) is (other == body)


def test_a_signature_for_another_timestamp_is_refused() -> None:
    header = signing.sign(SECRET, "e1", NOW, b"{}")
    assert not signing.verify(SECRET, "e1", str(NOW + 1), header, b"{}", now=NOW)


def test_the_reference_librarys_near_miss_is_refused() -> None:
    # The vector with its last base64 digit changed (the reference libraries' invalid case).
    near = VECTOR_SIGNATURE[:-2] + "A="
    assert not signing.verify(VECTOR_SECRET, VECTOR_ID, str(VECTOR_TIMESTAMP), near,
                              VECTOR_BODY, now=VECTOR_TIMESTAMP)


@pytest.mark.parametrize("offset", [0, 1, 299, 300, -1, -300])
def test_a_timestamp_within_the_tolerance_is_fresh(offset: int) -> None:
    header = signing.sign(SECRET, "e1", NOW, b"{}")
    assert signing.verify(SECRET, "e1", str(NOW), header, b"{}", now=NOW + offset)


@pytest.mark.parametrize("offset", [301, -301, 3600, -3600])
def test_a_timestamp_past_the_tolerance_either_way_is_refused(offset: int) -> None:
    # Too old is a replay; too far ahead is a clock that cannot be trusted either.
    header = signing.sign(SECRET, "e1", NOW, b"{}")
    assert not signing.verify(SECRET, "e1", str(NOW), header, b"{}", now=NOW + offset)


def test_the_tolerance_can_be_set() -> None:
    header = signing.sign(SECRET, "e1", NOW, b"{}")
    assert signing.verify(SECRET, "e1", str(NOW), header, b"{}", now=NOW + 10, tolerance=10)
    assert not signing.verify(SECRET, "e1", str(NOW), header, b"{}", now=NOW + 11,
                              tolerance=10)


@pytest.mark.parametrize("timestamp", ["", "now", "1700000000.5", "0x6553f100"])
def test_a_timestamp_that_is_not_an_integer_is_refused(timestamp: str) -> None:
    header = signing.sign(SECRET, "e1", NOW, b"{}")
    assert not signing.verify(SECRET, "e1", timestamp, header, b"{}", now=NOW)


def test_any_one_of_several_signatures_verifies_during_a_rotation() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    both = " ".join([signing.sign(old, "e1", NOW, b"{}"), signing.sign(new, "e1", NOW, b"{}")])
    assert signing.verify(old, "e1", str(NOW), both, b"{}", now=NOW)
    assert signing.verify(new, "e1", str(NOW), both, b"{}", now=NOW)
    assert not signing.verify(signing.new_secret(), "e1", str(NOW), both, b"{}", now=NOW)
    # Extra spaces between entries are not signatures.
    assert signing.verify(new, "e1", str(NOW), "  " + both.replace(" ", "   ") + " ", b"{}",
                          now=NOW)


@pytest.mark.parametrize("header", [
    "", " ", "v1,", "v1",
    "v2," + signing.sign(SECRET, "e1", NOW, b"{}")[3:],  # the right digest, another scheme
    signing.sign(SECRET, "e1", NOW, b"{}")[3:],          # the digest without its scheme
], ids=["empty", "blank", "v1-empty", "v1-bare", "v2-scheme", "no-scheme"])
def test_a_header_without_the_v1_signature_is_refused(header: str) -> None:
    assert not signing.verify(SECRET, "e1", str(NOW), header, b"{}", now=NOW)
