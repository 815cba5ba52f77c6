"""Configuration from app settings (environment variables). One place lists every setting:
each field of `Settings` names its variable once, as its `validation_alias`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .sanitize import clean

DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:7071"
# Webhook receivers filter on the event `type`; the prefix is the one the docs have always
# documented, so receivers written against it keep matching unless the operator changes it.
DEFAULT_EVENT_TYPE_PREFIX = "com.github.entra-scim-connector"
MAX_EVENT_TYPE_PREFIX = 100
# Reverse-DNS-like: at least two dot-separated labels of letters, digits, '-' and '_', each
# starting and ending with a letter or digit. The connector appends `.user.created` etc.
_EVENT_TYPE_PREFIX = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)+")
MAX_DOCUMENTATION_URI = 2048
# Requests to one receiver at once: beyond this a receiver is more likely overwhelmed than
# faster, and the sender keeps this many connections open per tenant in turn.
MAX_WEBHOOK_CONCURRENCY = 32
# A long-poll holds an HTTP worker; far below the Functions HTTP limit (230 s) and its timeout.
MAX_FEED_WAIT_SECONDS = 60
# Storage's queue names are 3-63 characters; 56 leaves room for the host's "-poison".
_QUEUE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,54}[a-z0-9]")
_SHA256_HEX = re.compile(r"[0-9A-Fa-f]{64}")
_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_NO_SPACE = re.compile(r"[!-~]+")  # printable ASCII without spaces


class Settings(BaseModel):
    """Every app setting the connector reads; docs/operations.md "Settings" mirrors this.
    Fields are read from their variable (`from_environ`) and can also be given by field name
    (tests, tools: `Settings(storage_connection_string=...)`, `model_copy(update=...)`)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    # repr=False: the connection string holds the account key; it never appears in a repr or
    # in a configuration error.
    storage_connection_string: str | None = Field(
        None, validation_alias="SCIM_STORAGE_CONNECTION_STRING", repr=False,
        description="local/Azurite connection string (e.g. UseDevelopmentStorage=true).")
    storage_table_endpoint: str | None = Field(
        None, validation_alias="SCIM_STORAGE_TABLE_ENDPOINT",
        description="https://ACCOUNT.table.core.windows.net (used with managed identity when "
        "no connection string is set).")
    azure_client_id: str | None = Field(
        None, validation_alias="AZURE_CLIENT_ID",
        description="client id of the user-assigned managed identity.")
    storage_client: Literal["direct", "sdk"] = Field(
        "direct", validation_alias="SCIM_STORAGE_CLIENT",
        description="how the store talks to Table Storage: 'direct' (its own HTTP client, the "
        "default: a fraction of the SDK's CPU per call) or 'sdk' (Microsoft's "
        "azure-data-tables client), with the same behaviour.")
    table_prefix: str = Field(
        "scim", validation_alias="SCIM_TABLE_PREFIX", description="prefix of table names.")
    public_base_url: str = Field(
        DEFAULT_PUBLIC_BASE_URL, validation_alias="SCIM_PUBLIC_BASE_URL",
        description="scheme://host[:port] that Entra uses to reach us.")
    max_results: int = Field(
        200, validation_alias="SCIM_MAX_RESULTS",
        description="page size cap for list/filter (an integer).")
    max_payload_bytes: int = Field(
        1_048_576, validation_alias="SCIM_MAX_PAYLOAD_BYTES",
        description="largest accepted request body, in bytes (an integer).")
    entra_jwks_url: str = Field(
        "https://login.microsoftonline.com/{tid}/discovery/keys",
        validation_alias="SCIM_ENTRA_JWKS_URL",
        description="where Entra's token signing keys are fetched for tenants that accept "
        "Entra-issued JWTs ({tid} = their Entra tenant id).")
    entra_assertion_jwks_url: str = Field(
        "https://login.microsoftonline.com/{tid}/discovery/v2.0/keys",
        validation_alias="SCIM_ENTRA_ASSERTION_JWKS_URL",
        description="where Entra's v2.0 signing keys are fetched to verify the assertions of "
        "workload identity federation at the token endpoint ({tid} = the Entra tenant id).")
    access_token_minutes: int = Field(
        60, ge=60, le=360, validation_alias="SCIM_ACCESS_TOKEN_MINUTES",
        description="lifetime of the token endpoint's access tokens (minutes, 60 to 360: "
        "what Microsoft's gallery accepts).")
    storage_deadline_seconds: float = Field(
        10.0, gt=0, le=50, validation_alias="SCIM_STORAGE_DEADLINE_SECONDS",
        description="the storage calls of one SCIM request end by this long after it arrived; "
        "then it answers 503 with Retry-After. Entra waits about a minute, so keep it well "
        "below that (seconds, more than 0, at most 50).")
    reconcile_schedule: str = Field(
        "0 */15 * * * *", validation_alias="RECONCILE_SCHEDULE",
        description="NCRONTAB (UTC) of the reconciler.")
    documentation_uri: str | None = Field(
        None, validation_alias="SCIM_DOCUMENTATION_URI",
        description="an absolute http(s) URL of this deployment's documentation, advertised "
        "as documentationUri in /ServiceProviderConfig; unset, the attribute is left out.")
    schemas_dir: str = Field(
        "schemas", validation_alias="SCIM_SCHEMAS_DIR",
        description="folder of extension schema documents (*.json) declared for every tenant, "
        "relative to the app's root (where function_app.py is) unless absolute; the default "
        "is the schemas/ folder deployed with the app.")
    # Change feed, reconciler and audit log (docs/change-feed.md).
    event_type_prefix: str = Field(
        DEFAULT_EVENT_TYPE_PREFIX, validation_alias="SCIM_EVENT_TYPE_PREFIX",
        description="the CloudEvents `type` prefix of change events, a reverse-DNS name such "
        "as com.example.scim (dot-separated labels of letters, digits, '-' and '_'; no "
        f"trailing dot; at most {MAX_EVENT_TYPE_PREFIX} characters).")
    reconcile_budget_seconds: float = Field(
        240.0, validation_alias="SCIM_RECONCILE_BUDGET_SECONDS",
        description="a run stops starting work after this long and the next tick resumes "
        "(seconds; keep it well below the schedule interval).")
    webhook_max_attempts: int = Field(
        12, ge=1, validation_alias="SCIM_WEBHOOK_MAX_ATTEMPTS",
        description="delivery attempts before an event is dead-lettered (an integer, at "
        "least 1).")
    webhook_backoff_seconds: float = Field(
        60.0, gt=0, validation_alias="SCIM_WEBHOOK_BACKOFF_SECONDS",
        description="delay after the first failed attempt; doubles per attempt, with jitter "
        "(seconds, more than 0).")
    webhook_backoff_max_seconds: float = Field(
        21_600.0, gt=0, validation_alias="SCIM_WEBHOOK_BACKOFF_MAX_SECONDS",
        description="longest delay between attempts (seconds, more than 0).")
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, validation_alias="SCIM_WEBHOOK_TIMEOUT_SECONDS",
        description="timeout of one webhook request (seconds, more than 0).")
    webhook_concurrency: int = Field(
        4, ge=1, le=MAX_WEBHOOK_CONCURRENCY, validation_alias="SCIM_WEBHOOK_CONCURRENCY",
        description="webhook requests in flight to one tenant's endpoint at once, and from "
        "one instance to one URL origin (the deployment-wide subscription's endpoint gets "
        "every tenant's events); events of one resource are still sent one after another, "
        f"in order (an integer, 1 to {MAX_WEBHOOK_CONCURRENCY}).")
    feed_hold_days: float = Field(
        7.0, ge=0, validation_alias="SCIM_FEED_HOLD_DAYS",
        description="published events stay pullable (GET /feed/v1/{tenant}/events) this long, "
        "and events of a tenant without a webhook are kept this long, then discarded (days, 0 "
        "or more).")
    feed_max_wait_seconds: int = Field(
        20, ge=0, le=MAX_FEED_WAIT_SECONDS, validation_alias="SCIM_FEED_MAX_WAIT_SECONDS",
        description="the longest long-poll a pull request may ask for with `wait` (seconds, 0 "
        f"to {MAX_FEED_WAIT_SECONDS}; 0 turns long-polling off).")
    repair_interval_hours: float = Field(
        24.0, ge=0, validation_alias="SCIM_REPAIR_INTERVAL_HOURS",
        description="how often each tenant's store invariants are checked and repaired (a full "
        "walk of its partition), each tenant at its own time of the interval; 0 = every run "
        "(hours, 0 or more).")
    repair_concurrency: int = Field(
        4, ge=1, le=32, validation_alias="SCIM_REPAIR_CONCURRENCY",
        description="rows a repair pass checks at once, each with its own point reads (an "
        "integer, 1 to 32).")
    retention_days: float = Field(
        0.0, ge=0, validation_alias="SCIM_RETENTION_DAYS",
        description="hard-delete users deactivated longer than this; 0 = off (days, 0 or "
        "more).")
    audit_retention_days: float = Field(
        90.0, ge=0, validation_alias="SCIM_AUDIT_RETENTION_DAYS",
        description="audit entries older than this are purged; 0 = kept forever (days, 0 or "
        "more).")
    # Queue-driven delivery (docs/change-feed.md "How events reach you"). Unset, the
    # reconciler's timer delivers alone.
    queue_connection_string: str | None = Field(
        None, validation_alias="SCIM_QUEUE_STORAGE", repr=False,
        description="connection string of the storage account whose queues signal delivery "
        "(local/Azurite); the deliver queue trigger reads the same setting. Unset (and no "
        "SCIM_QUEUE_STORAGE__queueServiceUri): the reconciler's timer delivers alone.")
    queue_service_uri: str | None = Field(
        None, validation_alias="SCIM_QUEUE_STORAGE__queueServiceUri",
        description="https://ACCOUNT.queue.core.windows.net: the queues through the managed "
        "identity (with SCIM_QUEUE_STORAGE__credential=managedidentity and "
        "SCIM_QUEUE_STORAGE__clientId for the host's trigger).")
    deliver_queue: str = Field(
        "scim-deliver", validation_alias="SCIM_DELIVER_QUEUE",
        description="the queue of \"tenant has due events\" messages (3 to 56 lower-case "
        "letters, digits and single '-', not first or last; its poison queue is the name "
        "with '-poison'). Set it wherever the app is hosted: the trigger's binding names it.")
    delivery_budget_seconds: float = Field(
        30.0, gt=0, le=300, validation_alias="SCIM_DELIVERY_BUDGET_SECONDS",
        description="one queue-triggered delivery pass stops starting requests after this long "
        "and hands the rest of the tenant's outbox to a new message (seconds, more than 0, at "
        "most 300).")
    work_queue: str = Field(
        "scim-work", validation_alias="SCIM_WORK_QUEUE",
        description="the queue of the reconciler's work items (one per tenant and tick, repair "
        "continuations, the audit sweep; same naming rule as SCIM_DELIVER_QUEUE). Set it "
        "wherever the app is hosted: the trigger's binding names it.")
    work_budget_seconds: float = Field(
        120.0, gt=0, le=540, validation_alias="SCIM_WORK_BUDGET_SECONDS",
        description="one queued reconciler work item (a tenant's journals, repair step, "
        "retention) stops after this long; a repair pass cut short goes on in a new item "
        "(seconds, more than 0, at most 540).")
    # The management API (/manage/v1, docs/management-api.md): who may call it.
    manage_dev_credential_sha256: str | None = Field(
        None, validation_alias="SCIM_MANAGE_DEV_CREDENTIAL_SHA256", repr=False,
        description="local development only: the hex SHA-256 of the adm_ credential that may "
        "call the management API (`make run` generates one per run); never honoured when the "
        "app runs in Azure (64 hexadecimal characters).")
    manage_entra_tenant_id: str | None = Field(
        None, validation_alias="SCIM_MANAGE_ENTRA_TENANT_ID",
        description="the Entra tenant id (a GUID) whose tokens may call the management API; "
        "with SCIM_MANAGE_AUDIENCE, and unset: no Entra sign-in.")
    manage_audience: str | None = Field(
        None, validation_alias="SCIM_MANAGE_AUDIENCE",
        description="the application (client) id of the deployment's app registration that "
        "management API tokens are issued for (a GUID; its api://GUID App ID URI is accepted "
        "too), or an App ID URI (api://...).")
    manage_role: str = Field(
        "Connector.Admin", validation_alias="SCIM_MANAGE_ROLE",
        description="the app role a management API token must carry in `roles` (1 to 120 "
        "characters, no spaces).")

    @field_validator("documentation_uri")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > MAX_DOCUMENTATION_URI or any(c.isspace() or not c.isprintable()
                                                     for c in value):
            raise ValueError(f"must be one URL of at most {MAX_DOCUMENTATION_URI} characters, "
                             "without spaces or control characters")
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL such as "
                             "https://docs.example.com/scim")
        return value

    @field_validator("event_type_prefix")
    @classmethod
    def _reverse_dns(cls, value: str) -> str:
        if len(value) > MAX_EVENT_TYPE_PREFIX:
            raise ValueError(f"is {len(value)} characters; at most {MAX_EVENT_TYPE_PREFIX}")
        if value.endswith("."):
            raise ValueError("must not end with '.' (the connector appends '.user.created' "
                             "and the like)")
        if not _EVENT_TYPE_PREFIX.fullmatch(value):
            raise ValueError("must be a reverse-DNS name such as com.example.scim: at least "
                             "two dot-separated labels of letters, digits, '-' and '_', "
                             "without spaces")
        return value

    @field_validator("deliver_queue", "work_queue")
    @classmethod
    def _queue_name(cls, value: str) -> str:
        if not _QUEUE_NAME.fullmatch(value) or "--" in value:
            raise ValueError("must be 3 to 56 lower-case letters, digits and single '-', "
                             "starting and ending with a letter or digit (e.g. scim-deliver)")
        return value

    @field_validator("manage_dev_credential_sha256")
    @classmethod
    def _sha256_hex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _SHA256_HEX.fullmatch(value):
            raise ValueError("must be 64 hexadecimal characters (the SHA-256 of the adm_ "
                             "credential, as `make run` sets it)")
        return value.lower()

    @field_validator("manage_entra_tenant_id")
    @classmethod
    def _guid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _GUID.fullmatch(value):
            raise ValueError("must be a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47 (the "
                             "Directory (tenant) ID in the Entra admin center)")
        return value.lower()

    @field_validator("manage_audience")
    @classmethod
    def _audience(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not (_GUID.fullmatch(value) or (value.startswith("api://") and len(value) <= 256
                                           and _NO_SPACE.fullmatch(value))):
            raise ValueError("must be the app registration's Application (client) ID (a "
                             "GUID) or its App ID URI (api://...)")
        return value

    @field_validator("manage_role")
    @classmethod
    def _role(cls, value: str) -> str:
        if not (len(value) <= 120 and _NO_SPACE.fullmatch(value)):
            raise ValueError("must be an app role value: 1 to 120 printable characters "
                             "without spaces (e.g. Connector.Admin)")
        return value

    @property
    def queues_enabled(self) -> bool:
        """Commits signal a queue and a queue trigger delivers (else the timer alone)."""
        return bool(self.queue_connection_string or self.queue_service_uri)

    @property
    def data_table(self) -> str:
        return f"{self.table_prefix}data"

    @property
    def tenants_table(self) -> str:
        return f"{self.table_prefix}tenants"

    @property
    def audit_table(self) -> str:
        return f"{self.table_prefix}audit"

    @property
    def runs_table(self) -> str:
        return f"{self.table_prefix}runs"

    def tenant_url(self, tenant_id: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/scim/v2/{tenant_id}"

    def feed_url(self, tenant_id: str) -> str:
        """The tenant's pull API (shared/service/feed_api.py)."""
        return f"{self.public_base_url.rstrip('/')}/feed/v1/{tenant_id}/events"

    @property
    def oauth_issuer(self) -> str:
        """The `iss` of access tokens; the token endpoint and key set live under it."""
        return f"{self.public_base_url.rstrip('/')}/oauth2"

    @property
    def token_endpoint(self) -> str:
        return f"{self.oauth_issuer}/token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.oauth_issuer}/keys"


def variables() -> dict[str, str]:
    """Field name -> environment variable, for every setting."""
    return {name: str(field.validation_alias) for name, field in Settings.model_fields.items()}


class SettingsError(ValueError):
    """App settings that cannot be used; the message names each variable, the problem and
    what to set instead."""


def from_environ(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: this process's environment). An empty variable counts
    as unset (its default applies). Raises SettingsError for values that cannot be used."""
    env = os.environ if environ is None else environ
    values = {var: env[var] for var in variables().values() if env.get(var)}
    try:
        return Settings.model_validate(values, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    fields = {str(f.validation_alias): f for f in Settings.model_fields.values()}
    lines = []
    for error in exc.errors():
        var = str(error["loc"][0]) if error["loc"] else "?"
        field = fields.get(var)
        # pydantic prefixes a validator's own message with "Value error, ".
        problem = str(error["msg"]).removeprefix("Value error, ")
        if field is None:
            lines.append(f"{var}: {problem}.")
            continue
        shown = f"{var}={clean(repr(error.get('input')), 80)}" if field.repr else var
        default = ("remove the setting (it is optional)" if field.default is None
                   else f"remove the setting to use the default ({field.default!r})")
        lines.append(f"{shown} is not usable: {problem}. {var}: {field.description} Set a "
                     f"valid value, or {default}.")
    return "Invalid app settings:\n" + "\n".join(lines)


@lru_cache(maxsize=1)
def current() -> Settings:
    """Settings of this process, read once (the Functions host restarts on setting changes)."""
    return from_environ()
