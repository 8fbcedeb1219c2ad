"""Connection health over time: the scheduler's own cost and the health endpoint under load.

``python -m bench.monitor [--database-url URL] [--connections 1000] [--history 100000]``

1. **Scheduler overhead** — 1,000 monitored connections all due; one pass claims, loads (decrypts),
   keeps the verdict (``last_test``, history, health) and moves each schedule on. The test itself is
   left out (the tester answers a canned success at once): the figure is the process CPU per
   scheduled test of the scheduler's own work (target ≤ 1 ms).
2. **Health endpoint** — ``GET health/`` with 1,000 connections and 100,000 kept tests (all in the
   last 7 days: the worst case of the percentile scan), in-process, median of 30 (target ≤ 50 ms).

SQLite in a temporary folder by default; ``--database-url`` for an (empty) PostgreSQL database.
A benchmark, not a test: it prints figures, it judges nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.monitor")
    parser.add_argument("--database-url")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--history", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="wizard-bench-monitor-"))
    try:
        url = args.database_url or f"sqlite:///{folder}/wizard.db"
        run(url, args.connections, args.history)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(url: str, connections: int, history_rows: int) -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import insert

    from backend.diagnosis.messages import Code
    from backend.main import create_app
    from backend.monitor.schedule import Scheduler
    from backend.monitor.tables import history
    from backend.settings import Settings
    from backend.spec.schemas import ApplicationMessage, Display, SystemMessageKind

    settings = Settings(database_url=url, auth_enabled=False, monitor_enabled=False,
                        secret_key=Fernet.generate_key().decode(), max_concurrent_tests=1024)
    app = create_app(settings)
    with TestClient(app) as client:
        body = {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": 1, "database": "d",
                "username": "u", "password": "Bench-Pw-1"}
        started = time.perf_counter()
        ids = []
        for i in range(connections):
            made = client.post("/api/v1/database_connections/",
                               json={"name": f"bench {i:05d}", "connection": body, "monitor": {"every_minutes": 5}})
            ids.append(made.json()["id"])
        print(f"seeded {connections} monitored connections in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})")

        canned = ApplicationMessage(code=Code.CONNECTION_SUCCESSFUL.value, title="Connected", body="ok",
                                    kind=SystemMessageKind.success, display=Display.notification,
                                    payload={"stages": [], "elapsed_ms": 12, "server": {}})
        tester = app.state.service

        async def instant(params: Any, user: str | None) -> ApplicationMessage:
            tester._release()
            return canned

        tester.run_admitted = instant
        scheduler = Scheduler(settings, app.state.saved, tester)

        async def all_due() -> int:
            done = 0
            while True:
                started = await scheduler.tick()
                await scheduler.drain()
                if not started:
                    return done
                done += started

        cpu, wall = time.process_time(), time.perf_counter()
        ran = asyncio.run(all_due())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"1. scheduler: {ran} scheduled tests, {cpu / ran * 1000:.2f} ms CPU and {wall / ran * 1000:.2f} ms wall "
              f"each (the test itself excluded; target ≤ 1 ms CPU)")

        rng = random.Random(7)
        now = time.time()
        engine = app.state.saved.store.engine
        with engine.begin() as conn:
            for start in range(0, history_rows, 5000):
                conn.execute(insert(history), [
                    {"connection_id": ids[rng.randrange(len(ids))], "owner": "anonymous", "at": now - rng.random() * 6 * 86400,
                     "trigger": "schedule", "code": "CONNECTION_SUCCESSFUL", "kind": "success", "title": "Connected",
                     "elapsed_ms": rng.randrange(5, 500), "stages": "[]", "expires": None}
                    for _ in range(min(5000, history_rows - start))
                ])
        samples = []
        for _ in range(30):
            t0 = time.perf_counter()
            answer = client.get("/api/v1/database_connections/health/")
            samples.append(time.perf_counter() - t0)
            assert answer.status_code == 200 and len(answer.json()["results"]) == connections
        print(f"2. health/: {connections} connections, {history_rows + ran} kept tests: median "
              f"{statistics.median(samples) * 1000:.1f} ms (min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f}; "
              f"target ≤ 50 ms)")


if __name__ == "__main__":
    main()
