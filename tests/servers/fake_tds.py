"""Loopback listeners that speak a little TDS, for the SQL Server and Sybase connectors.

No SQL Server or Sybase ASE can run here, so these stand in for one where the real drivers
(FreeTDS through pyodbc, and pymssql) must be exercised end to end:

- :class:`FakeTDS7` answers the SQL Server handshake (MS-TDS: PRELOGIN, LOGIN7, optionally TLS
  inside PRELOGIN packets) and a few SQL batches, with the real error numbers a SQL Server sends
  (18456 login failed, 4060 cannot open database, …). It decodes what the driver really put on
  the wire (user, password, database, encryption request) so tests can check that a password
  full of URL and ODBC special characters arrived intact.
- :class:`FakeTDS5` does the same for the Sybase ASE login (TDS 5.0 login record, EED errors).

Listeners that hang up or answer HTTP are in ``stubs.py`` (``ClosingListener``, ``HTTPGarbageListener``).

Protocol references: [MS-TDS] https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-tds/
(2.2.6.4 LOGIN7, 2.2.6.5 PRELOGIN, 2.2.7 tokens) and the FreeTDS TDS 5.0 notes
https://www.freetds.org/tds.html. Only what FreeTDS 1.3 and pymssql send is handled.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.servers.common import Listener

# --- packet level -----------------------------------------------------------------------------

PRELOGIN, LOGIN7, SQL_BATCH, RPC, ATTENTION, TM, REPLY, TDS5_LOGIN, TDS5_NORMAL = (
    0x12, 0x10, 0x01, 0x03, 0x06, 0x0E, 0x04, 0x02, 0x0F,
)
ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_NOT_SUP, ENCRYPT_REQ = 0, 1, 2, 3


def _recv_exact(sock: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def read_message(sock: Any) -> tuple[int, bytes]:
    """One TDS message (possibly several packets): (type, payload)."""
    payload = b""
    while True:
        header = _recv_exact(sock, 8)
        kind, status, length = header[0], header[1], struct.unpack(">H", header[2:4])[0]
        payload += _recv_exact(sock, length - 8)
        if status & 0x01:
            return kind, payload


def packet(kind: int, payload: bytes, size: int = 4096) -> bytes:
    """``payload`` as TDS packets of at most ``size`` bytes."""
    out = b""
    chunks = [payload[i:i + size - 8] for i in range(0, len(payload), size - 8)] or [b""]
    for number, chunk in enumerate(chunks, 1):
        last = number == len(chunks)
        out += struct.pack(">BBHHBB", kind, 1 if last else 0, len(chunk) + 8, 0, number % 256, 0) + chunk
    return out


def ucs2(text: str) -> bytes:
    return text.encode("utf-16-le")


def b_varchar(text: str) -> bytes:
    return bytes([len(text)]) + ucs2(text)


def us_varchar(text: str) -> bytes:
    return struct.pack("<H", len(text)) + ucs2(text)


# --- TDS 7.x tokens (MS-TDS 2.2.7) ------------------------------------------------------------


def error_token(number: int, message: str, *, state: int = 1, severity: int = 14, server: str = "fake") -> bytes:
    body = struct.pack("<iBB", number, state, severity) + us_varchar(message) + b_varchar(server) + b_varchar("")
    body += struct.pack("<i", 1)
    return bytes([0xAA]) + struct.pack("<H", len(body)) + body


def info_token(number: int, message: str) -> bytes:
    body = struct.pack("<iBB", number, 1, 0) + us_varchar(message) + b_varchar("fake") + b_varchar("")
    body += struct.pack("<i", 1)
    return bytes([0xAB]) + struct.pack("<H", len(body)) + body


def done_token(status: int = 0, curcmd: int = 0, rows: int = 0) -> bytes:
    return bytes([0xFD]) + struct.pack("<HHq", status, curcmd, rows)


def envchange_token(kind: int, new: str, old: str = "") -> bytes:
    body = bytes([kind]) + b_varchar(new) + b_varchar(old)
    return bytes([0xE3]) + struct.pack("<H", len(body)) + body


def collation_token() -> bytes:
    collation = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])  # Latin1_General_CI_AS
    body = bytes([7, len(collation)]) + collation + bytes([0])
    return bytes([0xE3]) + struct.pack("<H", len(body)) + body


def loginack_token(version: tuple[int, int, int] = (16, 0, 1000)) -> bytes:
    major, minor, build = version
    body = bytes([1]) + bytes([0x74, 0x00, 0x00, 0x04]) + b_varchar("Microsoft SQL Server")
    body += bytes([major, minor]) + struct.pack(">H", build)
    return bytes([0xAD]) + struct.pack("<H", len(body)) + body


def result_set(columns: list[str], rows: list[list[str | None]]) -> bytes:
    """COLMETADATA + ROWs of NVARCHAR(4000) columns + DONE."""
    meta = bytes([0x81]) + struct.pack("<H", len(columns))
    for name in columns:
        meta += struct.pack("<IH", 0, 0x0001) + bytes([0xE7]) + struct.pack("<H", 8000)
        meta += bytes([0x09, 0x04, 0xD0, 0x00, 0x34]) + b_varchar(name)
    out = meta
    for row in rows:
        out += bytes([0xD1])
        for value in row:
            out += b"\xff\xff" if value is None else struct.pack("<H", len(ucs2(value))) + ucs2(value)
    return out + done_token(0x0010, 0xC1, len(rows))


# --- LOGIN7 (MS-TDS 2.2.6.4) ------------------------------------------------------------------


def _unscramble(data: bytes) -> str:
    """LOGIN7 passwords: each byte had its nibbles swapped and was XORed with 0xA5."""
    plain = bytes((((b ^ 0xA5) & 0x0F) << 4) | ((b ^ 0xA5) >> 4) for b in data)
    return plain.decode("utf-16-le")


def parse_login7(payload: bytes) -> dict[str, Any]:
    def field_at(offset: int, scrambled: bool = False) -> str:
        start, chars = struct.unpack("<HH", payload[offset:offset + 4])
        raw = payload[start:start + chars * 2]
        return _unscramble(raw) if scrambled else raw.decode("utf-16-le")

    return {
        "tds_version": struct.unpack("<I", payload[4:8])[0],
        "client_host": field_at(36),
        "username": field_at(40),
        "password": field_at(44, scrambled=True),
        "app": field_at(48),
        "server": field_at(52),
        "database": field_at(68),
    }


def parse_prelogin(payload: bytes) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    i = 0
    while i < len(payload) and payload[i] != 0xFF:
        token, offset, length = payload[i], *struct.unpack(">HH", payload[i + 1:i + 5])
        options[token] = payload[offset:offset + length]
        i += 5
    return options


def prelogin_reply(encryption: int) -> bytes:
    data = [(0x00, bytes([16, 0, 0x03, 0xE8, 0, 0])), (0x01, bytes([encryption])), (0x02, b"\x00"),
            (0x03, b""), (0x04, b"\x00")]
    offset = len(data) * 5 + 1
    head, body = b"", b""
    for token, value in data:
        head += struct.pack(">BHH", token, offset + len(body), len(value))
        body += value
    return head + b"\xff" + body


# --- the listeners ----------------------------------------------------------------------------


class _Listener(Listener):
    """Handles each connection in a thread of its own with :meth:`serve`, then closes it."""

    reuse_address = True

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        self.hold(conn)
        try:
            self.serve(conn)
        except (OSError, ConnectionError, ssl.SSLError, struct.error, ValueError, IndexError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError


@dataclass
class Account:
    password: str
    databases: set[str] = field(default_factory=set)
    """Databases this login may open (SQL Server: error 4060 for others; Sybase: 911/10351)."""


class _FakeServer(_Listener):
    def __init__(self, accounts: dict[str, Account], databases: set[str], schemas: set[str]) -> None:
        self.accounts = accounts
        self.databases = databases
        self.schemas = schemas
        self.logins: list[dict[str, Any]] = []
        """What each client sent at login (decoded), in order."""
        self.queries: list[str] = []
        super().__init__()


class FakeTDS7(_FakeServer):
    """A SQL Server stand-in: PRELOGIN, LOGIN7, and answers to the wizard's test queries.

    ``encryption``: what the server says in PRELOGIN when the client does not ask for TLS:
    ``ENCRYPT_NOT_SUP`` (no certificate; a client that requires TLS must give up) or
    ``ENCRYPT_REQ`` (TLS required; needs ``certfile``/``keyfile``). With a certificate, a
    client that asks for TLS gets it (the handshake travels inside PRELOGIN packets, MS-TDS 3.3.5.2).
    """

    def __init__(
        self,
        accounts: dict[str, Account],
        databases: set[str] = frozenset({"appdb"}),  # type: ignore[assignment]
        schemas: set[str] = frozenset({"dbo", "sales"}),  # type: ignore[assignment]
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
        require_tls: bool = False,
        version: str = "Microsoft SQL Server 2022 (RTM) - 16.0.1000.6 (X64) \n\tOct  8 2022 05:58:25 \n\tDeveloper Edition",
        answer: Callable[[str], bytes | None] | None = None,
    ) -> None:
        self.certfile, self.keyfile, self.require_tls = certfile, keyfile, require_tls
        self.version = version
        self.answer = answer
        self.tls_used: list[bool] = []
        super().__init__(accounts, set(databases), set(schemas))

    def serve(self, conn: socket.socket) -> None:
        kind, payload = read_message(conn)
        if kind != PRELOGIN:
            return
        asked = parse_prelogin(payload).get(0x01, bytes([ENCRYPT_OFF]))[0]
        can_tls = self.certfile is not None
        # The negotiation table of MS-TDS 2.2.6.5 (PRELOGIN ENCRYPTION option).
        if asked == ENCRYPT_NOT_SUP:
            reply = ENCRYPT_REQ if self.require_tls else ENCRYPT_NOT_SUP
        elif not can_tls:
            reply = ENCRYPT_NOT_SUP
        elif self.require_tls:
            reply = ENCRYPT_REQ
        else:
            reply = ENCRYPT_ON if asked in (ENCRYPT_ON, ENCRYPT_REQ) else ENCRYPT_OFF
        conn.sendall(packet(REPLY, prelogin_reply(reply)))
        if (asked == ENCRYPT_NOT_SUP and reply == ENCRYPT_REQ) or (asked == ENCRYPT_ON and reply == ENCRYPT_NOT_SUP):
            return  # one side needs encryption the other cannot give: the connection ends
        login_only = reply == ENCRYPT_OFF and asked == ENCRYPT_OFF
        channel: Any = conn
        if can_tls and reply != ENCRYPT_NOT_SUP:
            channel = self._tls(conn)
        self.tls_used.append(channel is not conn and not login_only)
        kind, payload = read_message(channel)
        if kind != LOGIN7:
            return
        login = parse_login7(payload)
        login["encryption_asked"] = asked
        self.logins.append(login)
        if login_only:
            channel = conn  # only the LOGIN7 packet was encrypted; the rest goes in clear (MS-TDS 2.2.6.5)
        account = self.accounts.get(login["username"])
        if account is None or account.password != login["password"]:
            channel.sendall(packet(REPLY, error_token(18456, f"Login failed for user '{login['username']}'.")
                                   + done_token(0x0002)))
            return
        database = login["database"] or "master"
        if database not in self.databases or database not in account.databases:
            message = (f'Cannot open database "{database}" requested by the login. The login failed.')
            channel.sendall(packet(REPLY, error_token(4060, message, severity=11)
                                   + error_token(18456, f"Login failed for user '{login['username']}'.")
                                   + done_token(0x0002)))
            return
        channel.sendall(packet(REPLY, loginack_token() + envchange_token(1, database, "master") + collation_token()
                               + envchange_token(4, "4096", "4096")
                               + info_token(5701, f"Changed database context to '{database}'.") + done_token()))
        self._session(channel, login["username"], database)

    def _tls(self, conn: socket.socket) -> ssl.SSLObject:
        """The TLS handshake wrapped in PRELOGIN packets, then TLS records straight on the socket."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # SQL Server negotiates TLS 1.2 inside PRELOGIN (TLS 1.3 only with TDS 8.0 "strict").
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        assert self.certfile is not None
        context.load_cert_chain(self.certfile, self.keyfile)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = context.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    conn.sendall(packet(PRELOGIN, outgoing.read()))
                _kind, data = read_message(conn)
                incoming.write(data)
        if outgoing.pending:  # the server's last flight still travels inside PRELOGIN packets
            conn.sendall(packet(PRELOGIN, outgoing.read()))
        return _TLSChannel(conn, obj, incoming, outgoing)  # type: ignore[return-value]

    def _session(self, channel: Any, user: str, database: str) -> None:
        while True:
            kind, payload = read_message(channel)
            if kind == ATTENTION:
                channel.sendall(packet(REPLY, done_token(0x0020)))
                continue
            text = _batch_text(payload) if kind in (SQL_BATCH, RPC) else ""
            self.queries.append(text)
            custom = self.answer(text) if self.answer else None
            if custom is not None:
                channel.sendall(packet(REPLY, custom))
            elif "@@VERSION" in text.upper():
                row: list[str | None] = [self.version, user, database, "dbo"]
                channel.sendall(packet(REPLY, result_set(["version", "login", "db", "schema"], [row])))
            elif "SCHEMA_ID" in text.upper():
                found = next((s for s in self.schemas if re.search(rf"(?<![\w@]){re.escape(s)}(?![\w])", text)), None)
                channel.sendall(packet(REPLY, result_set(["id"], [[None if found is None else "5"]])))
            else:
                channel.sendall(packet(REPLY, done_token(0, 0xC1)))


class _TLSChannel:
    """A socket-like TLS channel over an SSLObject (after the handshake, records go straight on TCP)."""

    def __init__(self, sock: socket.socket, obj: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO):
        self.sock, self.obj, self.incoming, self.outgoing = sock, obj, incoming, outgoing

    def _flush(self) -> None:
        if self.outgoing.pending:
            self.sock.sendall(self.outgoing.read())

    def recv(self, n: int) -> bytes:
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(65536)
                if not data:
                    return b""
                self.incoming.write(data)

    def sendall(self, data: bytes) -> None:
        self.obj.write(data)
        self._flush()


def _batch_text(payload: bytes) -> str:
    """The SQL of a SQL_BATCH (after ALL_HEADERS) or, roughly, the strings inside an RPC.

    An RPC (sp_executesql) holds its SQL text and parameter values as UCS-2 at offsets of either
    parity, so both alignments are decoded.
    """
    if len(payload) >= 4:
        total = struct.unpack("<I", payload[:4])[0]
        if 4 <= total <= len(payload):
            payload = payload[total:]
    texts = []
    for start in (0, 1):
        chunk = payload[start:]
        texts.append(chunk[: len(chunk) // 2 * 2].decode("utf-16-le", errors="ignore"))
    return "\n".join(texts)


# --- TDS 5.0 (Sybase ASE) ---------------------------------------------------------------------


def parse_tds5_login(payload: bytes) -> dict[str, Any]:
    """The fixed TDS 5.0 login record: 30-byte fields each followed by their length byte."""

    def fixed(offset: int, size: int = 30) -> str:
        length = payload[offset + size]
        return payload[offset:offset + length].decode("latin-1")

    return {"client_host": fixed(0), "username": fixed(31), "password": fixed(62)}


def eed_token(number: int, message: str, *, severity: int = 14, state: int = 1) -> bytes:
    """TDS 5.0 EED (extended error) token."""
    text = message.encode("latin-1")
    body = struct.pack("<iBB", number, state, severity) + bytes([5]) + b"ZZZZZ" + bytes([0])
    body += struct.pack("<H", 0) + struct.pack("<H", len(text)) + text + bytes([4]) + b"fake" + bytes([0])
    body += struct.pack("<H", 1)
    return bytes([0xE5]) + struct.pack("<H", len(body)) + body


def tds5_done(status: int = 0, rows: int = 0) -> bytes:
    return bytes([0xFD]) + struct.pack("<HHi", status, 0, rows)


def tds5_loginack(ok: bool) -> bytes:
    body = bytes([5 if ok else 6]) + bytes([5, 0, 0, 0]) + bytes([len(b"sql server")]) + b"sql server"
    body += bytes([16, 0, 0, 0])
    return bytes([0xAD]) + struct.pack("<H", len(body)) + body


def tds5_envchange_db(database: str) -> bytes:
    new, old = database.encode(), b"master"
    body = bytes([1, len(new)]) + new + bytes([len(old)]) + old
    return bytes([0xE3]) + struct.pack("<H", len(body)) + body


def tds5_result(columns: list[str], rows: list[list[str | None]]) -> bytes:
    """ROWFMT + ROWs of VARCHAR(255) columns + DONE."""
    body = struct.pack("<H", len(columns))
    for name in columns:
        raw = name.encode()
        body += bytes([len(raw)]) + raw + bytes([0x20]) + struct.pack("<I", 0) + bytes([0x27, 255, 0])
    out = bytes([0xEE]) + struct.pack("<H", len(body)) + body
    for row in rows:
        out += bytes([0xD1])
        for value in row:
            raw = b"" if value is None else value.encode()
            out += bytes([len(raw)]) + raw
    return out + tds5_done(0x0010, len(rows))


def tds5_dynamic_ack(dyn_id: bytes) -> bytes:
    """DYNAMIC token of type ACK (0x20): the server accepted a prepare."""
    body = bytes([0x20, 0x00, len(dyn_id)]) + dyn_id
    return bytes([0xE7]) + struct.pack("<H", len(body)) + body


class FakeTDS5(_FakeServer):
    """A Sybase ASE stand-in: the TDS 5.0 login (4002 login failed, 911 no such database …) and test queries."""

    def __init__(
        self,
        accounts: dict[str, Account],
        databases: set[str] = frozenset({"appdb"}),  # type: ignore[assignment]
        schemas: set[str] = frozenset({"dbo", "sales"}),  # type: ignore[assignment]
        version: str = "Adaptive Server Enterprise/16.0 SP04 PL02/EBF 29862 SMP/P/x86_64/SLES 12.4/ase160sp04pl02x/3556/64-bit/FBO/Mon Jan 13 08:16:35 2020",
    ) -> None:
        self.version = version
        super().__init__(accounts, set(databases), set(schemas))

    def serve(self, conn: socket.socket) -> None:
        kind, payload = read_message(conn)
        if kind != TDS5_LOGIN:
            return
        login = parse_tds5_login(payload)
        self.logins.append(login)
        account = self.accounts.get(login["username"])
        if account is None or account.password != login["password"]:
            conn.sendall(packet(REPLY, eed_token(4002, "Login failed.") + tds5_loginack(False) + tds5_done(0x0002), 512))
            return
        conn.sendall(packet(REPLY, tds5_loginack(True) + tds5_done(), 512))
        database = "master"
        while True:
            kind, payload = read_message(conn)
            if kind == ATTENTION:
                conn.sendall(packet(REPLY, tds5_done(0x0020), 512))  # DONE_ATTN: the cancel is acknowledged
                continue
            if payload[:1] == b"\xe7":  # DYNAMIC: FreeTDS prepares a parameterised query, then executes it
                self._dynamic(conn, payload)
                continue
            # TDS_LANGUAGE token: 0x21, length (4), status (1), then the SQL text
            text = (payload[6:] if payload[:1] == b"\x21" else payload).decode("latin-1", errors="ignore")
            self.queries.append(text)
            lowered = text.lower()
            use = re.search(r"\buse\s+[\[\"]?([^\]\"\s;]+)", text, re.I)
            if use:
                wanted = use.group(1)
                if wanted not in self.databases:
                    message = (f"Attempt to locate entry in sysdatabases for database '{wanted}' by name failed - "
                               "no entry found under that name. Make sure that name is entered properly.")
                    conn.sendall(packet(REPLY, eed_token(911, message, severity=11) + tds5_done(0x0002), 512))
                elif wanted not in account.databases:
                    message = f"Server user id 5 is not a valid user in database '{wanted}'"
                    conn.sendall(packet(REPLY, eed_token(10351, message) + tds5_done(0x0002), 512))
                else:
                    database = wanted
                    conn.sendall(packet(REPLY, tds5_envchange_db(wanted) + tds5_done(), 512))
            elif "@@version" in lowered:
                row5: list[str | None] = [self.version, login["username"], database, "dbo"]
                conn.sendall(packet(REPLY, tds5_result(["v", "u", "d", "s"], [row5]), 512))
            elif "user_id" in lowered:
                found = next((s for s in self.schemas if f"'{s}'" in text), None)
                conn.sendall(packet(REPLY, tds5_result(["id"], [[None if found is None else "5"]]), 512))
            else:
                conn.sendall(packet(REPLY, tds5_done(), 512))

    def _dynamic(self, conn: socket.socket, payload: bytes) -> None:
        kind = payload[3]
        id_len = payload[5]
        dyn_id = payload[6:6 + id_len]
        if kind == 0x01:  # TDS_DYN_PREPARE
            self.queries.append(payload[6 + id_len:].decode("latin-1", errors="ignore"))
            conn.sendall(packet(REPLY, tds5_dynamic_ack(dyn_id) + tds5_done(), 512))
        elif kind == 0x02:  # TDS_DYN_EXEC: the parameter values follow (PARAMFMT, PARAMS)
            found = next((name for name in self.schemas if name.encode() in payload[6 + id_len:]), None)
            conn.sendall(packet(REPLY, tds5_result(["id"], [[None if found is None else "5"]]), 512))
        else:  # TDS_DYN_DEALLOC and the rest
            conn.sendall(packet(REPLY, tds5_dynamic_ack(dyn_id) + tds5_done(), 512))
