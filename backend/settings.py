"""All settings, read once from ``WIZARD_*`` environment variables and parsed here, nowhere else.

Lists (targets, ports, origins) are split and checked here into typed values; every secret is a
``SecretStr``. A value that cannot be read stops the start with one line naming the variable
(:func:`load_settings`), except ``WIZARD_SECRET_KEY``: it is only split here, and a key that is
not a usable Fernet key makes saved connections answer ``503 SERVICE_BUSY`` (``backend/saved``).
An unknown ``WIZARD_`` name is logged as a warning. The README's settings table is generated from
the fields' descriptions (:func:`settings_table`, ``cog -r README.md``).

The URLs of the store and of the rate-limit storage may carry a password but stay plain ``str``
(``repr=False``, masked in logs): every store module hands them to SQLAlchemy and ``limits`` as text.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

log = logging.getLogger("wizard.settings")

PREFIX = "WIZARD_"

_HOST_NAME = re.compile(r"^(\*\.|\.)?[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d{1,5})?$")
_FRAME_SOURCE = re.compile(r"'self'|https?://(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d{1,5})?")
"""An origin a browser compares frame-ancestors against (a host may start with ``*.``), or ``'self'``."""

Items = Annotated[tuple[str, ...], NoDecode]
"""A comma-separated list in the environment (``NoDecode``: not JSON), split by a validator."""


def _split(value: Any, separators: str = r"[,]") -> Any:
    if isinstance(value, str):
        return tuple(item.strip() for item in re.split(separators, value) if item.strip())
    return value


def _origins_in(items: Any, valid: Callable[[str], bool], what: str) -> Any:
    """Split origins, each checked by ``valid`` and without its trailing ``/`` (anything else: pydantic's to refuse)."""
    if not isinstance(items, (tuple, list)):
        return items
    for item in items:
        if not valid(str(item).rstrip("/")):
            raise ValueError(f"'{str(item)[:60]}' is not {what}")
    return tuple(str(item).rstrip("/") for item in items)


def _target(item: str) -> str:
    """A CIDR range, an address (in any spelling the resolver reads) or a host name (``*.x``, ``.x``)."""
    try:
        return str(ipaddress.ip_network(item, strict=False))
    except ValueError:
        pass
    lowered = item.lower()
    if _HOST_NAME.match(lowered) or re.fullmatch(r"(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]+|\d+)){0,3}", lowered):
        return lowered.rstrip(".")
    raise ValueError(f"'{item[:60]}' is neither a host name nor an address or CIDR range")


class Settings(BaseSettings):
    """The one settings class. Every field is ``WIZARD_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    test_timeout_s: float = Field(10.0, gt=0, le=300, description=(
        "Deadline for one connection test, every network step included. A silent host ends in "
        "`CONNECTION_TIMEOUT` within the deadline + 0.5 s."))
    max_concurrent_tests: int = Field(16, ge=1, le=1024, description=(
        "Connection tests in flight at once (per process); beyond, `503` with `Retry-After`."))
    retry_after_s: int = Field(2, ge=1, description="The `Retry-After` sent with a `503`.")
    test_rate_per_minute: int = Field(60, ge=1, description=(
        "Connection tests per user and minute (saved connections' tests included); beyond, `429`."))
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="Largest accepted request body; beyond, `413`.")
    files_dir: Path = Field(Path("files"), description=(
        "The only folder server-side files (`ca_filename`, `cert_filename`, `key_filename`, `keytab_file`) "
        "are read from."))
    krb5_config: str | None = Field(None, description="`krb5.conf` for Kerberos logins; unset: the system's.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field("INFO", description=(
        "Log level of the wizard's loggers: `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`."))
    api_url: str | None = Field(None, description=(
        "Where the Streamlit UI calls the API; unset: the API embedded in `streamlit run app.py`."))
    test_password: SecretStr | None = Field(None, description=(
        "`python -m backend test`: the password (token, secret key) that `--uri` or `--body` leaves out."))

    # Authentication.
    auth_enabled: bool = Field(True, description=(
        "Require a session or a bearer token on every Database Connections endpoint."))
    admin_username: str = Field("admin", description="The first user's name.")
    admin_password: SecretStr | None = Field(None, description=(
        "The first user's password; when unset, one is generated at the first start and printed once."))
    database_url: str = Field("sqlite:///.wizard/wizard.db", repr=False, description=(
        "SQLAlchemy URL of the store: users, sessions and saved connections; use e.g. PostgreSQL when several "
        "API processes serve behind a load balancer (then `WIZARD_SECRET_KEY` must be set, or the API refuses "
        "to start). Its schema is migrated (Alembic) at start and by `python -m backend db upgrade`."))
    secret_key: Annotated[tuple[SecretStr, ...], NoDecode] = Field((), description=(
        "Comma-separated Fernet keys that encrypt the secrets of saved connections: the first encrypts, any "
        "decrypts. Unset: a key is generated at the first start into a file of its own, mode 0600 — beside a "
        "SQLite database (`wizard.db` → `wizard.db.key`), else `.wizard/secret.key` in the working folder. "
        "**Set it in production** (and keep it apart from the database's backups). A malformed key does not "
        "stop the start: saved connections then answer `503 SERVICE_BUSY`."))
    rate_limit_storage_url: str = Field("memory://", repr=False, description=(
        "Where the per-user test rate and the failed logins are counted (the `limits` library): `memory://` per process, "
        "`redis://[:password@]host:6379/0` shared by every process using the same Redis. If Redis does not "
        "answer (1 s deadline), tests are let through and an error is logged."))
    session_ttl_s: int = Field(8 * 3600, ge=60, description="Lifetime of a login session.")
    login_max_failures: int = Field(5, ge=1, description=(
        "Failed logins per (user name, client address) within the window before `429`; a successful login clears its count."))
    login_window_s: int = Field(300, ge=1, description="Window of the login throttle.")
    trusted_origins: Items = Field((), description=(
        "Comma-separated origins (`https://ui.example.com`) allowed to send cookie-authenticated writes "
        "besides the wizard's own."))
    oidc_issuer: str | None = Field(None, description="Expected `iss` of bearer tokens.")
    oidc_audience: str | None = Field(None, description="Expected `aud` of bearer tokens.")
    oidc_jwks_url: str | None = Field(None, description=(
        "Where the issuer's signing keys are published (fetched with a deadline, cached, re-fetched on an "
        "unknown `kid`)."))

    # Target policy (server-side request forgery).
    allowed_targets: Items = Field((), description=(
        "Comma-separated host names (`*.example.com` allowed) and CIDR ranges; when set, the only targets "
        "allowed."))
    blocked_targets: Items = Field((), description=(
        "Comma-separated host names and CIDR ranges refused on top of the built-in blocks."))
    own_ports: Annotated[frozenset[Annotated[int, Field(ge=1, le=65535)]], NoDecode] = Field(frozenset(), description=(
        "Comma-separated ports the wizard is reached on besides those it learns itself (e.g. a reverse "
        "proxy's); tests may not target them."))

    # The store under faults and the login throttle (docs/design.md, "The store under faults", "Login throttle").
    store_timeout_s: float = Field(2.0, gt=0, le=60, description=(
        "Deadline of a request's calls to the store, enforced by the wizard itself (a frozen server enforces "
        "nothing): connecting, waiting for a pooled connection, each statement (`statement_timeout` on "
        "PostgreSQL, `busy_timeout` on SQLite; a connection still busy at the deadline is cut). A store that is "
        "down or frozen answers `503 STORE_UNAVAILABLE` with `Retry-After` within the deadline + 1 s; the "
        "process recovers by itself when the store is back."))
    login_max_failures_per_address: int = Field(20, ge=1, description=(
        "Failed logins from one client address (whatever the user names) within the window before `429`."))

    # Connection health over time (docs/design.md, "Connection health over time"; backend/monitor).
    history_days: int = Field(90, ge=1, le=3650, description=(
        "Days the tests of saved connections are kept in their history (pruned by the scheduler). See "
        "[Connection health over time](#connection-health-over-time)."))
    alert_webhook_url: str | None = Field(None, repr=False, pattern=r"^https?://[^\s]+$", description=(
        "Where each change of a connection's state is POSTed (JSON with a Slack-compatible `text`); unset: no "
        "webhook (the alert is still logged and counted). An operator's setting: the target policy does not "
        "apply to it."))
    monitor_enabled: bool = Field(True, description=(
        "Run the scheduler of monitored connections in this process (every process may: each due test still "
        "runs once)."))
    monitor_poll_s: float = Field(5.0, gt=0, le=300, description="How often the scheduler looks for due tests.")
    monitor_lease_s: float = Field(60.0, gt=0, le=3600, description=(
        "How long a claimed scheduled test belongs to the process that claimed it (at least the test deadline "
        "+ 5 s); a process that dies mid-test leaves it to another after that."))
    alert_attempts: int = Field(6, ge=1, le=50, description=(
        "Attempts to deliver one alert (each bounded by 5 s; backoff 1, 2, 4 … s, at most 5 min)."))

    # Operations.
    metrics_token: SecretStr | None = Field(None, description=(
        "When set, `GET /api/metrics` requires `Authorization: Bearer <token>`; unset, it is open."))
    frame_ancestors: Items = Field((), description=(
        "Origins (`https://portal.example.com`, space- or comma-separated) allowed to show the wizard in a "
        "frame; empty: no site may."))
    log_format: Literal["text", "json"] = Field("text", description=(
        "`json`: one JSON object per log line (see [Operating it](#operating-it))."))

    # --- parsing, once ------------------------------------------------------------------------

    @field_validator("allowed_targets", "blocked_targets", mode="before")
    @classmethod
    def _targets(cls, value: Any) -> Any:
        items = _split(value)
        return tuple(_target(str(item)) for item in items) if isinstance(items, (tuple, list)) else items

    @field_validator("trusted_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        return _origins_in(_split(value), lambda o: bool(_ORIGIN.match(o)), "an origin (https://host[:port])")

    @field_validator("frame_ancestors", mode="before")
    @classmethod
    def _frame_sources(cls, value: Any) -> Any:
        return _origins_in(_split(value, r"[\s,]+"), lambda o: bool(_FRAME_SOURCE.fullmatch(o)),
                           "an origin (https://host[:port]) or 'self'")

    @field_validator("own_ports", mode="before")
    @classmethod
    def _ports(cls, value: Any) -> Any:
        items = _split(value)
        if isinstance(items, (tuple, list)):
            for item in items:
                if not str(item).isdigit():
                    raise ValueError(f"'{str(item)[:20]}' is not a port number")
            return frozenset(int(item) for item in items)
        return items

    @field_validator("secret_key", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        """Split only: whether each is a Fernet key is the store's to say (a bad one: 503, never a failed start)."""
        if value is None:
            return ()
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return _split(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


SECRET_FIELDS = frozenset({"database_url", "rate_limit_storage_url"} | {
    name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)})
"""Fields whose value is never quoted in an error (the URLs may carry a password)."""


class SettingsError(SystemExit):
    """A setting that cannot be read: raised at start with one line naming the variable (exit status 1)."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def describe(exc: ValidationError) -> str:
    """One line naming every variable that cannot be read and why (never a secret's value)."""
    parts: list[str] = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error.get("loc") else "?"
        reason = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if name not in SECRET_FIELDS and "input" in error and not isinstance(error["input"], (dict, list)):
            reason += f" (got {str(error['input'])[:60]!r})"
        parts.append(f"{PREFIX}{name.upper()}: {reason}")
    return "invalid settings: " + "; ".join(dict.fromkeys(parts))


def unknown_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """``WIZARD_*`` variables that name no setting (a typo, or one of an older version)."""
    known = {f"{PREFIX}{name.upper()}" for name in Settings.model_fields}
    env = os.environ if environ is None else environ
    return sorted(k for k in env if k.upper().startswith(PREFIX) and k.upper() not in known)


def load_settings() -> Settings:
    """The settings of this process; :class:`SettingsError` (one line) when one cannot be read.

    Logs a warning for each ``WIZARD_`` name that is no setting.
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None
    for name in unknown_names():
        log.warning("%s is not a setting of the wizard and is ignored (a typo?)", name)
    return settings


@lru_cache
def get_settings() -> Settings:
    return load_settings()


def _default_text(name: str) -> str:
    info = Settings.model_fields[name]
    default = info.default
    if default is None or (name in SECRET_FIELDS and not default):
        return "unset"
    if default in ((), frozenset(), ""):
        return "empty"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


def settings_table() -> str:
    """The README's settings table, generated from the fields (``cog -r README.md``)."""
    lines = ["| setting | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        lines.append(f"| `{PREFIX}{name.upper()}` | {_default_text(name)} | {info.description or ''} |")
    return "\n".join(lines)
