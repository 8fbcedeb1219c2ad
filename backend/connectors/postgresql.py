"""PostgreSQL: psycopg2 (libpq) by default."""

from __future__ import annotations

import math
import os
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy.engine import URL

from backend.connectors.base import ConnectorModel, TestContext, functionality
from backend.connectors.sql import Driver, Endpoint, SQLConnector, one_line, stage_of
from backend.diagnosis import Failure
from backend.fields import SECRET
from backend.messages import Code


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
# (``pgcode`` is None because there is no PGresult). The server's ErrorResponse carries the
# SQLSTATE in the list below, and its primary message is fixed by the server source
# (src/backend/libpq/auth.c, src/backend/utils/init/postinit.c); libpq's own client-side
# messages come from src/interfaces/libpq/fe-connect.c and fe-secure-openssl.c. The suite's
# servers run with lc_messages=C, which is also the default of a server initialised in C.
_LOGIN_ERRORS: tuple[tuple[str, Code, str | None, dict[str, str]], ...] = (
    # (message fragment, code, SQLSTATE, fields to blame)
    ("password authentication failed", Code.AUTHENTICATION_FAILED, "28P01",
     {"password": "The server refused this user name and password.", "username": "Check the user name too."}),
    ("no password supplied", Code.AUTHENTICATION_FAILED, "08004", {"password": "The server asks for a password."}),
    ("role \"", Code.AUTHENTICATION_FAILED, "28000", {"username": "No such user on this server."}),
    ("is not permitted to log in", Code.PERMISSION_DENIED, "28000", {"username": "This user may not log in."}),
    ("permission denied for database", Code.PERMISSION_DENIED, "42501",
     {"database": "This user has no CONNECT privilege on this database."}),
    ("no pg_hba.conf entry", Code.PERMISSION_DENIED, "28000",
     {"username": "The server's pg_hba.conf does not let this user in from the wizard's address."}),
    ("server does not support ssl", Code.TLS_NOT_SUPPORTED, None,
     {"hooks_params.SSL.ssl_mode": "The server offers no TLS: lower ssl_mode, or enable TLS on the server."}),
    ("certificate verify failed", Code.TLS_CERTIFICATE_INVALID, None,
     {"hooks_params.SSL.ca": "The server's certificate is not signed by this CA."}),
    ("does not match host name", Code.TLS_CERTIFICATE_INVALID, None,
     {"host": "The server's certificate does not name this host."}),
    ("root certificate file", Code.TLS_CERTIFICATE_INVALID, None,
     {"hooks_params.SSL.ca": "Give the CA certificate to verify the server with."}),
    ("does not exist", Code.DATABASE_NOT_FOUND, "3D000", {"database": "No database of this name on the server."}),
    ("certificate", Code.TLS_HANDSHAKE_FAILED, None, {}),
    ("ssl", Code.TLS_HANDSHAKE_FAILED, None, {}),
    ("gssapi", Code.KERBEROS_FAILED, None, {"hooks_params.Kerberos.principal": "Kerberos login failed."}),
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

    def url(self, params: Any, endpoint: Endpoint) -> URL:
        # libpq verifies TLS certificates (and Kerberos) against ``host`` and connects to
        # ``hostaddr``: the address the policy checked, or the tunnel's local end.
        return super().url(params, endpoint).set(host=endpoint.host if not endpoint.via_ssh else endpoint.address)

    def connect_args(self, params: Any, endpoint: Endpoint, ctx: TestContext) -> dict[str, Any]:
        remaining = ctx.deadline.remaining()
        args: dict[str, Any] = {
            "hostaddr": endpoint.address,
            # libpq counts whole seconds, 2 at least (libpq-connect.html#LIBPQ-CONNECT-CONNECT-TIMEOUT)
            "connect_timeout": max(2, math.ceil(remaining)),
            "application_name": "connection-wizard",
            # Never fall back on the wizard's own ~/.pgpass or Kerberos cache.
            "passfile": os.devnull,
            "gssencmode": "disable",
            "options": f"-c statement_timeout={max(1, int(remaining * 1000))}",
        }
        return args

    def tls_state(self, conn: Any) -> dict[str, Any]:
        info = conn.info
        if not info.ssl_in_use:
            return {"enabled": False}
        mode = info.dsn_parameters.get("sslmode", "prefer")
        return {
            "enabled": True,
            "version": info.ssl_attribute("protocol"),
            "cipher": info.ssl_attribute("cipher"),
            "verified": mode in ("verify-ca", "verify-full"),
            "hostname_verified": mode == "verify-full",
        }

    def inspect(self, conn: Any, params: Any) -> dict[str, Any]:
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
        pgcode = getattr(exc, "pgcode", None)
        text = str(exc).strip()
        if pgcode in _QUERY_ERRORS:
            code, fields = _QUERY_ERRORS[pgcode]
            return Failure(code, text, fields=fields, stage="query")
        lowered = text.lower()
        for fragment, code, _sqlstate, fields in _LOGIN_ERRORS:
            if fragment in lowered:
                if fragment == "no pg_hba.conf entry" and "no encryption" in lowered:
                    return Failure(
                        Code.TLS_REQUIRED,
                        "The server admits this user only over an encrypted connection.",
                        fields={"hooks_params.SSL.ssl_mode": "Use 'require' or stricter."},
                        stage="tls",
                    )
                return Failure(code, one_line(text), fields=fields, stage=stage_of(code))
        return Failure(Code.UNEXPECTED_ERROR, one_line(text) or type(exc).__name__, stage="authentication")

    # Every claim below is from the PostgreSQL 15 documentation:
    # [populate] https://www.postgresql.org/docs/15/populate.html (Populating a Database)
    # [truncate] https://www.postgresql.org/docs/15/sql-truncate.html
    # [alter]    https://www.postgresql.org/docs/15/sql-altertable.html
    # [insert]   https://www.postgresql.org/docs/15/sql-insert.html (OVERRIDING SYSTEM VALUE)
    # [ddl]      https://www.postgresql.org/docs/15/sql-createindex.html, ddl-constraints.html
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




CONNECTOR = PostgreSQL()
