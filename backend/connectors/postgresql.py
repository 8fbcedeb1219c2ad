"""PostgreSQL: psycopg2 (libpq) by default."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from backend.connectors.base import functionality
from backend.connectors.sql import Driver, LoginModel, SQLConnector
from backend.core import ReachedAddress, RunContext
from backend.core.rules import ErrorFacts, ErrorRule, classify
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure
from backend.hooks import kerberos, tls
from backend.spec.fields import SECRET
from backend.spec.formfacts import URIFacts

if TYPE_CHECKING:
    from sqlalchemy.engine import URL  # imported where used: the registry loads without SQLAlchemy


class CreatePostgreSQLConnector(LoginModel):
    connector_type: Literal["PostgreSQLConnector"] = Field(title="Connector Type")
    host: str = Field(min_length=1, title="Host")
    database: str = Field(min_length=1, title="Database")
    username: str = Field(min_length=1, title="Username")
    password: Annotated[str, SECRET] = Field(title="Password", repr=False)
    schema_name: str | None = Field(default=None, title="Schema Name")
    port: int | None = Field(default=5432, ge=1, le=65535, title="Port")
    protocol: str | None = Field(default="postgresql+psycopg2", title="Protocol")
    include_views: bool | None = Field(default=False, title="Include Views")


_AUTH = {"password": "The server refused this user name and password.", "username": "Check the user name too."}
_BAD_CLIENT_CERT = {f"{tls.FIELD}.cert": "The server did not accept this client certificate."}

# Errors of the test query carry their SQLSTATE (``pgcode``); a failed login does not: psycopg2
# gives connection errors no SQLSTATE (there is no PGresult), so for those the message is the
# last resort the rules allow. The server's primary messages are fixed by its source
# (src/backend/libpq/auth.c, src/backend/utils/init/postinit.c); libpq's own client-side messages
# come from src/interfaces/libpq/fe-connect.c, fe-secure-openssl.c and fe-gssapi-common.c;
# OpenSSL's from X509_verify_cert_error_string and its alert names. The suite's servers run with
# lc_messages=C, the default of a server initialised in C. A SQLSTATE is given where it names one
# meaning (28000 covers several refusals, told apart by their text). Order matters: first match wins.
_RULES: tuple[ErrorRule, ...] = (
    # the test query
    ErrorRule(Code.SCHEMA_NOT_FOUND, {"schema_name": "No schema of this name in the database."}, sqlstate="3F000", stage="query"),
    ErrorRule(Code.PERMISSION_DENIED, {"schema_name": "This user may not use this schema."}, sqlstate="42501", stage="query"),
    ErrorRule(Code.CONNECTION_TIMEOUT, sqlstate="57014", stage="query"),  # query_canceled: statement_timeout
    # the login
    ErrorRule(Code.AUTHENTICATION_FAILED, _AUTH, sqlstate="28P01", pattern="password authentication failed"),
    ErrorRule(Code.AUTHENTICATION_FAILED, {"password": "The server asks for a password."}, pattern="no password supplied"),
    # auth.c: a "cert" line, or clientcert=verify-*, and no (trusted) client certificate
    ErrorRule(Code.AUTHENTICATION_FAILED, pattern="connection requires a valid client certificate",
              fields={f"{tls.FIELD}.cert": "The server requires a client certificate signed by a CA it trusts: give cert and key."}),
    ErrorRule(Code.AUTHENTICATION_FAILED, pattern="certificate authentication failed for user",
              fields={f"{tls.FIELD}.cert": "The certificate's common name (CN) does not match the user name (or the server's user map).",
                      "username": "The user name must match the client certificate's CN."}),
    ErrorRule(Code.KERBEROS_FAILED, pattern="gssapi authentication failed for user",
              fields={"username": "The server did not accept the principal for this user: the user name must match the principal "
                                  "(without realm) or the server's user map.",
                      "hooks_params.Kerberos.principal": "The server did not map this principal to the user name."}),
    ErrorRule(Code.AUTHENTICATION_FAILED, {"username": "No such user on this server."}, pattern='role "'),
    ErrorRule(Code.PERMISSION_DENIED, {"username": "This user may not log in."}, pattern="is not permitted to log in"),
    ErrorRule(Code.PERMISSION_DENIED, {"database": "This user has no CONNECT privilege on this database."},
              pattern="permission denied for database"),
    ErrorRule(Code.PERMISSION_DENIED, pattern=r"no pg_hba\.conf entry",
              fields={"username": "The server's pg_hba.conf does not let this user in from the wizard's address."}),
    ErrorRule(Code.PERMISSION_DENIED, pattern=r"pg_hba\.conf rejects connection",
              fields={"username": "The server's pg_hba.conf rejects this user from the wizard's address."}),
    ErrorRule(Code.TLS_NOT_SUPPORTED, pattern="server does not support ssl",
              fields={tls.MODE_FIELD: "The server offers no TLS: lower ssl_mode, or enable TLS on the server."}),
    ErrorRule(Code.TLS_CERTIFICATE_INVALID, {"host": "The server's certificate does not name this host: use a name the certificate has."},
              pattern="does not match host name"),
    ErrorRule(Code.TLS_CERTIFICATE_INVALID, {f"{tls.FIELD}.ca": "The server's certificate is not signed by this CA (or has expired)."},
              pattern="certificate verify failed"),
    # the server refused the client's certificate during the handshake (OpenSSL alert names)
    ErrorRule(Code.TLS_HANDSHAKE_FAILED, {f"{tls.FIELD}.cert": "The server does not trust the CA that signed this client certificate."},
              pattern="alert unknown ca"),
    ErrorRule(Code.TLS_HANDSHAKE_FAILED, _BAD_CLIENT_CERT, pattern="alert bad certificate"),
    ErrorRule(Code.TLS_HANDSHAKE_FAILED, _BAD_CLIENT_CERT, pattern="alert certificate"),
    ErrorRule(Code.DATABASE_NOT_FOUND, {"database": "No database of this name on the server."}, sqlstate="3D000",
              pattern="does not exist"),
    ErrorRule(Code.KERBEROS_FAILED, {"hooks_params.Kerberos.principal": "Kerberos login failed."}, pattern="gssapi"),
    ErrorRule(Code.TLS_HANDSHAKE_FAILED, pattern="certificate"),
    ErrorRule(Code.TLS_HANDSHAKE_FAILED, pattern="ssl"),
    ErrorRule(Code.PORT_CLOSED, {"port": "Nothing is listening on this port."}, pattern="connection refused"),
    ErrorRule(Code.CONNECTION_TIMEOUT, pattern="timeout expired"),
    ErrorRule(Code.HOST_NOT_FOUND, {"host": "Host name not found."}, pattern="could not translate host name"),
    ErrorRule(Code.UNEXPECTED_ERROR, {"port": "This port does not answer like PostgreSQL."}, pattern="received invalid response"),
    ErrorRule(Code.UNEXPECTED_ERROR, pattern="server closed the connection unexpectedly"),
    ErrorRule(Code.UNEXPECTED_ERROR, sqlstate="53300", pattern="too many connections"),
    ErrorRule(Code.UNEXPECTED_ERROR, sqlstate="57P03", pattern="the database system is"),
)


class PostgreSQL(SQLConnector[CreatePostgreSQLConnector]):
    type_name = "PostgreSQLConnector"
    label = "PostgreSQL"
    product = "PostgreSQL"
    position = 4
    model = CreatePostgreSQLConnector
    example = {"connector_type": "PostgreSQLConnector",
               "host": "db.example.com", "port": 5432, "database": "sales", "username": "etl", "password": "example-password"}
    # Form facts (GET …/forms/, backend.spec.uri): libpq URIs, https://www.postgresql.org/docs/current/libpq-connect.html
    uri = URIFacts(schemes=("postgresql", "postgres", "pgsql", "jdbc:postgresql"),
                   example="postgresql://etl@db.example.com:5432/sales",
                   spellings=("jdbc:postgresql://db.example.com:5432/sales?user=etl",))
    hooks = frozenset({"SSHTunnel", "SSL", "Kerberos"})
    # https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-SSLMODE
    ssl_modes = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
    protocols = {
        "postgresql+psycopg2": Driver("psycopg2", "psycopg2-binary"),
        "postgresql+psycopg": Driver("psycopg", "psycopg"),
        "postgresql+pg8000": Driver("pg8000", "pg8000"),
    }

    # --- parameters: the SSL and Kerberos hooks ------------------------------------------------

    def check_parameters(self, params: CreatePostgreSQLConnector, ctx: RunContext) -> None:
        super().check_parameters(params, ctx)
        hooks = params.hooks_params
        found = tls.prepare(hooks.SSL if hooks else None, ctx, self.ssl_words())
        login = kerberos.prepare(hooks.Kerberos if hooks else None, ctx)
        module = self.protocols[params.protocol or "postgresql+psycopg2"].module
        if found is not None and module not in _LIBPQ_DRIVERS:
            raise Failure(Code.INVALID_PARAMETERS, "The SSL/TLS settings are applied with the libpq drivers only.",
                          fields={"hooks_params.SSL": "Use the protocol postgresql+psycopg2 for SSL/TLS settings."})
        if login is not None and module != "psycopg2":
            raise Failure(Code.INVALID_PARAMETERS, "Kerberos logins use the libpq driver psycopg2.",
                          fields={"hooks_params.Kerberos": "Use the protocol postgresql+psycopg2 for Kerberos."})
        mode = _sslmode(found)
        if mode == "verify-ca" and (found is None or found.ca is None):
            raise Failure(Code.INVALID_PARAMETERS, "verify-ca checks the server's certificate against a CA you give.",
                          fields={f"{tls.FIELD}.ca": "Give the CA certificate (ca or ca_filename) for verify-ca."})
        if mode == "verify-full" and (found is None or found.ca is None) and tls.system_ca_file() is None:
            raise Failure(Code.INVALID_PARAMETERS, "This machine has no CA bundle to verify the server with.",
                          fields={f"{tls.FIELD}.ca": "Give the CA certificate (ca or ca_filename)."})

    # --- the connection ---------------------------------------------------------------------

    def url(self, params: CreatePostgreSQLConnector, endpoint: ReachedAddress) -> URL:
        # libpq connects to ``hostaddr`` (the address the policy checked, or the SSH tunnel's
        # local end) and verifies the TLS certificate, and names the Kerberos service, with
        # ``host``: the name the user typed (libpq-connect.html#LIBPQ-PARAMKEYWORDS, hostaddr).
        return super().url(params, endpoint).set(host=endpoint.host)

    def connect_args(self, params: CreatePostgreSQLConnector, endpoint: ReachedAddress, ctx: RunContext) -> dict[str, Any]:
        remaining = ctx.deadline.remaining()
        found = tls.material(ctx)
        login = kerberos.login_of(ctx)
        mode = _sslmode(found)
        if found is not None and found.ca is not None:
            rootcert = str(found.ca)
        elif mode == "verify-full":
            # The bundled OpenSSL of psycopg2-binary knows no system CA paths ("sslrootcert=system"
            # would find nothing): give it the system bundle Python's OpenSSL uses.
            rootcert = str(tls.system_ca_file())
        else:
            rootcert = tls.missing_path(ctx, "root.crt")
        args: dict[str, Any] = {
            "hostaddr": endpoint.address,
            # libpq counts whole seconds, 2 at least (libpq-connect.html#LIBPQ-CONNECT-CONNECT-TIMEOUT)
            "connect_timeout": max(2, math.ceil(remaining)),
            "application_name": "connection-wizard",
            # Never fall back on the wizard's own ~/.pgpass, ~/.postgresql/root.crt, root.crl,
            # postgresql.crt/.key: each names a file that does not exist unless the request gave it.
            "passfile": tls.missing_path(ctx, "pgpass"),
            "sslmode": mode,
            "sslrootcert": rootcert,
            "sslcrl": tls.missing_path(ctx, "root.crl"),
            "sslcert": str(found.cert) if found and found.cert else tls.missing_path(ctx, "client.crt"),
            "sslkey": str(found.key) if found and found.key else tls.missing_path(ctx, "client.key"),
            # GSSAPI encryption only for a Kerberos login that did not ask for TLS (it replaces TLS).
            "gssencmode": "prefer" if login is not None and mode in ("disable", "allow", "prefer") else "disable",
            "options": f"-c statement_timeout={max(1, int(remaining * 1000))}",
        }
        if login is not None:
            args["krbsrvname"] = "postgres"  # the server's krb_srvname default
        return args

    def connect(self, params: CreatePostgreSQLConnector, endpoint: ReachedAddress, ctx: RunContext) -> Any:
        dialect, cargs, cparams = self.driver_call(params, endpoint, ctx)
        login = kerberos.login_of(ctx)
        if login is None:
            if self.protocols[params.protocol or "postgresql+psycopg2"].module not in _LIBPQ_DRIVERS:
                return dialect.connect(*cargs, **cparams)
            return _open(tuple(cargs), dict(cparams))[0]
        return kerberos.open_session(
            login,
            ctx.deadline,
            _open,
            (tuple(cargs), dict(cparams), True),
            target=f"{cparams['krbsrvname']}@{endpoint.host}",
            what=f"{endpoint.host}:{endpoint.port}",
            preload=("psycopg2", "backend.connectors.postgresql"),
        )

    def tls_state(self, conn: Any) -> dict[str, Any]:
        if isinstance(conn, kerberos.RemoteSession):
            return dict(conn.facts["tls"])
        return _tls_state(conn)

    def inspect(self, conn: Any, params: CreatePostgreSQLConnector) -> dict[str, Any]:
        if isinstance(conn, kerberos.RemoteSession):
            return dict(conn.call(_remote_inspect, params))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version'), current_user, current_database(), current_schema()")
            version, user, database, schema = cur.fetchone()
            if params.schema_name:
                cur.execute("SELECT has_schema_privilege(oid, 'USAGE') FROM pg_namespace WHERE nspname = %s",
                            (params.schema_name,))
                row = cur.fetchone()
                if row is None:
                    raise Failure(Code.SCHEMA_NOT_FOUND, f"The database '{database}' has no schema '{params.schema_name}'.",
                                  fields={"schema_name": "No schema of this name in the database."}, stage="query")
                if not row[0]:
                    raise Failure(Code.PERMISSION_DENIED, f"'{user}' has no USAGE privilege on schema '{params.schema_name}'.",
                                  fields={"schema_name": "This user may not use this schema."}, stage="query")
                schema = params.schema_name
            # The password's expiry (VALID UNTIL), readable by every role in pg_roles; none or infinity: left out.
            cur.execute("SELECT to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM pg_roles "
                        "WHERE rolname = current_user AND rolvaliduntil IS NOT NULL AND rolvaliduntil <> 'infinity'")
            valid_until = cur.fetchone()
        found = {"product": "PostgreSQL", "version": version, "user": user, "database": database, "schema": schema}
        if valid_until is not None:
            found["password_expires_at"] = valid_until[0]
        return found

    def classify(self, exc: BaseException, params: CreatePostgreSQLConnector, endpoint: ReachedAddress) -> Failure:
        return _classify(exc, tls.blame_map(params))

    functionalities = (
        functionality(
            "HIGH_PERFORMANCE_WRITING",
            "ADDITIVE",
            "PARTIAL",
            "Bulk loads run fastest with indexes, foreign keys and triggers out of the way and put back "
            "afterwards [populate]. Limits: PostgreSQL cannot switch an index off, so indexes are dropped "
            "and rebuilt, and an index that backs a primary key or unique constraint goes only with its "
            "constraint [ddl]. User triggers can be disabled by the table owner, but disabling ALL triggers "
            "(which includes the foreign-key triggers) needs a superuser [alter]. TRUNCATE of a table that "
            "another table references by a foreign key needs CASCADE or the key removed first [truncate]. "
            "Identity columns GENERATED ALWAYS take explicit values only with OVERRIDING SYSTEM VALUE [insert].",
            {
                "IDENTITY_WRITING": [],
                "DATA_TRUNCATION": ["FOREIGN_KEY_MANAGEMENT"],
                "FOREIGN_KEY_MANAGEMENT": [],
                "UNIQUE_CONSTRAINT_MANAGEMENT": ["FOREIGN_KEY_MANAGEMENT"],
                "INDEX_MANAGEMENT": ["UNIQUE_CONSTRAINT_MANAGEMENT"],
                "TRIGGER_MANAGEMENT": [],
                "SCHEMA_MANAGEMENT": [],
            },
        ),
        functionality(
            "IDEMPOTENT_WRITING",
            "PREVENTIVE",
            "FULL",
            "Running the same write twice leaves the same data: target tables are emptied first (DELETE, or "
            "TRUNCATE once referencing foreign keys are handled [truncate]), identity values are written as "
            "given so keys stay the same on every run [insert], and tables can be dropped and created again "
            "inside one transaction, since PostgreSQL DDL is transactional.",
            {
                "DATA_DELETION": [],
                "DATA_TRUNCATION": ["FOREIGN_KEY_MANAGEMENT"],
                "FOREIGN_KEY_MANAGEMENT": [],
                "IDENTITY_WRITING": [],
                "SCHEMA_MANAGEMENT": [],
            },
        ),
    )



_LIBPQ_DRIVERS = ("psycopg2", "psycopg")


def _sslmode(found: tls.TLSMaterial | None) -> str:
    """The libpq sslmode: as asked; verify-full when only a CA was given; libpq's default prefer otherwise."""
    return tls.chosen_mode(found, with_ca="verify-full", default="prefer")


def _classify(exc: BaseException, blame: dict[str, str] | None = None) -> Failure:
    return classify(ErrorFacts.of(exc, sqlstate=getattr(exc, "pgcode", None)), _RULES, blame=blame)


def _open(cargs: tuple[Any, ...], cparams: dict[str, Any], gss: bool = False) -> tuple[Any, dict[str, Any]]:
    """Connect with psycopg2; tell TLS_REQUIRED apart from a plain pg_hba refusal. Also runs in the Kerberos worker.

    A refusal "no pg_hba.conf entry … no encryption" (or "pg_hba.conf rejects connection … no
    encryption") only says the unencrypted attempt matched no line. Whether a ``hostssl`` line
    would admit the user is asked honestly: a second attempt with sslmode=require. If that one gets
    past pg_hba.conf, the verdict is TLS_REQUIRED; if pg_hba.conf refuses it too, or the server has
    no TLS, the first refusal stands (PERMISSION_DENIED).
    """
    import psycopg2

    try:
        conn = psycopg2.connect(*cargs, **cparams)
    except psycopg2.OperationalError as exc:
        lowered = str(exc).lower()
        refused = "no pg_hba.conf entry" in lowered or "pg_hba.conf rejects connection" in lowered
        if refused and "no encryption" in lowered and cparams.get("sslmode") in ("disable", "allow", "prefer"):
            verdict = _probe_with_tls(cargs, cparams)
            if verdict is not None:
                raise verdict from None
        raise
    facts = {"tls": _tls_state(conn, gss=gss)} if gss else {}
    return conn, facts


def _probe_with_tls(cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Failure | None:
    import psycopg2

    probe = {**cparams, "sslmode": "require", "gssencmode": "disable"}
    try:
        psycopg2.connect(*cargs, **probe).close()
    except psycopg2.OperationalError as exc:
        second = _classify(exc)
        lowered = str(exc).lower()
        if second.code in (Code.TLS_CERTIFICATE_INVALID, Code.TLS_HANDSHAKE_FAILED):
            return second
        if "pg_hba.conf" in lowered or second.code == Code.TLS_NOT_SUPPORTED:
            return None
    return Failure(
        Code.TLS_REQUIRED,
        "The server admits this user only over an encrypted connection (a hostssl line in pg_hba.conf).",
        fields={tls.MODE_FIELD: "Use 'require' or stricter (verify-full with the server's CA is best)."},
        stage="tls",
    )


def _tls_state(conn: Any, gss: bool = False) -> dict[str, Any]:
    """What libpq negotiated. libpq verifies the server's chain whenever a root certificate file is
    loaded, in every sslmode (fe-secure-openssl.c, initialize_SSL: SSL_VERIFY_PEER when have_rootcert),
    and the host name only in verify-full (libpq-ssl.html#LIBPQ-SSL-PROTECTION)."""
    info = conn.info
    if not info.ssl_in_use:
        if gss:
            with conn.cursor() as cur:
                cur.execute("SELECT encrypted FROM pg_stat_gssapi WHERE pid = pg_backend_pid()")
                row = cur.fetchone()
            conn.rollback()
            if row and row[0]:
                return tls.state(True, version="GSSAPI encryption", verified=None, mechanism="gssapi")
        return tls.state(False)
    dsn = info.dsn_parameters
    mode = dsn.get("sslmode", "prefer")
    rootcert = dsn.get("sslrootcert") or ""
    chain = mode in ("verify-ca", "verify-full") or (bool(rootcert) and os.path.isfile(rootcert))
    from backend.monitor.peercert import libpq_not_after

    not_after = libpq_not_after(conn)  # the handshake's certificate: payload.server.expires (backend/monitor)
    return tls.state(
        True,
        version=info.ssl_attribute("protocol"),
        cipher=info.ssl_attribute("cipher"),
        verified=chain,
        hostname_verified=mode == "verify-full",
        **({"not_after": not_after} if not_after else {}),
    )


def _remote_inspect(conn: Any, params: CreatePostgreSQLConnector) -> dict[str, Any]:
    """The test query in the Kerberos worker, plus the principal the server authenticated."""
    server = CONNECTOR.inspect(conn, params)
    with conn.cursor() as cur:
        cur.execute("SELECT principal FROM pg_stat_gssapi WHERE pid = pg_backend_pid()")
        row = cur.fetchone()
    server["kerberos_principal"] = row[0] if row else None
    return server


CONNECTOR = PostgreSQL()
