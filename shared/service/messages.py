"""Transport-neutral requests and responses - of the SCIM service, the token endpoint, the
pull API and the management API: the adapter converts Functions' HttpRequest and HttpResponse
to and from these, and the dev host and tests can build them directly. Cheap to import
(indexing the app loads this)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..scim.errors import ScimError

SCIM_JSON = "application/scim+json"
# Built once: json.dumps with options builds a new encoder per call.
_response_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _Headers:
    """`header(name)` for a request whose adapter lower-cased its header names."""

    headers: Mapping[str, str]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class _JsonBody:
    """`encode()` for a response whose `body` is always sent as JSON."""

    body: Any

    def encode(self) -> bytes:
        return _response_json(self.body).encode("utf-8")


@dataclass(frozen=True)
class ScimRequest(_Headers):
    method: str
    tenant: str
    resource: str  # "Users", "Groups", "Schemas", … as routed (case as sent)
    id: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-cased
    body: bytes = b""
    request_id: str = ""

    def param(self, name: str) -> str | None:
        """Query parameters are matched case-insensitively: clients differ (`startindex`)."""
        if name in self.params:
            return self.params[name]
        low = name.lower()
        for key, value in self.params.items():
            if key.lower() == low:
                return value
        return None


@dataclass
class ScimResponse:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # What a user write changed beyond attributes (`deactivated`, `reactivated`), for the
    # audit entry; never sent.
    change: str | None = None

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        return _response_json(self.body).encode("utf-8")

    @classmethod
    def error(cls, err: ScimError) -> ScimResponse:
        return cls(err.status, err.to_body(), dict(err.headers))


@dataclass(frozen=True)
class OAuthRequest(_Headers):
    """A request to the token endpoint (shared/service/token_endpoint.py)."""

    method: str
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-cased
    body: bytes = b""
    request_id: str = ""


@dataclass
class OAuthResponse(_JsonBody):
    """The token endpoint's answer: `body` is sent as application/json."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedRequest(_Headers):
    """A request to the pull API (shared/service/feed_api.py)."""

    method: str
    tenant: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-cased
    request_id: str = ""


@dataclass
class FeedResponse(_JsonBody):
    """The pull API's answer: `body` is sent as application/json."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ManageRequest(_Headers):
    """A request to the management API (shared/manage/api.py): `path` is what follows
    /manage/v1/ (no leading slash)."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-cased
    body: bytes = b""
    request_id: str = ""


@dataclass
class ManageResponse:
    """The management API's answer: `body` (an object or a list) is sent as application/json;
    None sends no body."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        return _response_json(self.body).encode("utf-8")
