"""The schedule across processes and over real time.

- Two API processes (``uvicorn backend.main:app``) on one PostgreSQL store, polling every 0.2 s:
  each due test runs once, not twice; a process killed in the middle of a scheduled test leaves
  it to the other once its lease runs out.
- One slow test over real time: the scheduler started by the app's lifespan, on the real clock,
  tests a connection monitored every minute again a minute later (about 70 s).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from backend.main import create_app
from tests.conftest import DB, make_settings
from tests.servers.api import two_processes
from tests.servers.common import LOOPBACK
from tests.servers.monitor import Forwarder
from tests.servers.postgres import SUPERPASS, SUPERUSER

SAVED = "/api/v1/database_connections/"
KEY = Fernet.generate_key().decode()


def wait_until(check: Any, within: float, what: str) -> Any:
    """Poll ``check`` until it returns something true; ``within`` only guards against a hang."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def passes(client: httpx.Client) -> float:
    match = re.search(r"^wizard_monitor_passes_total (\S+)$", client.get("/api/metrics").text, re.M)
    return float(match.group(1)) if match else 0.0


def schedule_runs(client: httpx.Client, cid: str) -> list[dict[str, Any]]:
    results = client.get(f"{SAVED}{cid}/history/", params={"page_size": 100}).json()["results"]
    return [e for e in results if e["trigger"] == "schedule"]


@pytest.fixture
def store(postgres: DB) -> Iterator[str]:
    database = f"wizard_monitor_{os.getpid()}"
    postgres.server.sql(f"DROP DATABASE IF EXISTS {database}", f"CREATE DATABASE {database}")
    yield f"postgresql+psycopg2://{SUPERUSER}:{SUPERPASS}@{LOOPBACK}:{postgres.port}/{database}"
    postgres.server.sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture
def forwarder(postgres: DB) -> Iterator[Forwarder]:
    made = Forwarder(postgres.port)
    yield made
    made.close()


def test_two_processes_run_each_scheduled_test_once_and_take_over_a_dead_ones(
    store: str, postgres: DB, forwarder: Forwarder
) -> None:
    env = {
        "WIZARD_DATABASE_URL": store,
        "WIZARD_SECRET_KEY": KEY,
        "WIZARD_MONITOR_POLL_S": "0.2",
        "WIZARD_MONITOR_LEASE_S": "1",  # the lease is then the deadline + 5 s: 8 s
        "WIZARD_TEST_TIMEOUT_S": "3",
    }
    engine = create_engine(store)
    try:
        with two_processes(env) as (one, two), httpx.Client(base_url=one.url, timeout=30) as a, httpx.Client(base_url=two.url, timeout=30) as b:
            # Ten connections due at once: the two schedulers race for each claim.
            ids = []
            for i in range(10):
                made = a.post(SAVED, json={"name": f"db{i}", "monitor": {"every_minutes": 60},
                                           "connection": postgres.body("PostgreSQLConnector", port=forwarder.port)})
                assert made.status_code == 201, made.text
                ids.append(made.json()["id"])
            wait_until(lambda: all(schedule_runs(a, cid) for cid in ids), 60, "a scheduled test of each")
            seen = passes(a), passes(b)
            wait_until(lambda: passes(a) >= seen[0] + 5 and passes(b) >= seen[1] + 5, 30, "five more passes of each")
            assert [len(schedule_runs(b, cid)) for cid in ids] == [1] * 10
            assert all(schedule_runs(a, cid)[0]["code"] == "CONNECTION_SUCCESSFUL" for cid in ids)

            # A test that hangs (the forwarder accepts and says nothing); the process running it is killed.
            forwarder.hold()
            held_before = forwarder.accepted
            made = a.post(SAVED, json={"name": "held", "monitor": {"every_minutes": 60},
                                       "connection": postgres.body("PostgreSQLConnector", port=forwarder.port)})
            cid = made.json()["id"]
            wait_until(lambda: forwarder.accepted > held_before, 30, "the scheduled test to connect")
            with engine.connect() as conn:
                lease_by = conn.execute(text("SELECT lease_by FROM wizard_connection_health WHERE connection_id = :c"),
                                        {"c": cid}).scalar_one()
            pid = int(lease_by.split(":")[1])
            victim, survivor = (one, two) if one.process is not None and one.process.pid == pid else (two, one)
            assert victim.process is not None and victim.process.pid == pid
            victim.process.kill()
            victim.process.wait(timeout=10)
            with httpx.Client(base_url=survivor.url, timeout=30) as s:
                taken = wait_until(lambda: schedule_runs(s, cid), 60, "the survivor to take the test over")
                assert [e["code"] for e in taken] == ["CONNECTION_TIMEOUT"]
                with engine.connect() as conn:
                    row = conn.execute(text("SELECT lease_by, next_due FROM wizard_connection_health "
                                            "WHERE connection_id = :c"), {"c": cid}).one()
                assert row.lease_by is None and row.next_due > time.time() + 50 * 60
                seen_s = passes(s)
                wait_until(lambda: passes(s) >= seen_s + 5, 30, "five more passes")
                assert len(schedule_runs(s, cid)) == 1
    finally:
        engine.dispose()


def test_the_real_clock_drives_the_schedule(tmp_path: Path, postgres: DB) -> None:
    settings = make_settings(database_url=f"sqlite:///{tmp_path}/store/wizard.db", secret_key=KEY,
                             monitor_poll_s=1.0)
    with TestClient(create_app(settings)) as client:
        made = client.post(SAVED, json={"name": "minutely", "monitor": {"every_minutes": 1},
                                        "connection": postgres.body("PostgreSQLConnector")})
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
        runs = wait_until(lambda: [e for e in client.get(f"{SAVED}{cid}/history/").json()["results"]
                                   if e["trigger"] == "schedule"][:2] if len(schedule_runs(client, cid)) >= 2 else None,
                          240, "two scheduled tests")
        second = runs[0]
        # By the server's own clock: the second test started a minute after the first was due (the
        # connection's creation), not before. Its start is when it was kept less what it took (a first
        # test that started late on a busy machine moves nothing: due times are a minute apart).
        created = datetime.fromisoformat(made.json()["created_at"].replace("Z", "+00:00")).timestamp()
        started = datetime.fromisoformat(second["at"].replace("Z", "+00:00")).timestamp() - second["elapsed_ms"] / 1000
        assert started >= created + 60 - 0.01, (made.json()["created_at"], second)
        assert all(e["code"] == "CONNECTION_SUCCESSFUL" for e in runs)
