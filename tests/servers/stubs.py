"""Loopback listeners that are not databases: for drivers whose servers cannot run here.

- :class:`ClosingListener` accepts each connection and closes it at once.
- :class:`GarbageListener` accepts, sends bytes no database speaks, then closes.
- :class:`HTTPGarbageListener` reads what the client sends and answers HTTP 400, as a web server would.
- :class:`TLSListener` completes a TLS handshake with a certificate of the suite's PKI
  (``tests/servers/tls.py``), then hangs up (or stays silent): enough to test a driver's TLS checks.
- :class:`HTTPSStub` answers every request with one HTTP status, over HTTPS when given a certificate.

Everything listens on 127.0.0.1 on a free port and stops with :meth:`close`.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from pathlib import Path

from tests.servers.common import LOOPBACK, Listener


class ClosingListener(Listener):
    """Accepts, then closes at once without a word."""


class GarbageListener(Listener):
    """Accepts, sends a line no database protocol starts with, waits a moment, closes."""

    PAYLOAD = b"SSH-2.0-not-a-database\r\n" + b"\xff\x00garbage\x00\xff" * 16

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.5)
        conn.sendall(self.PAYLOAD)
        try:
            conn.recv(65536)
        except (TimeoutError, OSError):
            pass
        conn.close()


class HTTPGarbageListener(Listener):
    """Reads what the client sends and answers with HTTP, which no database protocol is (e.g. a web server)."""

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        self.hold(conn)  # closed with the listener if the client never speaks
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" * 8)
        finally:
            conn.close()


class TLSListener(Listener):
    """Completes a TLS handshake with ``cert``/``key``, reads the client's first message and closes without
    answering (or, with ``silent``, holds the line and never says a word)."""

    def __init__(self, cert: Path, key: Path, *, silent: bool = False) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.silent = silent
        self.handshakes = 0
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        self.handshakes += 1
        if self.silent:
            self.hold(tls)
            return
        try:
            tls.recv(65536)  # the client's first message, then hang up without answering
        except (ssl.SSLError, OSError):
            pass
        tls.close()


class HTTPSStub:
    """An HTTP(S) server that answers every request with ``status`` and a short body.

    It records each request (method, path) and its ``Authorization`` header.
    """

    def __init__(self, status: int, cert: tuple[Path, Path] | None = None, body: bytes = b"stub") -> None:
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                stub.requests.append((self.command, self.path))
                stub.authorizations.append(self.headers.get("Authorization"))
                self.send_response(stub.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(stub.body)))
                self.end_headers()
                self.wfile.write(stub.body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.status = status
        self.body = body
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str | None] = []
        self.server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*cert)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=1)
