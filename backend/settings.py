"""All settings, read once from ``WIZARD_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The one settings class. Every field is ``WIZARD_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="WIZARD_", extra="ignore")

    test_timeout_s: float = Field(10.0, gt=0, le=300, description="Deadline for one connection test, every step included.")
    max_concurrent_tests: int = Field(16, ge=1, le=1024, description="Connection tests in flight at once; beyond, 503.")
    retry_after_s: int = Field(2, ge=1, description="Retry-After sent with a 503.")
    files_dir: Path = Field(Path("files"), description="The only folder server-side files (*_filename, keytab_file) are read from.")
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="Largest accepted request body.")
    log_level: str = Field("INFO", description="Python log level of the wizard's loggers.")
    krb5_config: str | None = Field(
        None, description="krb5.conf for Kerberos logins (KRB5_CONFIG of the Kerberos worker); unset: the system's."
    )
    api_url: str | None = Field(
        None,
        description="Where the Streamlit UI calls the API; unset: the API embedded in `streamlit run app.py`.",
    )
    test_password: SecretStr | None = Field(
        None, description="`python -m backend test`: the password (token, secret key) a --uri or --body leaves out."
    )

    # Target policy (server-side request forgery).
    allowed_targets: str = Field("", description="Comma-separated host names and CIDR ranges; when set, the only targets allowed.")
    blocked_targets: str = Field("", description="Comma-separated host names and CIDR ranges refused on top of the built-in blocks.")

    # Authentication.
    auth_enabled: bool = Field(True, description="Require a session or a bearer token on every Database Connections endpoint.")
    admin_username: str = Field("admin", description="The first user's name.")
    admin_password: str | None = Field(None, repr=False, description="The first user's password; generated and printed once when unset.")
    database_url: str = Field("sqlite:///.wizard/wizard.db", repr=False, description="SQLAlchemy URL of the user and session store.")
    session_ttl_s: int = Field(8 * 3600, ge=60, description="Lifetime of a login session.")
    oidc_issuer: str | None = Field(None, description="Expected `iss` of bearer tokens.")
    oidc_audience: str | None = Field(None, description="Expected `aud` of bearer tokens.")
    oidc_jwks_url: str | None = Field(None, description="Where the issuer's signing keys are published.")
    login_max_failures: int = Field(5, ge=1, description="Failed logins per user or client address before 429.")
    login_window_s: int = Field(300, ge=1, description="Window of the login throttle.")
    test_rate_per_minute: int = Field(60, ge=1, description="Connection tests per user and minute.")
    trusted_origins: str = Field(
        "", description="Comma-separated origins (https://ui.example.com) allowed to send cookie-authenticated writes besides the wizard's own."
    )
    own_ports: str = Field(
        "", description="Comma-separated ports the wizard is reached on besides those it learns itself (e.g. a reverse proxy's); tests may not target them."
    )

    # Saved connections (docs/design.md, "Saved connections").
    secret_key: str | None = Field(
        None,
        repr=False,
        description="Comma-separated Fernet keys for the secrets of saved connections: the first encrypts, any decrypts. "
        "Unset: a key generated at the first start into a 0600 file beside the database.",
    )
    rate_limit_storage_url: str = Field(
        "memory://", repr=False, description="Where the per-user test rate limit is counted (`limits` storage URL, e.g. redis://host:6379)."
    )

    # Operations (docs/design.md, "Operations").
    metrics_token: str | None = Field(None, repr=False, description="When set, GET /api/metrics requires `Authorization: Bearer <token>`.")
    frame_ancestors: str = Field(
        "", description="Space- or comma-separated origins allowed to embed the UI in a frame; empty: none."
    )
    log_format: str = Field("text", pattern="^(text|json)$", description="`text` or `json` (one JSON object per line).")

    # Connection health over time (docs/design.md, "Connection health over time"; backend/monitor).
    history_days: int = Field(90, ge=1, le=3650, description="Days the tests of saved connections are kept (pruned by the scheduler).")
    alert_webhook_url: str | None = Field(
        None, repr=False, pattern=r"^https?://[^\s]+$", description="Where a change of a connection's state is POSTed (JSON with a Slack-compatible `text`); unset: no alerts."
    )
    monitor_enabled: bool = Field(True, description="Run the scheduler of monitored connections in this process.")
    monitor_poll_s: float = Field(5.0, gt=0, le=300, description="How often the scheduler looks for due tests.")
    monitor_lease_s: float = Field(
        60.0, gt=0, le=3600, description="How long a claimed scheduled test is this process's (at least the test deadline + 5 s); "
        "a process that dies leaves it to another after it."
    )
    alert_attempts: int = Field(6, ge=1, le=50, description="Attempts to deliver one alert (backoff 1, 2, 4 … s, at most 5 min).")


@lru_cache
def get_settings() -> Settings:
    return Settings()
