"""The scheduler of monitored connections and its alerts, with real components and an injected clock.

A TCP forwarder on loopback the test switches between forwarding to the suite's PostgreSQL and
refusing, so a monitored connection really fails and recovers; a webhook receiver on loopback
recording every POST. The schedule, the lease and the retention run on a clock the test moves
(``Scheduler(clock=...)``); :func:`one_pass` runs one pass of the scheduler and waits for the tests
it started, so nothing waits on wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.monitor.alerts import Alerts, MonitorMetrics
from backend.monitor.claims import next_due_after
from backend.monitor.history import Transition
from backend.monitor.schedule import Scheduler
from backend.ops.metrics import Metrics
from backend.settings import Settings
from tests.conftest import DB, make_settings
from tests.helpers import ADMIN, ADMIN_PASSWORD, login
from tests.servers.common import LOOPBACK
from tests.servers.monitor import Forwarder, Receiver

SAVED = "/api/v1/database_connections/"
HEALTH = "/api/v1/database_connections/health/"
KEY = Fernet.generate_key().decode()
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


@pytest.fixture
def forwarder(postgres: DB) -> Iterator[Forwarder]:
    made = Forwarder(postgres.port)
    yield made
    made.close()


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": f"sqlite:///{tmp_path}/store/wizard.db", "secret_key": KEY,
                              "monitor_enabled": False, "test_timeout_s": 2, **overrides}
    return make_settings(**values)


def one_pass(scheduler: Scheduler) -> int:
    """One pass of the scheduler, and the tests it started run to their end; how many it started."""

    async def run() -> int:
        started = await scheduler.tick()
        await scheduler.drain()
        return started

    return asyncio.run(run())


def save(client: httpx.Client, body: dict[str, Any], name: str = "warehouse", every: int | None = 5) -> str:
    monitor = {"every_minutes": every} if every else None
    response = client.post(SAVED, json={"name": name, "connection": body, "monitor": monitor})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def kept(client: httpx.Client, cid: str) -> list[dict[str, Any]]:
    response = client.get(f"{SAVED}{cid}/history/", params={"page_size": 100})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def state_of(client: httpx.Client, cid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in client.get(HEALTH).json()["results"] if r["id"] == cid)
    return found


@contextlib.contextmanager
def monitored_app(settings: Settings, clock: Clock) -> Iterator[tuple[TestClient, Scheduler]]:
    app = create_app(settings)
    app.state.service.clock = clock
    with TestClient(app) as client:
        yield client, Scheduler(settings, app.state.saved, app.state.service, clock=clock,
                                on_pass=app.state.scheduler.on_pass)


# --- the steward's story: break the port, one alert; fix it, one "back" alert ----------------------


def test_a_monitored_connection_fails_and_recovers_with_one_alert_each_way(
    tmp_path: Path, postgres: DB, forwarder: Forwarder, receiver: Receiver
) -> None:
    clock = Clock()
    settings = settings_for(tmp_path, alert_webhook_url=receiver.url)
    with monitored_app(settings, clock) as (client, scheduler):
        cid = save(client, postgres.body("PostgreSQLConnector", port=forwarder.port), every=5)
        assert one_pass(scheduler) == 1  # due at once when monitoring is turned on
        assert [(e["trigger"], e["code"]) for e in kept(client, cid)] == [("schedule", "CONNECTION_SUCCESSFUL")]
        assert state_of(client, cid)["state"] == "ok"
        clock.advance(60)
        assert one_pass(scheduler) == 0  # not due yet

        forwarder.refuse()
        clock.advance(4 * 60)
        assert one_pass(scheduler) == 1
        broke = state_of(client, cid)
        assert broke["state"] == "failing" and broke["last_test"]["code"] == "PORT_CLOSED"
        assert broke["since"] == broke["last_test"]["at"]
        [alert] = receiver.wait_for(1)
        assert alert["state"] == "failing" and alert["previous_state"] == "ok"
        assert alert["connection"] == {"id": cid, "name": "warehouse"}
        assert alert["verdict"]["code"] == "PORT_CLOSED" and alert["at"] == broke["since"]
        assert alert["text"].startswith("Connection 'warehouse' is failing") and "\n" not in alert["text"]

        clock.advance(5 * 60)
        assert one_pass(scheduler) == 1  # still failing: no second alert
        assert state_of(client, cid)["since"] == broke["since"]

        forwarder.forward()
        clock.advance(5 * 60)
        assert one_pass(scheduler) == 1
        back = state_of(client, cid)
        assert back["state"] == "ok" and back["since"] == back["last_success_at"]
        alerts = receiver.wait_for(2)
        assert [(a["previous_state"], a["state"]) for a in alerts] == [("ok", "failing"), ("failing", "ok")]
        assert alerts[1]["verdict"]["code"] == "CONNECTION_SUCCESSFUL" and "back" in alerts[1]["text"]
        assert [e["code"] for e in kept(client, cid)] == ["CONNECTION_SUCCESSFUL", "PORT_CLOSED", "PORT_CLOSED",
                                                           "CONNECTION_SUCCESSFUL"]
        assert postgres.password not in json.dumps(alerts)
        metrics = client.get("/api/metrics").text
        assert 'wizard_alerts_total{state="failing"} 1.0' in metrics
        assert 'wizard_alerts_total{state="ok"} 1.0' in metrics
        assert receiver.attempts == 2  # nothing else was sent


def test_a_first_test_alerts_only_when_it_fails(tmp_path: Path, postgres: DB, closed_port: int,
                                                receiver: Receiver) -> None:
    clock = Clock()
    with monitored_app(settings_for(tmp_path, alert_webhook_url=receiver.url), clock) as (client, scheduler):
        save(client, postgres.body("PostgreSQLConnector"), name="fine")
        broken = save(client, postgres.body("PostgreSQLConnector", port=closed_port), name="broken")
        assert one_pass(scheduler) == 2
        [alert] = receiver.wait_for(1)
        assert alert["connection"]["id"] == broken and alert["previous_state"] == "unknown"
        assert alert["state"] == "failing"
        assert one_pass(scheduler) == 0  # the gauge counts at each pass
        metrics = client.get("/api/metrics").text
        assert 'wizard_monitored_connections{state="ok"} 1.0' in metrics
        assert 'wizard_monitored_connections{state="failing"} 1.0' in metrics


# --- the schedule ----------------------------------------------------------------------------------


def test_a_late_claim_runs_once_and_skips_the_missed_due_times(tmp_path: Path, closed_port: int) -> None:
    clock = Clock()
    with monitored_app(settings_for(tmp_path), clock) as (client, scheduler):
        cid = save(client, {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": closed_port,
                            "database": "d", "username": "u", "password": "Pw-Late-1"}, every=1)
        assert one_pass(scheduler) == 1
        clock.advance(10 * 60 + 30)  # ten due times passed while nothing ran
        assert one_pass(scheduler) == 1
        assert one_pass(scheduler) == 0
        assert len(kept(client, cid)) == 2
        next_due, lease_by, _ = scheduler.claims.lease_of(cid)
        assert next_due == T0 + 11 * 60 and lease_by is None
        assert next_due_after(T0, 5, T0) == T0 + 300 and next_due_after(T0, 5, T0 - 1) == T0


def test_monitoring_turned_off_or_deleted_is_not_tested(tmp_path: Path, closed_port: int) -> None:
    clock = Clock()
    body = {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": closed_port, "database": "d",
            "username": "u", "password": "Pw-Off-1"}
    with monitored_app(settings_for(tmp_path), clock) as (client, scheduler):
        off = save(client, body, name="off", every=1)
        gone = save(client, body, name="gone", every=1)
        never = save(client, body, name="never", every=None)
        assert client.patch(f"{SAVED}{off}/", json={"monitor": None}).status_code == 200
        assert client.delete(f"{SAVED}{gone}/").status_code == 204
        assert one_pass(scheduler) == 0
        assert kept(client, off) == [] and kept(client, never) == []
        assert client.patch(f"{SAVED}{off}/", json={"monitor": {"every_minutes": 2}}).status_code == 200
        assert one_pass(scheduler) == 1 and kept(client, off)[0]["trigger"] == "schedule"


def test_scheduled_tests_use_half_the_slots_wait_for_one_and_skip_the_rate(
    tmp_path: Path, silent_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    settings = settings_for(tmp_path, max_concurrent_tests=4, test_rate_per_minute=1, test_timeout_s=1,
                            auth_enabled=True, admin_password=ADMIN_PASSWORD)
    body = {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": silent_port, "database": "d",
            "username": "u", "password": "Pw-Slots-1"}
    with monitored_app(settings, clock) as (client, scheduler):
        client.headers["X-CSRF-Token"] = login(client)
        ids = [save(client, body, name=f"c{i}", every=1) for i in range(3)]
        tester = client.app.state.service  # type: ignore[attr-defined]

        async def first_pass() -> tuple[int, int]:
            started = await scheduler.tick()
            in_flight = tester.in_flight
            await scheduler.drain()
            return started, in_flight

        assert asyncio.run(first_pass()) == (2, 2)  # half of 4, while they run
        # Every slot taken (by users): the schedule waits, and no user is refused because of it.
        assert tester.try_admit() and tester.try_admit() and tester.try_admit() and tester.try_admit()
        assert one_pass(scheduler) == 0
        for _ in range(4):
            tester._release()
        assert one_pass(scheduler) == 1
        assert sorted(len(kept(client, cid)) for cid in ids) == [1, 1, 1]
        # Three scheduled tests of this owner (run as the owner: the audit line names them), yet the
        # owner's one test a minute is still there.
        assert {e["trigger"] for cid in ids for e in kept(client, cid)} == {"schedule"}
        assert client.post(f"{SAVED}{ids[0]}/test/").status_code == 200
        assert client.post(f"{SAVED}{ids[0]}/test/").status_code == 429
    audited = [r.getMessage() for r in caplog.records if r.name == "wizard.audit"]
    assert sum(f"user={ADMIN} " in line for line in audited) == 4


def test_a_claim_held_by_a_dead_process_is_taken_over_after_its_lease(tmp_path: Path, closed_port: int) -> None:
    clock = Clock()
    settings = settings_for(tmp_path, monitor_lease_s=30)
    body = {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": closed_port, "database": "d",
            "username": "u", "password": "Pw-Lease-1"}
    with monitored_app(settings, clock) as (client, survivor):
        cid = save(client, body, every=5)
        app: Any = client.app
        dead = Scheduler(settings, app.state.saved, app.state.service, clock=clock)
        dead.claims.sync(clock())
        assert dead.claims.claim(cid, clock(), clock() + dead.lease_s, dead.me)  # claimed, then the process died
        assert not survivor.claims.claim(cid, clock(), clock() + 30, survivor.me)  # exactly one claim wins
        assert one_pass(survivor) == 0
        clock.advance(29)
        assert one_pass(survivor) == 0
        clock.advance(2)
        assert one_pass(survivor) == 1
        assert [e["trigger"] for e in kept(client, cid)] == ["schedule"]
        # The dead process's late word changes nothing: the lease is no longer its own.
        assert not dead.claims.finish(cid, dead.me, clock() + 1)
        assert survivor.claims.lease_of(cid)[0] == T0 + 300


def test_old_history_is_pruned_by_the_scheduler(tmp_path: Path, closed_port: int) -> None:
    clock = Clock()
    settings = settings_for(tmp_path, history_days=90)
    body = {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": closed_port, "database": "d",
            "username": "u", "password": "Pw-Prune-1"}
    with monitored_app(settings, clock) as (client, scheduler):
        cid = save(client, body, every=1440)
        assert one_pass(scheduler) == 1
        clock.advance(89 * 86400)
        assert one_pass(scheduler) == 1
        assert len(kept(client, cid)) == 2
        clock.advance(2 * 86400)  # the first test is now 91 days old
        scheduler._pruned_at = None
        assert one_pass(scheduler) == 1
        assert len(kept(client, cid)) == 2  # the oldest went, a new one came


# --- alerts ------------------------------------------------------------------------------------------


def test_an_alert_is_retried_with_backoff_from_its_own_queue(tmp_path: Path) -> None:
    receiver = Receiver(fail=2)
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    async def run() -> None:
        settings = settings_for(tmp_path, alert_webhook_url=receiver.url, alert_attempts=4)
        alerts = Alerts(settings, MonitorMetrics(Metrics()), sleep=no_wait)
        alerts.start()
        started = time.monotonic()
        alerts.notify(Transition("abc", "sales", "anonymous", "failing", "ok", "PORT_CLOSED", "Port closed", T0))
        assert time.monotonic() - started < 0.5 or receiver.attempts == 0  # queued, not sent inline
        while alerts.delivered + alerts.failed == 0:
            await asyncio.sleep(0.01)
        await alerts.stop()

    try:
        asyncio.run(run())
        assert receiver.attempts == 3 and len(receiver.posts) == 1 and waits == [1.0, 2.0]
        assert receiver.posts[0]["at"] == "2027-01-15T08:00:00.000Z"
    finally:
        receiver.close()


def test_an_unreachable_webhook_never_delays_a_test(tmp_path: Path, closed_port: int, silent_port: int) -> None:
    clock = Clock()
    settings = settings_for(tmp_path, alert_webhook_url=f"http://{LOOPBACK}:{silent_port}/hook")
    with monitored_app(settings, clock) as (client, _):
        cid = save(client, {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": closed_port,
                            "database": "d", "username": "u", "password": "Pw-Hook-1"})
        answer = client.post(f"{SAVED}{cid}/test/")
        assert answer.status_code == 200 and answer.json()["code"] == "PORT_CLOSED"
        # The webhook never answers: its alert cannot have ended (each attempt waits 5 s, then backs off),
        # so the verdict came back without waiting for it.
        alerts = client.app.state.alerts  # type: ignore[attr-defined]
        assert alerts.delivered == 0 and alerts.failed == 0
        assert state_of(client, cid)["state"] == "failing"
