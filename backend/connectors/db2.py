"""IBM Db2: the ``ibm_db`` driver with the IBM Data Server Driver for ODBC and CLI it bundles (``clidriver``).

The driver takes a CLI connection string, not a URL. It is built here from the SQLAlchemy URL's
parts rather than by ``ibm_db_sa``, which cuts a password at its first ``;`` and passes no
timeout. The CLI cannot carry a ``;`` in any value at all (IBM: "Password rules for drivers and
CLPPlus": "The ; character, ASCII code 0x3b, is not supported for use in passwords"; neither
braces nor quotes escape it — tried here), so such a value is refused naming its field.

Deadlines, measured here against loopback listeners:
- ``ConnectTimeout=<s>`` bounds the TCP connect and the wait for the server's first answer
  (https://www.ibm.com/docs/en/db2/11.5?topic=keywords-connecttimeout); without it a listener that
  never answers holds the driver for minutes.
- Db2 12.1.4 clients reconnect once more after a failed first connection, after a fixed 5 s
  pause ("IBM data server driver configuration keywords for reconnect support",
  https://www.ibm.com/docs/en/db2/12.1.x?topic=keywords-reconnect-support). The registry variable
  ``DB2_MAX_CLIENT_CONNRETRIES=0``, read from the environment when the CLI starts, turns that
  off; :func:`load_driver` sets it just before the driver is first loaded (unless the
  deployment set it), so importing this module leaves the process's environment alone.
- Over SSL the CLI reads without any timeout: a server that accepts and never completes the
  TLS handshake holds the driver's thread until it closes. So an SSL test first makes the TLS
  handshake itself (bounded, on the checked address) and only then lets the driver connect.
"""

from __future__ import annotations

import asyncio
import errno
import math
import os
import re
import ssl
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

from backend.connectors.base import functionality
from backend.connectors.sql import Driver, LoginModel, SQLConnector
from backend.core import ReachedAddress, RunContext
from backend.core.rules import ErrorFacts, ErrorRule, classify, match, one_line
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure, in_driver_thread
from backend.hooks import tls
from backend.spec.fields import SECRET
from backend.spec.formfacts import URICut, URIDialect, URIFacts, URIParts


def load_driver() -> Any:
    """``ibm_db``, loaded with ``DB2_MAX_CLIENT_CONNRETRIES=0`` in the environment (see the module docstring)."""
    os.environ.setdefault("DB2_MAX_CLIENT_CONNRETRIES", "0")
    import ibm_db

    return ibm_db


class CreateDB2Connector(LoginModel):
    connector_type: Literal["DB2Connector"] = Field(title="Connector Type")
    host: str = Field(min_length=1, title="Host")
    database: str = Field(min_length=1, title="Database")
    username: str = Field(min_length=1, title="Username")
    password: Annotated[str, SECRET] = Field(title="Password", repr=False)
    schema_name: str | None = Field(default=None, title="Schema Name")
    port: int | None = Field(default=50000, ge=1, le=65535, title="Port")
    protocol: str | None = Field(default="db2", title="Protocol")
    include_views: bool | None = Field(default=False, title="Include Views")


_SSL_MODES = ("disable", "verify-ca", "verify-full")

# --- error codes ------------------------------------------------------------------------------
# ibm_db raises a bare Exception whose text ends "SQLSTATE=xxxxx SQLCODE=-nnnnn"; the message id
# (SQLnnnnnN) leads it. Messages: https://www.ibm.com/docs/en/db2/11.5?topic=messages-sql
# (SQL1013N, SQL1060N, SQL30061N, SQL30081N, SQL30082N …). These tokens are read, not the prose.
_AUTH = {"password": "The server refused this user name and password.", "username": "Check the user name too."}
_RULES: tuple[ErrorRule, ...] = (  # by SQLCODE (SQLSTATE in the comment)
    ErrorRule(Code.DATABASE_NOT_FOUND, {"database": "No database of this name (alias) on the server."}, number=-1013),  # 42705
    ErrorRule(Code.DATABASE_NOT_FOUND, {"database": "No database of this name on the server."}, number=-30061),  # 08004
    ErrorRule(Code.PERMISSION_DENIED, {"username": "This user has no CONNECT privilege on the database."}, number=-1060),  # 08004
    ErrorRule(Code.PERMISSION_DENIED, {"username": "This user lacks a privilege the test needs."}, number=-551),  # 42501
    ErrorRule(Code.HOST_NOT_FOUND, {"host": "Host name not found."}, number=-1336, stage="dns"),  # 08001 remote host not found
    ErrorRule(Code.INVALID_PARAMETERS, {"port": "The port is not a number the client accepts."}, number=-1337),  # service not found
    ErrorRule(Code.CONNECTION_TIMEOUT, number=-952),  # 57014 processing cancelled (query timeout)
    ErrorRule(Code.UNEXPECTED_ERROR, number=-1032),  # 57019 the database manager is not started
    ErrorRule(Code.UNEXPECTED_ERROR, number=-1224),  # 55032 the database manager cannot accept new requests
    ErrorRule(Code.UNEXPECTED_ERROR, number=-1639),  # the server cannot check passwords (its own file permissions)
)
# SQL30082N "Security processing failed with reason <n>"
# (https://www.ibm.com/docs/en/db2/11.5?topic=messages-sql30000-sql39999#sql30082n); another reason: _AUTH.
_REASONS: tuple[ErrorRule, ...] = (
    ErrorRule(Code.AUTHENTICATION_FAILED, {"password": "The password has expired: change it, then test again."}, number=1),
    ErrorRule(Code.AUTHENTICATION_FAILED, _AUTH, number=2),  # PASSWORD INVALID
    ErrorRule(Code.AUTHENTICATION_FAILED, {"password": "The server needs a password."}, number=3),  # PASSWORD MISSING
    ErrorRule(Code.AUTHENTICATION_FAILED, {"username": "The server needs a user name."}, number=5),
    ErrorRule(Code.AUTHENTICATION_FAILED, {"username": "No such user on the server."}, number=6),  # USERID INVALID
    ErrorRule(Code.PERMISSION_DENIED, {"username": "This user ID has been revoked."}, number=7),  # USERID REVOKED
    ErrorRule(Code.AUTHENTICATION_FAILED, number=17,  # UNSUPPORTED FUNCTION: the security mechanism is not accepted
              fields={"username": "The server does not accept this client's security mechanism (AUTHENTICATION setting)."}),
    ErrorRule(Code.PERMISSION_DENIED, {"username": "This user ID is disabled or restricted."}, number=19),  # USERID DISABLED
    ErrorRule(Code.AUTHENTICATION_FAILED, _AUTH, number=24),  # USERNAME AND/OR PASSWORD INVALID
)
_OTHER_REASON = ErrorRule(Code.AUTHENTICATION_FAILED, _AUTH, pattern="SQL30082N")
# GSKit return codes in SQL30081N over SSL (https://www.ibm.com/docs/en/db2/11.5?topic=ssl-gskit-return-codes).
_GSKIT_CERT = {401, 404, 413, 414, 417}  # expired, bad certificate, bad signature, not trusted, self-signed
_GSKIT_SOCKET_CLOSED = 420  # the server closed the connection
_TIMEOUT_FUNCTIONS = ("selectForConnectTimeout", "selectForRecvTimeout")


@dataclass
class _Session:
    """An ibm_db connection (the driver's API is procedural: ``ibm_db.close(conn)``) and its TLS state."""

    conn: Any
    tls: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        # SQLDisconnect talks to the server: never on the event loop's thread.
        ibm_db = load_driver()

        in_driver_thread("wizard-db2-close", ibm_db.close, self.conn)


class Db2URIs(URIDialect):
    """``jdbc:db2://host:port/SALES:currentSchema=MART;user=etl;``: ``key=value;`` settings after the
    database, introduced by a ``:`` (and ``;key=value`` ones)."""

    def read(self, scheme: str, rest: str, cut: URICut) -> URIParts:
        parts = cut(rest)
        path, _, settings = parts.path.partition(";")
        database, colon, properties = path.lstrip("/").partition(":")
        if colon and "=" in properties:
            path = "/" + database
        else:
            properties = ""
        parts.path = path
        parts.add_parameters(settings, ";")
        parts.add_parameters(properties, ";")
        return parts


class DB2(SQLConnector[CreateDB2Connector]):
    type_name = "DB2Connector"
    label = "IBM Db2"
    product = "IBM Db2"
    position = 6
    model = CreateDB2Connector
    example = {"connector_type": "DB2Connector",
               "host": "db2.example.com", "port": 50000, "database": "SALES", "username": "etl", "password": "example-password"}
    # Form facts (GET …/forms/, backend.spec.uri): jdbc:db2://host:port/database:currentSchema=X;user=Y;
    uri = URIFacts(schemes=("db2", "ibm_db_sa", "jdbc:db2"), example="db2://etl@db2.example.com:50000/SALES",
                   dialect=Db2URIs(), spellings=("jdbc:db2://db2.example.com:50000/SALES:user=etl;",))
    hooks = frozenset({"SSHTunnel", "SSL"})
    hook_notes = {
        "Kerberos": "The wizard's Db2 driver (IBM CLI) is not set up for Kerberos: it would need a system-wide "
                    "credential cache. Use a user name and password.",
    }
    # Db2's client always verifies the server's certificate (GSKit): there is no "encrypt only".
    # https://www.ibm.com/docs/en/db2/11.5?topic=keywords-security and
    # https://www.ibm.com/docs/en/db2/11.5?topic=keywords-sslservercertificate
    ssl_modes = _SSL_MODES
    ssl_refusals = {
        "allow": "Db2 has no 'try without TLS first' mode: a port speaks SSL or not.",
        "prefer": "Db2 has no 'TLS if offered' mode: a port speaks SSL or not.",
        "require": "Db2's client always verifies the server's certificate: use 'verify-ca' with the CA.",
    }
    protocols = {
        "db2": Driver("ibm_db", "ibm_db"),  # ibm_db_sa's dialect names, all on the ibm_db driver
        "db2+ibm_db": Driver("ibm_db", "ibm_db"),
        "ibm_db_sa": Driver("ibm_db", "ibm_db"),
    }

    # --- parameters ---------------------------------------------------------------------------

    def check_parameters(self, params: CreateDB2Connector, ctx: RunContext) -> None:
        super().check_parameters(params, ctx)
        try:
            load_driver()  # the bundled clidriver must load, not just be present
        except (ImportError, OSError) as exc:
            raise Failure(Code.DRIVER_NOT_AVAILABLE, f"The Db2 driver does not load here: {exc}.",
                          fields={"protocol": "The 'ibm_db' package is installed but its CLI libraries do not load."}) from None
        bad = {name: "Db2's client cannot take a ';' in this value (IBM: not supported in connection strings)."
               for name in ("database", "username", "password") if ";" in getattr(params, name) or "\x00" in getattr(params, name)}
        if bad:
            raise Failure(Code.INVALID_PARAMETERS, "A ';' cannot be passed to Db2's client.", fields=bad)
        found = tls.prepare(params.hooks_params.SSL if params.hooks_params else None, ctx, self.ssl_words())
        if found is None or _mode(found) == "disable":
            return
        problems: dict[str, str] = {}
        if found.cert is not None:
            why = ("Db2's client takes a client certificate only from a GSKit keystore (SSLClientKeystoredb), "
                   "which the wizard does not build: leave cert and key empty.")
            problems[found.blame("cert")] = why
            problems[found.blame("key")] = why
        if found.ca is None:
            problems[f"{tls.FIELD}.ca"] = ("Db2's client verifies the server's certificate against a CA you give "
                                           "(SSLServerCertificate): give it (ca or ca_filename).")
        if problems:
            raise Failure(Code.INVALID_PARAMETERS, " ".join(dict.fromkeys(problems.values())), fields=problems)

    # --- the connection -----------------------------------------------------------------------

    async def open_connection(self, params: CreateDB2Connector, endpoint: ReachedAddress, ctx: RunContext) -> Any:
        found = tls.material(ctx)
        state = tls.state(False)
        if found is not None and _mode(found) != "disable":
            state = await _tls_handshake(found, endpoint, ctx)
        session = await super().open_connection(params, endpoint, ctx)
        session.tls = state
        return session

    def connect(self, params: CreateDB2Connector, endpoint: ReachedAddress, ctx: RunContext) -> Any:
        ibm_db = load_driver()

        return _Session(ibm_db.connect(self.connection_string(params, endpoint, ctx), "", ""))

    def connection_string(self, params: CreateDB2Connector, endpoint: ReachedAddress, ctx: RunContext) -> str:
        """The CLI connection string (``;`` in a value was refused at the parameters stage)."""
        url = self.url(params, endpoint)
        keywords: dict[str, Any] = {
            "DATABASE": url.database,
            "HOSTNAME": url.host,
            "PORT": url.port,
            "PROTOCOL": "TCPIP",
            "UID": url.username,
            "PWD": url.password,
            **self.connect_args(params, endpoint, ctx),
        }
        return "".join(f"{key}={value};" for key, value in keywords.items())

    def connect_args(self, params: CreateDB2Connector, endpoint: ReachedAddress, ctx: RunContext) -> dict[str, Any]:
        seconds = max(1, math.ceil(ctx.deadline.remaining()))
        args: dict[str, Any] = {
            # https://www.ibm.com/docs/en/db2/11.5?topic=keywords-connecttimeout and -receivetimeout
            "ConnectTimeout": seconds,
            "ReceiveTimeout": seconds,
        }
        found = tls.material(ctx)
        if found is not None and found.ca is not None and _mode(found) != "disable":
            # SSLServerCertificate takes the CA (or the server's own certificate) as a PEM file.
            args.update({"SECURITY": "SSL", "SSLServerCertificate": str(found.ca)})
        return args

    def tls_state(self, conn: Any) -> dict[str, Any]:
        session: _Session = conn
        return session.tls

    # --- the test query -----------------------------------------------------------------------

    def inspect(self, conn: Any, params: CreateDB2Connector) -> dict[str, Any]:
        ibm_db = load_driver()

        session: _Session = conn
        info = ibm_db.server_info(session.conn)
        stmt = ibm_db.exec_immediate(session.conn,
                                     "SELECT CURRENT SERVER, CURRENT USER, CURRENT SCHEMA FROM SYSIBM.SYSDUMMY1")
        server, user, schema = (str(v).strip() for v in ibm_db.fetch_tuple(stmt))
        facts: dict[str, Any] = {
            "product": "IBM Db2",
            "version": getattr(info, "DBMS_VER", None),
            "platform": getattr(info, "DBMS_NAME", None),  # e.g. DB2/LINUXX8664 (LUW), DSN… (z/OS)
            "user": user,
            "database": server,
            "schema": schema,
        }
        if params.schema_name:
            # SYSCAT.SCHEMATA: one row per schema (Db2 LUW catalog views); unquoted names fold to upper case.
            stmt = ibm_db.prepare(session.conn, "SELECT SCHEMANAME FROM SYSCAT.SCHEMATA WHERE SCHEMANAME IN (?, UPPER(?))")
            ibm_db.execute(stmt, (params.schema_name, params.schema_name))
            row = ibm_db.fetch_tuple(stmt)
            if not row:
                raise Failure(Code.SCHEMA_NOT_FOUND, f"The database '{server}' has no schema '{params.schema_name}'.",
                              fields={"schema_name": "No schema of this name (Db2 folds unquoted names to upper case)."},
                              stage="query")
            facts["schema"] = str(row[0]).strip()
        return facts

    # --- errors -------------------------------------------------------------------------------

    def classify(self, exc: BaseException, params: CreateDB2Connector, endpoint: ReachedAddress) -> Failure:
        text = one_line(str(exc)).removeprefix("[IBM][CLI Driver] ")
        sqlcode = _number(r"SQLCODE=(-?\d+)", text)
        if sqlcode is None:
            message_id = _number(r"\bSQL(\d{4,5})N\b", text)
            sqlcode = -message_id if message_id is not None else None
        if sqlcode == -30081:
            return _communication_failure(text, tls.blame_in(params, "ca"))
        if sqlcode == -30082:
            reason = _number(r'reason "(\d+)"', text)
            rule = match(ErrorFacts(text, numbers=(reason,) if reason is not None else ()), _REASONS) or _OTHER_REASON
            return rule.failure(text)
        return classify(ErrorFacts(text, numbers=(sqlcode,) if sqlcode is not None else (), chain=(exc,)), _RULES)

    # --- functionalities ----------------------------------------------------------------------
    # Db2 11.5 SQL reference (https://www.ibm.com/docs/en/db2/11.5?topic=sql-statements):
    # - ALTER TABLE … ALTER FOREIGN KEY … NOT ENFORCED / ENFORCED (alter-table): a not-enforced
    #   (informational) foreign key is not checked on insert; SET INTEGRITY … IMMEDIATE CHECKED
    #   re-checks the data (set-integrity).
    # - Primary keys and unique constraints are enforced by their unique indexes; they are dropped
    #   and re-created (ALTER TABLE … DROP PRIMARY KEY / DROP UNIQUE), and dropping a parent key
    #   drops the foreign keys that reference it. An index that enforces a key cannot be dropped by
    #   DROP INDEX (SQL0669N).
    # - Triggers cannot be disabled in Db2 LUW: only dropped and created again (drop, create-trigger).
    # - Identity columns (create-table, identity-options): GENERATED ALWAYS rejects written values
    #   (SQL0798N) unless INSERT … OVERRIDING USER VALUE (which discards them); ALTER TABLE …
    #   ALTER COLUMN … SET GENERATED BY DEFAULT takes them, then RESTART WITH moves the generator on.
    # - TRUNCATE TABLE … IMMEDIATE must be the first statement of its unit of work and is refused
    #   for the parent table of a referential constraint, whether or not the child has rows
    #   (truncate; SQL20356N / SQLSTATE 428GJ); DELETE triggers are skipped with IGNORE DELETE
    #   TRIGGERS. MERGE upserts on a key (merge).
    functionalities = (
        functionality(
            "HIGH_PERFORMANCE_WRITING",
            "ADDITIVE",
            "PARTIAL",
            "Bulk loads into Db2 run faster with foreign keys NOT ENFORCED (ALTER TABLE … ALTER FOREIGN KEY) and "
            "re-checked afterwards with SET INTEGRITY. Limits: primary keys, unique constraints and their indexes "
            "can only be dropped and re-created (dropping a parent key drops its foreign keys), and triggers cannot "
            "be disabled, only dropped and created again. GENERATED ALWAYS identity columns take written values "
            "only after ALTER COLUMN … SET GENERATED BY DEFAULT.",
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
            "Writing the same data twice leaves the same result: TRUNCATE TABLE … IMMEDIATE (first statement of a "
            "unit of work; refused for the parent table of a referential constraint, so those foreign keys go "
            "first), DELETE, or MERGE on a primary or unique key; tables can be dropped and created again.",
            {
                "DATA_TRUNCATION": ["FOREIGN_KEY_MANAGEMENT"],
                "DATA_DELETION": [],
                "UNIQUE_CONSTRAINT_MANAGEMENT": [],
                "FOREIGN_KEY_MANAGEMENT": [],
                "SCHEMA_MANAGEMENT": [],
            },
        ),
    )


def _mode(found: tls.TLSMaterial) -> str:
    return found.mode or "verify-full"  # an SSL hook without a mode: the safe choice


def _number(pattern: str, text: str) -> int | None:
    match = re.search(pattern, text)
    return int(match.group(1)) if match else None


def _communication_failure(text: str, ca_field: str) -> Failure:
    """SQL30081N: the protocol, the failing function and its error numbers are fields of the message."""
    protocol = re.search(r'Communication protocol being used: "([^"]*)"', text)
    function = re.search(r'Communication function detecting the error: "([^"]*)"', text)
    first = _number(r'Protocol specific error code\(s\): "(\d+)"', text)
    ssl_used = protocol is not None and protocol.group(1) == "SSL"
    if ssl_used and first in _GSKIT_CERT:
        return Failure(Code.TLS_CERTIFICATE_INVALID, text,
                       fields={ca_field: "The server's certificate is not trusted with this CA."}, stage="tls")
    if (function is not None and function.group(1) in _TIMEOUT_FUNCTIONS) or first == errno.ETIMEDOUT:
        return Failure(Code.CONNECTION_TIMEOUT, text, stage="tls")
    if first == errno.ECONNREFUSED:
        return Failure(Code.PORT_CLOSED, text, fields={"port": "Nothing is listening on this port."}, stage="tcp")
    if ssl_used and first != _GSKIT_SOCKET_CLOSED:
        return Failure(Code.TLS_HANDSHAKE_FAILED, text, stage="tls")
    return Failure(
        Code.UNEXPECTED_ERROR,
        text,
        title="No Db2 server answered on this port",
        fields={"port": "The server closed the connection: not a Db2 server, or its SSL port (use the SSL hook)."},
        stage="tls",
    )


async def _tls_handshake(found: tls.TLSMaterial, endpoint: ReachedAddress, ctx: RunContext) -> dict[str, Any]:
    """A TLS handshake with the server, bounded by the deadline: what it negotiated, or the verdict."""
    full = _mode(found) == "verify-full"
    context = tls.client_context(found, verify=True, check_hostname=full, server_name=endpoint.host)
    remaining = ctx.deadline.remaining()
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.address, endpoint.port, ssl=context,
                                    server_hostname=endpoint.host.strip("[]"), ssl_handshake_timeout=max(0.1, remaining)),
            timeout=remaining,
        )
    except TimeoutError:
        raise Failure(Code.CONNECTION_TIMEOUT, f"{endpoint.host}:{endpoint.port} did not complete a TLS handshake "
                      f"within the {ctx.deadline.seconds:g} s deadline.", stage="tls") from None
    except ssl.SSLCertVerificationError as exc:
        raise tls.certificate_failure(exc, found.blame("ca"), ca_why="The server's certificate is not signed by this CA.") from None
    except ssl.SSLError as exc:
        # A plain (non-SSL) Db2 port answers a ClientHello with DRDA bytes or by closing.
        raise Failure(Code.TLS_NOT_SUPPORTED, f"No TLS on {endpoint.host}:{endpoint.port} ({exc.reason}).",
                      fields={"port": "This port does not speak TLS: Db2 serves SSL on a port of its own (ssl_svcename)."},
                      stage="tls") from None
    except ConnectionError as exc:
        raise Failure(Code.TLS_NOT_SUPPORTED, f"{endpoint.host}:{endpoint.port} closed the connection during the TLS "
                      f"handshake ({exc.strerror or type(exc).__name__}).",
                      fields={"port": "This port does not speak TLS: Db2 serves SSL on a port of its own (ssl_svcename)."},
                      stage="tls") from None
    tls_object = writer.get_extra_info("ssl_object")
    state = tls.state_of_socket(tls_object, context) if tls_object is not None else tls.state(True, verified=True)
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), timeout=min(0.5, ctx.deadline.remaining()))
    except (TimeoutError, OSError, ssl.SSLError):
        pass
    return state


CONNECTOR = DB2()
