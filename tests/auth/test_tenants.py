"""shared.auth.tenants: new tenant ids, and tokens issued to a tenant record: returned in clear
once, kept only as digests, at most MAX_ACTIVE_TOKENS at a time, with an error that says what
to do when the limit is reached."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from shared.admin.__main__ import main as admin
from shared.auth import tokens
from shared.auth.authenticator import Authenticator, AuthFailure
from shared.auth.tenants import MAX_ACTIVE_TOKENS, issue_token, new_tenant_id
from shared.store.tenants import Tenant
from shared.timestamps import iso

TENANT_ID = re.compile(r"[0-9a-f]{16}")
TOKEN = re.compile(r"scim_[A-Za-z0-9_-]{43}")


def fresh() -> Tenant:
    return Tenant(id=new_tenant_id(), name="Contoso", created="2026-01-01T00:00:00.000Z")


def test_a_tenant_id_is_16_lower_case_hex_digits() -> None:
    made = [new_tenant_id() for _ in range(2000)]
    assert all(TENANT_ID.fullmatch(t) for t in made)
    assert len(set(made)) == 2000
    # Every position varies: 64 random bits, no fixed or counter-like part.
    for position in range(16):
        assert len({t[position] for t in made}) == 16, position


def test_an_issued_token_is_kept_only_as_its_digest() -> None:
    tenant = fresh()
    before = iso(datetime.now(UTC))
    token = issue_token(tenant)
    assert TOKEN.fullmatch(token)
    [record] = tenant.tokens
    assert (record.digest, record.prefix) == (tokens.digest(token), tokens.display_prefix(token))
    assert re.fullmatch(r"[0-9a-f]{8}", record.id)
    assert before <= record.created <= iso(datetime.now(UTC))
    assert token not in tenant.model_dump_json()
    assert tokens.match(token, tenant.token_digests()) == 0


def test_a_new_tenant_and_its_token_authenticate() -> None:
    tenant = fresh()
    token = issue_token(tenant)
    auth = Authenticator({tenant.id: tenant}.get)
    assert auth.authenticate(tenant.id, f"Bearer {token}") is tenant
    with pytest.raises(AuthFailure):
        auth.authenticate(tenant.id, f"Bearer {tokens.new_token()}")


def test_at_most_two_active_tokens() -> None:
    tenant = fresh()
    issued = [issue_token(tenant) for _ in range(MAX_ACTIVE_TOKENS)]
    assert len(set(issued)) == MAX_ACTIVE_TOKENS == 2
    with pytest.raises(ValueError, match="revoke one first"):
        issue_token(tenant)
    assert len(tenant.tokens) == 2
    assert len({t.id for t in tenant.tokens}) == 2
    assert [tokens.match(t, tenant.token_digests()) for t in issued] == [0, 1]


def test_the_limit_error_names_the_tenant_the_limit_and_the_command_to_run(
        capsys: pytest.CaptureFixture[str]) -> None:
    tenant = fresh()
    for _ in range(MAX_ACTIVE_TOKENS):
        issue_token(tenant)
    with pytest.raises(ValueError, match="revoke one first") as refused:
        issue_token(tenant)
    message = str(refused.value)
    assert f"tenant {tenant.id}" in message
    assert f"already has {MAX_ACTIVE_TOKENS} active tokens" in message
    command = re.search(r"shared\.admin (token revoke) TENANT TOKEN_ID", message)
    assert command is not None, message
    # The command it names is the CLI's, with those two arguments.
    with pytest.raises(SystemExit) as done:
        admin([*command.group(1).split(), "--help"])
    assert done.value.code == 0
    assert "token revoke [-h] [--json] tenant token_id" in capsys.readouterr().out


def test_a_revoked_token_frees_its_place() -> None:
    tenant = fresh()
    first, second = issue_token(tenant), issue_token(tenant)
    tenant.tokens = [t for t in tenant.tokens if t.digest != tokens.digest(first)]
    third = issue_token(tenant)
    assert len(tenant.tokens) == MAX_ACTIVE_TOKENS
    assert tokens.match(first, tenant.token_digests()) is None
    assert tokens.match(second, tenant.token_digests()) == 0
    assert tokens.match(third, tenant.token_digests()) == 1
