"""The processes the bench starts: API servers (uvicorn) and the UI (streamlit), each stopped by its own id."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.bodies import LOOPBACK

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
API = "/api/v1/database_connections"
SUPPORTED_TYPES = f"{API}/supported_types/"
FUNCTIONALITIES = f"{API}/functionalities/"
TEST = f"{API}/test/"
AUTH = "/api/v1/auth/"
CSRF_HEADER = "X-CSRF-Token"
DEADLINE_S = 3.0
"""``WIZARD_TEST_TIMEOUT_S`` of every API process the bench starts."""

ADMIN_USER = "bench"
ADMIN_PASSWORD = secrets.token_urlsafe(18)
"""A password of this run only, for ``WIZARD_ADMIN_PASSWORD`` when authentication is on."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def client(base_url: str, timeout: float = 30.0) -> httpx.Client:
    # trust_env=False: no proxy variable may send a request off the machine.
    return httpx.Client(base_url=base_url, timeout=timeout, trust_env=False)


def async_client(base_url: str, cookies: httpx.Cookies | None = None, connections: int = 64) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, timeout=30.0, trust_env=False, cookies=cookies, limits=limits)


@dataclass
class Env:
    """The environment of every process the bench starts: its own folder, loopback only."""

    workdir: Path
    auth: bool

    def make(self, name: str, **overrides: str) -> dict[str, str]:
        """The environment of the process ``name``, with a TMPDIR of its own (to count what it leaves)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("WIZARD_", "AWS_", "AZURE_")) and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        }
        tmp = self.tmpdir(name)
        tmp.mkdir(exist_ok=True)
        env.update(
            {
                "PYTHONPATH": str(REPO),
                "PYTHONDONTWRITEBYTECODE": "1",
                "TMPDIR": str(tmp),
                "NO_PROXY": "*",
                "WIZARD_TEST_TIMEOUT_S": f"{DEADLINE_S:g}",
                "WIZARD_MAX_CONCURRENT_TESTS": "64",
                "WIZARD_AUTH_ENABLED": "true" if self.auth else "false",
                "WIZARD_ADMIN_USERNAME": ADMIN_USER,
                "WIZARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "WIZARD_DATABASE_URL": f"sqlite:///{self.workdir / 'wizard.db'}",
                "WIZARD_FILES_DIR": str(self.workdir / "files"),
                # The bench sends hundreds of tests a minute from one user.
                "WIZARD_TEST_RATE_PER_MINUTE": "1000000",
                "WIZARD_LOGIN_MAX_FAILURES": "1000",
                # A safety net: whatever a connector does, it may only reach loopback.
                "WIZARD_ALLOWED_TARGETS": "127.0.0.0/8,::1/128",
                # Never a real cloud: no instance metadata, no credentials of the machine's user.
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        env.update(overrides)
        return env

    def tmpdir(self, name: str) -> Path:
        return self.workdir / f"tmp-{name}"


@dataclass
class Server:
    """A process started by the bench, in a session of its own, stopped by its id."""

    argv: list[str]
    env: Mapping[str, str]
    name: str
    log: Path
    port: int = 0
    cwd: Path = REPO
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> Server:
        self.started_at = time.perf_counter()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=dict(self.env), cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the process group it leads (its own children too), SIGKILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


@dataclass
class Api(Server):
    """An API process: ``uvicorn <app>`` on a free loopback port; logs in when authentication is on."""

    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)
    headers: dict[str, str] = field(default_factory=dict)
    """``X-CSRF-Token`` of the session once logged in (cookie-authenticated writes need it)."""

    @classmethod
    def make(cls, env: Env, name: str, app: str = "bench.app:create", factory: bool = True,
             overrides: Mapping[str, str] | None = None) -> Api:
        port = free_port()
        argv = [PYTHON, "-m", "uvicorn", app, "--host", LOOPBACK, "--port", str(port), "--log-level", "warning",
                "--no-access-log"]
        if factory:
            argv.append("--factory")
        return cls(argv=argv, env=env.make(name, **(overrides or {})), name=name, log=env.workdir / f"{name}.log", port=port,
                   cwd=env.workdir)

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Seconds from start to the first 200 on ``supported_types`` (logging in on a 401)."""
        end = time.monotonic() + timeout
        with client(self.base_url, timeout=10.0) as c:
            while time.monotonic() < end:
                if not self.alive():
                    raise RuntimeError(f"API process '{self.name}' exited:\n{self.tail()}")
                try:
                    r = c.get(SUPPORTED_TYPES, cookies=self.cookies)
                except httpx.TransportError:
                    time.sleep(0.01)
                    continue
                if r.status_code == 200:
                    return time.perf_counter() - self.started_at
                if r.status_code == 401:
                    self.login(c)
                    continue
                raise RuntimeError(f"API '{self.name}': supported_types answered {r.status_code}: {r.text[:300]}")
        raise TimeoutError(f"API '{self.name}' not ready after {timeout:g} s:\n{self.tail()}")

    def login(self, c: httpx.Client) -> None:
        r = c.post(AUTH, json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
        if r.status_code not in (200, 201, 204):
            raise RuntimeError(
                f"API '{self.name}' wants a login but POST {AUTH} answered {r.status_code}: {r.text[:300]} "
                "(run with --auth off to benchmark without authentication)"
            )
        self.cookies = httpx.Cookies(r.cookies)
        token = r.headers.get(CSRF_HEADER)
        if not token and r.headers.get("content-type", "").startswith("application/json"):
            token = r.json().get("csrf_token")
        if token:
            self.headers = {CSRF_HEADER: token}

    def client(self, timeout: float = 30.0) -> httpx.Client:
        c = client(self.base_url, timeout)
        c.cookies = httpx.Cookies(self.cookies)
        c.headers.update(self.headers)
        return c

    def async_client(self, connections: int = 64) -> httpx.AsyncClient:
        ac = async_client(self.base_url, httpx.Cookies(self.cookies), connections)
        ac.headers.update(self.headers)
        return ac


def streamlit(env: Env, name: str, app: Path) -> Server:
    port = free_port()
    argv = [PYTHON, "-m", "streamlit", "run", str(app), "--server.headless", "true", "--server.address", LOOPBACK,
            "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    return Server(argv=argv, env=env.make(name), name=name, log=env.workdir / f"{name}.log", port=port, cwd=REPO)


def wait_health(server: Server, path: str = "/_stcore/health", timeout: float = 60.0) -> float:
    """Seconds from start to the first 200 on ``path``."""
    end = time.monotonic() + timeout
    with client(server.base_url, timeout=5.0) as c:
        while time.monotonic() < end:
            if not server.alive():
                raise RuntimeError(f"'{server.name}' exited:\n{server.tail()}")
            try:
                if c.get(path).status_code == 200:
                    return time.perf_counter() - server.started_at
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    raise TimeoutError(f"'{server.name}' not healthy after {timeout:g} s:\n{server.tail()}")


def snapshot(pid: int, tmpdir: Path) -> dict[str, Any]:
    """RSS, open file descriptors, threads and children of a process; files left in its TMPDIR."""
    import psutil

    p = psutil.Process(pid)
    kinds: dict[str, int] = {"file": 0, "socket": 0, "pipe": 0, "other": 0}
    files: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir() if fd_dir.exists() else ():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("/"):
            kinds["file"] += 1
            files.add(target)
        else:
            kind = target.split(":", 1)[0]
            kinds[kind if kind in kinds else "other"] += 1
    with p.oneshot():
        return {
            "rss": p.memory_info().rss,
            "fds": p.num_fds(),
            "fd_kinds": kinds,
            "files": files,
            "threads": p.num_threads(),
            "children": len(p.children(recursive=True)),
            "connections": len(p.net_connections(kind="inet")),
            "tmpfiles": sum(1 for _ in tmpdir.rglob("*")) if tmpdir.exists() else 0,
        }


def stop_all(procs: list[Server]) -> None:
    """Stop what a bench started, the last started first."""
    for proc in reversed(procs):
        proc.stop()
