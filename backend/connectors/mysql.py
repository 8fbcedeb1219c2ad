"""MySQL and MariaDB: mysqlclient (``mysql+mysqldb``, the spec's default) or PyMySQL."""

from __future__ import annotations

import errno
import math
import re
import socket
import ssl
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field

from backend.connectors.base import functionality
from backend.connectors.sql import Driver, LoginModel, SQLConnector, close_quietly
from backend.core import ReachedAddress, RunContext
from backend.core.rules import ErrorFacts, ErrorRule, classify, one_line
from backend.diagnosis.messages import Code
from backend.diagnosis.netprobe import is_ip
from backend.diagnosis.stages import Deadline, Failure
from backend.hooks import tls
from backend.spec.fields import SECRET
from backend.spec.formfacts import URIFacts


class CreateMySQLMariaDBConnector(LoginModel):
    connector_type: Literal["MySQLMariaDBConnector"] = Field(title="Connector Type")
    host: str = Field(min_length=1, title="Host")
    database: str = Field(min_length=1, title="Database")
    username: str = Field(min_length=1, title="Username")
    password: Annotated[str, SECRET] = Field(title="Password", repr=False)
    port: int | None = Field(default=3306, ge=1, le=65535, title="Port")
    protocol: str | None = Field(default="mysql+mysqldb", title="Protocol")
    include_views: bool | None = Field(default=False, title="Include Views")


# Server error numbers: https://mariadb.com/kb/en/mariadb-error-code-reference/ and
# https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html;
# client error numbers (2xxx): https://dev.mysql.com/doc/mysql-errors/8.0/en/client-error-reference.html
_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(Code.AUTHENTICATION_FAILED, number=1045,  # ER_ACCESS_DENIED_ERROR
              fields={"password": "The server refused this user name and password.", "username": "Check the user name too."}),
    ErrorRule(Code.AUTHENTICATION_FAILED, {"username": "This user may not log in with a password."},
              number=1698),  # ER_ACCESS_DENIED_NO_PASSWORD_ERROR
    ErrorRule(Code.AUTHENTICATION_FAILED, {"protocol": "The server's authentication method needs a newer driver."}, number=1251),
    ErrorRule(Code.AUTHENTICATION_FAILED, {"protocol": "The server's authentication plugin is not available to this driver."},
              number=2059),
    ErrorRule(Code.PERMISSION_DENIED, number=1044,  # ER_DBACCESS_DENIED_ERROR: also what a user without rights sees for a missing database
              fields={"database": "This user may not use this database, or it does not exist."}),
    ErrorRule(Code.DATABASE_NOT_FOUND, {"database": "No database of this name on the server."}, number=1049),  # ER_BAD_DB_ERROR
    ErrorRule(Code.PERMISSION_DENIED, {"username": "This user may not connect from the wizard's address."},
              number=1130),  # ER_HOST_NOT_PRIVILEGED
    ErrorRule(Code.PERMISSION_DENIED, {"host": "The server blocked the wizard's address after too many errors."}, number=1129),
    ErrorRule(Code.UNEXPECTED_ERROR, number=1040),  # ER_CON_COUNT_ERROR: too many connections
    ErrorRule(Code.TLS_REQUIRED, number=3159,  # ER_SECURE_TRANSPORT_REQUIRED (MySQL 8)
              fields={tls.MODE_FIELD: "The server accepts only encrypted connections."}),
    ErrorRule(Code.HOST_NOT_FOUND, {"host": "Host name not found."}, number=2005),  # CR_UNKNOWN_HOST
    ErrorRule(Code.CONNECTION_TIMEOUT, number=2013),  # CR_SERVER_LOST during the handshake
    ErrorRule(Code.UNEXPECTED_ERROR, number=2006),  # CR_SERVER_GONE_ERROR
    ErrorRule(Code.UNEXPECTED_ERROR, {"port": "This port does not answer like MySQL or MariaDB."},
              number=2012),  # CR_SERVER_HANDSHAKE_ERR
    ErrorRule(Code.CONNECTION_TIMEOUT, exception=TimeoutError, stage="tls"),
)

# CR_SSL_CONNECTION_ERROR (2026): libmariadb and libmysqlclient give the reason as text only.
_TLS_TEXT: tuple[ErrorRule, ...] = (
    ErrorRule(Code.TLS_NOT_SUPPORTED, pattern=r"does not support|doesn't support", stage="tls",
              fields={tls.MODE_FIELD: "The server offers no TLS: enable TLS on the server, or lower ssl_mode."}),
    ErrorRule(Code.TLS_CERTIFICATE_INVALID, pattern=r"hostname|host name|does not match", stage="tls",
              fields={"host": "The server's certificate does not name this host."}),
    ErrorRule(Code.TLS_CERTIFICATE_INVALID, pattern=r"certificate|verif|self-signed|issuer", stage="tls",
              fields={f"{tls.FIELD}.ca": "The server's certificate is not signed by this CA (or has expired)."}),
    ErrorRule(Code.TLS_HANDSHAKE_FAILED, pattern=r".", stage="tls"),
)
# The server's TLS alerts when it did not accept (or missed) the client certificate (OpenSSL reason names).
_CERTIFICATE_ALERTS = ("ALERT_UNKNOWN_CA", "ALERT_BAD_CERTIFICATE", "CERTIFICATE_REQUIRED", "ALERT_CERTIFICATE")


class MySQLMariaDB(SQLConnector[CreateMySQLMariaDBConnector]):
    type_name = "MySQLMariaDBConnector"
    label = "MySQL / MariaDB"
    product = "MySQL"
    position = 2
    model = CreateMySQLMariaDBConnector
    example = {"connector_type": "MySQLMariaDBConnector",
               "host": "db.example.com", "port": 3306, "database": "sales", "username": "etl", "password": "example-password"}
    # Form facts (GET …/forms/, backend.spec.uri).
    uri = URIFacts(schemes=("mysql", "mariadb", "jdbc:mysql", "jdbc:mariadb"),
                   example="mysql://etl@db.example.com:3306/sales",
                   spellings=("jdbc:mysql://db.example.com:3306/sales?user=etl",
                              "jdbc:mariadb://db.example.com:3306/sales?user=etl"))
    hooks = frozenset({"SSHTunnel", "SSL"})
    hook_notes = {
        "Kerberos": "MySQL and MariaDB drivers here have no Kerberos (GSSAPI) login; use a password or a client certificate."
    }
    # MySQL --ssl-mode (https://dev.mysql.com/doc/refman/8.0/en/connection-options.html#option_general_ssl-mode)
    ssl_modes = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
    # libpq's words for the same modes (docs/design.md, "SSL modes")
    ssl_aliases = {"disable": "DISABLED", "prefer": "PREFERRED", "require": "REQUIRED", "verify-ca": "VERIFY_CA",
                   "verify-full": "VERIFY_IDENTITY"}
    ssl_refusals = {"allow": "MySQL and MariaDB drivers have no 'try without TLS first, then with TLS' mode."}
    protocols = {
        "mysql+mysqldb": Driver("MySQLdb", "mysqlclient"),
        "mysql+pymysql": Driver("pymysql", "PyMySQL"),
        "mariadb+mariadbconnector": Driver("mariadb", "mariadb"),
        "mysql+mysqlconnector": Driver("mysql.connector", "mysql-connector-python"),
    }

    # --- parameters: the SSL hook ------------------------------------------------------------

    def check_parameters(self, params: CreateMySQLMariaDBConnector, ctx: RunContext) -> None:
        super().check_parameters(params, ctx)
        found = tls.prepare(params.hooks_params.SSL if params.hooks_params else None, ctx, self.ssl_words())
        if found is None:
            return
        if self._driver(params) not in ("MySQLdb", "pymysql"):
            raise Failure(Code.INVALID_PARAMETERS, "The SSL/TLS settings are applied with mysqlclient and PyMySQL.",
                          fields={"hooks_params.SSL": "Use the protocol mysql+mysqldb or mysql+pymysql for SSL/TLS."})
        mode = _ssl_mode(found)
        if mode == "VERIFY_CA" and found.ca is None:
            raise Failure(Code.INVALID_PARAMETERS, "VERIFY_CA checks the server's certificate against a CA you give.",
                          fields={f"{tls.FIELD}.ca": "Give the CA certificate (ca or ca_filename) for VERIFY_CA."})
        if mode == "VERIFY_IDENTITY" and found.ca is None and tls.system_ca_file() is None:
            raise Failure(Code.INVALID_PARAMETERS, "This machine has no CA bundle to verify the server with.",
                          fields={f"{tls.FIELD}.ca": "Give the CA certificate (ca or ca_filename)."})

    # --- the connection ---------------------------------------------------------------------

    def connect_args(self, params: CreateMySQLMariaDBConnector, endpoint: ReachedAddress, ctx: RunContext) -> dict[str, Any]:
        seconds = max(1, math.ceil(ctx.deadline.remaining()))
        # connect_timeout alone does not bound a server that accepts and never speaks:
        # the handshake read needs read_timeout too (PyMySQL and mysqlclient alike).
        args: dict[str, Any] = {"connect_timeout": seconds, "read_timeout": seconds, "write_timeout": seconds}
        driver = self._driver(params)
        if driver in ("MySQLdb", "pymysql"):
            args["local_infile"] = False  # a server could otherwise read the wizard's files
        return args

    def _driver(self, params: CreateMySQLMariaDBConnector) -> str:
        return self.protocols[params.protocol or "mysql+mysqldb"].module

    def connect(self, params: CreateMySQLMariaDBConnector, endpoint: ReachedAddress, ctx: RunContext) -> Any:
        driver = self._driver(params)
        if driver not in ("MySQLdb", "pymysql"):
            return super().connect(params, endpoint, ctx)
        _, _, cparams = self.driver_call(params, endpoint, ctx)
        found = tls.material(ctx)
        mode = _ssl_mode(found)
        opener = _mysqldb_opener if driver == "MySQLdb" else _pymysql_opener
        if mode == "REQUIRED" and driver == "MySQLdb" and _server_offers_tls(endpoint, ctx.deadline) is False:
            # libmariadb does not enforce REQUIRED (it falls back to plain text): refuse before
            # any credential is sent when the server's greeting offers no TLS.
            raise _not_supported()
        try:
            conn = opener(dict(cparams), found, mode, endpoint)
        except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
            raise self._refine(exc, params, endpoint, ctx, dict(cparams), found, mode, opener) from None
        state = conn.wizard_tls
        if mode in _TLS_MODES and not state.get("enabled"):
            close_quietly(conn)
            raise _not_supported()
        return conn

    def _refine(self, exc: Exception, params: CreateMySQLMariaDBConnector, endpoint: ReachedAddress, ctx: RunContext, cparams: dict[str, Any],
                found: tls.TLSMaterial | None, mode: str, opener: Callable[..., Any]) -> Failure:
        """The verdict of a failed login, with the TLS questions a driver error number cannot answer."""
        failure = self.classify(exc, params, endpoint)
        number = _errno_of(exc)
        if number == 2026 or failure.code == Code.TLS_HANDSHAKE_FAILED:
            if _server_offers_tls(endpoint, ctx.deadline) is False:
                return _not_supported()
            if failure.code == Code.TLS_HANDSHAKE_FAILED and not failure.fields and found and found.cert:
                # The server ended the TLS session right after the handshake (TLS 1.3 checks the
                # client certificate then): the certificate is the one thing it could refuse.
                return Failure(failure.code, failure.detail,
                               fields={found.blame("cert"): "The server did not accept this client certificate."},
                               stage="tls")
            return failure
        if number in (1045, 1698):  # ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR
            if mode == "DISABLED" and _server_offers_tls(endpoint, ctx.deadline):
                # MariaDB answers a REQUIRE SSL account that came without TLS with the same 1045 as
                # a wrong password (https://mariadb.com/kb/en/securing-connections-for-client-and-server/).
                # Tell them apart honestly: the same login again, with TLS (nothing verified; the
                # password goes to the same server it just went to without TLS).
                try:
                    close_quietly(opener(cparams, found, "REQUIRED", endpoint))
                except Exception:  # noqa: BLE001 - refused with TLS too: the first verdict stands
                    return failure
                return Failure(
                    Code.TLS_REQUIRED,
                    "The server admits this account only over an encrypted connection (REQUIRE SSL or stricter).",
                    fields={tls.MODE_FIELD: "Use REQUIRED or stricter (VERIFY_IDENTITY with the server's CA is best)."},
                    stage="tls",
                )
            if mode != "DISABLED":
                hint = ("If the account requires a client certificate (REQUIRE X509, ISSUER or SUBJECT), "
                        "give one the server accepts." if found is None or found.cert is None else
                        "If the account requires a certificate of another subject or issuer, give that one.")
                cert_field = found.blame("cert") if found is not None else f"{tls.FIELD}.cert"
                return Failure(failure.code, failure.detail, fields={**failure.fields, cert_field: [hint]},
                               stage=failure.stage)
        if number == 2013 and found is not None and found.cert is not None and "authentication" in str(exc):
            # CR_SERVER_LOST right after the handshake, with a client certificate: the server
            # checked the certificate (TLS 1.3 does it after the handshake) and dropped the link.
            return Failure(Code.TLS_HANDSHAKE_FAILED, failure.detail,
                           fields={found.blame("cert"): "The server did not accept this client certificate."},
                           stage="tls")
        return failure

    def tls_state(self, conn: Any) -> dict[str, Any]:
        state = getattr(conn, "wizard_tls", None)
        return dict(state) if state is not None else _session_tls(conn)

    def inspect(self, conn: Any, params: CreateMySQLMariaDBConnector) -> dict[str, Any]:
        cur = conn.cursor()
        try:
            cur.execute("SELECT VERSION(), CURRENT_USER(), DATABASE()")
            version, user, database = cur.fetchone()
        finally:
            cur.close()
        version = str(version)
        product = "MariaDB" if "mariadb" in version.lower() else "MySQL"
        found = {"product": product, "version": version.split("-")[0], "user": str(user), "database": database}
        expires = _password_expiry(conn, product)
        if expires is not None:
            found["password_expires_at"] = expires
        return found

    def classify(self, exc: BaseException, params: CreateMySQLMariaDBConnector, endpoint: ReachedAddress) -> Failure:
        number = _errno_of(exc)
        text = one_line(str(exc.args[1]) if len(exc.args) > 1 else str(exc))
        # PyMySQL keeps the OSError it wrapped (original_exception, or the exception being handled)
        original = getattr(exc, "original_exception", None) or exc.__cause__ or exc.__context__
        if isinstance(original, ssl.SSLCertVerificationError):
            return tls.certificate_failure(original, tls.blame_in(params, "ca"))
        if isinstance(original, ssl.SSLError):
            if any(alert in str(original.reason or "") for alert in _CERTIFICATE_ALERTS):
                return Failure(Code.TLS_HANDSHAKE_FAILED, text, stage="tls",
                               fields={tls.blame_in(params, "cert"): "The server did not accept this client certificate."})
            return Failure(Code.TLS_HANDSHAKE_FAILED, text, stage="tls")
        if number == 2003:  # CR_CONN_HOST_ERROR: the OS error number is in the message
            if _os_errno(text) == errno.ECONNREFUSED:
                return Failure(Code.PORT_CLOSED, text, fields={"port": "Nothing is listening on this port."}, stage="tcp")
            return Failure(Code.CONNECTION_TIMEOUT, text, stage="tls")
        if number == 2026:
            return classify(ErrorFacts(text), _TLS_TEXT, blame=tls.blame_map(params))
        facts = ErrorFacts(text, numbers=(number,) if number is not None else (), chain=(exc,))
        return classify(facts, _RULES)

    functionalities = (
        functionality(
            "HIGH_PERFORMANCE_WRITING",
            "ADDITIVE",
            "PARTIAL",
            "Bulk loads run fastest with foreign_key_checks and unique_checks switched off for the session "
            "[bulk]. Limits: turning foreign_key_checks back on does not re-check rows loaded meanwhile [fk]; "
            "ALTER TABLE … DISABLE KEYS works only for MyISAM, so InnoDB secondary indexes are dropped and "
            "rebuilt [alter]; triggers cannot be disabled at all, only dropped and created again [trigger]; "
            "TRUNCATE of a table referenced by a foreign key is refused unless foreign_key_checks is off "
            "[truncate]. AUTO_INCREMENT columns accept explicit values [autoinc].",
            {
                "IDENTITY_WRITING": [],
                "DATA_TRUNCATION": ["FOREIGN_KEY_MANAGEMENT"],
                "FOREIGN_KEY_MANAGEMENT": [],
                "UNIQUE_CONSTRAINT_MANAGEMENT": [],
                "INDEX_MANAGEMENT": ["UNIQUE_CONSTRAINT_MANAGEMENT"],
                "SCHEMA_MANAGEMENT": [],
            },
        ),
        functionality(
            "IDEMPOTENT_WRITING",
            "PREVENTIVE",
            "FULL",
            "Running the same write twice leaves the same data: target tables are emptied first (DELETE, or "
            "TRUNCATE with foreign_key_checks off [truncate]) and AUTO_INCREMENT values are written as given, "
            "so keys stay the same on every run [autoinc]. Note that DDL commits implicitly, so dropping and "
            "creating tables cannot be rolled back together with the data [commit].",
            {
                "DATA_DELETION": [],
                "DATA_TRUNCATION": ["FOREIGN_KEY_MANAGEMENT"],
                "FOREIGN_KEY_MANAGEMENT": [],
                "IDENTITY_WRITING": [],
                "SCHEMA_MANAGEMENT": [],
            },
        ),
    )


def _os_errno(text: str) -> int | None:
    match = re.search(r"\((?:\[Errno )?(\d+)\]?", text)
    return int(match.group(1)) if match else None


_TLS_MODES = ("REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
CLIENT_SSL = 0x0800
"""Capability flag of the server greeting (Protocol::HandshakeV10): the server can switch to TLS.
https://dev.mysql.com/doc/dev/mysql-server/latest/group__group__cs__capabilities__flags.html"""


def _errno_of(exc: BaseException) -> int | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def _ssl_mode(found: tls.TLSMaterial | None) -> str:
    """The mode: as asked; VERIFY_IDENTITY when only a CA was given; MySQL's default PREFERRED otherwise."""
    return tls.chosen_mode(found, with_ca="VERIFY_IDENTITY", default="PREFERRED")


def _not_supported(detail: str = "") -> Failure:
    return Failure(
        Code.TLS_NOT_SUPPORTED,
        detail or "The server's greeting offers no TLS (it has no ssl_cert/ssl_key configured).",
        fields={tls.MODE_FIELD: "The server offers no TLS: enable TLS on the server, or lower ssl_mode."},
        stage="tls",
    )


def _server_offers_tls(endpoint: ReachedAddress, deadline: Deadline) -> bool | None:
    """Read the server's greeting (it speaks first) and say whether it offers TLS; None if unreadable.

    Sends nothing: no credential, no TLS request. Protocol::HandshakeV10: protocol version (1 byte),
    server version (NUL-terminated), connection id (4), auth data part 1 (8), filler (1), then
    the lower 2 bytes of the capability flags.
    """
    timeout = max(0.1, min(2.0, deadline.remaining()))
    try:
        with socket.create_connection((endpoint.address, endpoint.port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            header = _recv_exact(sock, 4)
            payload = _recv_exact(sock, int.from_bytes(header[:3], "little"))
    except OSError:
        return None
    if not payload or payload[0] != 10:  # 0xFF: an error packet (e.g. host blocked); else not HandshakeV10
        return None
    end = payload.find(b"\0", 1)
    offset = end + 1 + 4 + 8 + 1
    if end < 0 or len(payload) < offset + 2:
        return None
    return bool(int.from_bytes(payload[offset : offset + 2], "little") & CLIENT_SSL)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def _session_tls(conn: Any) -> dict[str, Any]:
    """Whether the session is encrypted, as the server sees it (its Ssl_version and Ssl_cipher)."""
    cur = conn.cursor()
    try:
        cur.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher', 'Ssl_server_not_after')")
        status = {str(k): str(v) for k, v in cur.fetchall()}
    finally:
        cur.close()
    if not status.get("Ssl_version"):
        return tls.state(False)
    # The server's certificate's end of validity, as the server reports the one it hands out in the
    # handshake (OpenSSL's "Dec  5 10:00:00 2026 GMT"): payload.server.expires (backend/monitor).
    not_after = _openssl_time(status.get("Ssl_server_not_after", ""))
    extra: dict[str, Any] = {"not_after": not_after} if not_after else {}
    return tls.state(True, version=status["Ssl_version"], cipher=status.get("Ssl_cipher") or None, **extra)


def _openssl_time(text: str) -> str | None:
    from datetime import UTC, datetime

    try:
        when = datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
    except ValueError:
        return None
    return when.isoformat().replace("+00:00", "Z")


# The password's expiry where the server records it and the user may read it (mysql.global_priv on
# MariaDB 10.4+, mysql.user on MySQL): the last change plus the lifetime (the account's own, else
# default_password_lifetime; 0: never). Not readable, or no lifetime: left out, never guessed.
_PASSWORD_EXPIRY = {
    "MariaDB": "SELECT JSON_VALUE(Priv, '$.password_last_changed'), JSON_VALUE(Priv, '$.password_lifetime'), "
               "@@default_password_lifetime FROM mysql.global_priv WHERE CONCAT(User, '@', Host) = CURRENT_USER()",
    "MySQL": "SELECT UNIX_TIMESTAMP(password_last_changed), password_lifetime, @@default_password_lifetime "
             "FROM mysql.user WHERE CONCAT(User, '@', Host) = CURRENT_USER()",
}


def _password_expiry(conn: Any, product: str) -> str | None:
    from datetime import UTC, datetime

    cur = conn.cursor()
    try:
        cur.execute(_PASSWORD_EXPIRY[product])
        row = cur.fetchone()
    except Exception:  # noqa: BLE001 - no SELECT on the mysql schema: unknown
        return None
    finally:
        cur.close()
    if not row or row[0] is None:
        return None
    lifetime = int(row[1]) if row[1] is not None and int(row[1]) >= 0 else int(row[2] or 0)
    if lifetime <= 0:
        return None
    when = datetime.fromtimestamp(float(row[0]) + lifetime * 86400, tz=UTC)
    return when.isoformat().replace("+00:00", "Z")


def _is_libmariadb() -> bool:
    """mysqlclient built on MariaDB Connector/C (3.x) rather than MySQL's libmysqlclient (5.7/8.x)."""
    import MySQLdb

    return str(MySQLdb._mysql.get_client_info()).startswith("3.")


def _mysqldb_opener(cparams: dict[str, Any], found: tls.TLSMaterial | None, mode: str, endpoint: ReachedAddress) -> Any:
    """mysqlclient with the TLS settings mapped; sets ``conn.wizard_tls``.

    With MariaDB Connector/C (what Debian's libmariadb-dev builds against), mysqlclient emulates
    ssl_mode with MYSQL_OPT_SSL_ENFORCE and MYSQL_OPT_SSL_VERIFY_SERVER_CERT (its _mysql.c). What
    the library then does, measured against MariaDB 10.11 with Connector/C 3.3:
    - ENFORCE alone uses TLS when the server offers it and silently goes on in plain text when it
      does not: so PREFERRED is passed as REQUIRED, and REQUIRED is checked by us (the greeting
      before, the session's Ssl_version after);
    - VERIFY_SERVER_CERT checks the chain AND the host name given to mysql_real_connect, and
      refuses a server without TLS: VERIFY_CA verifies the name as well.
    The name checked is the host string the library connects to. For VERIFY_* the library is
    therefore given the host name the user typed (it resolves it again: the policy checked that
    name's addresses a moment before, and a rebound address would have to show a certificate for
    the name, signed by the trusted CA, before any credential is sent). Exceptions: an IP address
    and a tunnel's local end are given as they are, and "localhost" as 127.0.0.1 (the library
    would take "localhost" for its Unix socket).
    """
    import MySQLdb

    mariadb_lib = _is_libmariadb()
    host = endpoint.address
    checked_name: str | None = None
    if mode in ("VERIFY_CA", "VERIFY_IDENTITY") and (mariadb_lib or mode == "VERIFY_IDENTITY"):
        name = endpoint.host.strip("[]")
        if not endpoint.via_ssh and not is_ip(name) and name.lower().rstrip(".") != "localhost":
            host = name
        checked_name = host
    cparams["host"] = host
    ssl_files = {}
    if found is not None:
        ssl_files = {k: str(v) for k, v in (("ca", found.ca), ("cert", found.cert), ("key", found.key)) if v}
    if mode in ("VERIFY_CA", "VERIFY_IDENTITY") and "ca" not in ssl_files:
        ssl_files["ca"] = str(tls.system_ca_file())
    cparams["ssl_mode"] = "REQUIRED" if (mode == "PREFERRED" and mariadb_lib) else mode
    if ssl_files:
        cparams["ssl"] = ssl_files
    verified = mode in ("VERIFY_CA", "VERIFY_IDENTITY")
    return _with_tls_state(MySQLdb.connect(**cparams), verified, checked_name if verified else None)


def _pymysql_opener(cparams: dict[str, Any], found: tls.TLSMaterial | None, mode: str, endpoint: ReachedAddress) -> Any:
    """PyMySQL with an SSLContext of ours; sets ``conn.wizard_tls``.

    PyMySQL connects to ``host`` (the checked address or the tunnel's end) and wraps the socket with
    ``server_hostname=host``; our context checks the name the user typed instead (tls.client_context).
    TLS is refused before the login packet when it is required and the server does not offer it.
    """
    cparams["host"] = endpoint.address
    verify = mode in ("VERIFY_CA", "VERIFY_IDENTITY")
    context = tls.client_context(found, verify=verify, check_hostname=mode == "VERIFY_IDENTITY",
                                 server_name=endpoint.host.strip("[]"))
    if mode == "DISABLED":
        cparams["ssl_disabled"] = True
    elif mode in _TLS_MODES:
        cparams["ssl"] = context
    conn = _pymysql_class()(wizard_context=context, wizard_require=mode in _TLS_MODES, **cparams)
    return _with_tls_state(conn, verify, endpoint.host if verify and context.check_hostname else None)


def _with_tls_state(conn: Any, verified: bool, checked_name: str | None) -> Any:
    """``conn`` with ``conn.wizard_tls``: the session's TLS state, and what was verified (the name checked, if any).

    A connection whose state cannot be read is closed and the error raised.
    """
    try:
        state = _session_tls(conn)
    except Exception:  # whatever the driver raises: the connection is closed, the error goes on unchanged
        close_quietly(conn)
        raise
    if state.get("enabled"):
        state.update(verified=verified, hostname_verified=verified and checked_name is not None,
                     checked_name=checked_name)
    conn.wizard_tls = state
    return conn


_PYMYSQL_CLASS: Any = None


def _pymysql_class() -> Any:
    """A PyMySQL Connection that uses our SSLContext, and never sends the login in plain text when TLS is required."""
    global _PYMYSQL_CLASS
    if _PYMYSQL_CLASS is not None:
        return _PYMYSQL_CLASS
    import pymysql
    from pymysql.constants import CLIENT, CR

    class WizardConnection(pymysql.connections.Connection):
        def __init__(self, *args: Any, wizard_context: ssl.SSLContext, wizard_require: bool, **kwargs: Any) -> None:
            self._wizard_context = wizard_context
            self._wizard_require = wizard_require
            super().__init__(*args, **kwargs)

        def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
            return self._wizard_context  # also PyMySQL's own PREFERRED mode (no ssl argument)

        def _request_authentication(self) -> None:
            if self._wizard_require and not (self.server_capabilities & CLIENT.SSL):
                raise pymysql.err.OperationalError(CR.CR_SSL_CONNECTION_ERROR,
                                                   "TLS is required, but the server does not support it")
            super()._request_authentication()

    _PYMYSQL_CLASS = WizardConnection
    return _PYMYSQL_CLASS


CONNECTOR = MySQLMariaDB()
