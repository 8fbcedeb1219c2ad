"""Running connection tests: the in-flight limit, the rate limit, the deadline, the audit log, the sanitiser.

The limits are per process: each API process (uvicorn worker, the Streamlit app's embedded
server) admits ``WIZARD_MAX_CONCURRENT_TESTS`` tests at once and ``WIZARD_TEST_RATE_PER_MINUTE``
tests per user and minute. The counters are guarded by a lock, so they hold even when the same
service is called from several threads or event loops of one process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from backend.auth.throttle import SlidingWindow
from backend.connectors import registry
from backend.connectors.base import ConnectorModel, TestContext
from backend.diagnosis import Deadline, Diagnosis
from backend.errors import APIError
from backend.fields import secret_values
from backend.messages import Code
from backend.policy import TargetPolicy
from backend.schemas import ApplicationMessage
from backend.secrets import LIVE, Masker, scrub
from backend.settings import Settings

audit = logging.getLogger("wizard.audit")


class Busy(Exception):
    """More tests in flight than ``WIZARD_MAX_CONCURRENT_TESTS``."""


class RateLimited(APIError):
    """More tests by one user in a minute than ``WIZARD_TEST_RATE_PER_MINUTE``: 429."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            Code.TOO_MANY_REQUESTS,
            "Too many tests",
            f"You have run as many connection tests as allowed in a minute. Try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


def own_ports(settings: Settings) -> set[int]:
    return {int(p) for p in settings.own_ports.replace(" ", "").split(",") if p.isdigit()}


class TestService:
    __test__ = False  # not a pytest test class
    def __init__(self, settings: Settings, policy: TargetPolicy | None = None) -> None:
        self.settings = settings
        self.policy = policy or TargetPolicy(settings.allowed_targets, settings.blocked_targets, own_ports(settings))
        self.rate = SlidingWindow(settings.test_rate_per_minute, 60.0)
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _admit(self) -> None:
        with self._lock:
            if self._in_flight >= self.settings.max_concurrent_tests:
                raise Busy
            self._in_flight += 1

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    async def test(self, params: ConnectorModel, user: str | None = None) -> ApplicationMessage:
        """Run one test. Busy (503) beyond the in-flight limit, RateLimited (429) beyond the user's rate.

        Anonymous callers (only when ``WIZARD_AUTH_ENABLED=false``) are not rate limited.
        """
        if user is not None:
            wait = self.rate.hit(user)
            if wait:
                raise RateLimited(wait)
        self._admit()
        started = time.monotonic()
        secrets = list(secret_values(params))
        code = "ERROR"
        try:
            with LIVE.hold(secrets):
                connector = registry()[params.connector_type]  # type: ignore[attr-defined]
                deadline = Deadline(self.settings.test_timeout_s)
                ctx = TestContext(
                    settings=self.settings,
                    policy=self.policy,
                    deadline=deadline,
                    diagnosis=Diagnosis(connector.stage_names, deadline),
                    secrets=secrets,
                )
                message = await connector.run(params, ctx)
                clean = sanitised(message, ctx.secrets)
                code = clean.code
                return clean
        except asyncio.CancelledError:
            code = "CANCELLED"  # the client went away; the test's clean-up has run
            raise
        finally:
            self._release()
            # One line per test, whatever happened; the filter masks anything secret-looking too.
            audit.info(
                "test user=%s connector=%s host=%s code=%s duration_ms=%d",
                _one_line(user or "-"),
                params.connector_type,  # type: ignore[attr-defined]
                _one_line(scrub(_target(params), secrets)),
                code,
                int((time.monotonic() - started) * 1000),
            )


def sanitised(message: ApplicationMessage, secrets: list[str]) -> ApplicationMessage:
    """The message with every secret masked in its free-text parts."""
    mask = Masker(secrets)
    return message.model_copy(
        update={
            "title": mask(message.title),
            "body": mask(message.body),
            "details": mask.obj(message.details),
            "payload": mask.obj(message.payload),
        }
    )


def _target(params: ConnectorModel) -> str:
    for name in ("host", "endpoint_url", "bucket", "storage_account_name", "storage_container_name"):
        value = getattr(params, name, None)
        if value:
            return str(value)
    return "-"


def _one_line(text: str) -> str:
    """No line breaks or control characters in an audit field (no forged log lines), 255 at most."""
    return "".join(c if c.isprintable() and c != " " else "_" for c in text)[:255] or "-"
