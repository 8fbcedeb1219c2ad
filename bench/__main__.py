"""``python -m bench``: the wizard against the raw drivers and its own deadlines, on loopback.

Starts its own PostgreSQL and MariaDB (the test suite's server classes), a closed port and a
silent listener, and the API in separate ``uvicorn`` processes; measures; prints one table;
stops everything it started (also on Ctrl-C, SIGTERM or an error). A benchmark, not a test:
the exit status says whether it ran, never whether a target was met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

from bench import capabilities as bench_capabilities
from bench import felt_speed as bench_felt_speed
from bench import measure
from bench import saved as bench_saved
from bench import server_path as bench_server_path
from bench.bodies import ENV_ENDPOINTS, Target, build_body, endpoint_kind
from bench.databases import start_mariadb, start_postgres
from bench.measure import OverheadCase, Reps
from bench.procs import REPO, SUPPORTED_TYPES, Api, Env, Server
from bench.report import Section, document

# The same user, password and database as tests/conftest.py: a password that breaks every URL
# built by string formatting.
LIMIT = 8
"""``WIZARD_MAX_CONCURRENT_TESTS`` of the API process that measures what happens past the limit."""

MEANING = """\
What the figures mean (every timing is measured by the client, request sent → answer received; a median over
repeated runs with min and max beside it; every comparison is a ratio of two figures measured in the same run,
interleaved, because the machine is shared and absolute figures are noisy):

1. **Overhead** — one successful `POST /api/v1/database_connections/test/` vs the same driver used directly doing
   the same work (the TCP probe, connect over TCP with password authentication as the same user, the wizard's
   inspection query, close), all sequential from one process. The judged ratio is what HTTP, authentication, the
   driver threads and the verdict cost on top of the same steps. The bare driver (connect + `SELECT 1` +
   close) is shown apart, and so are the parts: the diagnosis's own steps (same work − bare) and what happens
   outside the diagnosis (API − its own clock). Target ≤ 1.2×.
2. **Fail-fast** — time to verdict for every connector in the registry against a closed port (target ≤ 50 ms), a
   name under `.invalid` (answered without the network), and a listener that accepts and never speaks with
   `WIZARD_TEST_TIMEOUT_S=3` (target: every test ≤ deadline + 0.3 s). The verdict codes seen are listed: a fast
   answer with the wrong code is not a pass.
3. **Responsiveness** — `supported_types` latency while 20 silent-host tests hold driver threads, vs idle
   (target ≤ 2×); and 20 tests sent at once to an API with `WIZARD_MAX_CONCURRENT_TESTS=8`: 12 must get `503`
   with `Retry-After`, and nothing may hang (every answer ≤ deadline + 0.5 s).
4. **Metadata** — requests per second and server CPU per request of `supported_types` and `functionalities` vs a
   bare endpoint returning a constant in the same server, with and without the API's auth dependency (`bench/app.py`
   adds them; the app itself is untouched). Target "computed once", judged from its own figure: each metadata
   endpoint costs ≤ 1.2× the server CPU of the bare endpoint behind the same auth dependency.
5. **Start-up** — `import backend.main` in a fresh interpreter (target ≤ 1 s; drivers must be imported lazily),
   `uvicorn backend.main:app` to the first 200 on `supported_types`, `streamlit run app.py` to a healthy
   `/_stcore/health` (target ≤ 2 s).
6. **Memory** — RSS, open file descriptors, threads, sockets and temp files of an API process idle and after two
   batches of mixed tests (success, wrong password, closed port, unresolvable host, a few silent hosts): a leak of
   tunnels, threads, engines or temp files shows as growth from batch 1 to batch 2.
7. **Operations middleware** — server CPU per `supported_types` request with the security headers and request ids
   on vs the same app without them (`create_app(ops=False)`), in two processes measured alternately (target ≤ 1.1×).
8. **Saved connections** — with 10,000 saved connections, `GET` list (a page of 50), `GET {id}` and `PATCH {id}` with
   and without `If-Match` latency on a SQLite and on a PostgreSQL store (target ≤ 20 ms each, median), and `POST {id}/test/` vs `POST test/` with the same body,
   interleaved (target ≤ 1.1×: decrypting the secrets must cost nothing a user can feel). `python -m bench.saved`
   runs this section alone.
9. **Live capabilities** — `POST capabilities/` vs `POST test/` with the same PostgreSQL and MariaDB connection
   (a schema of 20 tables), interleaved, without the write probe (target ≤ 2×) and with it (target ≤ 3×).
   `python -m bench.capabilities` runs this section alone.
10. **Server path** — what a request costs the API beyond its own work, next to a bare FastAPI endpoint on the same
   uvicorn server (the floor: `GET /bench/constant`, `POST /bench/echo` with a small pydantic body), interleaved one
   request at a time: `GET supported_types/`, `GET {id}/`, and for a successful PostgreSQL `POST test/` the API's time
   minus `payload.elapsed_ms` (HTTP, auth, validation, rate limit, masking, logging). Target: each median ≤ 2 ms.
   `python -m bench.server_path` runs this section alone.
11. **Felt speed** — in headless Chromium against `streamlit run app.py` (UI and embedded API, login on): click
   **Test** → the green verdict painted (timed inside the page: click listener, MutationObserver, next animation
   frame) vs the verdict's own `payload.elapsed_ms`, the same successful PostgreSQL test repeated. Target: median
   (on screen − elapsed_ms) ≤ 250 ms. `python -m bench.felt_speed` runs this section alone.
"""


def _order(title: str) -> tuple[int, str]:
    """Sections in their number's order (10 after 9), unnumbered ones last."""
    number = title.split(".", 1)[0]
    return (int(number), title) if number.isdigit() else (99, title)


def log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def _sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def measure_middleware(env: Env, main_api: Api, reps: Reps, procs: list[Server]) -> Section:
    """Section 7: ``main_api`` (middleware on) against a process of the same app without it."""
    bare = Api.make(env, "api-no-ops", app="bench.app:create_without_ops")
    procs.append(bare)
    bare.start()
    bare.wait_ready()
    try:
        return measure.middleware(main_api, bare, reps)
    finally:
        bare.stop()


def stop_all(procs: list[Server]) -> None:
    for proc in reversed(procs):
        proc.stop()


def failed_section(title: str, exc: BaseException, procs: list[Server]) -> Section:
    """A section that could not be measured: what failed, and the last lines of the API processes' logs."""
    s = Section(f"{title} — **FAILED**")
    s.note(f"This section stopped with `{type(exc).__name__}: {str(exc)[:500]}`; the other sections ran.")
    for proc in procs:
        tail = proc.tail(8).strip()
        if tail and proc.name.startswith("api"):
            s.raw += [f"`{proc.name}` log, last lines:", "", "```", tail, "```", ""]
    return s


def run(args: argparse.Namespace, sections: list[Section]) -> list[Section]:
    from tests.servers.common import ClosedPort, SilentListener
    from tests.servers.mariadb import MariaDBServer
    from tests.servers.postgres import PostgresServer

    reps = Reps() if not args.quick else Reps(overhead=10, failfast=3, silent_rounds=1, idle_samples=20, load_rounds=1,
                                              limit_rounds=1, rps_rounds=3, rps_window_s=0.5, imports=3, starts=2,
                                              mixed=100, path=50)
    workdir = Path(tempfile.mkdtemp(prefix="wizard-bench-"))
    env = Env(workdir, auth=args.auth == "on")
    procs: list[Server] = []
    t0 = time.monotonic()

    def step(text: str) -> None:
        log(f"[{time.monotonic() - t0:5.1f} s] {text}")

    def keep(section: Section | None) -> None:
        if section is not None:
            sections.append(section)

    def attempt(title: str, measure_it: Any) -> Any:
        """Run one section; a failure is reported as that section's result, and the bench goes on."""
        step(title)
        try:
            return measure_it()
        except Exception as exc:  # noqa: BLE001 - one section's failure must not lose the others
            log(f"{title} FAILED: {type(exc).__name__}: {exc}")
            sections.append(failed_section(title, exc, procs))
            return None

    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        stack.callback(stop_all, procs)

        # 5 first, while nothing else of the bench runs.
        started = attempt("5. start-up: imports, uvicorn, streamlit", lambda: measure.startup(env, reps, procs))
        mem_api = None
        if started is not None:
            section, mem_api = started
            sections.append(section)

        step("starting PostgreSQL, MariaDB and two API processes")
        pg_server, maria_server = PostgresServer(), MariaDBServer()
        stack.callback(lambda: pg_server.stop() if pg_server.workdir != Path() else None)
        stack.callback(lambda: maria_server.stop() if maria_server.workdir != Path() else None)
        silent = SilentListener()
        stack.callback(silent.close)
        closed_port = ClosedPort().port
        main_api = Api.make(env, "api")
        limited = Api.make(env, "api-limit", overrides={"WIZARD_MAX_CONCURRENT_TESTS": str(LIMIT)})
        for api in (main_api, limited):
            procs.append(api)
            api.start()
        with ThreadPoolExecutor(2) as pool:
            pg_future, maria_future = pool.submit(start_postgres, pg_server), pool.submit(start_mariadb, maria_server)
            pg, maria = pg_future.result(), maria_future.result()
        for api in (main_api, limited):
            api.wait_ready()
        with main_api.client() as c:
            props: dict[str, Any] = c.get(SUPPORTED_TYPES).json()["write_connectors"]
        step(f"connectors in the registry: {', '.join(props)}")

        cases = [
            OverheadCase("PostgreSQL (psycopg2)", "PostgreSQLConnector", pg, {}, measure.raw_postgres(pg)),
            OverheadCase("MariaDB (PyMySQL)", "MySQLMariaDBConnector", maria, {"protocol": "mysql+pymysql"},
                         measure.raw_pymysql(maria)),
            OverheadCase("MariaDB (mysqlclient, the default protocol)", "MySQLMariaDBConnector", maria, {},
                         measure.raw_mysqlclient(maria), judged=False),
        ]
        keep(attempt("1. overhead vs raw drivers",
                     lambda: measure.overhead(main_api, props, [c for c in cases if c.connector in props], reps)))

        step("2. fail-fast: starting the API processes of the connectors configured by environment")
        env_apis: dict[tuple[str, str], Api] = {}
        env_ok = True
        for connector in (c for c in props if endpoint_kind(props[c], c) == "env"):
            for case in measure.CASES:
                url = measure.env_endpoint(case, closed_port, silent.port)
                api = Api.make(env, f"api-{connector}-{case}", overrides={ENV_ENDPOINTS[connector]: url})
                env_apis[(connector, case)] = api
                procs.append(api)
                api.start()
        try:
            for api in env_apis.values():
                api.wait_ready()
        except (RuntimeError, TimeoutError) as exc:
            env_ok = False
            log(f"an API process for {', '.join({c for c, _ in env_apis})} did not start: {exc}")
            env_apis.clear()
        skipped = measure.skip_reasons(props, env_ok)
        keep(attempt("2. fail-fast, every connector", lambda: asyncio.run(
            measure.failfast(main_api, env_apis, props, closed_port, silent.port, reps, skipped))))
        for api in env_apis.values():
            api.stop()

        silent_bodies = [build_body(c, props[c], Target(port=silent.port))
                         for c in ("PostgreSQLConnector", "MySQLMariaDBConnector") if c in props]
        keep(attempt("3. responsiveness under load, and past the in-flight limit", lambda: asyncio.run(
            measure.responsiveness(main_api, limited, LIMIT, silent_bodies, reps))))

        def metadata() -> Section:
            section = measure.metadata(main_api, next(iter(props)), reps)
            section.note(f"`backend/spec/metadata.py`: {measure.metadata_cached()}.")
            return section

        keep(attempt("4. metadata endpoints", metadata))
        pg_body = {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": pg.port, "database": pg.database,
                   "username": pg.user, "password": pg.password}
        keep(attempt("10. server path next to a bare endpoint",
                     lambda: bench_server_path.measure(main_api, pg_body, reps.path)))
        keep(attempt("7. operations middleware on vs off", lambda: measure_middleware(env, main_api, reps, procs)))
        keep(attempt("8. saved connections", lambda: bench_saved.measure(env, pg_server, pg_body, procs, count=10_000,
                                                                         samples=reps.overhead)))

        def capabilities() -> Section:
            bench_capabilities.seed_postgres(pg_server)
            bench_capabilities.seed_mariadb(maria_server)
            return bench_capabilities.measure(
                main_api, bench_capabilities.body("PostgreSQLConnector", pg),
                bench_capabilities.body("MySQLMariaDBConnector", maria, protocol="mysql+pymysql"), reps.overhead)

        keep(attempt("9. live capabilities", capabilities))

        def felt_speed() -> Section:
            ui = bench_felt_speed.start_ui(env, procs)
            try:
                return bench_felt_speed.measure(ui, pg, 5 if args.quick else 20)
            finally:
                ui.stop()

        keep(attempt("11. felt speed in Chromium", felt_speed))
        if mem_api is not None:
            bodies = measure.mixed_bodies(props, pg, maria, closed_port, reps.mixed - 5)
            keep(attempt("6. memory: two batches of mixed tests", lambda: asyncio.run(
                measure.memory(mem_api, env, bodies, silent_bodies[:1] * 5))))
        step("stopping everything")
    step("done")
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--auth", choices=("on", "off"), default="on",
                        help="WIZARD_AUTH_ENABLED of the API processes (on: the bench logs in as its own admin)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run, noisier figures)")
    parser.add_argument("--write", action="store_true", help=f"also write the table to {REPO / 'bench/RESULTS.md'}")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    started = time.time()
    command = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    sections: list[Section] = []
    status = 0
    try:
        run(args, sections)
    except KeyboardInterrupt:
        log("interrupted; everything the bench started has been stopped")
        status = 130
    except Exception as exc:  # noqa: BLE001 - what was measured is printed, and what stopped the bench said
        log(f"stopped: {type(exc).__name__}: {exc}")
        sections.append(failed_section("the bench itself (setting up servers)", exc, []))
        status = 1
    if not sections:
        return status
    sections.sort(key=lambda s: _order(s.title))
    text = document(sections, started, command)
    print(text)
    if status:
        log("the bench did not finish: the sections above are those it measured")
        return status
    if args.write:
        (REPO / "bench" / "RESULTS.md").write_text(f"# Benchmark results\n\n{MEANING}\n{text}")
        log("wrote bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
