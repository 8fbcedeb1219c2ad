"""Alerts: each change of a connection's state POSTed once to ``WIZARD_ALERT_WEBHOOK_URL``.

The body is JSON ``{"text", "connection": {"id", "name"}, "state", "previous_state",
"verdict": {"code", "title"}, "at"}``; ``text`` (one plain sentence) makes it a Slack-compatible
incoming webhook. No secret is ever in it: the name is the user's label, the title a sanitised
verdict title. Each alert is also a log line and a count (``wizard_alerts_total{state}``).

Delivery never blocks a test: the recorder only puts the alert in a queue of its own; a worker task
sends the alerts in order, each retried with exponential backoff (1, 2, 4 … s, at most 5 min,
``WIZARD_ALERT_ATTEMPTS`` attempts), every attempt bounded by a 5 s deadline. The webhook is an
operator's setting, not a user's target: the target policy does not apply to it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge

from backend.ops.metrics import Metrics
from backend.saved.service import iso
from backend.settings import Settings

if TYPE_CHECKING:
    from backend.monitor.history import Transition

STATES = ("ok", "warning", "failing", "unknown")

log = logging.getLogger("wizard.alerts")

ATTEMPT_TIMEOUT_S = 5.0
MAX_BACKOFF_S = 300.0


def sentence(t: Transition) -> str:
    """The alert's one plain sentence."""
    name = f"'{t.name}'"
    if t.state == "failing":
        return f"Connection {name} is failing: {t.title} ({t.code})."
    if t.state == "warning":
        return f"Connection {name} works, with a warning: {t.title}."
    if t.previous_state == "failing":
        return f"Connection {name} is back: {t.title}."
    return f"Connection {name} is OK again: {t.title}."


def body_of(t: Transition) -> dict[str, Any]:
    return {
        "text": sentence(t),
        "connection": {"id": t.connection_id, "name": t.name},
        "state": t.state,
        "previous_state": t.previous_state,
        "verdict": {"code": t.code, "title": t.title},
        "at": iso(t.at),
    }


class MonitorMetrics:
    """``wizard_alerts_total{state}``, ``wizard_monitored_connections{state}`` and ``wizard_monitor_passes_total``,
    in the app's registry."""

    def __init__(self, metrics: Metrics) -> None:
        self.alerts = Counter("wizard_alerts", "Alerts of a change of state, by the new state.", ["state"],
                              registry=metrics.registry)
        self.monitored = Gauge("wizard_monitored_connections", "Monitored connections, by state.", ["state"],
                               registry=metrics.registry)
        self.passes = Counter("wizard_monitor_passes", "Passes of this process's scheduler of monitored connections.",
                              registry=metrics.registry)
        for state in ("ok", "warning", "failing"):
            self.alerts.labels(state=state)
        for state in STATES:
            self.monitored.labels(state=state).set(0)

    def set_states(self, counts: dict[str, int]) -> None:
        """At each pass of the scheduler: the monitored connections per state."""
        self.passes.inc()
        for state, count in counts.items():
            self.monitored.labels(state=state).set(count)


Sleep = Callable[[float], Awaitable[None]]


class Alerts:
    """The alert queue and its sender (one per app)."""

    def __init__(self, settings: Settings, metrics: MonitorMetrics, *, sleep: Sleep = asyncio.sleep) -> None:
        self.settings = settings
        self.metrics = metrics
        self.sleep = sleep
        self.delivered = 0
        self.failed = 0
        # One worker per event loop that started the app (a test may run one app's lifespan twice);
        # alerts go to the newest one still running.
        self._workers: dict[asyncio.AbstractEventLoop, tuple[asyncio.Queue[dict[str, Any]], asyncio.Task[None]]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        with self._lock:
            self._workers[loop] = (queue, loop.create_task(self._worker(queue), name="wizard-alerts"))

    async def stop(self) -> None:
        with self._lock:
            found = self._workers.pop(asyncio.get_running_loop(), None)
        if found is not None:
            found[1].cancel()
            await asyncio.gather(found[1], return_exceptions=True)

    def notify(self, t: Transition) -> None:
        """A change of state (any thread): logged, counted, queued for the webhook. Never blocks."""
        self.metrics.alerts.labels(state=t.state).inc()
        log.warning("connection %s (%s) is now %s (was %s): %s", t.connection_id, t.name, t.state, t.previous_state,
                    t.code)
        if not self.settings.alert_webhook_url:
            return
        body = body_of(t)
        with self._lock:
            workers = [(loop, queue) for loop, (queue, _) in self._workers.items() if not loop.is_closed()]
        if not workers:
            log.error("an alert could not be queued: the process is stopping")
            return
        loop, queue = workers[-1]
        try:
            loop.call_soon_threadsafe(queue.put_nowait, body)
        except RuntimeError:  # the loop closed meanwhile: the process is stopping
            log.error("an alert could not be queued: the process is stopping")

    async def _worker(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT_S, follow_redirects=False) as client:
            while True:
                body = await queue.get()
                await self._deliver(client, body)

    async def _deliver(self, client: Any, body: dict[str, Any]) -> None:
        url = self.settings.alert_webhook_url
        assert url is not None
        for attempt in range(self.settings.alert_attempts):
            reason = ""
            try:
                response = await client.post(url, json=body)
                if 200 <= response.status_code < 300:
                    self.delivered += 1
                    return
                reason = f"HTTP {response.status_code}"
            except Exception as exc:  # noqa: BLE001 - any failure is retried
                reason = type(exc).__name__
            if attempt + 1 < self.settings.alert_attempts:
                wait = min(MAX_BACKOFF_S, 2.0**attempt)
                log.warning("the alert webhook failed (%s); trying again in %g s", reason, wait)
                await self.sleep(wait)
            else:
                log.error("the alert webhook failed (%s) %d times; the alert of %s is dropped", reason,
                          self.settings.alert_attempts, body["connection"]["id"])
        self.failed += 1


def deliver_now(settings: Settings, transitions: list[Transition], sleep: Callable[[float], None] | None = None) -> int:
    """For the command line (no server, no queue of its own): log each change, POST it (at most 3
    attempts, backoff 1, 2 s); how many were delivered. Never raises."""
    import time

    import httpx

    pause = sleep or time.sleep
    delivered = 0
    for t in transitions:
        log.warning("connection %s (%s) is now %s (was %s): %s", t.connection_id, t.name, t.state, t.previous_state,
                    t.code)
        url = settings.alert_webhook_url
        if not url:
            continue
        attempts = min(3, settings.alert_attempts)
        for attempt in range(attempts):
            try:
                response = httpx.post(url, json=body_of(t), timeout=ATTEMPT_TIMEOUT_S, follow_redirects=False)
                if 200 <= response.status_code < 300:
                    delivered += 1
                    break
                reason = f"HTTP {response.status_code}"
            except Exception as exc:  # noqa: BLE001 - any failure is retried
                reason = type(exc).__name__
            if attempt + 1 < attempts:
                pause(2.0**attempt)
            else:
                log.error("the alert webhook failed (%s) %d times; the alert of %s is dropped", reason, attempts,
                          t.connection_id)
    return delivered
