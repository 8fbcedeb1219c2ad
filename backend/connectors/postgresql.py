"""PostgreSQL: psycopg2 (libpq) by default."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from backend.connectors.base import ConnectorModel, TestContext, functionality
from backend.connectors.sql import Driver, Endpoint, SQLConnector, one_line, stage_of
from backend.diagnosis import Failure
from backend.fields import SECRET
from backend.hooks import kerberos, tls
from backend.messages import Code

if TYPE_CHECKING:
    from sqlalchemy.engine import URL  # imported where used: the registry loads without SQLAlchemy


class CreatePostgreSQLConnector(ConnectorModel):
    connector_type: Literal["PostgreSQLConnector"] = Field(title="Connector Type")
    host: str = Field(min_length=1, title="Host")
    database: str = Field(min_length=1, title="Database")
    username: str = Field(min_length=1, title="Username")
    password: Annotated[str, SECRET] = Field(title="Password", repr=False)
    schema_name: str | None = Field(default=None, title="Schema Name")
    port: int | None = Field(default=5432, ge=1, le=65535, title="Port")
    protocol: str | None = Field(default="postgresql+psycopg2", title="Protocol")
    include_views: bool | None = Field(default=False, title="Include Views")


# libpq reports a failed login as text only: psycopg2 gives connection errors no SQLSTATE
# (``pgcode`` is None because there is no PGresult), so this is the last resort the rules allow.
# The server's ErrorResponse carries the SQLSTATE in the list below, and its primary message is
# fixed by the server source (src/backend/libpq/auth.c, src/backend/utils/init/postinit.c);
# libpq's own client-side messages come from src/interfaces/libpq/fe-connect.c,
# fe-secure-openssl.c and fe-gssapi-common.c; OpenSSL's from its X509_verify_cert_error_string and
# alert names. The suite's servers run with lc_messages=C, which is also the default of a server
# initialised in C. Order matters: the first fragment found wins.
SSL_FIELD = "hooks_params.SSL"
_LOGIN_ERRORS: tuple[tuple[str, Code, str | None, dict[str, str]], ...] = (
    # (message fragment, code, SQLSTATE, fields to blame)
    ("password authentication failed", Code.AUTHENTICATION_FAILED, "28P01",
     {"password": "The server refused this user name and password.", "username": "Check the user name too."}),
    ("no password supplied", Code.AUTHENTICATION_FAILED, "08004", {"password": "The server asks for a password."}),
    # auth.c: a "cert" line, or clientcert=verify-*, and no (trusted) client certificate
    ("connection requires a valid client certificate", Code.AUTHENTICATION_FAILED, "28000",
     {f"{SSL_FIELD}.cert": "The server requires a client certificate signed by a CA it trusts: give cert and key."}),
    ("certificate authentication failed for user", Code.AUTHENTICATION_FAILED, "28000",
     {f"{SSL_FIELD}.cert": "The certificate's common name (CN) does not match the user name (or the server's user map).",
      "username": "The user name must match the client certificate's CN."}),
    ("gssapi authentication failed for user", Code.KERBEROS_FAILED, "28000",
     {"username": "The server did not accept the principal for this user: the user name must match the principal "
                  "(without realm) or the server's user map.",
      "hooks_params.Kerberos.principal": "The server did not map this principal to the user name."}),
    ("role \"", Code.AUTHENTICATION_FAILED, "28000", {"username": "No such user on this server."}),
    ("is not permitted to log in", Code.PERMISSION_DENIED, "28000", {"username": "This user may not log in."}),
    ("permission denied for database", Code.PERMISSION_DENIED, "42501",
     {"database": "This user has no CONNECT privilege on this database."}),
    ("no pg_hba.conf entry", Code.PERMISSION_DENIED, "28000",
     {"username": "The server's pg_hba.conf does not let this user in from the wizard's address."}),
    ("pg_hba.conf rejects connection", Code.PERMISSION_DENIED, "28000",
     {"username": "The server's pg_hba.conf rejects this user from the wizard's address."}),
    ("server does not support ssl", Code.TLS_NOT_SUPPORTED, None,
     {f"{SSL_FIELD}.ssl_mode": "The server offers no TLS: lower ssl_mode, or enable TLS on the server."}),
    ("does not match host name", Code.TLS_CERTIFICATE_INVALID, None,
     {"host": "The server's certificate does not name this host: use a name the certificate has."}),
    ("certificate verify failed", Code.TLS_CERTIFICATE_INVALID, None,
     {f"{SSL_FIELD}.ca": "The server's certificate is not signed by this CA (or has expired)."}),
    # the server refused the client's certificate during the handshake (OpenSSL alert names)
    ("alert unknown ca", Code.TLS_HANDSHAKE_FAILED, None,
     {f"{SSL_FIELD}.cert": "The server does not trust the CA that signed this client certificate."}),
    ("alert bad certificate", Code.TLS_HANDSHAKE_FAILED, None,
     {f"{SSL_FIELD}.cert": "The server did not accept this client certificate."}),
    ("alert certificate", Code.TLS_HANDSHAKE_FAILED, None,
     {f"{SSL_FIELD}.cert": "The server did not accept this client certificate."}),
    ("does not exist", Code.DATABASE_NOT_FOUND, "3D000", {"database": "No database of this name on the server."}),
    ("gssapi", Code.KERBEROS_FAILED, None, {"hooks_params.Kerberos.principal": "Kerberos login failed."}),
    ("certificate", Code.TLS_HANDSHAKE_FAILED, None, {}),
    ("ssl", Code.TLS_HANDSHAKE_FAILED, None, {}),
    ("connection refused", Code.PORT_CLOSED, None, {"port": "Nothing is listening on this port."}),
    ("timeout expired", Code.CONNECTION_TIMEOUT, None, {}),
    ("could not translate host name", Code.HOST_NOT_FOUND, None, {"host": "Host name not found."}),
    ("received invalid response", Code.UNEXPECTED_ERROR, None, {"port": "This port does not answer like PostgreSQL."}),
    ("server closed the connection unexpectedly", Code.UNEXPECTED_ERROR, None, {}),
    ("too many connections", Code.UNEXPECTED_ERROR, "53300", {}),
    ("the database system is", Code.UNEXPECTED_ERROR, "57P03", {}),
)

# SQLSTATEs of errors raised by the test query, which do carry ``pgcode``.
_QUERY_ERRORS: dict[str, tuple[Code, dict[str, str]]] = {
    "3F000": (Code.SCHEMA_NOT_FOUND, {"schema_name": "No schema of this name in the database."}),
    "42501": (Code.PERMISSION_DENIED, {"schema_name": "This user may not use this schema."}),
    "57014": (Code.CONNECTION_TIMEOUT, {}),
}


class PostgreSQL(SQLConnector):
    type_name = "PostgreSQLConnector"
    label = "PostgreSQL"
    product = "PostgreSQL"
    position = 4
    model = CreatePostgreSQLConnector
    default_port = 5432
    hooks = frozenset({"SSHTunnel", "SSL", "Kerberos"})
    # https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-SSLMODE
    ssl_modes = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
    protocols = {
        "postgresql+psycopg2": Driver("psycopg2", "psycopg2-binary"),
        "postgresql+psycopg": Driver("psycopg", "psycopg"),
        "postgresql+pg8000": Driver("pg8000", "pg8000"),
    }

    # --- parameters: the SSL and Kerberos hooks ------------------------------------------------

    def check_parameters(self, params: Any, ctx: TestContext) -> None:
        super().check_parameters(params, ctx)
        hooks = params.hooks_params
        found = tls.prepare(hooks.SSL if hooks else None, ctx, self.ssl_modes)
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
                          fields={f"{SSL_FIELD}.ca": "Give the CA certificate (ca or ca_filename) for verify-ca."})
        if mode == "verify-full" and (found is None or found.ca is None) and tls.system_ca_file() is None:
            raise Failure(Code.INVALID_PARAMETERS, "This machine has no CA bundle to verify the server with.",
                          fields={f"{SSL_FIELD}.ca": "Give the CA certificate (ca or ca_filename)."})

    # --- the connection ---------------------------------------------------------------------

    def url(self, params: Any, endpoint: Endpoint) -> URL:
        # libpq connects to ``hostaddr`` (the address the policy checked, or the SSH tunnel's
        # local end) and verifies the TLS certificate, and names the Kerberos service, with
        # ``host``: the name the user typed (libpq-connect.html#LIBPQ-PARAMKEYWORDS, hostaddr).
        return super().url(params, endpoint).set(host=endpoint.host)

    def connect_args(self, params: Any, endpoint: Endpoint, ctx: TestContext) -> dict[str, Any]:
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

    def connect(self, params: Any, endpoint: Endpoint, ctx: TestContext) -> Any:
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

    def inspect(self, conn: Any, params: Any) -> dict[str, Any]:
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
        return {"product": "PostgreSQL", "version": version, "user": user, "database": database, "schema": schema}

    def classify(self, exc: BaseException, params: Any, endpoint: Endpoint) -> Failure:
        return _classify(exc, _ssl_fields(params))

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


def _ssl_fields(params: Any) -> dict[str, str]:
    """The request fields that gave the CA and the client certificate (inline or file), to blame them."""
    hook = params.hooks_params.SSL if params.hooks_params else None
    fields = {}
    for item in ("ca", "cert"):
        named = hook is not None and bool(getattr(hook, f"{item}_filename", None))
        fields[item] = f"{SSL_FIELD}.{item}_filename" if named else f"{SSL_FIELD}.{item}"
    return fields


def _classify(exc: BaseException, blame: dict[str, str] | None = None) -> Failure:
    pgcode = getattr(exc, "pgcode", None)
    text = str(exc).strip()
    if pgcode in _QUERY_ERRORS:
        code, fields = _QUERY_ERRORS[pgcode]
        return Failure(code, text, fields=fields, stage="query")
    lowered = text.lower()
    for fragment, code, _sqlstate, fields in _LOGIN_ERRORS:
        if fragment in lowered:
            if blame:
                fields = {_rename(k, blame): v for k, v in fields.items()}
            return Failure(code, one_line(text), fields=fields, stage=stage_of(code))
    return Failure(Code.UNEXPECTED_ERROR, one_line(text) or type(exc).__name__, stage="authentication")


def _rename(field_name: str, blame: dict[str, str]) -> str:
    for item, actual in blame.items():
        if field_name == f"{SSL_FIELD}.{item}":
            return actual
    return field_name


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
        fields={f"{SSL_FIELD}.ssl_mode": "Use 'require' or stricter (verify-full with the server's CA is best)."},
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
    return tls.state(
        True,
        version=info.ssl_attribute("protocol"),
        cipher=info.ssl_attribute("cipher"),
        verified=chain,
        hostname_verified=mode == "verify-full",
    )


def _remote_inspect(conn: Any, params: Any) -> dict[str, Any]:
    """The test query in the Kerberos worker, plus the principal the server authenticated."""
    server = CONNECTOR.inspect(conn, params)
    with conn.cursor() as cur:
        cur.execute("SELECT principal FROM pg_stat_gssapi WHERE pid = pg_backend_pid()")
        row = cur.fetchone()
    server["kerberos_principal"] = row[0] if row else None
    return server


CONNECTOR = PostgreSQL()
