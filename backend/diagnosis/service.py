"""Running connection tests: the in-flight limit, the rate limit, the deadline, the audit log, the sanitiser.

Domain code: a refusal is a ``backend.core.errors`` exception (Busy, RateLimited), never an HTTP
status; ``backend/api/errors.py`` and the command line translate it.

Each API process (uvicorn worker, the Streamlit app's embedded server) admits
``WIZARD_MAX_CONCURRENT_TESTS`` tests at once (a counter guarded by a lock, so it holds even when
the same service is called from several threads or event loops of one process). The
``WIZARD_TEST_RATE_PER_MINUTE`` tests per user and minute are counted where
``WIZARD_RATE_LIMIT_STORAGE_URL`` says (backend/security/ratelimit.py): per process with ``memory://``,
across processes with ``redis://``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from backend.connectors import registry
from backend.connectors.base import ConnectorModel
from backend.core import RunContext
from backend.core.errors import Busy, RateLimited
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Deadline, Diagnosis, Listener, Stage, StageEvent
from backend.monitor.expiry import forecast
from backend.ops.context import after_answer
from backend.ops.metrics import Metrics
from backend.security.policy import TargetPolicy
from backend.security.ratelimit import UserRateLimit
from backend.security.secrets import LIVE, Masker
from backend.settings import Settings
from backend.spec.fields import secret_values
from backend.spec.forms import target_fields
from backend.spec.schemas import ApplicationMessage, Display, SystemMessageKind

__all__ = ["Busy", "ConnectionTester", "LiveTest", "RateLimited", "sanitised"]

audit = logging.getLogger("wizard.audit")
log = logging.getLogger("wizard.test")

Event = dict[str, Any]
"""One line of a streamed test: ``{"event": "start" | "stage" | "verdict", ...}`` (see :class:`LiveTest`)."""
ConnectedHook = Callable[[Any, RunContext], Awaitable[None]]
"""Called with the open connection once the test passed (live capabilities examine it there)."""


class ConnectionTester:
    def __init__(self, settings: Settings, policy: TargetPolicy | None = None, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.metrics.count_in_flight(lambda: self.in_flight)
        self.policy = policy or TargetPolicy(settings.allowed_targets, settings.blocked_targets, set(settings.own_ports))
        self.rate = UserRateLimit(settings.test_rate_per_minute, settings.rate_limit_storage_url)
        self._lock = threading.Lock()
        self._in_flight = 0
        self.clock: Callable[[], float] = time.time
        """Wall-clock time for the expiry forecasts (backend/monitor/expiry.py); tests inject their own."""

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _admit(self) -> None:
        with self._lock:
            if self._in_flight >= self.settings.max_concurrent_tests:
                self.metrics.reject("busy")
                raise Busy(self.settings.retry_after_s)
            self._in_flight += 1

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def try_admit(self) -> bool:
        """Take a slot if one is free, else False (no 503, no rejection counted): the scheduler of
        monitored connections waits for a slot rather than push out a user's test (backend/monitor)."""
        with self._lock:
            if self._in_flight >= self.settings.max_concurrent_tests:
                return False
            self._in_flight += 1
            return True

    async def run_admitted(self, params: ConnectorModel, user: str | None) -> ApplicationMessage:
        """Run a test :meth:`try_admit` admitted, not counted against ``user``'s rate (audited as theirs); releases the slot."""
        try:
            return await self._run(params, user)
        finally:
            self._release()

    async def _enter(self, user: str | None) -> None:
        """The per-user rate (429), then the in-flight limit (503); admitted, the caller must release."""
        if user is not None:
            wait = await self.rate.ahit(user)
            if wait:
                self.metrics.reject("rate")
                raise RateLimited(wait)
        self._admit()

    async def test(
        self, params: ConnectorModel, user: str | None = None, on_connected: ConnectedHook | None = None
    ) -> ApplicationMessage:
        """Run one test. Busy beyond the in-flight limit, RateLimited beyond the user's rate.

        Anonymous callers (only when ``WIZARD_AUTH_ENABLED=false``) are not rate limited.
        ``on_connected`` (live capabilities) becomes the run's ``RunContext.on_connected``.
        """
        await self._enter(user)
        try:
            return await self._run(params, user, on_connected=on_connected)
        finally:
            self._release()

    async def stream(self, params: ConnectorModel, user: str | None = None) -> LiveTest:
        """Admit one test and start it at once; its events come from :meth:`LiveTest.events`.

        The same limits as :meth:`test`, raised before anything starts (Busy, RateLimited); the
        caller must :meth:`LiveTest.aclose` the stream in the end (it cancels a test still running).
        """
        await self._enter(user)
        try:
            return LiveTest(self, params, user)
        except BaseException:  # a cancellation included: the slot is given back, the error goes on unchanged
            self._release()
            raise

    async def _run(
        self,
        params: ConnectorModel,
        user: str | None,
        on_event: Callable[[Event], None] | None = None,
        on_connected: ConnectedHook | None = None,
    ) -> ApplicationMessage:
        """Run one admitted test: the deadline, the audit line, secrets masked (also in ``on_event``'s stages)."""
        started = time.monotonic()
        secrets = list(secret_values(params))
        code = "ERROR"
        held = Masker()  # replaced by the Masker of the request's secrets as soon as they are held
        try:
            with LIVE.hold(secrets) as held:
                connector = registry()[params.connector_type]
                deadline = Deadline(self.settings.test_timeout_s)
                maskers: dict[tuple[str, ...], Masker] = {tuple(secrets): held}

                def mask() -> Masker:
                    """The request's one Masker (made again only if the test added to ``ctx.secrets``)."""
                    key = tuple(ctx.secrets)
                    return maskers.get(key) or maskers.setdefault(key, Masker(key))

                def tell(event: StageEvent, stage: Stage) -> None:
                    assert on_event is not None
                    told = {"name": stage.name} if event == "start" else mask().obj(stage.as_dict())
                    on_event({"event": event, "stage": told})

                listener: Listener | None = tell if on_event is not None else None

                ctx = RunContext(
                    settings=self.settings,
                    policy=self.policy,
                    deadline=deadline,
                    diagnosis=Diagnosis(connector.stage_names, deadline, listener=listener),
                    secrets=secrets,
                    on_connected=on_connected,
                )
                message = await connector.run(params, ctx)
                clean = forecast(sanitised(message, mask()), self.clock())
                code = clean.code
                return clean
        except asyncio.CancelledError:
            code = "CANCELLED"  # the client went away; the test's clean-up has run
            raise
        finally:
            seconds = time.monotonic() - started
            self.metrics.test_done(params.connector_type, code, seconds)
            # One line per test, whatever happened, written once the answer is sent (outside a request: now).
            line = functools.partial(_audit, user, params, held, code, seconds)
            if not after_answer(line):
                line()


class LiveTest:
    """One admitted test running in a task of its own, told as events while it runs.

    ``events()`` yields ``{"event": "start", "stage": {"name"}}`` when a stage's step begins,
    ``{"event": "stage", "stage": {"name", "status", "duration_ms", "detail"}}`` once per stage
    when it is settled for good (in stage order; every stage of the verdict, not reached ones as
    ``skipped``), then exactly one ``{"event": "verdict", "message": <ApplicationMessage>}``: what
    :meth:`ConnectionTester.test` would answer. Stage details are masked with the verdict's Masker.
    """

    def __init__(self, service: ConnectionTester, params: ConnectorModel, user: str | None) -> None:
        self._service = service
        self._released = False
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._main(params, user), name="wizard-test-stream")

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._service._release()

    async def _main(self, params: ConnectorModel, user: str | None) -> None:
        message: ApplicationMessage | None = None
        try:
            message = await self._service._run(params, user, self._queue.put_nowait)
        except Exception as exc:  # noqa: BLE001 - a stream always ends with a verdict
            log.error("unexpected %s in a streamed test", type(exc).__name__)
            message = ApplicationMessage(
                code=Code.UNEXPECTED_ERROR.value,
                title="Internal error",
                body="The wizard hit an internal error. It has been logged.",
                kind=SystemMessageKind.error,
                display=Display.notification,
            )
        finally:
            self._release()
            if message is not None:  # None: cancelled, nobody is listening any more
                self._queue.put_nowait({"event": "verdict", "message": message.model_dump(mode="json")})
            self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[Event]:
        """The test's events as they come; the verdict last."""
        while (event := await self._queue.get()) is not None:
            yield event

    async def aclose(self) -> None:
        """Cancel the test if it still runs (its clean-up runs: tunnels, temp files) and wait for it."""
        try:
            while not self._task.done():
                # Again until it ends: Python 3.11's asyncio.wait_for can swallow a cancellation that
                # arrives as its inner future completes (https://github.com/python/cpython/issues/86296).
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=0.1)
        finally:
            if self._task.done() and not self._task.cancelled():
                self._task.exception()  # retrieved: never "exception was never retrieved"
            self._release()  # a task cancelled before it ran never released its slot


def sanitised(message: ApplicationMessage, secrets: list[str] | Masker) -> ApplicationMessage:
    """The message with every secret masked in its free-text parts."""
    mask = secrets if isinstance(secrets, Masker) else Masker(secrets)
    return message.model_copy(
        update={
            "title": mask(message.title),
            "body": mask(message.body),
            "details": mask.obj(message.details),
            "payload": mask.obj(message.payload),
        }
    )


def _audit(user: str | None, params: ConnectorModel, mask: Masker, code: str, seconds: float) -> None:
    """The audit line of one test; the log filter masks anything secret-looking too."""
    fields = {
        "user": _one_line(user or "-"),
        "connector": params.connector_type,
        "host": _one_line(mask(_target(params))),
        "code": code,
        "duration_ms": int(seconds * 1000),
    }
    # The same values as keys of their own for JSON logs (backend/ops/logs.py).
    audit.info("test user=%s connector=%s host=%s code=%s duration_ms=%d", *fields.values(), extra=fields)


def _target(params: ConnectorModel) -> str:
    """Where the connection goes, for the audit line: the first of the connector's target fields that is set."""
    for name in target_fields(registry()[params.connector_type]):
        value = getattr(params, name, None)
        if value:
            return str(value)
    return "-"


def _one_line(text: str) -> str:
    """No line breaks or control characters in an audit field (no forged log lines), 255 at most."""
    if text.isprintable() and " " not in text:  # the usual user or host name: nothing to replace
        return text[:255] or "-"
    return "".join(c if c.isprintable() and c != " " else "_" for c in text)[:255] or "-"
