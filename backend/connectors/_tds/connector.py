"""What SQL Server and Sybase ASE share: the relay, FreeTDS, and the verdict of a TDS login."""

from __future__ import annotations

import errno
import math
from abc import abstractmethod
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from backend.connectors._tds.errors import (
    HANDSHAKE_BROKEN,
    SERVER_NUMBERS,
    SQLSTATE_AUTH,
    SQLSTATE_LINK,
    SQLSTATE_NO_DRIVER,
    SQLSTATE_TIMEOUT,
    SUMMARY,
    TDSECONN,
    TDSEPWD,
    TDSESOCK,
    TDSETIME,
    TDSEUHST,
    DriverError,
    parse_driver_error,
    server_failure,
    server_number,
)
from backend.connectors._tds.freetds import freetds_config
from backend.connectors._tds.odbc import OdbcDriver, OdbcProtocolDriver, odbc_connection_string, odbc_url
from backend.connectors._tds.relay import ENCRYPT_NOT_SUP, ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_REQ, LOOPBACK, TDSRelay
from backend.connectors.sql import LoginModel, SQLConnector
from backend.core import ReachedAddress, RunContext
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure
from backend.hooks import tls
from backend.spec.schemas import SystemMessageKind

if TYPE_CHECKING:
    from sqlalchemy.engine import URL  # imported where used: the registry loads without SQLAlchemy

APP_NAME = "connection-wizard"


@dataclass
class RelayedAddress(ReachedAddress):
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

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """All rows of ``sql`` (``?`` placeholders; pymssql takes ``%s``)."""
        if self.driver == "pymssql":
            sql = sql.replace("?", "%s")
        cur = self.raw.cursor()
        try:
            cur.execute(sql, args) if args else cur.execute(sql)
            # every row and the final DONE: closing a cursor with results pending makes FreeTDS
            # cancel (TDS attention) and wait for the server to acknowledge it
            return list(cur.fetchall())
        finally:
            cur.close()

    def close(self) -> None:
        # The relay first: FreeTDS says goodbye under TDS 5.0 (a LOGOUT it then waits up to 5 s
        # for); with the link already gone it returns at once instead of blocking the caller.
        if self.relay is not None:
            self.relay.close()
        try:
            self.raw.close()
        except Exception:  # noqa: BLE001 - a half-open connection may refuse to close
            pass


class TDSModel(LoginModel):
    """What the TDS diagnosis reads of the SQL Server and Sybase ASE models beyond a login."""

    if TYPE_CHECKING:  # each model declares it in the spec's field order; declared here for the type checker only
        schema_name: str | None


TDST = TypeVar("TDST", bound=TDSModel)


class TDSConnector(SQLConnector[TDST]):
    """What SQL Server and Sybase ASE share: FreeTDS, the relay, the classification of TDS errors."""

    tds_version: ClassVar[str]

    # --- parameters ---------------------------------------------------------------------------

    def check_parameters(self, params: TDST, ctx: RunContext) -> None:
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

    def check_tls(self, params: TDST, ctx: RunContext) -> None:
        """Sybase has no SSL hook (``hooks``); SQL Server overrides this."""

    def tls_mode(self, ctx: RunContext) -> str:
        return "disable"

    # --- reaching the server ------------------------------------------------------------------

    async def reach(self, params: TDST, ctx: RunContext) -> ReachedAddress:
        endpoint = await super().reach(params, ctx)
        relay = TDSRelay(endpoint.address, endpoint.port, ctx.deadline)
        ctx.stack.callback(relay.close)
        mode = self.tls_mode(ctx)
        protocol = params.protocol or self.model.model_fields["protocol"].default
        driver = self.protocols[protocol]
        odbc = driver.odbc_driver() if isinstance(driver, OdbcProtocolDriver) else None
        section = None
        if odbc is None or odbc.freetds:
            section = freetds_config().add(self.freetds_settings(relay.port, mode, ctx))
            ctx.stack.callback(freetds_config().remove, section)
        known = {f.name: getattr(endpoint, f.name) for f in fields(ReachedAddress)}
        return RelayedAddress(**known, relay=relay, section=section, odbc=odbc, tls_mode=mode)

    def driver_seconds(self, ctx: RunContext) -> int:
        """The drivers' own timeouts: just after the deadline, when the relay has already cut them off.

        FreeTDS counts whole seconds; its own TDS 5.0 login timeout must never fire first (it
        deadlocks afterwards, see the module docstring), so the relay always ends the wait.
        """
        return max(1, math.ceil(ctx.deadline.remaining())) + 2

    def freetds_settings(self, relay_port: int, mode: str, ctx: RunContext) -> dict[str, str]:
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

    def odbc_attributes(self, params: TDST, endpoint: RelayedAddress) -> list[tuple[str, str]]:
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

    def odbc_string(self, params: TDST, endpoint: RelayedAddress) -> str:
        assert endpoint.odbc is not None
        return odbc_connection_string(self.odbc_attributes(params, endpoint), endpoint.odbc, frozenset({"PWD"}))

    def url(self, params: TDST, endpoint: ReachedAddress) -> URL:
        assert isinstance(endpoint, RelayedAddress) and endpoint.relay is not None
        protocol = params.protocol or self.model.model_fields["protocol"].default
        if endpoint.odbc is not None:
            return odbc_url(protocol, self.odbc_string(params, endpoint))
        # pymssql: "host" is the FreeTDS section; the dialect appends ":port" (FreeTDS strips it again)
        from sqlalchemy.engine import URL

        return URL.create(protocol, username=params.username, password=params.password,
                          host=endpoint.section, port=endpoint.relay.port, database=params.database)

    def connect_args(self, params: TDST, endpoint: ReachedAddress, ctx: RunContext) -> dict[str, Any]:
        seconds = self.driver_seconds(ctx)
        if isinstance(endpoint, RelayedAddress) and endpoint.odbc is not None:
            # pyodbc's timeout is the ODBC login timeout (SQL_ATTR_LOGIN_TIMEOUT)
            return {"timeout": seconds, "autocommit": True}
        # pymssql: login_timeout is process-wide in db-lib (dbsetlogintime); the relay bounds it anyway
        return {"login_timeout": seconds, "timeout": seconds, "appname": APP_NAME, "autocommit": True,
                "tds_version": self.tds_version}

    def connect(self, params: TDST, endpoint: ReachedAddress, ctx: RunContext) -> Any:
        assert isinstance(endpoint, RelayedAddress)
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

    def classify(self, exc: BaseException, params: TDST, endpoint: ReachedAddress) -> Failure:
        """A driver error of the test query (login errors go through :meth:`refine`)."""
        if isinstance(exc, Failure):
            return exc
        relay = endpoint.relay if isinstance(endpoint, RelayedAddress) else None
        if relay is not None and relay.closed_at_deadline:
            return Failure(Code.CONNECTION_TIMEOUT, "The test query did not finish before the deadline.", stage="query")
        return self.classify_error(parse_driver_error(exc), login=False)

    def classify_error(self, err: DriverError, *, login: bool = True) -> Failure:
        """The verdict of a driver error, from its message numbers and SQLSTATEs.

        ``login``: the error ended the login (stages tcp … database); otherwise the test query.
        """
        text = err.text
        number = server_number(err.numbers)
        if number is not None:
            return server_failure(number, text, login=login)
        numbers = set(err.numbers)
        states = set(err.sqlstates)
        if states & SQLSTATE_NO_DRIVER or (err.driver_manager and "01000" in states):
            # IM002/IM003; or unixODBC's 01000 "Can't open lib": the driver library cannot be loaded
            return Failure(Code.DRIVER_NOT_AVAILABLE, text, fields={"protocol": "The ODBC driver could not be loaded."},
                           stage="parameters")
        if not login:
            if states & SQLSTATE_TIMEOUT or TDSETIME in numbers:
                return Failure(Code.CONNECTION_TIMEOUT, text, stage="query")
            if numbers & HANDSHAKE_BROKEN or states & SQLSTATE_LINK:
                return Failure(Code.UNEXPECTED_ERROR, f"The server dropped the connection during the test query: {text}",
                               stage="query")
            return Failure(Code.UNEXPECTED_ERROR, text, stage="query")
        if states & SQLSTATE_AUTH or TDSEPWD in numbers:
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
        if states & SQLSTATE_TIMEOUT or TDSETIME in numbers:
            return Failure(Code.CONNECTION_TIMEOUT, text, stage="tls")
        if numbers & HANDSHAKE_BROKEN or states & SQLSTATE_LINK:
            return _handshake_failure(self.label, text)
        return Failure(Code.UNEXPECTED_ERROR, text, stage="authentication")

    def refine(self, exc: BaseException, params: TDST, endpoint: RelayedAddress) -> Failure:
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
                err.numbers = [n for n in err.numbers if n not in SERVER_NUMBERS or n in in_clear]
            seen = [n for n in in_clear if n not in err.numbers]
            err.numbers = [*err.numbers, *seen]
        if err is not None and endpoint.section:
            err.text = err.text.replace(endpoint.section, f"{endpoint.host}:{endpoint.port}")
        failure = self.classify_error(err) if err is not None else self.classify(exc, params, endpoint)
        if err is not None and relay is not None:
            chosen = server_number(err.numbers)
            if chosen in seen and chosen in SUMMARY:
                failure.detail = SUMMARY[chosen]
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
                           fields={tls.MODE_FIELD: "The server offers no TLS: configure a certificate on the "
                                                            "server, or use 'optional' or 'disable'."}, stage="tls")
        if answered == ENCRYPT_REQ and asked == ENCRYPT_NOT_SUP:
            return Failure(Code.TLS_REQUIRED, f"{where} accepts only encrypted connections.",
                           fields={tls.MODE_FIELD: "The server forces encryption: use 'require' or 'verify-ca'."},
                           stage="tls")
        tls_started = answered in (ENCRYPT_ON, ENCRYPT_REQ) or (answered == ENCRYPT_OFF and asked == ENCRYPT_OFF)
        if tls_started and failure.code in (Code.TLS_HANDSHAKE_FAILED, Code.UNEXPECTED_ERROR):
            if mode == "verify-ca":
                found = tls.blame_in(params, "ca")
                return Failure(Code.TLS_CERTIFICATE_INVALID,
                               f"{where} offered TLS, but its certificate was not accepted: it is not signed by the "
                               "CA given (or has expired). The driver gives no further reason.",
                               fields={found: "The server's certificate does not lead to this CA certificate."},
                               stage="tls")
            return Failure(Code.TLS_HANDSHAKE_FAILED, f"{where} offered TLS, but the TLS handshake failed. {failure.detail}",
                           fields={tls.MODE_FIELD: "The TLS handshake failed; check the server's TLS setup."},
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

    def success_body(self, server: dict[str, Any], tls_info: dict[str, Any], endpoint: ReachedAddress, ctx: RunContext) -> str:
        body = super().success_body(server, tls_info, endpoint, ctx)
        if tls_info.get("login_encrypted"):
            body += (" Only the login (with the password) was encrypted; to encrypt everything, use ssl_mode "
                     "'require' or 'verify-ca'.")
        elif tls_info.get("enabled") and tls_info.get("verified"):
            body += " The certificate was checked against the CA, not against the host name."
        return body

    def fetch_one(self, conn: Session, sql: str, *args: Any) -> Any:
        """The first row of ``sql``, or None."""
        rows = conn.rows(sql, *args)
        return rows[0] if rows else None

    facts_sql: ClassVar[str]
    """One row: the server's version text, the login, the database and the schema the login is in."""
    schema_sql: ClassVar[str]
    """One value for the schema name (``?``): NULL when the database has no such schema for this login."""

    def inspect(self, conn: Any, params: TDST) -> dict[str, Any]:
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
