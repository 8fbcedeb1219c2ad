"""The six measures. Each returns a :class:`Section` of the table; none raises on a figure."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.app import CONSTANT_AUTH_PATH, CONSTANT_PATH
from bench.bodies import ENV_ENDPOINTS, LOOPBACK, UNRESOLVABLE, Target, build_body, endpoint_kind
from bench.procs import (
    DEADLINE_S,
    FUNCTIONALITIES,
    PYTHON,
    REPO,
    SUPPORTED_TYPES,
    TEST,
    Api,
    Env,
    Server,
    snapshot,
    streamlit,
    wait_health,
)
from bench.report import Section, judge
from bench.stats import Stat, mib, ms, pair_ratios, plain, ratio, sec, times


@dataclass(frozen=True)
class DB:
    """A database server the bench started, and the user it created."""

    name: str
    port: int
    user: str
    password: str
    database: str


@dataclass(frozen=True)
class Reps:
    """How many times each figure is measured (``--quick`` divides them)."""

    overhead: int = 30
    failfast: int = 5
    silent_rounds: int = 3
    idle_samples: int = 40
    load_rounds: int = 2
    limit_rounds: int = 3
    rps_rounds: int = 5
    rps_window_s: float = 1.0
    imports: int = 5
    starts: int = 3
    mixed: int = 200
    path: int = 200


def refusal(r: httpx.Response) -> str:
    """A refused answer as the bench reports it: status, and the ApplicationMessage's code and title (which layer
    answered, and why), or the start of a body of another kind (e.g. uvicorn's own plain-text 503)."""
    try:
        body = r.json()
    except ValueError:
        return f"{r.status_code} ({r.headers.get('content-type', '?')}: {r.text[:120]!r})"
    if isinstance(body, dict) and "code" in body:
        return f"{r.status_code} {body['code']}: {body.get('title')} — {body.get('body')}"
    return f"{r.status_code}: {r.text[:200]!r}"


# --- 1. overhead --------------------------------------------------------------------------------


# The wizard's own steps around the driver's login, for the raw side that does the same work
# (backend/diagnosis/netprobe.py: the tcp stage; each connector's ``inspect`` and ``tls_state``).
POSTGRES_INSPECTION = ("SELECT current_setting('server_version'), current_user, current_database(), current_schema()",)
MARIADB_INSPECTION = ("SELECT VERSION(), CURRENT_USER(), DATABASE()",
                      "SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")


def _probe(port: int) -> None:
    """The wizard's tcp stage: a TCP connection opened and closed before the driver's own."""
    import socket

    socket.create_connection((LOOPBACK, port), timeout=DEADLINE_S).close()


def _run_and_close(conn: Any, statements: Sequence[str]) -> None:
    """``statements`` on a fresh DB-API connection, each fetched, then close it."""
    try:
        cur = conn.cursor()
        try:
            for sql in statements:
                cur.execute(sql)
                cur.fetchall()
        finally:
            cur.close()
    finally:
        conn.close()


@dataclass(frozen=True)
class RawSide:
    """The raw side of the overhead comparison, two ways: the bare driver, and the same work as the wizard."""

    bare: Callable[[], None]
    """Connect, ``SELECT 1``, close: what a program without the wizard would do at least."""
    same_work: Callable[[], None]
    """What the wizard's diagnosis does with the driver: the TCP probe, connect, its inspection query, close."""


def _raw(port: int, connect: Callable[[], Any], inspection: Sequence[str]) -> RawSide:
    def bare() -> None:
        _run_and_close(connect(), ("SELECT 1",))

    def same_work() -> None:
        _probe(port)
        _run_and_close(connect(), inspection)

    return RawSide(bare, same_work)


def raw_postgres(db: DB) -> RawSide:
    import psycopg2

    # The wizard's TLS/GSS negotiation when no hook is given: sslmode=prefer (libpq's default),
    # gssencmode=disable (no Kerberos login asked for).
    return _raw(db.port, lambda: psycopg2.connect(host=LOOPBACK, port=db.port, user=db.user, password=db.password,
                                                  dbname=db.database, connect_timeout=int(DEADLINE_S),
                                                  gssencmode="disable"), POSTGRES_INSPECTION)


def raw_pymysql(db: DB) -> RawSide:
    import pymysql

    # ssl_disabled: the same exchange as the wizard's against a server without TLS. PyMySQL's default
    # (PREFERRED) builds a new default SSLContext, loading the system CA bundle, on every connect
    # (pymysql/connections.py, Connection.__init__ → _create_ssl_ctx({})): tens of ms the wizard avoids
    # by giving PyMySQL a context of its own.
    return _raw(db.port, lambda: pymysql.connect(host=LOOPBACK, port=db.port, user=db.user, password=db.password,
                                                 database=db.database, connect_timeout=int(DEADLINE_S),
                                                 ssl_disabled=True), MARIADB_INSPECTION)


def raw_mysqlclient(db: DB) -> RawSide:
    import MySQLdb

    return _raw(db.port, lambda: MySQLdb.connect(host=LOOPBACK, port=db.port, user=db.user, password=db.password,
                                                 database=db.database, connect_timeout=int(DEADLINE_S)),
                MARIADB_INSPECTION)


@dataclass(frozen=True)
class OverheadCase:
    label: str
    connector: str
    db: DB
    extra: Mapping[str, Any]
    """Body fields set last (the protocol, i.e. the driver)."""
    raw: RawSide
    judged: bool = True
    """Whether the 1.2× target applies (it does to the drivers the brief names)."""


def overhead(api: Api, props: Mapping[str, Any], cases: Sequence[OverheadCase], reps: Reps) -> Section:
    """``POST test`` against the raw driver, interleaved pair by pair, one request at a time."""
    s = Section("1. Overhead: a successful test through the API vs the raw driver doing the same work")
    with api.client() as c:
        for case in cases:
            label, db = case.label, case.db
            body = build_body(case.connector, props[case.connector],
                              Target(port=db.port, username=db.user, password=db.password, database=db.database,
                                     extra=dict(case.extra)))
            api_t, same_t, bare_t, elapsed = Stat(), Stat(), Stat(), Stat()
            codes: Counter[str] = Counter()
            stages: dict[str, list[float]] = defaultdict(list)
            for i in range(reps.overhead + 3):
                order = (0, 1, 2) if i % 2 else (2, 1, 0)
                for which in order:
                    t0 = time.perf_counter()
                    if which == 0:
                        response = c.post(TEST, json=body)
                        took = time.perf_counter() - t0
                        message: dict[str, Any] = (response.json() if response.status_code == 200
                                                   else {"code": f"HTTP {response.status_code}"})
                        if i >= 3:
                            api_t.add(took)
                            codes[message.get("code", "?")] += 1
                            payload = message.get("payload") or {}
                            if "elapsed_ms" in payload:
                                elapsed.add(payload["elapsed_ms"] / 1000)
                            for st in payload.get("stages", []):
                                if st.get("duration_ms") is not None and st.get("status") != "skipped":
                                    stages[st["name"]].append(st["duration_ms"])
                    else:
                        (case.raw.same_work if which == 1 else case.raw.bare)()
                        if i >= 3:
                            (same_t if which == 1 else bare_t).add(time.perf_counter() - t0)
            ok = codes.get("CONNECTION_SUCCESSFUL", 0) == api_t.n
            s.row(f"{label}: API `POST test`", ms(api_t.median), ms(api_t.min), ms(api_t.max), api_t.n)
            s.row(f"{label}: raw, the same work (TCP probe + connect + inspection query + close)", ms(same_t.median),
                  ms(same_t.min), ms(same_t.max), same_t.n)
            s.row(f"{label}: raw, bare driver (connect + SELECT 1 + close)", ms(bare_t.median), ms(bare_t.min),
                  ms(bare_t.max), bare_t.n)
            pairs = pair_ratios(api_t.samples, same_t.samples)
            r = ratio(api_t, same_t)
            s.row(f"**{label}: ratio, API / the same work** (min/max: per pair)", times(r), times(pairs.min),
                  times(pairs.max), pairs.n, "≤ 1.2×" if case.judged else "(informative)",
                  judge(r <= 1.2 and ok) if case.judged else ("" if ok else "not all successful"))
            bare_pairs = pair_ratios(api_t.samples, bare_t.samples)
            s.row(f"{label}: ratio, API / bare driver (informative: the diagnosis's own steps included)",
                  times(ratio(api_t, bare_t)), times(bare_pairs.min), times(bare_pairs.max), bare_pairs.n)
            steps = Stat([a - b for a, b in zip(same_t.samples, bare_t.samples, strict=False)])
            s.row(f"{label}: the diagnosis's own steps (same work − bare, per round)",
                  ms(same_t.median - bare_t.median), ms(steps.min), ms(steps.max), steps.n)
            outside = Stat([a - b for a, b in zip(api_t.samples, elapsed.samples, strict=False)])
            s.row(f"{label}: HTTP + auth + validation + masking + logging (API − payload.elapsed_ms)",
                  ms(outside.median), ms(outside.min), ms(outside.max), outside.n)
            stage_text = ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in stages.items())
            s.note(f"{label}: verdicts {dict(codes)}; the wizard's own clock (payload.elapsed_ms) median "
                   f"{ms(elapsed.median)}; its stages (median ms): {stage_text}.")
    s.note("The judged ratio compares the same work: the raw side also opens the TCP probe connection and runs the "
           "wizard's inspection query (MariaDB: also SHOW SESSION STATUS for the TLS state), as the diagnosis does; "
           "the bare-driver ratio is shown apart. Every side runs one request at a time from the bench process over "
           "TCP on 127.0.0.1 with password authentication as the same user; the API runs in one uvicorn worker. "
           "The three alternate, round by round, so a noisy moment hits all of them.")
    return s


# --- 2. fail-fast ---------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    expected: str
    target_s: float | None


CASES = {
    "closed": Case("closed port", "PORT_CLOSED", 0.050),
    "invalid": Case("unresolvable host (.invalid)", "HOST_NOT_FOUND", None),
    "silent": Case(f"silent host, deadline {DEADLINE_S:g} s", "CONNECTION_TIMEOUT", DEADLINE_S + 0.3),
}


def failfast_target(case: str, closed_port: int, silent_port: int) -> Target:
    if case == "closed":
        return Target(port=closed_port)
    if case == "silent":
        return Target(port=silent_port)
    return Target(host=UNRESOLVABLE, port=closed_port)


def env_endpoint(case: str, closed_port: int, silent_port: int) -> str:
    host, port = {"closed": (LOOPBACK, closed_port), "silent": (LOOPBACK, silent_port),
                  "invalid": (UNRESOLVABLE, closed_port)}[case]
    return f"http://{host}:{port}"


async def _post(ac: httpx.AsyncClient, body: dict[str, Any]) -> tuple[float, int, str, str | None]:
    """(seconds, HTTP status, verdict code, Retry-After) of one test."""
    t0 = time.perf_counter()
    try:
        r = await ac.post(TEST, json=body, timeout=DEADLINE_S + 30)
    except httpx.TimeoutException:
        return time.perf_counter() - t0, 0, "CLIENT TIMEOUT", None
    took = time.perf_counter() - t0
    code = r.json().get("code", "?") if r.headers.get("content-type", "").startswith("application/json") else "?"
    return took, r.status_code, code, r.headers.get("retry-after")


async def failfast(main: Api, env_apis: Mapping[tuple[str, str], Api], props: Mapping[str, Any], closed_port: int,
                   silent_port: int, reps: Reps, skipped: Mapping[str, str]) -> Section:
    s = Section(f"2. Fail-fast: time to verdict, every connector (WIZARD_TEST_TIMEOUT_S={DEADLINE_S:g})")
    results: dict[tuple[str, str], tuple[Stat, Counter[str]]] = {}

    def api_for(connector: str, case: str) -> Api | None:
        if endpoint_kind(props[connector], connector) == "env":
            return env_apis.get((connector, case))
        return main

    clients: dict[str, httpx.AsyncClient] = {}
    try:
        for api in (main, *env_apis.values()):
            clients[api.name] = api.async_client()
        # Closed port and unresolvable host: one request at a time, after one untimed warm-up per connector
        # (the first test of a connector imports its driver).
        for connector in props:
            if connector in skipped:
                continue
            for case in ("closed", "invalid"):
                target_api = api_for(connector, case)
                if target_api is None:
                    continue
                body = build_body(connector, props[connector], failfast_target(case, closed_port, silent_port))
                stat, codes = results.setdefault((connector, case), (Stat(), Counter()))
                ac = clients[target_api.name]
                for i in range(reps.failfast + 1):
                    took, status, code, _ = await _post(ac, body)
                    if i:
                        stat.add(took)
                        codes[code if status == 200 else f"HTTP {status}"] += 1
        # Silent host: every connector at once, round after round (each round lasts about the deadline).
        for _ in range(reps.silent_rounds):
            jobs: list[tuple[str, Any]] = []
            for connector in props:
                silent_api = api_for(connector, "silent")
                if connector in skipped or silent_api is None:
                    continue
                body = build_body(connector, props[connector], failfast_target("silent", closed_port, silent_port))
                jobs.append((connector, _post(clients[silent_api.name], body)))
            outcomes = await asyncio.gather(*(job for _, job in jobs))
            for (connector, _job), (took, status, code, _ra) in zip(jobs, outcomes, strict=True):
                stat, codes = results.setdefault((connector, "silent"), (Stat(), Counter()))
                stat.add(took)
                codes[code if status == 200 else f"HTTP {status}"] += 1
    finally:
        for ac in clients.values():
            await ac.aclose()

    for connector in props:
        if connector in skipped:
            s.row(f"{connector}", "n/a", result="skipped")
            s.note(f"{connector}: skipped — {skipped[connector]}")
            continue
        for case_key, case_info in CASES.items():
            stat, codes = results.get((connector, case_key), (Stat(), Counter()))
            if not stat.n:
                continue
            right = set(codes) == {case_info.expected}
            limit = case_info.target_s
            target = f"≤ {ms(limit)}" if limit else "—"
            ok = right and (limit is None or stat.median <= limit)
            if case_key == "silent":  # the contract is on every test, not the median
                ok = right and stat.max <= (limit or 0)
                target = f"every one ≤ {sec(limit or 0)}"
            verdicts = ", ".join(f"{k}×{v}" for k, v in codes.items())
            s.row(f"{connector}: {case_info.name}", ms(stat.median), ms(stat.min), ms(stat.max), stat.n, target,
                  f"{judge(ok)} ({verdicts})")
    s.note("Time to verdict is measured by the client: request sent → ApplicationMessage received. Closed and "
           "unresolvable cases run one at a time after an untimed warm-up per connector (the first test of a "
           "connector imports its driver); silent cases run all connectors at once, one round per deadline.")
    s.note(f"Bodies are built from each connector's Property metadata (`bench/bodies.py`): required fields filled, "
           f"host/port or a connection string's endpoint aimed at a closed port, `{UNRESOLVABLE}` or a listener "
           f"that accepts and never speaks. Connectors configured by environment ({', '.join(ENV_ENDPOINTS)}) get an "
           "API process of their own per endpoint.")
    return s


# --- 3. responsiveness under load -------------------------------------------------------------------


async def _latency(ac: httpx.AsyncClient, path: str) -> float:
    t0 = time.perf_counter()
    r = await ac.get(path)
    if r.status_code != 200:
        raise RuntimeError(f"GET {path} answered {refusal(r)}")
    return time.perf_counter() - t0


async def responsiveness(main: Api, limited: Api, limit: int, silent_bodies: Sequence[dict[str, Any]],
                         reps: Reps) -> Section:
    s = Section("3. Responsiveness under load")
    idle, loaded = Stat(), Stat()
    load_times, load_codes = Stat(), Counter[str]()
    async with main.async_client() as ac:
        for _ in range(10):
            await _latency(ac, SUPPORTED_TYPES)
        for _ in range(reps.load_rounds):
            for _ in range(reps.idle_samples):
                idle.add(await _latency(ac, SUPPORTED_TYPES))
            tasks = [asyncio.create_task(_post(ac, silent_bodies[i % len(silent_bodies)])) for i in range(20)]
            await asyncio.sleep(0.3)  # all 20 in flight
            while not all(t.done() for t in tasks) and len(loaded.samples) < 10_000:
                latency = await _latency(ac, SUPPORTED_TYPES)
                if not all(t.done() for t in tasks):
                    loaded.add(latency)
            for took, status, code, _ in await asyncio.gather(*tasks):
                load_times.add(took)
                load_codes[code if status == 200 else f"HTTP {status}"] += 1
    r = ratio(loaded, idle)
    s.row("`supported_types` latency, idle", ms(idle.median), ms(idle.min), ms(idle.max), idle.n)
    s.row("`supported_types` latency, 20 silent-host tests in flight", ms(loaded.median), ms(loaded.min),
          ms(loaded.max), loaded.n)
    s.row("**ratio loaded / idle** (of medians)", times(r), "", "", "", "≤ 2×", judge(r <= 2))
    s.row("the 20 silent-host tests themselves", ms(load_times.median), ms(load_times.min), ms(load_times.max),
          load_times.n, f"every one ≤ {sec(DEADLINE_S + 0.5)}",
          f"{judge(load_times.max <= DEADLINE_S + 0.5)} ({', '.join(f'{k}×{v}' for k, v in load_codes.items())})")

    # Past the in-flight limit: a process of its own with a low WIZARD_MAX_CONCURRENT_TESTS.
    busy, answered, slowest = Stat(), Stat(), Stat()
    retry_after_missing = 0
    other: Counter[str] = Counter()
    async with limited.async_client() as ac:
        for _ in range(reps.limit_rounds):
            outcomes = await asyncio.gather(*(_post(ac, silent_bodies[0]) for _ in range(20)))
            busy.add(sum(1 for _, status, _, _ in outcomes if status == 503))
            answered.add(sum(1 for _, status, _, _ in outcomes if status == 200))
            slowest.add(max(took for took, _, _, _ in outcomes))
            retry_after_missing += sum(1 for _, status, _, ra in outcomes if status == 503 and not ra)
            other.update(f"HTTP {st} {code}" for _, st, code, _ in outcomes if st not in (200, 503))
    s.row(f"past the limit (WIZARD_MAX_CONCURRENT_TESTS={limit}, 20 sent at once): 503s", plain(busy.median),
          plain(busy.min), plain(busy.max), busy.n, f"{20 - limit}",
          judge(busy.median == 20 - limit and retry_after_missing == 0 and not other))
    s.row("… tests run (200)", plain(answered.median), plain(answered.min), plain(answered.max), answered.n, f"{limit}")
    s.row("… slowest answer of the 20", ms(slowest.median), ms(slowest.min), ms(slowest.max), slowest.n,
          f"≤ {sec(DEADLINE_S + 0.5)}", judge(slowest.max <= DEADLINE_S + 0.5))
    if retry_after_missing or other:
        s.note(f"past the limit: {retry_after_missing} 503s without Retry-After; other answers: {dict(other)}.")
    s.note("Idle and loaded latencies are sampled one request at a time in the same process; the load is 20 tests "
           "to a listener that accepts and never answers (PostgreSQL and MySQL bodies alternating), so each holds "
           "a driver thread for the whole deadline.")
    return s


# --- 4. metadata endpoints ------------------------------------------------------------------------------


def _rps(api: Api, clients: Sequence[httpx.Client], path: str, params: Mapping[str, str],
         seconds: float) -> tuple[float, float]:
    """(requests per second, server CPU seconds per request) with one thread per client, for ``seconds``."""
    import psutil

    server = psutil.Process(api.pid)
    counts = [0] * len(clients)
    failures: list[str] = []
    end = time.perf_counter() + seconds

    def worker(i: int) -> None:
        c = clients[i]
        while time.perf_counter() < end:
            r = c.get(path, params=params)
            if r.status_code != 200:
                failures.append(f"GET {path} answered {refusal(r)}")
                return
            counts[i] += 1

    cpu0 = sum(server.cpu_times()[:2])
    t0 = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(len(clients))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    cpu = sum(server.cpu_times()[:2]) - cpu0
    if failures:
        raise RuntimeError(failures[0])
    total = sum(counts)
    return total / elapsed, cpu / max(total, 1)


def metadata(main: Api, connector: str, reps: Reps, concurrency: int = 4) -> Section:
    s = Section("4. Metadata endpoints: requests per second vs a bare endpoint in the same server")
    endpoints = {
        "bare `/bench/constant`": (CONSTANT_PATH, {}),
        "bare + the API's auth dependency `/bench/constant-auth`": (CONSTANT_AUTH_PATH, {}),
        "`supported_types`": (SUPPORTED_TYPES, {}),
        f"`functionalities?connector_type={connector}`": (FUNCTIONALITIES, {"connector_type": connector}),
    }
    rps: dict[str, Stat] = {name: Stat() for name in endpoints}
    cpu: dict[str, Stat] = {name: Stat() for name in endpoints}
    sizes: dict[str, int] = {}
    clients = [main.client() for _ in range(concurrency)]
    try:
        for name, (path, params) in endpoints.items():
            sizes[name] = len(clients[0].get(path, params=params).content)
            _rps(main, clients, path, params, 0.3)  # warm-up
        for _ in range(reps.rps_rounds):
            for name, (path, params) in endpoints.items():
                per_s, cpu_per = _rps(main, clients, path, params, reps.rps_window_s)
                rps[name].add(per_s)
                cpu[name].add(cpu_per)
    finally:
        for c in clients:
            c.close()
    bare = "bare `/bench/constant`"
    for name in endpoints:
        st = rps[name]
        s.row(f"{name} ({sizes[name]} bytes): requests/s", f"{st.median:.0f}/s", f"{st.min:.0f}/s", f"{st.max:.0f}/s",
              st.n)
    for name in endpoints:
        st = cpu[name]
        s.row(f"{name}: server CPU per request", f"{st.median * 1e6:.0f} µs", f"{st.min * 1e6:.0f} µs",
              f"{st.max * 1e6:.0f} µs", st.n)
    for name in endpoints:
        if name == bare:
            continue
        pairs = pair_ratios(rps[name].samples, rps[bare].samples)
        s.row(f"**{name} / bare, requests/s** (min/max: per round)", times(ratio(rps[name], rps[bare])),
              times(pairs.min), times(pairs.max), pairs.n)
        pairs = pair_ratios(cpu[name].samples, cpu[bare].samples)
        s.row(f"**{name} / bare, server CPU per request**", times(ratio(cpu[name], cpu[bare])), times(pairs.min),
              times(pairs.max), pairs.n)
    # The target "computed once" judged from its own figure: a metadata endpoint costs no more server
    # CPU than the bare endpoint behind the same auth dependency (every endpoint pays that), within 20 %.
    with_auth = "bare + the API's auth dependency `/bench/constant-auth`"
    for name in endpoints:
        if name in (bare, with_auth):
            continue
        r = ratio(cpu[name], cpu[with_auth])
        pairs = pair_ratios(cpu[name].samples, cpu[with_auth].samples)
        s.row(f"**{name} / bare + auth, server CPU per request** (computed once: nothing beyond the auth)", times(r),
              times(pairs.min), times(pairs.max), pairs.n, "≤ 1.2×", judge(r <= 1.2))
    s.note(f"Each figure: {reps.rps_window_s:g} s windows, {concurrency} client threads (one keep-alive httpx client "
           "each), endpoints interleaved round by round. The client shares the 2 cores with the server, so requests/s "
           "ratios are compressed toward 1; the server's CPU time per request (psutil, user + system, of the API "
           "process) is the sharper comparison. `/bench/constant-auth` is the bare endpoint plus "
           "`backend.api.deps.current_user` (with authentication on: the session check): what the metadata endpoints cost "
           "beyond it is their own.")
    return s


def middleware(with_ops: Api, without_ops: Api, reps: Reps, concurrency: int = 4) -> Section:
    """Server CPU per ``supported_types`` request with the operations middleware (security headers,
    request id) on and off: two processes of the same app, measured in interleaved windows."""
    s = Section("7. Operations middleware: supported_types server CPU per request, on vs off")
    apis = {"on": with_ops, "off": without_ops}
    cpu: dict[str, Stat] = {name: Stat() for name in apis}
    clients = {name: [api.client() for _ in range(concurrency)] for name, api in apis.items()}
    try:
        for name, api in apis.items():
            _rps(api, clients[name], SUPPORTED_TYPES, {}, 0.3)  # warm-up
        for _ in range(reps.rps_rounds):
            for name, api in apis.items():
                cpu[name].add(_rps(api, clients[name], SUPPORTED_TYPES, {}, reps.rps_window_s)[1])
    finally:
        for group in clients.values():
            for c in group:
                c.close()
    for name in apis:
        st = cpu[name]
        s.row(f"middleware {name}: server CPU per request", f"{st.median * 1e6:.0f} µs", f"{st.min * 1e6:.0f} µs",
              f"{st.max * 1e6:.0f} µs", st.n)
    r = ratio(cpu["on"], cpu["off"])
    pairs = pair_ratios(cpu["on"].samples, cpu["off"].samples)
    s.row("**on / off** (min/max: per round)", times(r), times(pairs.min), times(pairs.max), pairs.n, "≤ 1.1×",
          judge(r <= 1.1))
    s.note(f"`bench.app:create` vs `bench.app:create_without_ops` (`create_app(ops=False)`), one process each, "
           f"{reps.rps_window_s:g} s windows alternating between them, {concurrency} client threads; the CPU time "
           "(user + system) of each API process per request. Metrics cost nothing here: they count tests, not requests.")
    return s


def metadata_cached() -> str:
    """Whether ``supported_types`` and ``functionalities`` are computed once (checked in process)."""
    from backend.connectors import registry
    from backend.spec.metadata import functionalities, supported_types

    first = next(iter(registry()))
    same = supported_types() is supported_types() and functionalities(first) is functionalities(first)
    return "computed once per process (same object on every call)" if same else "RECOMPUTED on every call"


# --- 5. start-up ------------------------------------------------------------------------------------

HEAVY = ("psycopg2", "pymysql", "MySQLdb", "oracledb", "pyodbc", "pymssql", "ibm_db", "ibm_db_sa", "sqlalchemy",
         "sqlalchemy_sybase", "databricks", "boto3", "botocore", "azure.storage.blob", "adlfs", "fsspec", "paramiko",
         "sshtunnel", "cryptography", "argon2", "jwt", "gssapi", "streamlit", "pandas", "numpy")

_IMPORT = (
    "import json, sys, time\n"
    "t = time.perf_counter()\n"
    "import backend.main\n"
    "took = time.perf_counter() - t\n"
    f"print(json.dumps({{'s': took, 'mods': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
)


def _import_profile(env: Env) -> list[tuple[str, float]]:
    """Import time per top-level package (``python -X importtime``, self times summed), largest first."""
    done = subprocess.run([PYTHON, "-X", "importtime", "-c", "import backend.main"], env=env.make("import"),
                          cwd=env.workdir, capture_output=True, text=True, timeout=120)
    per_root: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        try:
            own, _cumulative, name = line[len("import time:"):].split("|")
            per_root[name.strip().split(".")[0]] += int(own.strip()) / 1e6
        except ValueError:
            continue
    return sorted(per_root.items(), key=lambda kv: -kv[1])


def startup(env: Env, reps: Reps, procs: list[Server]) -> tuple[Section, Api | None]:
    """The last API process started here stays up (the memory measure uses it) and is returned."""
    s = Section("5. Start-up")
    imports = Stat()
    mods: set[str] = set()
    for _ in range(reps.imports):
        done = subprocess.run([PYTHON, "-c", _IMPORT], env=env.make("import"), cwd=env.workdir, capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            s.note(f"`import backend.main` failed: {done.stderr.strip().splitlines()[-1:]}")
            break
        data = json.loads(done.stdout.strip().splitlines()[-1])
        imports.add(data["s"])
        mods.update(data["mods"])
    s.row("`import backend.main`, fresh interpreter", ms(imports.median), ms(imports.min), ms(imports.max), imports.n,
          "≤ 1 s", judge(imports.median <= 1.0))
    drivers = sorted(m for m in mods if m not in ("sqlalchemy", "cryptography", "argon2", "jwt", "streamlit"))
    s.note(f"Modules among {len(HEAVY)} heavy ones imported by `import backend.main`: {sorted(mods) or 'none'}"
           + (f" — drivers imported eagerly: {drivers}" if drivers else " — no database or cloud driver."))
    profile = _import_profile(env)
    if profile:
        s.note("Where the import time goes (`python -X importtime`, one run, self time summed per top-level package): "
               + ", ".join(f"{name} {ms(t)}" for name, t in profile[:10]) + ".")

    ready = Stat()
    kept: Api | None = None
    for i in range(reps.starts):
        api = Api.make(env, f"startup-{i}", app="backend.main:app", factory=False)
        procs.append(api)  # stopped at the end whatever happens
        api.start()
        ready.add(api.wait_ready())
        if i < reps.starts - 1:
            api.stop()
        else:
            kept = api
    s.row("`uvicorn backend.main:app` → first 200 on `supported_types`", ms(ready.median), ms(ready.min),
          ms(ready.max), ready.n)

    app = REPO / "app.py"
    if not app.exists():
        s.row("`streamlit run app.py` → `/_stcore/health` 200", "n/a", target="≤ 2 s", result="app.py does not exist yet")
        return s, kept
    healthy = Stat()
    failure = ""
    for i in range(reps.starts):
        ui = streamlit(env, f"streamlit-{i}", app)
        procs.append(ui)
        try:
            ui.start()
            healthy.add(wait_health(ui))
        except (RuntimeError, TimeoutError) as exc:
            failure = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            break
        finally:
            ui.stop()
    if healthy.n:
        s.row("`streamlit run app.py` → `/_stcore/health` 200", ms(healthy.median), ms(healthy.min), ms(healthy.max),
              healthy.n, "≤ 2 s", judge(healthy.median <= 2.0))
    else:
        s.row("`streamlit run app.py` → `/_stcore/health` 200", "n/a", target="≤ 2 s", result=f"failed: {failure}")
    return s, kept


# --- 6. memory -------------------------------------------------------------------------------------


def mixed_bodies(props: Mapping[str, Any], pg: DB, maria: DB, closed_port: int, n: int) -> list[dict[str, Any]]:
    """``n`` tests: success, wrong password, closed port, unresolvable host (PostgreSQL and MariaDB)."""
    pattern: list[dict[str, Any]] = []
    for db, connector in ((pg, "PostgreSQLConnector"), (maria, "MySQLMariaDBConnector")):
        ok = Target(port=db.port, username=db.user, password=db.password, database=db.database)
        wrong = Target(port=db.port, username=db.user, password="not-the-password", database=db.database)
        p = props[connector]
        pattern += [build_body(connector, p, ok)] * 5
        pattern += [build_body(connector, p, wrong)] * 2
        pattern += [build_body(connector, p, Target(port=closed_port))] * 2
        pattern += [build_body(connector, p, Target(host=UNRESOLVABLE, port=db.port))]
    return [pattern[i % len(pattern)] for i in range(n)]


async def _batch(api: Api, bodies: Sequence[dict[str, Any]], silent: Sequence[dict[str, Any]]) -> Counter[str]:
    codes: Counter[str] = Counter()
    async with api.async_client() as ac:
        hanging = [asyncio.create_task(_post(ac, b)) for b in silent]
        queue = list(bodies)

        async def worker() -> None:
            while queue:
                _, status, code, _ = await _post(ac, queue.pop())
                codes[code if status == 200 else f"HTTP {status}"] += 1

        await asyncio.gather(*(worker() for _ in range(4)))
        for _, status, code, _ in await asyncio.gather(*hanging):
            codes[code if status == 200 else f"HTTP {status}"] += 1
    return codes


async def memory(api: Api, env: Env, bodies: Sequence[dict[str, Any]], silent: Sequence[dict[str, Any]]) -> Section:
    s = Section(f"6. Memory and resources of the API process (`uvicorn backend.main:app`, {len(bodies) + len(silent)}"
                " mixed tests per batch)")
    tmp = env.tmpdir(api.name)
    snaps = [("idle (started, metadata served)", snapshot(api.pid, tmp))]
    tallies: list[Counter[str]] = []
    for batch in (1, 2):
        tallies.append(await _batch(api, bodies, silent))
        await asyncio.sleep(1.0)  # abandoned driver threads end shortly after the deadline
        snaps.append((f"after batch {batch} ({batch * (len(bodies) + len(silent))} tests)", snapshot(api.pid, tmp)))
    s.raw += ["| state | RSS | open fds (files / sockets / pipes / other) | threads | inet sockets | temp files | "
              "child processes |", "|---|---:|---:|---:|---:|---:|---:|"]
    for label, snap in snaps:
        k = snap["fd_kinds"]
        s.raw.append(f"| {label} | {mib(snap['rss'])} | {snap['fds']} ({k['file']} / {k['socket']} / {k['pipe']} / "
                     f"{k['other']}) | {snap['threads']} | {snap['connections']} | {snap['tmpfiles']} | "
                     f"{snap['children']} |")
    idle, first, second = (snap for _, snap in snaps)
    new_files = sorted(second["files"] - idle["files"])
    if new_files:
        s.note(f"Files open after batch 2 that were not at idle: {', '.join(f'`{f}`' for f in new_files)}.")
    growth = second["rss"] - first["rss"]
    # Threads and fds: the server's worker pools (and a store connection per worker thread) grow to the
    # concurrency once (batch 1) and stay; a leak adds at least one per failing or silent-host test in every
    # batch. Processes must be back where they were; temp files may not grow from batch to batch (the
    # process makes one empty folder of its own on first use, `backend/hooks/tls.py` missing_path).
    steady = (second["fds"] - first["fds"] < len(silent) and second["threads"] - first["threads"] < len(silent)
              and second["tmpfiles"] == first["tmpfiles"] <= idle["tmpfiles"] + 1
              and second["children"] == idle["children"])
    s.row("RSS growth batch 1 → batch 2 (a leak grows here; warm-up does not)", mib(growth), "", "", 1,
          f"< 8 MiB; fds and threads +< {len(silent)}; no temp file per test; children as idle",
          judge(steady and growth < 8 * 2**20))
    s.row("RSS growth idle → batch 1 (lazy driver imports, allocator warm-up)", mib(first["rss"] - idle["rss"]), "", "",
          1)
    s.note(f"Verdicts per batch: {dict(tallies[0])}.")
    s.note("A snapshot is taken 1 s after the batch (its silent-host tests included) has been answered; temp files "
           "are counted in the process's own TMPDIR. Single measurements, not medians: each is a state, not a timing.")
    return s


def skip_reasons(props: Mapping[str, Any], env_ok: bool) -> dict[str, str]:
    reasons: dict[str, str] = {}
    for connector, p in props.items():
        kind = endpoint_kind(p, connector)
        if kind == "none":
            reasons[connector] = "no field or environment variable known to the bench points it at an endpoint."
        elif kind == "env" and not env_ok:
            reasons[connector] = "its API processes did not start."
    return reasons

