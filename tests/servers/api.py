"""The API itself on a real uvicorn server on a loopback port, in a thread of its own
(or in a process of its own: :class:`APIProcess`).

For tests that need what the in-process TestClient cannot give: a real socket (streamed bodies
arrive line by line, concurrent clients, the Streamlit UI calling over HTTP).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from tests.servers.common import LOOPBACK, ServerProcess, free_port, make_workdir


@dataclass
class LiveAPI:
    url: str
    app: Any
    """The app as the test built it (e.g. the FastAPI app, to look at ``app.state``)."""
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_api(app: ASGIApp, log_level: str = "warning", *, served: ASGIApp | None = None) -> LiveAPI:
    """Serve ``app`` (or ``served``, a layer in front of it) on a free loopback port.

    Returns once uvicorn accepts connections. uvicorn's access log is on from ``log_level`` info.
    """
    port = free_port()
    config = uvicorn.Config(served or app, host=LOOPBACK, port=port, log_level=log_level, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"api-{port}", daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > end:
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    return LiveAPI(f"http://{LOOPBACK}:{port}", app, server, thread)


@contextlib.contextmanager
def serve(app: ASGIApp, log_level: str = "warning") -> Iterator[str]:
    """``app`` on uvicorn for the duration of the block; yields its base URL."""
    live = start_api(app, log_level)
    try:
        yield live.url
    finally:
        live.stop()


# --- the API in a process of its own ----------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


@dataclass
class APIProcess(ServerProcess):
    """``uvicorn backend.main:app`` in a subprocess, as an operator runs it: for what only a real
    process shows (its log output, its exit on SIGTERM, what it leaves in its own ``TMPDIR``).

    Its environment has no ``WIZARD_*`` variable of the suite's but those given to :meth:`start`
    (authentication off, a 3 s deadline, a SQLite store in its work dir unless overridden).
    """

    def start(self, env: Mapping[str, str] | None = None, args: Sequence[str] = ()) -> APIProcess:
        self.workdir = make_workdir("api")
        self.port = free_port()
        self.tmpdir.mkdir()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("WIZARD_")}
        environment.update(
            TMPDIR=str(self.tmpdir),
            PYTHONPATH=str(REPO),
            WIZARD_AUTH_ENABLED="false",
            WIZARD_TEST_TIMEOUT_S="3",
            WIZARD_DATABASE_URL=f"sqlite:///{self.workdir}/store/wizard.db",
            WIZARD_FILES_DIR=str(self.workdir / "files"),
        )
        environment.update(env or {})
        argv = [sys.executable, "-m", "uvicorn", "backend.main:app", "--host", LOOPBACK, "--port", str(self.port), *args]
        self.spawn(argv, env=environment, cwd=REPO)
        return self

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def tmpdir(self) -> Path:
        """The process's own ``TMPDIR``."""
        return self.workdir / "tmp"

    def output(self) -> str:
        """Everything it wrote to standard output and standard error so far."""
        return (self.workdir / "log").read_text(errors="replace")


@contextlib.contextmanager
def two_processes(env: Mapping[str, str]) -> Iterator[tuple[APIProcess, APIProcess]]:
    """Two ``uvicorn backend.main:app`` processes with the same environment (e.g. one shared store), started
    side by side; both stopped at the end."""
    processes = [APIProcess(), APIProcess()]
    starters = [threading.Thread(target=p.start, kwargs={"env": env}) for p in processes]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join(timeout=90)
    try:
        yield processes[0], processes[1]
    finally:
        for process in processes:
            process.stop()
