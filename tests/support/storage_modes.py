"""The storage a test session runs on, chosen by SCIM_TEST_STORAGE (docs/testing.md):

- `http-sharedkey` (the default): Azurite over plain HTTP, signed with the development
  account's Shared Key (SCIM_STORAGE_CONNECTION_STRING), as `make run` uses it; or the Table
  endpoint SCIM_TEST_STORAGE_CONNECTION_STRING names.
- `https-oauth`: the path the app takes in Azure. Azurite over HTTPS (a self-signed certificate
  that clients verify through SSL_CERT_FILE and REQUESTS_CA_BUNDLE) with `--oauth basic`; the
  app is given SCIM_STORAGE_TABLE_ENDPOINT and AZURE_CLIENT_ID, and DefaultAzureCredential
  gets its tokens from a local managed-identity endpoint (IDENTITY_ENDPOINT, IDENTITY_HEADER).

Either way the tests take their storage from `TestStorage.settings` (Settings fields) or
`app_settings` (the app's variables), never from a mode of their own.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import azurite  # tools/, on sys.path via tests/conftest.py
import local_tls  # tools/

from shared.settings import variables
from tests.support import managed_identity
from tests.support.managed_identity import ManagedIdentityEndpoint

MODE_VARIABLE = "SCIM_TEST_STORAGE"
EXTERNAL_VARIABLE = "SCIM_TEST_STORAGE_CONNECTION_STRING"
HTTP_SHARED_KEY = "http-sharedkey"
HTTPS_OAUTH = "https-oauth"
MODES = (HTTP_SHARED_KEY, HTTPS_OAUTH)
# The Settings fields that name the storage and the identity used for it.
STORAGE_FIELDS = ("storage_connection_string", "storage_table_endpoint", "azure_client_id")


@dataclass(frozen=True)
class TestStorage:
    __test__ = False  # not a test class, whatever its name

    mode: str
    settings: Mapping[str, str]  # the STORAGE_FIELDS that are set: `Settings(**settings)`
    # Shared Key connection string to the same tables, for tests about Shared Key signing or
    # connection strings. In https-oauth mode it names the https endpoint: Azurite accepts the
    # account key alongside tokens.
    connection_string: str
    identity: ManagedIdentityEndpoint | None = None  # https-oauth: who hands out tokens
    ca_file: Path | None = None  # https-oauth: the CA file SSL_CERT_FILE names

    @property
    def app_settings(self) -> dict[str, str | None]:
        """The app's storage variables, None for those to unset (a variable left over in the
        environment must not pick another storage: a connection string wins over an
        endpoint)."""
        names = variables()
        return {names[f]: self.settings.get(f) for f in STORAGE_FIELDS}


def selected_mode(environ: Mapping[str, str] | None = None) -> str:
    """The mode SCIM_TEST_STORAGE names; ValueError for an unknown one, or for https-oauth with
    an external endpoint (it has no local identity endpoint to get tokens from)."""
    env = os.environ if environ is None else environ
    mode = env.get(MODE_VARIABLE) or HTTP_SHARED_KEY
    if mode not in MODES:
        raise ValueError(f"{MODE_VARIABLE}={mode!r}: expected one of {', '.join(MODES)}")
    if mode == HTTPS_OAUTH and env.get(EXTERNAL_VARIABLE):
        raise ValueError(f"{MODE_VARIABLE}={HTTPS_OAUTH} runs its own Azurite and identity "
                         f"endpoint; unset {EXTERNAL_VARIABLE} for it")
    return mode


@contextlib.contextmanager
def provide(mode: str, workdir: Path, log: Path) -> Iterator[TestStorage]:
    """The storage of `mode` for the duration of the block (Azurite logs to `log`; the
    certificate of https-oauth goes to `workdir`)."""
    if mode == HTTPS_OAUTH:
        with https_oauth(workdir, log) as storage:
            yield storage
        return
    given = os.environ.get(EXTERNAL_VARIABLE)
    if given:
        yield TestStorage(mode, {"storage_connection_string": given}, given)
        return
    with azurite.running(log=log) as conn:
        yield TestStorage(mode, {"storage_connection_string": conn}, conn)


@contextlib.contextmanager
def https_oauth(workdir: Path, log: Path) -> Iterator[TestStorage]:
    """Azurite over HTTPS with OAuth and a managed-identity endpoint for a fresh client id; the
    process environment trusts the certificate and points azure-identity at the endpoint
    until the block ends."""
    certificate = local_tls.self_signed(workdir)
    # The CA file this process trusted so far stays trusted (None: OpenSSL has none).
    public_cas = ssl.get_default_verify_paths().cafile
    ca_file = local_tls.bundle(certificate, Path(public_cas) if public_cas else None,
                               workdir / "ca-bundle.pem")
    client_id = str(uuid.uuid4())
    port = azurite.free_port()
    with azurite.running(port, log=log, certificate=certificate) as conn, \
            managed_identity.serving(client_id) as identity, \
            environment({"SSL_CERT_FILE": str(ca_file), "REQUESTS_CA_BUNDLE": str(ca_file),
                         **identity.environ()}):
        yield TestStorage(
            HTTPS_OAUTH,
            {"storage_table_endpoint": azurite.table_endpoint(port, scheme="https"),
             "azure_client_id": client_id},
            conn, identity, ca_file)


@contextlib.contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) environment variables for the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        _apply(values)
        yield
    finally:
        _apply(saved)


def _apply(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
