"""Oracle Database: python-oracledb in thin mode (``oracle+oracledb``, the spec's default), over its asyncio API.

``database`` is the **service name** the listener knows (e.g. ``FREEPDB1``, ``ORCLPDB1``), as in an
Easy Connect string ``host:port/service_name``; SQLAlchemy's ``oracle+oracledb`` URL carries it as
``?service_name=`` (a bare URL database would be taken for a SID).

Why asyncio: the blocking thin connect bounds only the TCP connect (``tcp_connect_timeout``); once
a listener has accepted, reading its answer waits for ever (measured here: > 300 s against a
loopback listener that never answers). ``asyncio.wait_for(oracledb.connect_async(...))`` stops it
at the deadline and closes the socket, so no thread is left behind.
"""

from __future__ import annotations

import asyncio
import inspect as pyinspect
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from backend.connectors.base import functionality
from backend.connectors.sql import Driver, LoginModel, SQLConnector
from backend.core import ReachedAddress, RunContext
from backend.core.rules import ErrorFacts, ErrorRule, classify, exception_chain, one_line
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure
from backend.hooks import tls
from backend.spec.fields import SECRET
from backend.spec.formfacts import FieldFacts, URICut, URIDialect, URIFacts, URIParts

if TYPE_CHECKING:
    from sqlalchemy.engine import URL  # imported where used: the registry loads without SQLAlchemy


class CreateOracleConnector(LoginModel):
    connector_type: Literal["OracleConnector"] = Field(title="Connector Type")
    host: str = Field(min_length=1, title="Host")
    database: str = Field(min_length=1, title="Database")
    username: str = Field(min_length=1, title="Username")
    password: Annotated[str, SECRET] = Field(title="Password", repr=False)
    schema_name: str | None = Field(default=None, title="Schema Name")
    port: int | None = Field(default=1521, ge=1, le=65535, title="Port")
    protocol: str | None = Field(default="oracle+oracledb", title="Protocol")
    include_views: bool | None = Field(default=False, title="Include Views")


DEFAULT_PROTOCOL = "oracle+oracledb"
# ssl_mode → (TLS on, chain verified, host name verified). TCPS is Oracle Net over TLS
# (https://python-oracledb.readthedocs.io/en/latest/user_guide/connection_handling.html#connecting-using-tcps).
_MODES: dict[str, tuple[bool, bool, bool]] = {
    "disable": (False, False, False),
    "require": (True, False, False),
    "verify-ca": (True, True, False),
    "verify-full": (True, True, True),
}

# --- error codes ------------------------------------------------------------------------------
# Database errors: https://docs.oracle.com/error-help/db/ora-NNNNN/ (Database Error Messages).
# Driver errors (DPY-NNNN): python-oracledb's src/oracledb/errors.py and
# https://python-oracledb.readthedocs.io/en/latest/user_guide/troubleshooting.html. Thin mode
# wraps a failure of the first connect phase (TCP, TLS, listener) in DPY-6005 with the cause
# chained (impl/thin/connection.pyx, _connect_with_address); login errors (ORA-01017 …) come as
# they are. Codes are read from the driver's error objects and the chained messages, never from
# the English text around them.
_AUTH = {"password": "The server refused this user name and password.", "username": "Check the user name too."}
_SERVICE = {"database": "The listener knows no service of this name: 'database' is the service name (e.g. FREEPDB1)."}
_SID = {"database": "The listener knows no database of this SID."}
_NOT_ORACLE = "No Oracle listener answered on this port"
_RULES: tuple[ErrorRule, ...] = (
    # the transport under the driver: the first cause in the chain that is one of these decides
    ErrorRule(Code.PORT_CLOSED, {"port": "Nothing is listening on this port."}, exception=ConnectionRefusedError, stage="tcp"),
    ErrorRule(Code.HOST_NOT_FOUND, {"host": "Host name not found."}, exception=socket.gaierror, stage="dns"),
    ErrorRule(Code.CONNECTION_TIMEOUT, exception=TimeoutError, stage="tls"),
    # database errors
    ErrorRule(Code.AUTHENTICATION_FAILED, _AUTH, number="ORA-01017"),  # invalid username/password; logon denied
    ErrorRule(Code.AUTHENTICATION_FAILED, {"password": "The server needs a password."}, number="ORA-01005"),  # null password
    ErrorRule(Code.PERMISSION_DENIED, {"username": "This account is locked."}, number="ORA-28000"),
    ErrorRule(Code.AUTHENTICATION_FAILED, {"password": "This password has expired: change it, then test again."}, number="ORA-28001"),
    ErrorRule(Code.AUTHENTICATION_FAILED, number="ORA-28040",  # no matching authentication protocol
              fields={"username": "The server allows only login protocols this driver does not speak "
                                  "(SQLNET.ALLOWED_LOGON_VERSION_SERVER)."}),
    ErrorRule(Code.PERMISSION_DENIED, {"username": "This user lacks the CREATE SESSION privilege."}, number="ORA-01045"),
    ErrorRule(Code.PERMISSION_DENIED, {"username": "This user lacks a privilege the test needs."}, number="ORA-01031"),
    ErrorRule(Code.DATABASE_NOT_FOUND, _SERVICE, number="ORA-12514"),  # listener does not currently know of service requested
    ErrorRule(Code.DATABASE_NOT_FOUND, _SID, number="ORA-12505"),
    ErrorRule(Code.PORT_CLOSED, {"port": "No Oracle listener on this port."}, number="ORA-12541", stage="tcp"),  # TNS:no listener
    ErrorRule(Code.CONNECTION_TIMEOUT, number="ORA-12170"),  # TNS:connect timeout occurred
    ErrorRule(Code.CONNECTION_TIMEOUT, number="ORA-12535"),  # TNS:operation timed out
    ErrorRule(Code.UNEXPECTED_ERROR, number="ORA-12516"),  # listener could not find available handler
    ErrorRule(Code.UNEXPECTED_ERROR, number="ORA-12519"),  # no appropriate service handler found
    ErrorRule(Code.UNEXPECTED_ERROR, number="ORA-12520"),
    ErrorRule(Code.UNEXPECTED_ERROR, number="ORA-12526"),  # all instances in restricted mode
    ErrorRule(Code.UNEXPECTED_ERROR, number="ORA-12528"),  # all instances are blocking new connections
    ErrorRule(Code.UNEXPECTED_ERROR, number="ORA-01033"),  # initialization or shutdown in progress
    ErrorRule(Code.UNEXPECTED_ERROR, number="ORA-01034"),  # ORACLE not available
    ErrorRule(Code.UNEXPECTED_ERROR, {"database": "This pluggable database is not open."}, number="ORA-01109"),
    # driver errors
    ErrorRule(Code.DATABASE_NOT_FOUND, _SERVICE, number="DPY-6001"),  # Service "…" is not registered with the listener
    ErrorRule(Code.DATABASE_NOT_FOUND, _SID, number="DPY-6003"),  # SID "…" is not registered with the listener
    ErrorRule(Code.TLS_CERTIFICATE_INVALID, {"host": "The server's certificate does not carry the expected name."}, number="DPY-6002"),
    ErrorRule(Code.TLS_CERTIFICATE_INVALID, {"host": "The server's certificate does not name this host."}, number="DPY-6006"),
    ErrorRule(Code.TLS_NOT_SUPPORTED, {tls.MODE_FIELD: "The server refused TLS on this port."}, number="DPY-6009"),
    ErrorRule(Code.UNEXPECTED_ERROR, number="DPY-3010",  # server version not supported by thin mode (Oracle < 12.1)
              fields={"protocol": "python-oracledb's thin mode needs Oracle Database 12.1 or later."}),
    ErrorRule(Code.AUTHENTICATION_FAILED, number="DPY-3015",  # password verifier type not supported (10G verifier)
              fields={"password": "This account only has an old (10G) password verifier: reset its password on the server."}),
    ErrorRule(Code.CONNECTION_TIMEOUT, number="DPY-4024"),  # call timeout exceeded
    ErrorRule(Code.UNEXPECTED_ERROR, {"port": "This port does not answer like an Oracle listener."}, number="DPY-4035",
              title=_NOT_ORACLE),  # invalid server response
    ErrorRule(Code.UNEXPECTED_ERROR, number="DPY-4011", title=_NOT_ORACLE,  # the database or network closed the connection
              fields={"port": "The server closed the connection: not an Oracle listener, or one that expects TLS (TCPS)."}),
)
_CODE_RE = re.compile(r"\b(ORA|DPY)-(\d{4,5})\b")


class _OracleTLSContext(ssl.SSLContext):
    """An SSLContext whose host name check survives python-oracledb.

    Thin mode switches ``check_hostname`` off on the context it is given and then matches the
    certificate against the address it connected to (impl/thin/transport.pyx, create_ssl_context
    and check_server_dn) — the checked IP address, not the host the user typed. This context
    keeps OpenSSL's own check on ``expected_name`` (refused in the handshake, before any
    credential is sent) and remembers the TLS object, to report what was negotiated.
    """

    expected_name: str | None = None
    tls_object: ssl.SSLObject | None = None

    @property
    def check_hostname(self) -> bool:
        return bool(_CHECK_HOSTNAME.__get__(self))

    @check_hostname.setter
    def check_hostname(self, value: bool) -> None:
        if self.expected_name is None:
            _CHECK_HOSTNAME.__set__(self, value)

    def wrap_bio(self, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, server_side: bool = False,
                 server_hostname: str | bytes | None = None, session: ssl.SSLSession | None = None) -> ssl.SSLObject:
        obj = super().wrap_bio(incoming, outgoing, server_side=server_side,
                               server_hostname=self.expected_name or server_hostname, session=session)
        self.tls_object = obj
        return obj


_CHECK_HOSTNAME: Any = pyinspect.getattr_static(ssl.SSLContext, "check_hostname")


def _tls_context(found: tls.TLSMaterial | None, mode: str, host: str) -> _OracleTLSContext:
    """The context of ``mode`` (a client certificate in ``found``: mutual TLS, as a wallet's client key)."""
    _, verify, check_name = _MODES[mode]
    context = _OracleTLSContext(ssl.PROTOCOL_TLS_CLIENT)
    tls.configure_client(context, found, verify=verify, check_hostname=check_name)
    if verify and check_name:
        context.expected_name = host.strip("[]")  # set last: from here on the driver cannot turn the check off
    return context


@dataclass
class _Session:
    """An open connection and how it was made."""

    conn: Any
    asynchronous: bool
    mode: str
    tls_context: _OracleTLSContext | None = None
    closed: bool = False

    def close(self) -> None:
        """Close from ``ctx.stack`` (synchronous): an asyncio connection is closed by a task of its own."""
        if self.closed:
            return
        self.closed = True
        if not self.asynchronous:
            self.conn.close()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop any more: the socket goes with the object
        task = loop.create_task(asyncio.wait_for(self.conn.close(), timeout=2))
        _CLOSING.add(task)
        task.add_done_callback(_closed)


_CLOSING: set[asyncio.Task[Any]] = set()


def _closed(task: asyncio.Task[Any]) -> None:
    _CLOSING.discard(task)
    if not task.cancelled():
        task.exception()  # a failed polite close is of no interest: the socket is gone either way


class OracleURIs(URIDialect):
    """Oracle's own URI forms: the thin driver's credentials before the host
    (``jdbc:oracle:thin:scott/tiger@//host:1521/svc``, or a bare ``@``) and the old ``host:port:SID``."""

    _THIN_CREDENTIALS = re.compile(r"^(?P<user>[^:?;@/]*)(?:/(?P<password>[^@]*))?@")

    def read(self, scheme: str, rest: str, cut: URICut) -> URIParts:
        thin = None if rest.startswith("//") else self._THIN_CREDENTIALS.match(rest)
        parts = cut(rest[thin.end():] if thin else rest)
        if thin and parts.user is None:  # a user@ after the // wins over the thin form's
            parts.user, parts.password = thin.group("user") or None, thin.group("password") or None
        if not parts.hostport.startswith("["):
            host, colon, port_sid = parts.hostport.partition(":")
            port, _, sid = port_sid.partition(":")
            if sid:
                parts.hostport = f"{host}{colon}{port}"
                if not parts.path.strip("/"):
                    parts.path = "/" + sid
                    parts.notes.append("The URI names a SID (host:port:SID): the wizard connects by service name, "
                                       "which is often the same; check it.")
        return parts


class Oracle(SQLConnector[CreateOracleConnector]):
    type_name = "OracleConnector"
    label = "Oracle"
    product = "Oracle Database"
    position = 3
    model = CreateOracleConnector
    example = {"connector_type": "OracleConnector",
               "host": "oracle.example.com", "port": 1521, "database": "ORCLPDB1", "username": "etl", "password": "example-password"}
    # Form facts (GET …/forms/, backend.spec.uri): Easy Connect host:port/service_name, in a URI or a
    # jdbc:oracle:thin:@host:port/service (or the old :SID form); ?service_name= as SQLAlchemy writes it.
    form_fields = {
        "database": FieldFacts("Service name", "The service name the listener knows (e.g. FREEPDB1, ORCLPDB1), "
                                               "as in host:port/service_name.", "ORCLPDB1"),
        "schema_name": FieldFacts(help="Optional: a schema (an Oracle user) whose tables to use; the test "
                                       "checks that it exists."),
    }
    uri = URIFacts(schemes=("oracle", "jdbc:oracle:thin"), example="oracle://etl@oracle.example.com:1521/ORCLPDB1",
                   query={"service_name": "database", "sid": "database"}, dialect=OracleURIs(),
                   spellings=("jdbc:oracle:thin:etl@//oracle.example.com:1521/ORCLPDB1",
                              "jdbc:oracle:thin:@oracle.example.com:1521/ORCLPDB1?user=etl"))
    hooks = frozenset({"SSHTunnel", "SSL"})
    hook_notes = {
        "Kerberos": "python-oracledb's thin mode has no Kerberos login (only its thick mode, with Oracle Client "
                    "libraries, which the wizard does not use); use a user name and password.",
    }
    ssl_modes = tuple(_MODES)
    ssl_refusals = {
        "allow": "Oracle Net has no 'try without TLS first' mode: a port speaks TCPS or TCP.",
        "prefer": "Oracle Net has no 'TLS if offered' mode: a port speaks TCPS or TCP.",
    }
    protocols = {
        DEFAULT_PROTOCOL: Driver("oracledb", "oracledb"),
        # cx_Oracle is python-oracledb's predecessor (thick mode only, needs Oracle Client libraries).
        "oracle+cx_oracle": Driver("cx_Oracle", "cx_Oracle"),
    }

    # --- parameters ---------------------------------------------------------------------------

    def check_parameters(self, params: CreateOracleConnector, ctx: RunContext) -> None:
        super().check_parameters(params, ctx)
        found = tls.prepare(params.hooks_params.SSL if params.hooks_params else None, ctx, self.ssl_words())
        if found is not None and self._protocol(params) != DEFAULT_PROTOCOL:
            raise Failure(Code.INVALID_PARAMETERS, "cx_Oracle takes TLS settings from a wallet and sqlnet.ora only.",
                          fields={tls.FIELD: f"Use the protocol {DEFAULT_PROTOCOL} for SSL/TLS."})

    @staticmethod
    def _protocol(params: CreateOracleConnector) -> str:
        return str(params.protocol or DEFAULT_PROTOCOL)

    @staticmethod
    def _mode(ctx: RunContext) -> str:
        found = tls.material(ctx)
        if found is None:
            return "disable"
        return found.mode or "verify-full"  # an SSL hook without a mode: the safe choice

    # --- the connection -----------------------------------------------------------------------

    def url(self, params: CreateOracleConnector, endpoint: ReachedAddress) -> URL:
        # SQLAlchemy takes a URL's database for a SID; the spec's database is the service name.
        from sqlalchemy.engine import URL

        return URL.create(
            self._protocol(params),
            username=params.username,
            password=params.password,
            host=endpoint.address,
            port=endpoint.port,
            query={"service_name": params.database},
        )

    def connect_args(self, params: CreateOracleConnector, endpoint: ReachedAddress, ctx: RunContext) -> dict[str, Any]:
        if self._protocol(params) != DEFAULT_PROTOCOL:
            return {}  # cx_Oracle has no connect timeout: the deadline is kept by run_blocking alone
        url = self.url(params, endpoint)
        mode = self._mode(ctx)
        args: dict[str, Any] = {
            "user": url.username,
            "password": url.password,
            "host": url.host,
            "port": url.port,
            "service_name": url.query["service_name"],
            # Deadlines first (https://python-oracledb.readthedocs.io/en/latest/api_manual/module.html#oracledb.connect):
            "tcp_connect_timeout": max(0.5, ctx.deadline.remaining()),
            "retry_count": 0,
            "program": "connection-wizard",
            "protocol": "tcps" if _MODES[mode][0] else "tcp",
        }
        if _MODES[mode][0]:
            args["ssl_context"] = _tls_context(tls.material(ctx), mode, endpoint.host)
            args["ssl_server_dn_match"] = False  # the name is checked by the context, on the user's host name
        return args

    async def open_connection(self, params: CreateOracleConnector, endpoint: ReachedAddress, ctx: RunContext) -> Any:
        mode = self._mode(ctx)
        if self._protocol(params) != DEFAULT_PROTOCOL:
            conn = await super().open_connection(params, endpoint, ctx)
            return _Session(conn, asynchronous=False, mode=mode)
        import oracledb

        args = self.connect_args(params, endpoint, ctx)
        try:
            conn = await asyncio.wait_for(oracledb.connect_async(**args), timeout=ctx.deadline.remaining())
        except TimeoutError:
            raise ctx.deadline.timeout_failure(f"{endpoint.host}:{endpoint.port}", "authentication") from None
        return _Session(conn, asynchronous=True, mode=mode, tls_context=args.get("ssl_context"))

    def tls_state(self, conn: Any) -> dict[str, Any]:
        session: _Session = conn
        enabled, verified, hostname_verified = _MODES[session.mode]
        if not enabled:
            return tls.state(False)
        obj = session.tls_context.tls_object if session.tls_context else None
        cipher = obj.cipher() if obj is not None else None
        der = obj.getpeercert(binary_form=True) if obj is not None else None
        expiry = {"not_after": tls.not_after_of(der)} if der else {}  # payload.server.expires (backend/monitor)
        return tls.state(True, version=obj.version() if obj is not None else None,
                         cipher=cipher[0] if cipher else None, verified=verified, hostname_verified=hostname_verified,
                         **expiry)

    # --- the test query -----------------------------------------------------------------------

    async def run_query(self, conn: Any, params: CreateOracleConnector, ctx: RunContext) -> dict[str, Any]:
        session: _Session = conn
        if not session.asynchronous:
            return await super().run_query(session.conn, params, ctx)
        aconn = session.conn
        aconn.call_timeout = max(1, int(ctx.deadline.remaining() * 1000))  # every round trip, in ms

        async def fetch(sql: str, binds: dict[str, str]) -> Any:
            with aconn.cursor() as cur:
                await cur.execute(sql, binds)
                return await cur.fetchone()

        try:
            facts = await asyncio.wait_for(_facts(fetch, aconn.version, params), timeout=ctx.deadline.remaining())
        except TimeoutError:
            raise ctx.deadline.timeout_failure("the test query", "query") from None
        session.closed = True
        try:
            await asyncio.wait_for(aconn.close(), timeout=min(1.0, max(0.1, ctx.deadline.remaining())))
        except Exception:  # noqa: BLE001 - the answer is in; a slow or failed logoff changes nothing
            pass
        return facts

    def inspect(self, conn: Any, params: CreateOracleConnector) -> dict[str, Any]:
        """The same queries for a blocking (cx_Oracle) connection, in run_blocking's thread."""

        async def fetch(sql: str, binds: dict[str, str]) -> Any:
            cur = conn.cursor()
            try:
                cur.execute(sql, binds)
                return cur.fetchone()
            finally:
                cur.close()

        return asyncio.run(_facts(fetch, conn.version, params))

    # --- errors -------------------------------------------------------------------------------

    def classify(self, exc: BaseException, params: CreateOracleConnector, endpoint: ReachedAddress) -> Failure:
        chain = exception_chain(exc)
        for err in chain:
            if isinstance(err, ssl.SSLCertVerificationError):
                return tls.certificate_failure(err, tls.blame_in(params, "ca"), ca_why="The server's certificate is not signed by this CA (or by a public CA).")
            if isinstance(err, ssl.SSLError):
                return Failure(Code.TLS_HANDSHAKE_FAILED, one_line(str(err)), fields={
                    tls.MODE_FIELD: "The TLS handshake failed: is this a TCPS port? Plain ports take 'disable'."},
                    stage="tls")
        facts = ErrorFacts(_summary(exc), numbers=tuple(_codes(chain)), chain=tuple(chain))
        return classify(facts, _RULES)

    # --- functionalities ----------------------------------------------------------------------
    # Oracle Database SQL Language Reference 23ai (https://docs.oracle.com/en/database/oracle/oracle-database/23/sqlrf/):
    # - ALTER TABLE … DISABLE | ENABLE [NOVALIDATE] CONSTRAINT, constraint_state (ALTER-TABLE.html,
    #   constraint.html): foreign keys, primary and unique keys can be disabled; a key referenced by
    #   enabled foreign keys cannot be disabled without CASCADE (ORA-02297); disabling a key drops
    #   its index unless KEEP INDEX.
    # - ALTER INDEX … UNUSABLE / REBUILD (ALTER-INDEX.html); with SKIP_UNUSABLE_INDEXES (default TRUE)
    #   DML skips unusable indexes, except unique indexes, which make DML fail (ORA-01502).
    # - ALTER TABLE … DISABLE ALL TRIGGERS, ALTER TRIGGER … DISABLE (ALTER-TRIGGER.html).
    # - Identity columns (CREATE-TABLE.html, identity_clause): GENERATED ALWAYS refuses explicit
    #   values (ORA-32795); GENERATED BY DEFAULT [ON NULL] takes them; ALTER TABLE … MODIFY switches
    #   between the two, and START WITH LIMIT VALUE moves the generator past the rows written.
    # - TRUNCATE TABLE fails while an enabled foreign key references the table (ORA-02266,
    #   TRUNCATE-TABLE.html); DDL commits implicitly. MERGE (MERGE.html) upserts on a key.
    functionalities = (
        functionality(
            "HIGH_PERFORMANCE_WRITING",
            "ADDITIVE",
            "FULL",
            "Bulk loads into Oracle run fastest with foreign keys, keys, indexes and triggers switched off "
            "(ALTER TABLE … DISABLE CONSTRAINT, ALTER INDEX … UNUSABLE, ALTER TABLE … DISABLE ALL TRIGGERS) and "
            "re-enabled afterwards. A primary or unique key can be disabled only once the foreign keys that "
            "reference it are; a unique index must be dropped with its key, not just made unusable. Identity "
            "columns GENERATED ALWAYS take written values only after ALTER TABLE … MODIFY … GENERATED BY DEFAULT.",
            {
                "FOREIGN_KEY_MANAGEMENT": [],
                "UNIQUE_CONSTRAINT_MANAGEMENT": ["FOREIGN_KEY_MANAGEMENT"],
                "INDEX_MANAGEMENT": ["UNIQUE_CONSTRAINT_MANAGEMENT"],
                "TRIGGER_MANAGEMENT": [],
                "IDENTITY_WRITING": [],
            },
        ),
        functionality(
            "IDEMPOTENT_WRITING",
            "PREVENTIVE",
            "FULL",
            "Writing the same data twice leaves the same result: TRUNCATE TABLE (refused with ORA-02266 while an "
            "enabled foreign key references the table, so those are disabled first), DELETE, or MERGE on a "
            "primary or unique key; tables can be dropped and created again (DDL commits at once).",
            {
                "DATA_TRUNCATION": ["FOREIGN_KEY_MANAGEMENT"],
                "DATA_DELETION": [],
                "UNIQUE_CONSTRAINT_MANAGEMENT": [],
                "FOREIGN_KEY_MANAGEMENT": [],
                "SCHEMA_MANAGEMENT": [],
            },
        ),
    )


# --- the queries ------------------------------------------------------------------------------
# USER and SYS_CONTEXT('USERENV', …) need no privilege (Oracle SQL Language Reference, SYS_CONTEXT);
# ALL_USERS lists every user (= schema) of the database to any user (Database Reference, ALL_USERS).
# V$VERSION is usually granted to PUBLIC; when it is not (ORA-00942) the version the server
# announced at login (connection.version) is used.
_WHO = ("SELECT USER, SYS_CONTEXT('USERENV', 'DB_NAME'), SYS_CONTEXT('USERENV', 'SERVICE_NAME'), "
        "SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') FROM DUAL")
_BANNER = "SELECT banner FROM v$version WHERE banner LIKE 'Oracle%'"
_SCHEMA = "SELECT username FROM all_users WHERE username IN (:name, UPPER(:name))"


async def _facts(fetch: Callable[[str, dict[str, str]], Awaitable[Any]], version: str | None, params: CreateOracleConnector) -> dict[str, Any]:
    user, db_name, service, schema = await fetch(_WHO, {})
    banner: str | None = None
    try:
        row = await fetch(_BANNER, {})
        banner = str(row[0]) if row else None
    except Exception as exc:  # V$VERSION not granted (ORA-00942): the login's version will do
        if "ORA-00942" not in _codes(exception_chain(exc)):
            raise
    if params.schema_name:
        row = await fetch(_SCHEMA, {"name": params.schema_name})
        if row is None:
            raise Failure(Code.SCHEMA_NOT_FOUND, f"The database '{db_name}' has no schema (user) '{params.schema_name}'.",
                          fields={"schema_name": "No schema of this name (Oracle folds unquoted names to upper case)."},
                          stage="query")
        schema = row[0]
    expires: dict[str, str] = {}
    try:  # the password's expiry, where the profile sets a lifetime (USER_USERS.EXPIRY_DATE; null: none)
        row = await fetch("SELECT expiry_date FROM user_users", {})
        if row and row[0] is not None:
            when = row[0] if row[0].tzinfo is not None else row[0].replace(tzinfo=UTC)
            expires["password_expires_at"] = when.astimezone(UTC).isoformat().replace("+00:00", "Z")
    except Exception:  # noqa: BLE001 - unknown is left out, never guessed
        pass
    return {
        **expires,
        "product": "Oracle Database",
        "version": version,
        "banner": banner,
        "user": user,
        "database": db_name,
        "service": service,
        "schema": schema,
    }


def _codes(chain: list[BaseException]) -> list[str]:
    """Every ORA-/DPY- number the driver attached (``ORA-01017``), outermost first; the wrappers last."""
    found: list[tuple[str, int]] = []
    for err in chain:
        info = err.args[0] if err.args else None
        full_code = str(getattr(info, "full_code", "") or "")
        messages = [str(getattr(info, "message", "") or ""), full_code]
        for message in messages:
            for kind, number in _CODE_RE.findall(message):
                if (kind, int(number)) not in found:
                    found.append((kind, int(number)))
        code = getattr(info, "code", 0)
        if isinstance(code, int) and code and ("ORA", code) not in found:
            found.append(("ORA", code))
    # DPY-6005 (cannot connect) and DPY-6000 (listener refused) only wrap the real reason.
    wrappers = {("DPY", 6005), ("DPY", 6000)}
    ordered = [c for c in found if c not in wrappers] + [c for c in found if c in wrappers]
    return [f"{kind}-{number:05d}" if kind == "ORA" else f"{kind}-{number:04d}" for kind, number in ordered]


def _summary(exc: BaseException) -> str:
    """The driver's message on one line, without its help links and connection ids."""
    lines = [line for line in str(exc).splitlines() if line.strip() and not line.startswith("Help: ")]
    text = one_line("\n".join(lines))
    return re.sub(r" ?\(CONNECTION_ID=[^)]*\)", "", text)


CONNECTOR = Oracle()
