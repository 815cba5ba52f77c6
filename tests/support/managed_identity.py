"""A local managed-identity endpoint speaking App Service's protocol (what Azure Functions
offers), so the app's real `DefaultAzureCredential(managed_identity_client_id=...)` gets its
Storage token the way it does in Azure, from tokens Azurite accepts (entra_tokens.py).

With IDENTITY_ENDPOINT and IDENTITY_HEADER set, azure-identity's ManagedIdentityCredential
(through MSAL) sends `GET IDENTITY_ENDPOINT?api-version=2019-08-01&resource=R[&client_id=C]`
with the header `X-IDENTITY-HEADER: IDENTITY_HEADER`, and reads `access_token` and
`expires_on` (epoch seconds) from the JSON answer. As on App Service, this endpoint has one
user-assigned identity: a request for another identity, or for the system-assigned one (no
`client_id`), is refused, and so is one without the secret header. Every request is recorded.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.support import entra_tokens

API_VERSION = "2019-08-01"
PATH = "/msi/token"


@dataclass(frozen=True)
class IdentityRequest:
    """One token request as received."""

    api_version: str | None
    resource: str | None
    client_id: str | None
    header_matched: bool
    answered: int  # the HTTP status it got


@dataclass
class ManagedIdentityEndpoint:
    client_id: str  # the one user-assigned identity it has
    url: str = ""
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    requests: list[IdentityRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def environ(self) -> dict[str, str]:
        """The platform's variables that point azure-identity here."""
        return {"IDENTITY_ENDPOINT": self.url, "IDENTITY_HEADER": self.secret}

    def granted(self) -> list[IdentityRequest]:
        with self._lock:
            return [r for r in self.requests if r.answered == 200]

    def answer(self, query: str, header: str | None) -> tuple[int, dict[str, object]]:
        params = {k: v[0] for k, v in parse_qs(query).items()}
        resource, client_id = params.get("resource"), params.get("client_id")
        header_matched = header is not None and secrets.compare_digest(header, self.secret)
        status, body = self._decide(params.get("api-version"), resource, client_id,
                                    header_matched)
        with self._lock:
            self.requests.append(IdentityRequest(params.get("api-version"), resource,
                                                 client_id, header_matched, status))
        return status, body

    def _decide(self, api_version: str | None, resource: str | None, client_id: str | None,
                header_matched: bool) -> tuple[int, dict[str, object]]:
        if not header_matched:
            return 401, {"statusCode": 401, "message": "X-IDENTITY-HEADER missing or wrong"}
        if api_version != API_VERSION:
            return 400, {"statusCode": 400, "message": f"api-version must be {API_VERSION}"}
        if not resource:
            return 400, {"statusCode": 400, "message": "resource is required"}
        if client_id != self.client_id:
            return 400, {"statusCode": 400, "message": "No managed identity found for this "
                         "request (only one user-assigned identity is assigned)"}
        expires_on = int(time.time()) + entra_tokens.LIFETIME
        return 200, {
            "access_token": entra_tokens.mint(resource, client_id=client_id),
            "expires_on": str(expires_on), "resource": resource, "token_type": "Bearer",
            "client_id": client_id,
        }


@contextlib.contextmanager
def serving(client_id: str) -> Iterator[ManagedIdentityEndpoint]:
    """The endpoint on a free loopback port, for the duration of the block."""
    endpoint = ManagedIdentityEndpoint(client_id)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != PATH:
                status, body = 404, {"statusCode": 404, "message": "not found"}
            else:
                status, body = endpoint.answer(parts.query, self.headers.get("X-IDENTITY-HEADER"))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the requests are recorded; the test output stays quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}{PATH}"
    thread = threading.Thread(target=server.serve_forever, name="managed-identity",
                              daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
