"""Helpers shared by the server fixtures: free ports, waiting, running as another user."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, host: str = LOOPBACK) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def is_root() -> bool:
    return os.geteuid() == 0


def as_user(user: str, argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` when we are root (PostgreSQL refuses to run as root)."""
    return ["runuser", "-u", user, "--", *argv] if is_root() else argv


def chown_tree(path: Path, user: str) -> None:
    if not is_root():
        return
    entry = pwd.getpwnam(user)
    for root, _dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def make_workdir(prefix: str, owner: str | None = None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"wizard-{prefix}-"))
    path.chmod(0o755)
    if owner:
        chown_tree(path, owner)
    return path


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stdout}\n{result.stderr}")
    return result


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# --- servers run as subprocesses --------------------------------------------------------------


def wait_for_process(
    process: subprocess.Popen[bytes], port: int, log: Path, stop: Callable[[], None], timeout: float = 60
) -> None:
    """Wait until ``process`` listens on ``port``; if it dies or never listens, stop it and say why."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            break
        try:
            wait_for_port(port, timeout=0.5)
            return
        except TimeoutError:
            continue
    output = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    stop()
    name = process.args[0] if isinstance(process.args, list) else process.args
    raise RuntimeError(f"{name!s} did not start on port {port}: {output}")


@dataclass
class ServerProcess:
    """A server the suite runs as a subprocess, with a work dir of its own (the base of the server dataclasses).

    :meth:`spawn` starts it with its output in a log file of the work dir and waits until it listens;
    :meth:`stop` ends it (terminate, then kill) and removes the work dir.
    """

    port: int = 0
    host: str = LOOPBACK
    workdir: Path = Path()
    process: subprocess.Popen[bytes] | None = None
    stop_timeout: ClassVar[float] = 10.0
    """Seconds to wait after terminate (and again after kill)."""

    def spawn(self, argv: list[str], *, log: str = "log", timeout: float = 60, **popen: Any) -> None:
        """Start ``argv`` (stdout and stderr to ``workdir/log``); wait until it listens on ``self.port``.

        If it exits or never listens within ``timeout`` s, it is stopped and the log's tail is raised.
        """
        path = self.workdir / log
        with path.open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **popen)
        wait_for_process(self.process, self.port, path, self.stop, timeout)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=self.stop_timeout)
            self.process = None
        if self.workdir != Path():
            remove(self.workdir)


# --- loopback listeners -----------------------------------------------------------------------


class ClosedPort:
    """A loopback port with nothing listening: connections are refused at once."""

    def __init__(self) -> None:
        self.port = free_port()


class Listener:
    """Accepts connections on a loopback port; :meth:`handle` runs once per connection, in a thread of its own.

    ``accepted`` counts the connections; :meth:`hold` keeps one open until :meth:`close`.
    """

    backlog: ClassVar[int] = 64
    reuse_address: ClassVar[bool] = False

    def __init__(self) -> None:
        self.sock = socket.socket()
        if self.reuse_address:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(self.backlog)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self.dispatch(conn)

    def dispatch(self, conn: socket.socket) -> None:
        """What the accept loop does with a new connection: :meth:`handle` it in a thread of its own."""
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except OSError:
            conn.close()

    def handle(self, conn: socket.socket) -> None:
        conn.close()

    def hold(self, conn: socket.socket) -> None:
        self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        for conn in self._held:
            with contextlib.suppress(OSError):
                conn.close()
        self.sock.close()


class SilentListener(Listener):
    """A loopback listener that completes the TCP handshake and then never says a word."""

    backlog = 512

    def dispatch(self, conn: socket.socket) -> None:
        self.hold(conn)  # held open, never answered


class DroppingPort:
    """A loopback port whose SYNs go unanswered, as behind a firewall that drops them: a connect hangs.

    A listener that never accepts, with a backlog of 0 already filled by one connection of its own:
    Linux drops the SYNs a full accept queue cannot take, so the TCP handshake itself never completes.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(0)
        self.port = int(self.sock.getsockname()[1])
        self._filler = socket.create_connection((LOOPBACK, self.port), timeout=1)

    def close(self) -> None:
        self._filler.close()
        self.sock.close()
