"""Microsoft SQL Server: pyodbc over an ODBC driver (FreeTDS, or Microsoft's own), or pymssql.

Both SQL Server and Sybase ASE speak TDS, and both are reached here through FreeTDS, so this
module also holds what the Sybase connector (``sybase.py``) shares:

- **The ODBC driver**: FreeTDS's ``libtdsodbc.so`` is used by its absolute path (Debian's
  ``tdsodbc`` puts it in ``/usr/lib/<arch>/odbc/``), so nothing has to be registered in
  ``odbcinst.ini``; a driver registered as ``FreeTDS`` (or, for SQL Server, Microsoft's
  ``ODBC Driver 18/17 for SQL Server``) is used otherwise. pyodbc without any of them counts as
  not installed (``DRIVER_NOT_AVAILABLE``, naming what to install).
- **The relay**: every driver connects to a loopback relay of the test's own, which connects to
  the address the target policy checked (or the SSH tunnel's local end). FreeTDS 1.3 deadlocks
  for good after its own login timeout under TDS 5.0 (Sybase) when a server never answers, and
  pymssql waits long past its ``login_timeout`` and reconnects after an EOF; closing the relay at
  the deadline ends every driver read at once, so no thread outlives its test. The relay also
  reads the first TDS messages it forwards (PRELOGIN, never the login packet), which tell what
  the driver's error does not: whether the server offered TLS, required it, or answered at all.
- **The FreeTDS configuration**: FreeTDS 1.3 takes a CA file, the certificate checks and its
  timeouts only from ``freetds.conf``, not from an ODBC connection string. The wizard points
  ``FREETDSCONF`` at a file of its own (mode 0600 in a 0700 directory) and writes one section per
  test (``Servername=wizard_…``), removed when the test ends. It holds no secret: the password
  goes in the connection string (ODBC) or the call (pymssql).

TLS (SQL Server only): ``ssl_mode`` takes SQL Server's own terms, in words people know:

- ``disable``: no TLS at all (FreeTDS ``encryption = off``);
- ``optional`` (the default): SQL Server's ``Encrypt=Optional``; the login packet (with the
  password) is encrypted when the server has a certificate, the rest only if the server forces
  encryption (FreeTDS ``request``);
- ``require``: everything encrypted, the certificate is not checked (``Encrypt=Mandatory;
  TrustServerCertificate=yes``);
- ``verify-ca``: everything encrypted and the server's certificate must lead to the CA given in
  ``hooks_params.SSL.ca``/``ca_filename`` (or the system's CAs). FreeTDS checks the host name
  against the address it connects to, which is the wizard's relay, so the host name is not
  checked (as libpq's ``verify-ca``). Client certificates do not exist in SQL Server logins.
"""

from __future__ import annotations

import atexit
import errno
import glob
import math
import os
import re
import secrets
import selectors
import shutil
import socket
import tempfile
import threading
from abc import abstractmethod
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from urllib.parse import quote_plus

from pydantic import Field

from backend.connectors.base import ConnectorModel, TestContext, functionality
from backend.connectors.sql import Driver, Endpoint, SQLConnector, one_line, stage_of
from backend.diagnosis import Deadline, Failure
from backend.fields import SECRET
from backend.hooks import tls
from backend.messages import Code
from backend.schemas import SystemMessageKind

if TYPE_CHECKING:
    from sqlalchemy.engine import URL  # imported where used: the registry loads without SQLAlchemy

SSL_FIELD = "hooks_params.SSL"
APP_NAME = "connection-wizard"
LOOPBACK = "127.0.0.1"


class CreateMsSQLConnector(ConnectorModel):
    connector_type: Literal["MsSQLConnector"] = Field(title="Connector Type")
    host: str = Field(min_length=1, title="Host")
    database: str = Field(min_length=1, title="Database")
    username: str = Field(min_length=1, title="Username")
    password: Annotated[str, SECRET] = Field(title="Password", repr=False)
    schema_name: str | None = Field(default=None, title="Schema Name")
    port: int | None = Field(default=1433, ge=1, le=65535, title="Port")
    protocol: str | None = Field(default="mssql+pyodbc", title="Protocol")
    include_views: bool | None = Field(default=False, title="Include Views")


# --- ODBC drivers -----------------------------------------------------------------------------

FREETDS_LIBRARIES: tuple[str, ...] = (
    "/usr/lib/*/odbc/libtdsodbc.so",  # Debian/Ubuntu package tdsodbc (multiarch)
    "/usr/lib/odbc/libtdsodbc.so",
    "/usr/lib64/libtdsodbc.so*",  # Fedora/RHEL package freetds
    "/usr/local/lib/libtdsodbc.so",
    "/opt/homebrew/lib/libtdsodbc.so",  # Homebrew freetds
    "/usr/local/opt/freetds/lib/libtdsodbc.so",
)
"""Where FreeTDS's ODBC driver is installed, in order of preference (glob patterns)."""
MICROSOFT_DRIVERS = ("ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server")


@dataclass(frozen=True)
class OdbcDriver:
    """The ODBC driver pyodbc will load."""

    name: str
    """What goes in ``DRIVER={…}``: an absolute library path, or a name registered in odbcinst.ini."""
    freetds: bool
    version: tuple[int, int] | None = None
    """FreeTDS's version when it can be read from the library (its connection-string parser changed)."""


def registered_odbc_drivers() -> list[str]:
    """The drivers unixODBC knows (odbcinst.ini); none when pyodbc or unixODBC is missing."""
    try:
        import pyodbc
    except ImportError:
        return []
    try:
        return [str(name) for name in pyodbc.drivers()]
    except Exception:  # noqa: BLE001 - a broken unixODBC setup is the same as no driver
        return []


@lru_cache(maxsize=8)
def _freetds_version(path: str) -> tuple[int, int] | None:
    """FreeTDS's version from the banner compiled into its library ("freetds v1.3.17")."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    match = re.search(rb"freetds v(\d+)\.(\d+)", data)
    return (int(match.group(1)), int(match.group(2))) if match else None


def find_odbc_driver(*, microsoft: bool) -> OdbcDriver | None:
    """FreeTDS by its library path, else a registered FreeTDS, else (SQL Server only) Microsoft's driver."""
    for pattern in FREETDS_LIBRARIES:
        for path in sorted(glob.glob(pattern)):
            if os.path.isfile(path):
                return OdbcDriver(path, True, _freetds_version(path))
    registered = registered_odbc_drivers()
    if "FreeTDS" in registered:
        return OdbcDriver("FreeTDS", True)
    if microsoft:
        for name in MICROSOFT_DRIVERS:
            if name in registered:
                return OdbcDriver(name, False)
    return None


@dataclass(frozen=True)
class OdbcProtocolDriver(Driver):
    """pyodbc, which is only usable with an ODBC driver for the database behind it."""

    microsoft: bool = False
    """Microsoft's ODBC Driver for SQL Server is an alternative to FreeTDS (SQL Server only)."""
    install_hint: str = "the FreeTDS ODBC driver (Debian/Ubuntu: apt-get install tdsodbc unixodbc)"

    def python_installed(self) -> bool:
        return super().installed()

    def installed(self) -> bool:
        return self.python_installed() and find_odbc_driver(microsoft=self.microsoft) is not None

    def odbc_driver(self) -> OdbcDriver | None:
        return find_odbc_driver(microsoft=self.microsoft)


def odbc_value(value: str, driver: OdbcDriver, field_name: str) -> str:
    """One value of an ODBC connection string, quoted so that any character arrives intact.

    A plain value runs up to the next ``;``: every parser (unixODBC, FreeTDS, Microsoft's driver)
    takes it verbatim, whatever ``}``, ``=``, ``@``, ``%`` or spaces it holds. A value with ``;``
    or a leading ``{`` needs braces; ODBC doubles a ``}`` inside them
    (https://learn.microsoft.com/en-us/sql/odbc/reference/syntax/sqldriverconnect-function,
    "Comments"), but FreeTDS before 1.4 does not undouble it: it ends a braced value at the first
    ``};`` and keeps every other ``}`` as it is (src/odbc/connectparams.c of FreeTDS 1.3). Checked
    against the real driver by tests/connectors/test_mssql.py (the fake server decodes the login).
    """
    if "\x00" in value:
        raise Failure(Code.INVALID_PARAMETERS, f"{field_name} contains a NUL character.",
                      fields={field_name: "A NUL character cannot be sent to the server."}, stage="parameters")
    if ";" not in value and not value.startswith("{"):
        return value
    if "}" not in value:
        return "{" + value + "}"
    if driver.freetds and driver.version is not None and driver.version < (1, 4):
        if "};" in value:
            raise Failure(
                Code.INVALID_PARAMETERS,
                f"The FreeTDS {driver.version[0]}.{driver.version[1]} ODBC driver cannot take a {field_name} containing '}};'.",
                fields={field_name: "This FreeTDS version cannot pass '};' in this value: use the protocol "
                                    "mssql+pymssql, or a newer FreeTDS (1.4 or later)."},
                stage="parameters",
            )
        return "{" + value + "}"
    return "{" + value.replace("}", "}}") + "}"


def odbc_connection_string(attributes: list[tuple[str, str]], driver: OdbcDriver, secret_keys: frozenset[str]) -> str:
    """``DRIVER={…};KEY=value;…`` with every value quoted by :func:`odbc_value`."""
    parts = ["DRIVER={" + driver.name.replace("}", "}}") + "}"]
    for key, value in attributes:
        parts.append(f"{key}={odbc_value(value, driver, 'password' if key in secret_keys else key.lower())}")
    return ";".join(parts) + ";"


@lru_cache(maxsize=4)
def _odbc_connect_is_unquoted(drivername: str) -> bool:
    """Whether this SQLAlchemy's pyodbc dialect URL-unquotes ``odbc_connect`` (2.0 does, 2.1 does not, issue #11250)."""
    from sqlalchemy.engine import URL

    url = URL.create(drivername, query={"odbc_connect": "a+b%41"})
    dialect_cls = url.get_dialect()
    dialect = dialect_cls()
    (connection_string,), _ = dialect.create_connect_args(url)
    return bool(connection_string != "a+b%41")


def odbc_url(drivername: str, connection_string: str) -> URL:
    """The SQLAlchemy URL that hands ``connection_string`` to pyodbc verbatim (``odbc_connect``)."""
    value = quote_plus(connection_string) if _odbc_connect_is_unquoted(drivername) else connection_string
    from sqlalchemy.engine import URL

    return URL.create(drivername, query={"odbc_connect": value})


# --- the FreeTDS configuration ----------------------------------------------------------------


class FreeTDSConfig:
    """A ``freetds.conf`` of the wizard's own with one section per running test.

    ``FREETDSCONF`` is set once, when this module is imported (before any driver thread runs),
    for the whole process: FreeTDS reads the first file that holds the requested section, so
    connections made by others are not affected. The directory (0700, an unguessable name) is
    made at the first test that needs it and removed when the process ends. Sections are
    rewritten atomically (a new file renamed over the old one), so a driver reading it never
    sees half a file.
    """

    def __init__(self) -> None:
        self.dir = Path(tempfile.gettempdir()) / f"wizard-freetds-{os.getpid()}-{secrets.token_hex(8)}"
        self.path = self.dir / "freetds.conf"
        self._sections: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._made = False

    def add(self, settings: dict[str, str]) -> str:
        """A new section with ``settings``; returns its name (``Servername`` for ODBC, ``server`` for pymssql)."""
        for key, value in settings.items():
            if any(c in value for c in "\n\r;#[]") or any(c in key for c in "\n\r;#[]="):
                raise Failure(Code.INVALID_PARAMETERS, f"FreeTDS cannot take the setting {key!r} = {value!r}.",
                              stage="parameters")
        name = f"wizard_{secrets.token_hex(8)}"
        with self._lock:
            self._sections[name] = dict(settings)
            self._write()
        return name

    def remove(self, name: str) -> None:
        with self._lock:
            if self._sections.pop(name, None) is not None:
                self._write()

    def _write(self) -> None:
        if not self._made:
            os.mkdir(self.dir, 0o700)  # fails if the name was taken: never write into someone else's folder
            atexit.register(shutil.rmtree, self.dir, True)
            self._made = True
        lines = ["# Written by the Connection Wizard: one section per running connection test.\n"]
        for name, settings in self._sections.items():
            lines.append(f"[{name}]\n")
            lines.extend(f"\t{key} = {value}\n" for key, value in settings.items())
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".freetds-", suffix=".conf")
        with os.fdopen(fd, "w") as handle:
            handle.writelines(lines)
        os.replace(tmp, self.path)


FREETDS_CONFIG = FreeTDSConfig()
os.environ["FREETDSCONF"] = str(FREETDS_CONFIG.path)


# --- the relay --------------------------------------------------------------------------------

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
            selector.register(self._listener, selectors.EVENT_READ)
            while not self._closed.is_set():
                for key, _ in selector.select(timeout=0.2):
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
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
                        selector.register(client, selectors.EVENT_READ)
                        selector.register(upstream, selectors.EVENT_READ)
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


# --- the endpoint and the session -------------------------------------------------------------


@dataclass
class RelayedEndpoint(Endpoint):
    """Where the user's server is, and the relay (and FreeTDS section) this test reaches it through."""

    relay: TDSRelay | None = None
    section: str | None = None
    odbc: OdbcDriver | None = None
    tls_mode: str = "optional"


@dataclass
class Session:
    """A live driver connection and what the relay saw while it was opened."""

    raw: Any
    relay: TDSRelay | None
    driver: str
    """The DB-API module: ``pyodbc`` or ``pymssql``."""
    tls_mode: str = "optional"

    def close(self) -> None:
        # The relay first: FreeTDS says goodbye under TDS 5.0 (a LOGOUT it then waits up to 5 s
        # for); with the link already gone it returns at once instead of blocking the caller.
        if self.relay is not None:
            self.relay.close()
        try:
            self.raw.close()
        except Exception:  # noqa: BLE001 - a half-open connection may refuse to close
            pass


# --- error numbers ----------------------------------------------------------------------------

# Server messages, by number. SQL Server: the Database Engine events and errors reference
# (https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/database-engine-events-and-errors,
# and mssqlserver-18456-database-engine-error: the client always sees state 1, the reason is in the
# server's log). Sybase ASE: 4002 is its generic "Login failed" (Security Administration Guide,
# https://infocenter.sybase.com/help/topic/com.sybase.infocenter.dc31654.1550/html/sag1/BABEAIIJ.htm);
# 911, 4001 and 10351 as in ASE's error message reference ("Troubleshooting: Error Messages").
# SQL Server sends no SQLSTATE in TDS and FreeTDS makes up its own (42000 for a failed login), so
# the number decides.
_SERVER_ERRORS: dict[int, tuple[Code, dict[str, str]]] = {
    # MSSQLSERVER_18456: "Login failed for user" (the state, logged only on the server, tells why)
    18456: (Code.AUTHENTICATION_FAILED, {"password": "The server refused this user name and password.",
                                         "username": "Check the user name too (a SQL Server login, not a Windows account)."}),
    18452: (Code.AUTHENTICATION_FAILED, {"username": "The server accepts only Windows (integrated) logins here."}),
    18470: (Code.PERMISSION_DENIED, {"username": "This login is disabled on the server."}),
    18486: (Code.PERMISSION_DENIED, {"username": "This login is locked out after too many failed attempts."}),
    18487: (Code.AUTHENTICATION_FAILED, {"password": "The password of this login has expired."}),
    18488: (Code.AUTHENTICATION_FAILED, {"password": "The password of this login must be changed first."}),
    40532: (Code.AUTHENTICATION_FAILED, {"username": "Azure SQL: the server name in the login (user@server) is wrong."}),
    40615: (Code.PERMISSION_DENIED, {"host": "Azure SQL's firewall does not admit the wizard's address."}),
    # 4060: "Cannot open database "%.*ls" requested by the login. The login failed." SQL Server
    # sends it both for a missing database and for one the login has no user in.
    4060: (Code.DATABASE_NOT_FOUND, {"database": "No database of this name, or this login may not open it "
                                                 "(SQL Server does not say which)."}),
    4064: (Code.DATABASE_NOT_FOUND, {"database": "The login's default database cannot be opened."}),
    # SQL Server 911: "Database '%.*ls' does not exist"; ASE 911: no entry in sysdatabases
    911: (Code.DATABASE_NOT_FOUND, {"database": "No database of this name on the server."}),
    916: (Code.PERMISSION_DENIED, {"database": "This login may not access this database."}),
    # Sybase ASE
    4002: (Code.AUTHENTICATION_FAILED, {"password": "The server refused this user name and password.",
                                        "username": "Check the user name too."}),
    4001: (Code.DATABASE_NOT_FOUND, {"database": "The login's default database cannot be opened."}),
    10351: (Code.PERMISSION_DENIED, {"database": "This login is not a user of this database."}),
    # query stage
    2760: (Code.SCHEMA_NOT_FOUND, {"schema_name": "No schema of this name, or this user may not use it."}),
    229: (Code.PERMISSION_DENIED, {"schema_name": "This user lacks a permission the test query needs."}),
    230: (Code.PERMISSION_DENIED, {"schema_name": "This user lacks a permission the test query needs."}),
}

_PRECEDENCE = {4060: 0, 4064: 0, 911: 0, 916: 0, 10351: 0, 4001: 0}
"""Server messages that say more than the 'login failed' they come with."""
_SUMMARY = {
    4060: "SQL Server cannot open the database requested by the login (error 4060), so the login failed.",
    4064: "SQL Server cannot open the login's default database (error 4064), so the login failed.",
    916: "This login may not access the database (error 916).",
}
"""What a message says, for the messages the driver hid behind 'login failed' (seen by the relay)."""


def _server_number(numbers: list[int]) -> int | None:
    """The server message that decides the verdict: the most specific one, else the first."""
    server = [n for n in numbers if n in _SERVER_ERRORS]
    if not server:
        return None
    return min(server, key=lambda n: (_PRECEDENCE.get(n, 9), server.index(n)))


# FreeTDS's own error numbers (TDSERRNO in include/freetds/tds.h, the same in db-lib and ODBC).
TDSEFCON, TDSETIME, TDSEREAD, TDSEWRIT, TDSESOCK, TDSECONN = 20002, 20003, 20004, 20006, 20008, 20009
TDSEINTF, TDSEUHST, TDSEPWD, TDSESEOF, TDSEBTOK, TDSEUTDS, TDSESYNC = 20012, 20013, 20014, 20017, 20020, 20146, 20001
_HANDSHAKE_BROKEN = {TDSEFCON, TDSEREAD, TDSEWRIT, TDSESEOF, TDSEBTOK, TDSEUTDS, TDSESYNC}

# ODBC SQLSTATEs (https://learn.microsoft.com/en-us/sql/odbc/reference/appendixes/appendix-a-odbc-error-codes)
_SQLSTATE_TIMEOUT = {"HYT00", "HYT01"}  # timeout expired, connection timeout expired
_SQLSTATE_NO_DRIVER = {"IM002", "IM003"}  # no data source or driver; driver could not be loaded
_SQLSTATE_LINK = {"08001", "08S01", "08004"}  # cannot connect; link failure; server rejected the connection
_SQLSTATE_AUTH = {"28000"}  # invalid authorization specification (Microsoft's driver, 18456)

_PYODBC_RECORD = re.compile(r"\[(?P<state>[0-9A-Z]{5})\](?P<text>.*?)\((?P<native>-?\d+)\) \(SQL\w+\)", re.S)
_DBLIB_NUMBER = re.compile(r"(?:DB-Lib error message|SQL Server message|Msg) (\d+)")
_NET_ERRNO = re.compile(r"Net-Lib error during .*?\((\d+)\)")


@dataclass
class DriverError:
    """What a driver error says, read from its structure (SQLSTATEs, numbers), not its prose."""

    sqlstates: list[str]
    numbers: list[int]
    os_errno: int | None
    text: str
    driver_manager: bool = False
    """The message comes from unixODBC itself (its "[Driver Manager]" component tag), not the driver."""


def parse_driver_error(exc: BaseException) -> DriverError:
    """pyodbc: ``args = (sqlstate, "[state] … (native) (SQLFunction); …")``;
    pymssql: ``args = ((number, b"DB-Lib error message N …\\nSQL Server message N …"),)``;
    _mssql: ``.number``/``.text`` attributes."""
    args = exc.args
    sqlstates: list[str] = []
    numbers: list[int] = []
    os_errno: int | None = None
    if len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):  # pyodbc
        text = args[1]
        sqlstates.append(args[0])
        for match in _PYODBC_RECORD.finditer(text):
            sqlstates.append(match.group("state"))
            native = int(match.group("native"))
            if native:
                numbers.append(native)
        clean = re.sub(r"\[[0-9A-Z]{5}\]\s*|\[FreeTDS\]|\[SQL Server\]|\[unixODBC\]|\[Microsoft\]|"
                       r"\[Driver Manager\]|\(SQL\w+\)", "", text)
        return DriverError(list(dict.fromkeys(sqlstates)), numbers, None, one_line(clean),
                           driver_manager="[Driver Manager]" in text)
    payload = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
    if len(payload) >= 2 and isinstance(payload[0], int):  # pymssql
        raw = payload[1]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        # The first number is the most severe message's (a server error such as 18456, or db-lib's own).
        # pymssql keeps the last server message in process-wide variables when no connection came
        # about, so a number with no server text before db-lib's own lines is a stale one: dropped.
        dblib = text.find("DB-Lib error message")
        # db-lib's 20018 ("General SQL Server error: Check messages from the SQL Server") says that
        # this login did receive a server message.
        fresh = (payload[0] >= 20000 or "DB-Lib error message 20018," in text
                 or (dblib != 0 and text[:dblib if dblib > 0 else len(text)].strip() != ""))
        numbers = list(dict.fromkeys([*([payload[0]] if fresh else []), *(int(n) for n in _DBLIB_NUMBER.findall(text))]))
        errno_match = _NET_ERRNO.search(text)
        os_errno = int(errno_match.group(1)) if errno_match else None
        readable = re.sub(r"DB-Lib error message \d+, severity \d+:\s*", "\n", text)
        lines = [ln.strip() for ln in readable.splitlines() if ln.strip()]
        return DriverError([], numbers, os_errno, one_line("\n".join(dict.fromkeys(lines))))
    number = getattr(exc, "number", None)
    if isinstance(number, int):
        return DriverError([], [number], None, one_line(str(getattr(exc, "text", "") or exc)))
    return DriverError([], [], None, one_line(str(exc)) or type(exc).__name__)


# --- the connector ----------------------------------------------------------------------------


class TDSConnector(SQLConnector):
    """What SQL Server and Sybase ASE share: FreeTDS, the relay, the classification of TDS errors."""

    tds_version: ClassVar[str]

    # --- parameters ---------------------------------------------------------------------------

    def check_parameters(self, params: Any, ctx: TestContext) -> None:
        self.check_hooks(params)
        protocol = params.protocol or self.model.model_fields["protocol"].default
        driver = self.protocols.get(protocol)
        if isinstance(driver, OdbcProtocolDriver) and driver.python_installed() and not driver.installed():
            others = [p for p in self.protocol_values() if p != protocol and self.protocols[p].installed()]
            instead = f" or choose {', '.join(others)}" if others else ""
            raise Failure(
                Code.DRIVER_NOT_AVAILABLE,
                f"The protocol '{protocol}' needs an ODBC driver for {self.label}, and none is installed.",
                fields={"protocol": f"Install {driver.install_hint}{instead}."},
                stage="parameters",
            )
        super().check_parameters(params, ctx)
        self.check_tls(params, ctx)

    def check_tls(self, params: Any, ctx: TestContext) -> None:
        """Sybase has no SSL hook (``hooks``); SQL Server overrides this."""

    def tls_mode(self, ctx: TestContext) -> str:
        return "disable"

    # --- reaching the server ------------------------------------------------------------------

    async def reach(self, params: Any, ctx: TestContext) -> Endpoint:
        endpoint = await super().reach(params, ctx)
        relay = TDSRelay(endpoint.address, endpoint.port, ctx.deadline)
        ctx.stack.callback(relay.close)
        mode = self.tls_mode(ctx)
        protocol = params.protocol or self.model.model_fields["protocol"].default
        driver = self.protocols[protocol]
        odbc = driver.odbc_driver() if isinstance(driver, OdbcProtocolDriver) else None
        section = None
        if odbc is None or odbc.freetds:
            section = FREETDS_CONFIG.add(self.freetds_settings(relay.port, mode, ctx))
            ctx.stack.callback(FREETDS_CONFIG.remove, section)
        known = {f.name: getattr(endpoint, f.name) for f in fields(Endpoint)}
        return RelayedEndpoint(**known, relay=relay, section=section, odbc=odbc, tls_mode=mode)

    def driver_seconds(self, ctx: TestContext) -> int:
        """The drivers' own timeouts: just after the deadline, when the relay has already cut them off.

        FreeTDS counts whole seconds; its own TDS 5.0 login timeout must never fire first (it
        deadlocks afterwards, see the module docstring), so the relay always ends the wait.
        """
        return max(1, math.ceil(ctx.deadline.remaining())) + 2

    def freetds_settings(self, relay_port: int, mode: str, ctx: TestContext) -> dict[str, str]:
        """The freetds.conf section of one test (https://www.freetds.org/userguide/freetdsconf.html)."""
        seconds = str(self.driver_seconds(ctx))
        settings = {
            "host": LOOPBACK,
            "port": str(relay_port),
            "tds version": self.tds_version,
            "client charset": "UTF-8",
            "connect timeout": seconds,
            "timeout": seconds,
            "encryption": {"disable": "off", "optional": "request"}.get(mode, "require"),
        }
        if mode == "verify-ca":
            found = tls.material(ctx)
            ca = found.ca if found is not None and found.ca is not None else tls.system_ca_file()
            settings["ca file"] = str(ca)
            settings["check certificate hostname"] = "no"
        return settings

    # --- the arguments of each driver ---------------------------------------------------------

    def odbc_attributes(self, params: Any, endpoint: RelayedEndpoint) -> list[tuple[str, str]]:
        """Connection-string attributes for pyodbc (FreeTDS: the server is the config section)."""
        assert endpoint.odbc is not None
        if endpoint.odbc.freetds:
            assert endpoint.section is not None
            where = [("Servername", endpoint.section)]
        else:
            assert endpoint.relay is not None
            where = [("Server", f"tcp:{LOOPBACK},{endpoint.relay.port}")]
        return [*where, ("UID", params.username), ("PWD", params.password), ("Database", params.database),
                ("APP", APP_NAME)]

    def odbc_string(self, params: Any, endpoint: RelayedEndpoint) -> str:
        assert endpoint.odbc is not None
        return odbc_connection_string(self.odbc_attributes(params, endpoint), endpoint.odbc, frozenset({"PWD"}))

    def url(self, params: Any, endpoint: Endpoint) -> URL:
        assert isinstance(endpoint, RelayedEndpoint) and endpoint.relay is not None
        protocol = params.protocol or self.model.model_fields["protocol"].default
        if endpoint.odbc is not None:
            return odbc_url(protocol, self.odbc_string(params, endpoint))
        # pymssql: "host" is the FreeTDS section; the dialect appends ":port" (FreeTDS strips it again)
        from sqlalchemy.engine import URL

        return URL.create(protocol, username=params.username, password=params.password,
                          host=endpoint.section, port=endpoint.relay.port, database=params.database)

    def connect_args(self, params: Any, endpoint: Endpoint, ctx: TestContext) -> dict[str, Any]:
        seconds = self.driver_seconds(ctx)
        if isinstance(endpoint, RelayedEndpoint) and endpoint.odbc is not None:
            # pyodbc's timeout is the ODBC login timeout (SQL_ATTR_LOGIN_TIMEOUT)
            return {"timeout": seconds, "autocommit": True}
        # pymssql: login_timeout is process-wide in db-lib (dbsetlogintime); the relay bounds it anyway
        return {"login_timeout": seconds, "timeout": seconds, "appname": APP_NAME, "autocommit": True,
                "tds_version": self.tds_version}

    def connect(self, params: Any, endpoint: Endpoint, ctx: TestContext) -> Any:
        assert isinstance(endpoint, RelayedEndpoint)
        dialect, cargs, cparams = self.driver_call(params, endpoint, ctx)
        driver = "pyodbc" if endpoint.odbc is not None else "pymssql"
        try:
            raw = dialect.connect(*cargs, **cparams)
        except Failure:
            raise
        except Exception as exc:  # noqa: BLE001 - every driver error is classified, with what the relay saw
            raise self.refine(exc, params, endpoint) from None
        if driver == "pyodbc":
            raw.timeout = self.driver_seconds(ctx)  # SQL_ATTR_QUERY_TIMEOUT of the test query
        return Session(raw, endpoint.relay, driver, endpoint.tls_mode)

    # --- the verdicts -------------------------------------------------------------------------

    def classify(self, exc: BaseException, params: Any, endpoint: Endpoint) -> Failure:
        """A driver error of the test query (login errors go through :meth:`refine`)."""
        if isinstance(exc, Failure):
            return exc
        relay = endpoint.relay if isinstance(endpoint, RelayedEndpoint) else None
        if relay is not None and relay.closed_at_deadline:
            return Failure(Code.CONNECTION_TIMEOUT, "The test query did not finish before the deadline.", stage="query")
        return self.classify_error(parse_driver_error(exc), login=False)

    def classify_error(self, err: DriverError, *, login: bool = True) -> Failure:
        """The verdict of a driver error, from its message numbers and SQLSTATEs.

        ``login``: the error ended the login (stages tcp … database); otherwise the test query.
        """
        text = err.text
        number = _server_number(err.numbers)
        if number is not None:
            code, fields = _SERVER_ERRORS[number]
            return Failure(code, text, fields=fields, stage=stage_of(code) if login else "query")
        numbers = set(err.numbers)
        states = set(err.sqlstates)
        if states & _SQLSTATE_NO_DRIVER or (err.driver_manager and "01000" in states):
            # IM002/IM003; or unixODBC's 01000 "Can't open lib": the driver library cannot be loaded
            return Failure(Code.DRIVER_NOT_AVAILABLE, text, fields={"protocol": "The ODBC driver could not be loaded."},
                           stage="parameters")
        if not login:
            if states & _SQLSTATE_TIMEOUT or TDSETIME in numbers:
                return Failure(Code.CONNECTION_TIMEOUT, text, stage="query")
            if numbers & _HANDSHAKE_BROKEN or states & _SQLSTATE_LINK:
                return Failure(Code.UNEXPECTED_ERROR, f"The server dropped the connection during the test query: {text}",
                               stage="query")
            return Failure(Code.UNEXPECTED_ERROR, text, stage="query")
        if states & _SQLSTATE_AUTH or TDSEPWD in numbers:
            return Failure(Code.AUTHENTICATION_FAILED, text,
                           fields={"password": "The server refused this user name and password."}, stage="authentication")
        if TDSEUHST in numbers:
            return Failure(Code.HOST_NOT_FOUND, text, fields={"host": "Host name not found."}, stage="dns")
        if TDSECONN in numbers or TDSESOCK in numbers:
            # "Unable to connect": FreeTDS's ODBC driver drops the OS error; a timeout would have been
            # 20003/HYT00, so what is left is a refusal (or, rarely, no route: then db-lib says which).
            if err.os_errno in (None, errno.ECONNREFUSED):
                return Failure(Code.PORT_CLOSED, text, fields={"port": "Nothing is listening on this port."}, stage="tcp")
            return Failure(Code.CONNECTION_TIMEOUT, text, fields={"host": "The server could not be reached."}, stage="tcp")
        if states & _SQLSTATE_TIMEOUT or TDSETIME in numbers:
            return Failure(Code.CONNECTION_TIMEOUT, text, stage="tls")
        if numbers & _HANDSHAKE_BROKEN or states & _SQLSTATE_LINK:
            return _handshake_failure(self.label, text)
        return Failure(Code.UNEXPECTED_ERROR, text, stage="authentication")

    def refine(self, exc: BaseException, params: Any, endpoint: RelayedEndpoint) -> Failure:
        """The verdict of a failed connection: the driver's numbers first, then what the relay saw.

        FreeTDS reports a refused TLS negotiation, a failed certificate check and a server that
        hung up alike ("Unable to connect to data source", 08001 / 20002); the PRELOGIN exchange
        the relay forwarded tells them apart.
        """
        err = parse_driver_error(exc) if not isinstance(exc, Failure) else None
        relay = endpoint.relay
        if err is not None and relay is not None:
            in_clear = relay.login_errors(self.tds_version.startswith("5"))
            if endpoint.odbc is None and relay.login_reply_seen(self.tds_version.startswith("5")):
                # pymssql: only server messages this very login received (see parse_driver_error)
                err.numbers = [n for n in err.numbers if n not in _SERVER_ERRORS or n in in_clear]
            seen = [n for n in in_clear if n not in err.numbers]
            err.numbers = [*err.numbers, *seen]
        if err is not None and endpoint.section:
            err.text = err.text.replace(endpoint.section, f"{endpoint.host}:{endpoint.port}")
        failure = self.classify_error(err) if err is not None else self.classify(exc, params, endpoint)
        if err is not None and relay is not None:
            chosen = _server_number(err.numbers)
            if chosen in seen and chosen in _SUMMARY:
                failure.detail = _SUMMARY[chosen]
        if failure.code == Code.AUTHENTICATION_FAILED and 18456 in (err.numbers if err else []) and relay is not None \
                and not relay.server_messages()[1:] and endpoint.tls_mode in ("require", "verify-ca"):
            # The answer to the login was encrypted: a database that cannot be opened (4060) looks
            # the same as a wrong password through FreeTDS, which reports only the 'login failed'.
            failure.fields.setdefault("database", ["If the user name and password are right, this database may not "
                                                   "exist or this login may not open it (SQL Server reports both as "
                                                   "'Login failed')."])
        if relay is None or failure.code in (Code.AUTHENTICATION_FAILED, Code.DATABASE_NOT_FOUND,
                                             Code.PERMISSION_DENIED, Code.DRIVER_NOT_AVAILABLE):
            return failure
        where = f"{endpoint.host}:{endpoint.port}"
        if relay.upstream_error is not None:
            if relay.upstream_error.errno == errno.ECONNREFUSED:
                return Failure(Code.PORT_CLOSED, f"{where} refused the connection.",
                               fields={"port": "Nothing is listening on this port."}, stage="tcp")
            return Failure(Code.CONNECTION_TIMEOUT, f"{where} could not be reached again: {relay.upstream_error}.",
                           stage="tcp")
        if relay.closed_at_deadline:
            return Failure(Code.CONNECTION_TIMEOUT, f"{where} did not finish the login before the deadline.",
                           stage="tls")
        asked, answered = relay.encryption()
        mode = endpoint.tls_mode
        if answered == ENCRYPT_NOT_SUP and asked in (ENCRYPT_ON, ENCRYPT_REQ):
            return Failure(Code.TLS_NOT_SUPPORTED, f"{where} has no TLS certificate: it cannot encrypt the connection.",
                           fields={f"{SSL_FIELD}.ssl_mode": "The server offers no TLS: configure a certificate on the "
                                                            "server, or use 'optional' or 'disable'."}, stage="tls")
        if answered == ENCRYPT_REQ and asked == ENCRYPT_NOT_SUP:
            return Failure(Code.TLS_REQUIRED, f"{where} accepts only encrypted connections.",
                           fields={f"{SSL_FIELD}.ssl_mode": "The server forces encryption: use 'require' or 'verify-ca'."},
                           stage="tls")
        tls_started = answered in (ENCRYPT_ON, ENCRYPT_REQ) or (answered == ENCRYPT_OFF and asked == ENCRYPT_OFF)
        if tls_started and failure.code in (Code.TLS_HANDSHAKE_FAILED, Code.UNEXPECTED_ERROR):
            if mode == "verify-ca":
                found = _material_origin(params)
                return Failure(Code.TLS_CERTIFICATE_INVALID,
                               f"{where} offered TLS, but its certificate was not accepted: it is not signed by the "
                               "CA given (or has expired). The driver gives no further reason.",
                               fields={found: "The server's certificate does not lead to this CA certificate."},
                               stage="tls")
            return Failure(Code.TLS_HANDSHAKE_FAILED, f"{where} offered TLS, but the TLS handshake failed. {failure.detail}",
                           fields={f"{SSL_FIELD}.ssl_mode": "The TLS handshake failed; check the server's TLS setup."},
                           body="The server's certificate or TLS versions could not be used. Check the server's TLS "
                                "setup, or use ssl_mode 'optional' if an unencrypted link is acceptable.",
                           stage="tls")
        if failure.code in (Code.TLS_HANDSHAKE_FAILED, Code.UNEXPECTED_ERROR):
            spoke = relay.spoke_tds()
            if spoke is None and relay.server_closed:
                return _handshake_failure(
                    self.label, f"{where} accepted the connection and closed it without a word: it is not "
                    f"{self.label}, or it accepts only TLS from the first byte (SQL Server 'strict' encryption, "
                    "TDS 8.0; or a Sybase SSL port), which this driver cannot do.",
                    title="The server ended the connection at once")
            if relay.spoke_tls():
                return _handshake_failure(
                    self.label, f"{where} answered with TLS from the first byte (SQL Server 'strict' encryption, "
                    "TDS 8.0, or a Sybase SSL port), which this driver cannot speak.",
                    title="The server expects TLS before TDS")
            if spoke is False:
                looks = " (it looks like HTTP)" if bytes(relay.server_bytes[:5]) == b"HTTP/" else ""
                return _handshake_failure(
                    self.label, f"{where} answered with bytes that are not TDS{looks}: it is not {self.label}.",
                    title=f"This port does not answer like {self.label}", code=Code.UNEXPECTED_ERROR)
        return failure

    # --- after the login ----------------------------------------------------------------------

    def tls_state(self, conn: Any) -> dict[str, Any]:
        relay: TDSRelay | None = conn.relay
        if relay is None:
            return {"enabled": None}
        asked, answered = relay.encryption()
        if asked is None:
            return {"enabled": False} if self.tds_version.startswith("5") else {"enabled": None}
        full = answered in (ENCRYPT_ON, ENCRYPT_REQ) or (asked in (ENCRYPT_ON, ENCRYPT_REQ) and answered == ENCRYPT_OFF)
        login_only = asked == ENCRYPT_OFF and answered == ENCRYPT_OFF
        if not full:
            return tls.state(False, login_encrypted=login_only)
        return tls.state(True, version=relay.tls_version(), verified=conn.tls_mode == "verify-ca",
                         hostname_verified=False)

    def success_body(self, server: dict[str, Any], tls_info: dict[str, Any], endpoint: Endpoint, ctx: TestContext) -> str:
        body = super().success_body(server, tls_info, endpoint, ctx)
        if tls_info.get("login_encrypted"):
            body += (" Only the login (with the password) was encrypted; to encrypt everything, use ssl_mode "
                     "'require' or 'verify-ca'.")
        elif tls_info.get("enabled") and tls_info.get("verified"):
            body += " The certificate was checked against the CA, not against the host name."
        return body

    def fetch_one(self, conn: Session, sql: str, *args: Any) -> Any:
        """One row of ``sql`` (``?`` placeholders; pymssql takes ``%s``)."""
        if conn.driver == "pymssql":
            sql = sql.replace("?", "%s")
        cur = conn.raw.cursor()
        try:
            cur.execute(sql, args) if args else cur.execute(sql)
            # every row and the final DONE: closing a cursor with results pending makes FreeTDS
            # cancel (TDS attention) and wait for the server to acknowledge it
            rows = cur.fetchall()
        finally:
            cur.close()
        return rows[0] if rows else None

    facts_sql: ClassVar[str]
    """One row: the server's version text, the login, the database and the schema the login is in."""
    schema_sql: ClassVar[str]
    """One value for the schema name (``?``): NULL when the database has no such schema for this login."""

    def inspect(self, conn: Any, params: Any) -> dict[str, Any]:
        version_text, user, database, schema = self.fetch_one(conn, self.facts_sql)
        if params.schema_name:
            (found,) = self.fetch_one(conn, self.schema_sql, params.schema_name)
            if found is None:
                raise self.no_schema(database, user, params.schema_name)
            schema = params.schema_name
        product, version = self.product_version(str(version_text or ""))
        return {"product": product, "version": version, "user": user, "database": database, "schema": schema}

    @abstractmethod
    def no_schema(self, database: str, user: str, schema_name: str) -> Failure:
        """The SCHEMA_NOT_FOUND verdict, in the server's own terms."""

    @abstractmethod
    def product_version(self, version_text: str) -> tuple[str, str | None]:
        """The product and its version, from the server's version text."""


def _handshake_failure(
    label: str, detail: str, *, title: str | None = None, code: Code = Code.TLS_HANDSHAKE_FAILED
) -> Failure:
    """The server broke off the TDS handshake (PRELOGIN, or the TDS 5.0 login) before any login verdict.

    A port that answers with something other than TDS is UNEXPECTED_ERROR (with its own title), as
    for every other connector; a handshake that ends at once or in TLS-first is TLS_HANDSHAKE_FAILED.
    """
    return Failure(
        code,
        detail,
        fields={"port": f"The server at this port did not complete the {label} (TDS) handshake: check that it is "
                        f"the {label} port."},
        title=title or "The server ended the handshake",
        body=f"Check that the host and port lead to {label}, and whether the server accepts only TLS from the "
             "first byte.",
        stage="tls",
        kind=SystemMessageKind.error,
    )


def _material_origin(params: Any) -> str:
    hook = params.hooks_params.SSL if params.hooks_params else None
    if hook is not None and hook.ca_filename:
        return f"{SSL_FIELD}.ca_filename"
    return f"{SSL_FIELD}.ca"


class MsSQL(TDSConnector):
    type_name = "MsSQLConnector"
    label = "SQL Server"
    product = "Microsoft SQL Server"
    position = 1
    model = CreateMsSQLConnector
    default_port = 1433
    tds_version = "7.4"  # SQL Server 2012 and later; older servers answer with the version they speak
    hooks = frozenset({"SSHTunnel", "SSL"})
    # Kerberos: FreeTDS here is built with GSSAPI (Trusted_Connection=yes, ServerSPN), but it takes
    # its credentials from the process environment (KRB5CCNAME), so it would have to run in the
    # Kerberos hook's worker process, and no SQL Server with Windows authentication can run here to
    # check that it works. Not offered until it can be tested.
    hook_notes = {
        "Kerberos": "Windows (Kerberos) logins to SQL Server are not available in the wizard yet. Use a SQL Server "
                    "login (user name and password).",
    }
    ssl_modes = ("disable", "optional", "require", "verify-ca")
    protocols = {
        "mssql+pyodbc": OdbcProtocolDriver(
            "pyodbc", "pyodbc", microsoft=True,
            install_hint="the FreeTDS ODBC driver (Debian/Ubuntu: apt-get install tdsodbc unixodbc) or Microsoft's "
                         "ODBC Driver 18 for SQL Server (msodbcsql18)"),
        "mssql+pymssql": Driver("pymssql", "pymssql"),
    }

    def check_tls(self, params: Any, ctx: TestContext) -> None:
        found = tls.prepare(params.hooks_params.SSL if params.hooks_params else None, ctx, self.ssl_modes)
        if found is None:
            return
        problems: dict[str, str] = {}
        for item in ("cert", "key"):
            if getattr(found, item) is not None:
                problems[found.blame(item)] = ("SQL Server does not log in with client certificates: leave the "
                                               "client certificate and key empty.")
        mode = self.tls_mode(ctx)
        if found.ca is not None and mode != "verify-ca":
            problems[f"{SSL_FIELD}.ssl_mode"] = "A CA certificate is used only with ssl_mode 'verify-ca'."
        protocol = params.protocol or "mssql+pyodbc"
        odbc = find_odbc_driver(microsoft=True) if protocol == "mssql+pyodbc" else None
        if mode == "verify-ca" and odbc is not None and not odbc.freetds and found.ca is not None:
            problems[found.blame("ca")] = ("Microsoft's ODBC driver checks certificates against the system's CAs only: "
                                           "install the CA there and leave this empty.")
        if mode == "verify-ca" and found.ca is None and tls.system_ca_file() is None:
            problems[f"{SSL_FIELD}.ca"] = "This machine has no CA bundle: give the CA certificate (ca or ca_filename)."
        if problems:
            raise Failure(Code.INVALID_PARAMETERS, " ".join(dict.fromkeys(problems.values())), fields=problems,
                          stage="parameters")

    def tls_mode(self, ctx: TestContext) -> str:
        return tls.chosen_mode(tls.material(ctx), with_ca="verify-ca", default="optional")

    def odbc_attributes(self, params: Any, endpoint: RelayedEndpoint) -> list[tuple[str, str]]:
        attributes = super().odbc_attributes(params, endpoint)
        if endpoint.odbc is not None and not endpoint.odbc.freetds:
            # Microsoft ODBC Driver 18 keywords
            # (https://learn.microsoft.com/en-us/sql/connect/odbc/dsn-connection-string-attribute)
            mode = endpoint.tls_mode
            attributes += [
                ("Encrypt", "yes" if mode in ("require", "verify-ca") else "no"),
                ("TrustServerCertificate", "no" if mode == "verify-ca" else "yes"),
            ]
            if mode == "verify-ca":
                attributes.append(("HostNameInCertificate", endpoint.host))
        return attributes

    facts_sql = "SELECT @@VERSION, SUSER_SNAME(), DB_NAME(), SCHEMA_NAME()"
    # SCHEMA_ID is NULL both for a missing schema and for one this user may not see
    # (https://learn.microsoft.com/en-us/sql/t-sql/functions/schema-id-transact-sql)
    schema_sql = "SELECT SCHEMA_ID(?)"

    def no_schema(self, database: str, user: str, schema_name: str) -> Failure:
        return Failure(Code.SCHEMA_NOT_FOUND, f"The database '{database}' has no schema '{schema_name}' that '{user}' can see.",
                       fields={"schema_name": "No schema of this name, or this user may not use it."}, stage="query")

    def product_version(self, version_text: str) -> tuple[str, str | None]:
        # "Microsoft SQL Server 2022 (RTM) - 16.0.1000.6 (X64) …"
        first = version_text.splitlines()[0].strip() if version_text else ""
        match = re.search(r"-\s*(\d+(?:\.\d+)+)", first)
        return first.split(" - ")[0].strip() or self.product, match.group(1) if match else None

    # Every claim below is from Microsoft's SQL Server documentation (learn.microsoft.com/en-us/sql/…):
    # [identity] t-sql/statements/set-identity-insert-transact-sql ("only one table in a session can have
    #            the IDENTITY_INSERT property set to ON")
    # [nocheck]  t-sql/statements/alter-table-transact-sql ({ CHECK | NOCHECK } CONSTRAINT: FOREIGN KEY
    #            and CHECK constraints only; WITH CHECK CHECK CONSTRAINT to make them trusted again)
    # [truncate] t-sql/statements/truncate-table-transact-sql (not on a table referenced by a FOREIGN
    #            KEY, even a disabled one; nor in an indexed view, replication, temporal; can be rolled back)
    # [disable]  relational-databases/indexes/disable-indexes-and-constraints (a disabled clustered index
    #            makes the table unreadable; disabling a unique index disables its constraint and the
    #            foreign keys that reference it; ALTER INDEX … REBUILD enables it again)
    # [trigger]  t-sql/statements/disable-trigger-transact-sql
    # [bulk]     relational-databases/import-export/prerequisites-for-minimal-logging-in-bulk-import
    # [merge]    t-sql/statements/merge-transact-sql
    functionalities = (
        functionality(
            "HIGH_PERFORMANCE_WRITING",
            "ADDITIVE",
            "PARTIAL",
            "Bulk loads run fastest with constraints, nonclustered indexes and triggers out of the way, "
            "and are minimally logged only with TABLOCK under the simple or bulk-logged recovery model [bulk]. "
            "Limits: foreign keys and CHECK constraints can be switched off (NOCHECK) and must be re-checked "
            "afterwards to be trusted again [nocheck]; TRUNCATE TABLE is refused on a table that any foreign "
            "key references, even a disabled one, so those keys are dropped and created again [truncate]; only "
            "nonclustered indexes may be disabled (a disabled clustered index makes the table unreadable), and "
            "disabling the index of a primary key or unique constraint also disables that constraint and the "
            "foreign keys that point to it [disable]; triggers can be disabled and enabled [trigger]; explicit "
            "identity values need SET IDENTITY_INSERT, for one table at a time per session [identity].",
            {
                "IDENTITY_WRITING": [],
                "DATA_TRUNCATION": ["FOREIGN_KEY_MANAGEMENT"],
                "FOREIGN_KEY_MANAGEMENT": [],
                "INDEX_MANAGEMENT": ["UNIQUE_CONSTRAINT_MANAGEMENT"],
                "UNIQUE_CONSTRAINT_MANAGEMENT": ["FOREIGN_KEY_MANAGEMENT"],
                "TRIGGER_MANAGEMENT": [],
                "SCHEMA_MANAGEMENT": [],
            },
        ),
        functionality(
            "IDEMPOTENT_WRITING",
            "PREVENTIVE",
            "FULL",
            "Running the same write twice leaves the same data: target rows are deleted (or the table "
            "truncated, once the foreign keys that reference it are dropped [truncate]) and written again in "
            "one transaction, or matched on their keys with MERGE [merge]; identity values are written as "
            "given with SET IDENTITY_INSERT, so keys stay the same on every run [identity]. SQL Server DDL and "
            "TRUNCATE TABLE are transactional, so a failed run can be rolled back whole [truncate].",
            {
                "DATA_DELETION": [],
                "DATA_TRUNCATION": ["FOREIGN_KEY_MANAGEMENT"],
                "FOREIGN_KEY_MANAGEMENT": [],
                "IDENTITY_WRITING": [],
                "SCHEMA_MANAGEMENT": [],
            },
        ),
    )


CONNECTOR = MsSQL()
