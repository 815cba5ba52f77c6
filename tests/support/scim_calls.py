"""In-process SCIM calls for the concurrency suites: requests through ScimService.handle, as
the Functions adapter makes them, for one tenant."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.service.app import ScimService
from shared.service.messages import ScimRequest, ScimResponse

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass(frozen=True)
class Caller:
    service: ScimService
    tenant: str
    token: str

    def call(self, method: str, resource: str, rid: str | None = None, body: Any = None,
             params: dict[str, str] | None = None) -> ScimResponse:
        return self.service.handle(ScimRequest(
            method, self.tenant, resource, rid, params=params or {},
            headers={"authorization": f"Bearer {self.token}",
                     "content-type": "application/scim+json"},
            body=json.dumps(body).encode() if body is not None else b""))

    def create(self, resource: str, body: dict[str, Any]) -> str:
        r = self.call("POST", resource, body=body)
        assert r.status == 201, r.body
        assert r.body is not None
        return str(r.body["id"])

    def patch(self, resource: str, rid: str, *operations: dict[str, Any]) -> ScimResponse:
        return self.call("PATCH", resource, rid, {"schemas": [PATCH_OP],
                                                  "Operations": list(operations)})

    def add_members(self, gid: str, ids: list[str]) -> ScimResponse:
        return self.patch("Groups", gid, {"op": "add", "path": "members",
                                          "value": [{"value": i} for i in ids]})

    def matches(self, resource: str, attribute: str, value: str) -> list[str]:
        r = self.call("GET", resource, params={"filter": f'{attribute} eq "{value}"'})
        assert r.status == 200, r.body
        assert r.body is not None
        return [str(found["id"]) for found in r.body["Resources"]]

    def members(self, gid: str) -> set[str]:
        r = self.call("GET", "Groups", gid)
        assert r.status == 200, r.body
        assert r.body is not None
        return {m["value"] for m in r.body.get("members", [])}
