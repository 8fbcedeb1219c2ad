"""The loopback relay between a TDS driver and the server: bounded by the deadline, and a witness of the PRELOGIN."""

from __future__ import annotations

import selectors
import socket
import threading

from backend.diagnosis.stages import Deadline

LOOPBACK = "127.0.0.1"
TDS_REPLY = 0x04
"""MS-TDS 2.2.3.1.1: the packet type of every server answer (tabular result), TDS 5.0 included."""
TDS_PRELOGIN = 0x12
ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_NOT_SUP, ENCRYPT_REQ = 0, 1, 2, 3
"""PRELOGIN ENCRYPTION option values (MS-TDS 2.2.6.5)."""
_SNIFF = 8192
_MAX_CLIENTS = 4


class TDSRelay:
    """A loopback relay between a driver and the database server, closed at the test's deadline.

    It forwards bytes unchanged (TLS included) and keeps the first few KiB the server sent, and the
    first packet the client sent when it is a PRELOGIN (which holds no secret; the LOGIN7 packet
    with the password comes later and is never kept).
    """

    def __init__(self, address: str, port: int, deadline: Deadline) -> None:
        self.address, self.upstream_port = address, port
        self._deadline = deadline
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(_MAX_CLIENTS)
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = [self._listener]
        self.client_prelogin: bytes | None = None
        self.server_bytes = bytearray()
        self.server_closed = False
        """The server ended the first connection."""
        self.upstream_error: OSError | None = None
        self.closed_at_deadline = False
        self._timer = threading.Timer(max(0.0, deadline.remaining()), self._deadline_reached)
        self._timer.daemon = True
        self._timer.start()
        threading.Thread(target=self._run, name="wizard-tds-relay", daemon=True).start()

    # --- what the server said ----------------------------------------------------------------

    def first_server_packet(self) -> tuple[int, bytes] | None:
        """(type, payload) of the server's first TDS packet, if it sent a whole one."""
        data = bytes(self.server_bytes)
        if len(data) < 8:
            return None
        length = int.from_bytes(data[2:4], "big")
        if length < 8 or len(data) < length:
            return None
        return data[0], data[8:length]

    def server_messages(self) -> list[tuple[int, bytes]]:
        """The whole TDS messages (type, payload) at the start of what the server sent, in clear.

        Parsing stops at the first thing that is not a TDS packet (TLS records once the whole
        session is encrypted), so nothing encrypted is ever read.
        """
        data = bytes(self.server_bytes)
        messages: list[tuple[int, bytes]] = []
        offset, kind, payload = 0, None, b""
        while offset + 8 <= len(data):
            ptype, status, length = data[offset], data[offset + 1], int.from_bytes(data[offset + 2:offset + 4], "big")
            if ptype not in (TDS_REPLY, TDS_PRELOGIN) or status > 0x1F or length < 8 or offset + length > len(data):
                break
            kind = ptype
            payload += data[offset + 8:offset + length]
            offset += length
            if status & 0x01:  # end of message
                messages.append((kind, payload))
                kind, payload = None, b""
        return messages

    def login_reply_seen(self, tds5: bool) -> bool:
        """The server's answer to the login travelled in clear and was read whole."""
        replies = [kind for kind, _ in self.server_messages() if kind == TDS_REPLY]
        return len(replies) >= (1 if tds5 else 2)

    def login_errors(self, tds5: bool) -> list[int]:
        """Error numbers in the server's answer to the login, when it travelled in clear.

        SQL Server answers a login to a database that cannot be opened with two messages (4060,
        then 18456); FreeTDS reports only the more severe one, the relay still sees both. Tokens:
        MS-TDS 2.2.7 (ERROR 0xAA, INFO 0xAB) and TDS 5.0 EED (0xE5).
        """
        replies = [payload for kind, payload in self.server_messages() if kind == TDS_REPLY]
        if not tds5:
            replies = replies[1:]  # the first answer is the PRELOGIN one
        numbers: list[int] = []
        for payload in replies[:2]:
            numbers += _error_numbers(payload, tds5)
        return numbers

    def spoke_tds(self) -> bool | None:
        """None: the server sent nothing; False: what it sent is not a TDS answer."""
        if not self.server_bytes:
            return None
        head = bytes(self.server_bytes[:8])
        if len(head) < 8:
            return False
        length = int.from_bytes(head[2:4], "big")
        return head[0] == TDS_REPLY and head[1] in (0x00, 0x01) and 8 <= length <= 65536

    def spoke_tls(self) -> bool:
        """The server answered with a TLS record (RFC 8446 5.1: alert 21 or handshake 22, version 3.x)."""
        return len(self.server_bytes) >= 3 and self.server_bytes[0] in (21, 22) and self.server_bytes[1] == 3

    def encryption(self) -> tuple[int | None, int | None]:
        """The ENCRYPTION option (client asked, server answered) of the PRELOGIN exchange."""
        asked = _prelogin_option(self.client_prelogin, 0x01) if self.client_prelogin else None
        first = self.first_server_packet()
        answered = _prelogin_option(first[1], 0x01) if first and first[0] == TDS_REPLY and asked is not None else None
        return asked, answered

    def tls_version(self) -> str | None:
        """The TLS version of the server's ServerHello, carried in the PRELOGIN packets that follow."""
        data = bytes(self.server_bytes)
        offset = 0
        while offset + 8 <= len(data):
            kind, length = data[offset], int.from_bytes(data[offset + 2:offset + 4], "big")
            payload = data[offset + 8:offset + length]
            if kind == TDS_PRELOGIN and payload[:1] == b"\x16":
                return _server_hello_version(payload)
            if length < 8:
                return None
            offset += length
        return None

    # --- forwarding ---------------------------------------------------------------------------

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        peers: dict[socket.socket, socket.socket] = {}
        first_client: socket.socket | None = None
        first_upstream: socket.socket | None = None
        accepted = 0
        try:
            selector.register(self._listener, selectors.EVENT_READ, data=self._listener)
            while not self._closed.is_set():
                for key, _ in selector.select(timeout=0.2):
                    sock: socket.socket = key.data  # what was registered (key.fileobj is typed as any file-like)
                    if sock is self._listener:
                        client, _ = self._listener.accept()
                        accepted += 1
                        upstream = self._open_upstream() if accepted <= _MAX_CLIENTS else None
                        if upstream is None:
                            client.close()
                            continue
                        for s in (client, upstream):
                            s.settimeout(max(0.1, self._deadline.remaining()))
                            self._track(s)
                        peers[client], peers[upstream] = upstream, client
                        selector.register(client, selectors.EVENT_READ, data=client)
                        selector.register(upstream, selectors.EVENT_READ, data=upstream)
                        if first_client is None:
                            first_client, first_upstream = client, upstream
                        continue
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if sock is first_upstream:
                        if data and len(self.server_bytes) < _SNIFF:
                            self.server_bytes += data[:_SNIFF - len(self.server_bytes)]
                        if not data:
                            self.server_closed = True
                    elif sock is first_client and self.client_prelogin is None and data[:1] == bytes([TDS_PRELOGIN]):
                        self.client_prelogin = data[8:int.from_bytes(data[2:4], "big")]
                    other = peers.get(sock)
                    if not data or other is None:
                        for end in (sock, other):
                            if end is not None:
                                _unregister(selector, end)
                                _shut(end)
                                peers.pop(end, None)
                        continue
                    try:
                        other.sendall(data)
                    except OSError:
                        for end in (sock, other):
                            _unregister(selector, end)
                            _shut(end)
                            peers.pop(end, None)
        except (OSError, ValueError):
            pass  # closed under our feet (close() at the deadline or at the end of the test)
        finally:
            selector.close()
            self.close()

    def _open_upstream(self) -> socket.socket | None:
        try:
            return socket.create_connection((self.address, self.upstream_port),
                                            timeout=max(0.1, self._deadline.remaining()))
        except OSError as exc:
            self.upstream_error = exc
            return None

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            if self._closed.is_set():
                _shut(sock)
            self._sockets.append(sock)

    def _deadline_reached(self) -> None:
        self.closed_at_deadline = True
        self.close()

    def close(self) -> None:
        """Close every socket: a driver still waiting gets an EOF at once and gives up."""
        self._closed.set()
        self._timer.cancel()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _unregister(selector: selectors.BaseSelector, sock: socket.socket) -> None:
    try:
        selector.unregister(sock)
    except (KeyError, ValueError, OSError):
        pass


def _error_numbers(payload: bytes, tds5: bool) -> list[int]:
    """Message numbers of the ERROR/EED tokens in a token stream (stops at a token it does not know)."""
    numbers: list[int] = []
    i = 0
    done_size = 8 if tds5 else 12  # DONE: status, curcmd/tran state, row count (4 bytes in TDS 5.0, 8 in 7.2+)
    while i < len(payload):
        token = payload[i]
        if token in (0xAA, 0xE5) and i + 7 <= len(payload):  # ERROR (7.x), EED (5.0): number first
            numbers.append(int.from_bytes(payload[i + 3:i + 7], "little"))
        if token in (0xAA, 0xAB, 0xE5, 0xAD, 0xE3, 0xE2) and i + 3 <= len(payload):
            i += 3 + int.from_bytes(payload[i + 1:i + 3], "little")
        elif token in (0xFD, 0xFE, 0xFF):
            i += 1 + done_size
        else:
            break
    return numbers


def _prelogin_option(payload: bytes, token: int) -> int | None:
    """The first byte of a PRELOGIN option (MS-TDS 2.2.6.5: token, offset, length …, 0xFF)."""
    i = 0
    while i + 5 <= len(payload) and payload[i] != 0xFF:
        offset, length = int.from_bytes(payload[i + 1:i + 3], "big"), int.from_bytes(payload[i + 3:i + 5], "big")
        if payload[i] == token and length >= 1 and offset < len(payload):
            return payload[offset]
        i += 5
    return None


def _server_hello_version(record: bytes) -> str | None:
    """TLS version of a ServerHello record (RFC 8446 4.1.3: supported_versions, else legacy_version)."""
    names = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
    try:
        body = record[5:]
        if body[0] != 2:  # not a ServerHello
            return None
        legacy = int.from_bytes(body[4:6], "big")
        pos = 6 + 32
        pos += 1 + body[pos]  # session id
        pos += 2 + 1  # cipher suite, compression
        if pos + 2 <= len(body):
            end = pos + 2 + int.from_bytes(body[pos:pos + 2], "big")
            pos += 2
            while pos + 4 <= end:
                kind, size = int.from_bytes(body[pos:pos + 2], "big"), int.from_bytes(body[pos + 2:pos + 4], "big")
                if kind == 43 and size == 2:  # supported_versions
                    return names.get(int.from_bytes(body[pos + 4:pos + 6], "big"))
                pos += 4 + size
        return names.get(legacy)
    except IndexError:
        return None
