"""Helpers shared by the server fixtures: free ports, waiting, running as another user."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

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


class ClosedPort:
    """A loopback port with nothing listening: connections are refused at once."""

    def __init__(self) -> None:
        self.port = free_port()


class SilentListener:
    """A loopback listener that completes the TCP handshake and then never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(512)
        self.port = int(self.sock.getsockname()[1])
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
            self._held.append(conn)  # held open, never answered

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        for conn in self._held:
            conn.close()
        self.sock.close()
