"""Saved connections: list and read latency with 10,000 stored, on SQLite and on PostgreSQL, PATCH with and without
``If-Match``, and what testing a saved connection (decrypting its secrets) costs over testing the same body directly.

Part of ``python -m bench`` (section 8); runnable alone: ``python -m bench.saved [--quick] [--count N]``
starts its own PostgreSQL (the target and the PostgreSQL store) and two API processes, measures, stops them.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from bench.bodies import LOOPBACK
from bench.databases import start_postgres
from bench.procs import API, TEST, Api, Env, Server, stop_all
from bench.report import Section, judge
from bench.stats import Stat, pair_ratios, ratio, times

SAVED = f"{API}/"
TARGET_MS = 20.0
TARGET_RATIO = 1.1


def _ms(stat: Stat) -> tuple[str, str, str]:
    return f"{stat.median * 1000:.2f} ms", f"{stat.min * 1000:.2f}", f"{stat.max * 1000:.2f}"


def _timed(call: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = call()
    return time.perf_counter() - t0, result


def _seed(api: Api, body: dict[str, Any], count: int) -> list[str]:
    """``count`` saved connections through the API (the last one is ``body``, to test); their ids."""
    ids: list[str] = []
    with api.client() as c:
        for i in range(count):
            connection = body if i == count - 1 else {**body, "database": f"db{i}", "port": 1 + i % 60000}
            r = c.post(SAVED, json={"name": f"bench {i:05d}", "description": "seeded", "connection": connection})
            if r.status_code != 201:
                raise RuntimeError(f"saving connection {i} answered {r.status_code}: {r.text[:300]}")
            ids.append(r.json()["id"])
    return ids


def _reads(s: Section, label: str, api: Api, ids: list[str], samples: int) -> None:
    """GET the list (a page of 50, pages spread over the whole list) and GET {id}, one request at a time."""
    lists, reads = Stat(), Stat()
    pages = max(1, len(ids) // 50)
    rng = random.Random(7)
    with api.client() as c:
        for i in range(samples + 3):
            took, r = _timed(lambda: c.get(SAVED, params={"page": rng.randint(1, pages), "page_size": 50}))
            ok_list = r.status_code == 200 and len(r.json()["results"]) == 50
            took_one, one = _timed(lambda: c.get(f"{SAVED}{rng.choice(ids)}/"))
            if not ok_list or one.status_code != 200:
                raise RuntimeError(f"reading answered {r.status_code} / {one.status_code}")
            if i >= 3:
                lists.add(took)
                reads.add(took_one)
    for what, stat in ((f"{label}: `GET` list, a page of 50 of {len(ids)}", lists), (f"{label}: `GET {{id}}`", reads)):
        s.row(what, *_ms(stat), stat.n, f"≤ {TARGET_MS:g} ms", judge(stat.median * 1000 <= TARGET_MS))


def _patches(s: Section, label: str, api: Api, connection_id: str, samples: int) -> None:
    """``PATCH {id}/`` changing the description, with ``If-Match`` (the ETag of the previous answer) and without,
    interleaved pair by pair: what the version check costs (it is the same guarded ``UPDATE`` either way)."""
    guarded, blind = Stat(), Stat()
    item = f"{SAVED}{connection_id}/"
    with api.client() as c:
        etag = c.get(item).headers["etag"]
        for i in range(samples + 3):
            order = (0, 1) if i % 2 else (1, 0)
            for which in order:
                headers = {"If-Match": etag} if which == 0 else {}
                patch = {"description": f"bench {i} {which}"}
                took, r = _timed(lambda headers=headers, patch=patch: c.patch(item, json=patch, headers=headers))
                if r.status_code != 200:
                    raise RuntimeError(f"PATCH answered {r.status_code}: {r.text[:300]}")
                etag = r.headers["etag"]
                if i >= 3:
                    (guarded if which == 0 else blind).add(took)
    s.row(f"{label}: `PATCH {{id}}` with `If-Match`", *_ms(guarded), guarded.n, f"≤ {TARGET_MS:g} ms",
          judge(guarded.median * 1000 <= TARGET_MS))
    s.row(f"{label}: `PATCH {{id}}` without", *_ms(blind), blind.n, f"≤ {TARGET_MS:g} ms",
          judge(blind.median * 1000 <= TARGET_MS))


def _test_overhead(s: Section, api: Api, connection_id: str, body: dict[str, Any], samples: int) -> None:
    """``POST {id}/test/`` vs ``POST test/`` with the same body, interleaved pair by pair."""
    saved_t, direct_t = Stat(), Stat()
    codes: Counter[str] = Counter()
    with api.client() as c:
        for i in range(samples + 3):
            order = (0, 1) if i % 2 else (1, 0)
            for which in order:
                if which == 0:
                    took, r = _timed(lambda: c.post(f"{SAVED}{connection_id}/test/"))
                else:
                    took, r = _timed(lambda: c.post(TEST, json=body))
                code = r.json().get("code", "?") if r.status_code == 200 else f"HTTP {r.status_code}"
                if i >= 3:
                    (saved_t if which == 0 else direct_t).add(took)
                    codes[code] += 1
    r = ratio(saved_t, direct_t)
    pairs = pair_ratios(saved_t.samples, direct_t.samples)
    ok = codes.get("CONNECTION_SUCCESSFUL", 0) == saved_t.n + direct_t.n
    s.row("`POST {id}/test/` (saved in SQLite, decrypted; the target is PostgreSQL)", *_ms(saved_t), saved_t.n)
    s.row("`POST test/` (the same body)", *_ms(direct_t), direct_t.n)
    s.row("**saved vs direct: ratio** (min/max: per pair)", times(r), times(pairs.min), times(pairs.max), pairs.n,
          f"≤ {TARGET_RATIO:g}×", judge(r <= TARGET_RATIO and ok))
    s.note(f"Verdicts of the saved/direct tests: {dict(codes)}.")
    decrypt = _decrypt_cost(body)
    s.row("… of which decrypting the secrets and re-validating the body (in-process)",
          f"{decrypt.median * 1e6:.0f} µs", f"{decrypt.min * 1e6:.0f}", f"{decrypt.max * 1e6:.0f}", decrypt.n)
    s.note("What `POST {id}/test/` adds besides decrypting: reading the row (a thread hop and a `SELECT`) and writing "
           "`last_test` (a thread hop and an `UPDATE`), about a millisecond each on a loaded machine.")


def _decrypt_cost(body: dict[str, Any], rounds: int = 2000) -> Stat:
    """What the saved test adds in CPU alone: Fernet-decrypt every secret, put them back, validate the body."""
    from backend.saved.crypto import KeyRing
    from backend.saved.masking import split, unmasked
    from backend.spec.models import parse_connector

    keys = KeyRing([Fernet.generate_key().decode()])
    public, values = split(parse_connector(body))
    tokens = {path: keys.encrypt(value) for path, value in values.items()}
    stat = Stat()
    for _ in range(rounds):
        t0 = time.perf_counter()
        parse_connector(unmasked(public, {path: keys.decrypt(token) for path, token in tokens.items()}))
        stat.add(time.perf_counter() - t0)
    return stat


def measure(env: Env, pg_server: Any, target: dict[str, Any], procs: list[Server], count: int, samples: int) -> Section:
    """Section 8. ``pg_server`` is a started ``tests.servers.postgres.PostgresServer``; ``target`` a body that
    tests successfully against it. Starts an API on SQLite and one on PostgreSQL (a database of its own)."""
    from tests.servers.postgres import SUPERPASS, SUPERUSER

    s = Section(f"8. Saved connections: reads and edits with {count:,} stored, and testing a saved connection vs its body")
    store = f"wizard_bench_saved_{int(time.time())}"
    pg_server.sql(f"CREATE DATABASE {store}")
    key = {"WIZARD_SECRET_KEY": Fernet.generate_key().decode()}
    apis = {
        "SQLite": Api.make(env, "api-saved-sqlite", overrides={**key, "WIZARD_DATABASE_URL": f"sqlite:///{env.workdir / 'saved.db'}"}),
        "PostgreSQL": Api.make(env, "api-saved-pg", overrides={
            **key, "WIZARD_DATABASE_URL": f"postgresql+psycopg2://{SUPERUSER}:{SUPERPASS}@{LOOPBACK}:{pg_server.port}/{store}"}),
    }
    for api in apis.values():
        procs.append(api)
        api.start()
    try:
        for api in apis.values():
            api.wait_ready()
        ids: dict[str, list[str]] = {}
        for label, api in apis.items():
            took, ids[label] = _timed(lambda api=api: _seed(api, target, count))
            s.note(f"{label}: {count} connections saved through the API in {took:.1f} s ({took / count * 1000:.1f} ms each).")
        for label, api in apis.items():
            _reads(s, label, api, ids[label], samples)
            _patches(s, label, api, ids[label][len(ids[label]) // 2], samples)
        _test_overhead(s, apis["SQLite"], ids["SQLite"][-1], target, samples)
    finally:
        for api in apis.values():
            api.stop()
    s.note("One request at a time from the bench process; the API runs in one uvicorn worker with authentication as "
           "configured; each `GET` decrypts nothing (secrets read as the mask), `POST {id}/test/` decrypts every "
           "secret of the connection (Fernet) and re-validates the body before the same test as `POST test/`.")
    return s


def main(argv: list[str] | None = None) -> int:
    from tests.servers.postgres import PostgresServer

    parser = argparse.ArgumentParser(prog="python -m bench.saved", description=__doc__.splitlines()[0])
    parser.add_argument("--auth", choices=("on", "off"), default="on")
    parser.add_argument("--count", type=int, default=10_000, help="saved connections per store (default 10000)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="wizard-bench-saved-"))
    procs: list[Server] = []
    server = PostgresServer()
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        stack.callback(lambda: server.stop() if server.workdir != Path() else None)
        stack.callback(stop_all, procs)
        pg = start_postgres(server)
        target = {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": pg.port, "database": pg.database,
                  "username": pg.user, "password": pg.password}
        section = measure(Env(workdir, auth=args.auth == "on"), server, target, procs, args.count,
                          10 if args.quick else 30)
        print(section.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
