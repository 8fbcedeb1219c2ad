"""For the monitoring tests: a TCP forwarder the test switches between forwarding and refusing, and a
webhook receiver that records every POST — both on loopback."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.common import LOOPBACK


class Forwarder:
    """A loopback TCP port that forwards to ``target_port``, refuses (nothing listens), or holds (accepts, silent)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        probe = socket.socket()
        probe.bind((LOOPBACK, 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self.mode = "forward"
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._sock: socket.socket | None = None
        self._listen()

    def _listen(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, self.port))
        sock.listen(64)
        self._sock = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        sock.settimeout(0.1)
        while self._sock is sock:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._sock is not sock:  # refused meanwhile: this listener is gone
                conn.close()
                return
            self.accepted += 1
            self._conns.append(conn)
            if self.mode == "hold":
                continue
            try:
                upstream = socket.create_connection((LOOPBACK, self.target_port), timeout=5)
            except OSError:
                conn.close()
                continue
            self._conns.append(upstream)
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def refuse(self) -> None:
        """Nothing listens any more: connections are refused (the database's port is broken)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            # shutdown first: a thread blocked in accept() would otherwise keep the port listening.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._drop()

    def forward(self) -> None:
        self.mode = "forward"
        if self._sock is None:
            self._listen()

    def hold(self) -> None:
        self.mode = "hold"
        if self._sock is None:
            self._listen()

    def _drop(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()
        self._conns.clear()

    def close(self) -> None:
        self.refuse()


class Receiver:
    """A webhook receiver on loopback: records every POST's JSON; answers 500 to the first ``fail`` of them."""

    def __init__(self, fail: int = 0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length))
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail:
                    self.send_response(500)
                else:
                    receiver.posts.append(body)
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, within: float = 30) -> list[dict[str, Any]]:
        """The posts once there are ``count`` (a deadline only against a hang: polled, never slept through)."""
        end = time.monotonic() + within
        while len(self.posts) < count and time.monotonic() < end:
            time.sleep(0.02)
        return list(self.posts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
