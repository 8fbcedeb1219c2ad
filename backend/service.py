"""Running connection tests: the in-flight limit, the deadline, clean-up and the secret sanitiser."""

from __future__ import annotations

import logging
import time

from backend.connectors import registry
from backend.connectors.base import ConnectorModel, TestContext
from backend.diagnosis import Deadline, Diagnosis
from backend.fields import secret_values
from backend.policy import TargetPolicy
from backend.schemas import ApplicationMessage
from backend.secrets import scrub, scrub_obj
from backend.settings import Settings

audit = logging.getLogger("wizard.audit")


class Busy(Exception):
    """More tests in flight than ``WIZARD_MAX_CONCURRENT_TESTS``."""


class TestService:
    def __init__(self, settings: Settings, policy: TargetPolicy | None = None) -> None:
        self.settings = settings
        self.policy = policy or TargetPolicy(settings.allowed_targets, settings.blocked_targets)
        self.in_flight = 0

    async def test(self, params: ConnectorModel, user: str | None = None) -> ApplicationMessage:
        if self.in_flight >= self.settings.max_concurrent_tests:
            raise Busy
        self.in_flight += 1
        started = time.monotonic()
        try:
            connector = registry()[params.connector_type]  # type: ignore[attr-defined]
            deadline = Deadline(self.settings.test_timeout_s)
            ctx = TestContext(
                settings=self.settings,
                policy=self.policy,
                deadline=deadline,
                diagnosis=Diagnosis(connector.stage_names, deadline),
                secrets=list(secret_values(params)),
            )
            message = await connector.run(params, ctx)
            clean = sanitised(message, ctx.secrets)
        finally:
            self.in_flight -= 1
        audit.info(
            "test user=%s connector=%s host=%s code=%s duration_ms=%d",
            user or "-",
            params.connector_type,  # type: ignore[attr-defined]
            _target(params),
            clean.code,
            int((time.monotonic() - started) * 1000),
        )
        return clean


def sanitised(message: ApplicationMessage, secrets: list[str]) -> ApplicationMessage:
    """The message with every secret masked in its free-text parts."""
    return message.model_copy(
        update={
            "title": scrub(message.title, secrets),
            "body": scrub(message.body, secrets),
            "details": scrub_obj(message.details, secrets),
            "payload": scrub_obj(message.payload, secrets),
        }
    )


def _target(params: ConnectorModel) -> str:
    for name in ("host", "bucket", "storage_account_name", "storage_container_name"):
        value = getattr(params, name, None)
        if value:
            return str(value)
    return "-"
