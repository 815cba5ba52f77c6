"""A loopback stand-in for Entra's signing keys: RSA keys generated here, published as a JWKS
at `/{tid}/discovery/keys` and `/{tid}/discovery/v2.0/keys` (so `url` and `assertion_url` are
templates like the settings' `{tid}` ones), and JWTs signed with them.

Every fetch is counted; `status` answers every fetch with another status (503: Entra down), and
Entra tenant ids in `down` get a 503 alone, so one test can take "Entra" down for its own
tenant while other tests, and the served app's key cache for theirs, carry on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ASSERTION_ISSUER = "https://login.microsoftonline.com/{tid}/v2.0"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


class Jwks:
    """A loopback JWKS endpoint; counts fetches; answers `status` (200: the keys)."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.private: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0
        self.status = 200
        self.down: set[str] = set()
        jwks, lock = self, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    jwks.fetches += 1
                tid = self.path.strip("/").split("/")[0]
                status = 503 if tid in jwks.down else jwks.status
                body = json.dumps({"keys": jwks.keys} if status == 200
                                  else {"error": "unavailable"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        base = f"http://127.0.0.1:{self.server.server_address[1]}/{{tid}}/discovery"
        self.url = f"{base}/keys"
        self.assertion_url = f"{base}/v2.0/keys"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_key(self, kid: str) -> rsa.RSAPrivateKey:
        """A new key, published under `kid`."""
        key = self.private[kid] = rsa_key()
        self.keys.append(jwk(key, kid))
        return key

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def serving() -> Iterator[Jwks]:
    jwks = Jwks()
    try:
        yield jwks
    finally:
        jwks.close()


def assertion(key: Any, *, tid: str, audience: str, subject: str, kid: str = "k1",
              alg: str = "RS256", **claims: Any) -> str:
    """A client assertion as Entra issues one to a workload identity (v2.0 issuer); `claims`
    add or override claims, None leaves one out."""
    now = int(time.time())
    payload = {"iss": ASSERTION_ISSUER.format(tid=tid), "aud": audience, "sub": subject,
               "iat": now, "nbf": now - 10, "exp": now + 3600, "tid": tid,
               "jti": f"{now}-{id(claims)}", **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm=alg,
                      headers={"kid": kid})
