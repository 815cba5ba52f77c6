"""Standard Webhooks signatures (https://www.standardwebhooks.com): the receiver verifies
`webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`
with the tenant's secret `whsec_<base64 key>`. Pure: no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def is_secret(value: str) -> bool:
    if not value.startswith(PREFIX):
        return False
    try:
        return len(base64.b64decode(value[len(PREFIX):], validate=True)) >= 16
    except ValueError:
        return False


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body)}


def verify(secret: str, msg_id: str, timestamp: str, signature_header: str, body: bytes,
           *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does: a fresh timestamp and one matching `v1,` signature (the header
    may list several, space-separated, during a secret rotation)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance:
        return False
    expected = sign(secret, msg_id, ts, body)
    return any(hmac.compare_digest(expected, candidate)
               for candidate in signature_header.split(" ") if candidate)
