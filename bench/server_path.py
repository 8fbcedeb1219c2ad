"""The server path: what a request costs the API beyond its own work, next to a bare FastAPI endpoint on the
same uvicorn server (the floor), measured from the client as the tests are.

Part of ``python -m bench`` (section 10); runnable alone: ``python -m bench.server_path [--quick]`` starts its
own PostgreSQL and one API process, measures, stops them.

Interleaved round by round, one request at a time over one keep-alive connection:

- the floor: ``GET /bench/constant`` and ``POST /bench/echo`` (a small pydantic body), no auth, no logic;
- ``GET supported_types/`` and ``GET {id}/`` (a saved connection), with the session cookie;
- ``POST test/`` with a PostgreSQL body that succeeds: the figure is API − ``payload.elapsed_ms`` (the
  diagnosis's own clock), i.e. HTTP + auth + validation + rate limit + masking + logging + serialisation.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.app import CONSTANT_PATH, ECHO_PATH
from bench.databases import start_postgres
from bench.procs import API, SUPPORTED_TYPES, TEST, Api, Env, Server, stop_all
from bench.report import Section, judge
from bench.stats import Stat

TARGET_MS = 2.0


def _ms(seconds: float) -> str:
    return "–" if seconds != seconds else f"{seconds * 1000:.2f} ms"


def measure(api: Api, pg_body: dict[str, Any], samples: int) -> Section:
    s = Section("10. Server path: the API's own cost next to a bare FastAPI endpoint on the same server")
    figures = {
        "floor: bare `GET /bench/constant`": Stat(),
        "floor: bare `POST /bench/echo` (pydantic body)": Stat(),
        "`GET supported_types/`": Stat(),
        "`GET {id}/` (a saved connection)": Stat(),
        "`POST test/`, PostgreSQL success: API − payload.elapsed_ms": Stat(),
    }
    names = list(figures)
    codes: Counter[str] = Counter()
    elapsed = Stat()
    load_before = os.getloadavg()[0]
    with api.client() as c:
        saved = c.post(f"{API}/", json={"name": f"bench server path {time.time_ns()}", "description": None,
                                        "connection": pg_body})
        if saved.status_code != 201:
            raise RuntimeError(f"POST {API}/ answered {saved.status_code}: {saved.text[:300]}")
        one = f"{API}/{saved.json()['id']}/"
        echo = dict(pg_body)

        def once(which: int) -> float | None:
            t0 = time.perf_counter()
            if which == 0:
                r = c.get(CONSTANT_PATH)
            elif which == 1:
                r = c.post(ECHO_PATH, json=echo)
            elif which == 2:
                r = c.get(SUPPORTED_TYPES)
            elif which == 3:
                r = c.get(one)
            else:
                r = c.post(TEST, json=pg_body)
            took = time.perf_counter() - t0
            if r.status_code != 200:
                raise RuntimeError(f"{r.request.method} {r.request.url.path} answered {r.status_code}: {r.text[:300]}")
            if which == 4:
                message = r.json()
                codes[message.get("code", "?")] += 1
                ms = message.get("payload", {}).get("elapsed_ms")
                if ms is None:
                    return None
                elapsed.add(ms / 1000)
                return took - ms / 1000
            return took

        for i in range(samples + 10):  # 10 untimed rounds first
            order = range(5) if i % 2 else reversed(range(5))
            for which in order:
                took = once(which)
                if i >= 10 and took is not None:
                    figures[names[which]].add(took)
        c.delete(one)
    get_floor, post_floor = figures[names[0]], figures[names[1]]
    for index, (name, st) in enumerate(figures.items()):
        floor = get_floor if index in (0, 2, 3) else post_floor
        judged = index >= 2
        beyond = f"+{(st.median - floor.median) * 1000:.2f} ms over the floor" if index >= 2 else ""
        s.row(name, _ms(st.median), _ms(st.min), _ms(st.max), st.n, f"≤ {TARGET_MS:g} ms" if judged else beyond,
              f"{judge(st.median * 1000 <= TARGET_MS)} ({beyond})" if judged else "")
    ok = codes.get("CONNECTION_SUCCESSFUL", 0)
    s.note(f"`POST test/` verdicts: {dict(codes)}; the diagnosis's own clock (payload.elapsed_ms, rounded to the ms) "
           f"median {_ms(elapsed.median)}." + ("" if ok == sum(codes.values()) else " **Not every test succeeded.**"))
    s.note(f"Load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, on {os.cpu_count()} cores.")
    s.note("Each figure is measured by the client (httpx, one keep-alive connection, request sent → answer read), one "
           "request at a time, the five kinds interleaved round by round. The floor is the same uvicorn process, the "
           "same middleware (security headers, request id, body limit) and FastAPI's JSON path, without auth or "
           "logic: what any endpoint costs on this machine. The API's figures carry the session check (cached for "
           "2 s per process), the store read of `GET {id}/` (SQLite: on the event loop, on a connection that never "
           "waits for a lock), and for `POST test/` validation, the rate limit, masking and the metrics; the "
           "test's driver connection is closed and its audit line written after its answer.")
    return s


def main(argv: list[str] | None = None) -> int:
    from bench.bodies import LOOPBACK
    from tests.servers.postgres import PostgresServer

    parser = argparse.ArgumentParser(prog="python -m bench.server_path", description=__doc__.splitlines()[0])
    parser.add_argument("--auth", choices=("on", "off"), default="on")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--samples", type=int, default=0, help="rounds (default 200, 50 with --quick)")
    parser.add_argument("--runs", type=int, default=1, help="measure this many times on the same servers (to see "
                        "through a shared machine's noise)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="wizard-bench-path-"))
    procs: list[Server] = []
    server = PostgresServer()
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        stack.callback(lambda: server.stop() if server.workdir != Path() else None)
        stack.callback(stop_all, procs)
        pg = start_postgres(server)
        api = Api.make(Env(workdir, auth=args.auth == "on"), "api")
        procs.append(api)
        api.start()
        api.wait_ready()
        body = {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": pg.port, "database": pg.database,
                "username": pg.user, "password": pg.password}
        for _ in range(args.runs):
            print(measure(api, body, args.samples or (50 if args.quick else 200)).markdown(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
