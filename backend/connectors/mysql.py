"""MySQL and MariaDB: mysqlclient (``mysql+mysqldb``, the spec's default) or PyMySQL."""

from __future__ import annotations

import errno
import math
import re
from typing import Annotated, Any, Literal

from pydantic import Field

from backend.connectors.base import ConnectorModel, TestContext, functionality
from backend.connectors.sql import Driver, Endpoint, SQLConnector, one_line, stage_of
from backend.diagnosis import Failure
from backend.fields import SECRET
from backend.messages import Code


class CreateMySQLMariaDBConnector(ConnectorModel):
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
_ERRORS: dict[int, tuple[Code, dict[str, str]]] = {
    1045: (Code.AUTHENTICATION_FAILED,  # ER_ACCESS_DENIED_ERROR
           {"password": "The server refused this user name and password.", "username": "Check the user name too."}),
    1698: (Code.AUTHENTICATION_FAILED, {"username": "This user may not log in with a password."}),  # ER_ACCESS_DENIED_NO_PASSWORD_ERROR
    1251: (Code.AUTHENTICATION_FAILED, {"protocol": "The server's authentication method needs a newer driver."}),
    2059: (Code.AUTHENTICATION_FAILED, {"protocol": "The server's authentication plugin is not available to this driver."}),
    1044: (Code.PERMISSION_DENIED,  # ER_DBACCESS_DENIED_ERROR: also what a user without rights sees for a missing database
           {"database": "This user may not use this database, or it does not exist."}),
    1049: (Code.DATABASE_NOT_FOUND, {"database": "No database of this name on the server."}),  # ER_BAD_DB_ERROR
    1130: (Code.PERMISSION_DENIED,  # ER_HOST_NOT_PRIVILEGED
           {"username": "This user may not connect from the wizard's address."}),
    1129: (Code.PERMISSION_DENIED, {"host": "The server blocked the wizard's address after too many errors."}),
    1040: (Code.UNEXPECTED_ERROR, {}),  # ER_CON_COUNT_ERROR: too many connections
    3159: (Code.TLS_REQUIRED,  # ER_SECURE_TRANSPORT_REQUIRED (MySQL 8)
           {"hooks_params.SSL.ssl_mode": "The server accepts only encrypted connections."}),
    2005: (Code.HOST_NOT_FOUND, {"host": "Host name not found."}),  # CR_UNKNOWN_HOST
    2026: (Code.TLS_HANDSHAKE_FAILED, {}),  # CR_SSL_CONNECTION_ERROR
    2013: (Code.CONNECTION_TIMEOUT, {}),  # CR_SERVER_LOST during the handshake
    2006: (Code.UNEXPECTED_ERROR, {}),  # CR_SERVER_GONE_ERROR
    2012: (Code.UNEXPECTED_ERROR, {"port": "This port does not answer like MySQL or MariaDB."}),  # CR_SERVER_HANDSHAKE_ERR
}


class MySQLMariaDB(SQLConnector):
    type_name = "MySQLMariaDBConnector"
    label = "MySQL / MariaDB"
    product = "MySQL"
    position = 2
    model = CreateMySQLMariaDBConnector
    default_port = 3306
    hooks = frozenset({"SSHTunnel", "SSL"})
    hook_notes = {
        "Kerberos": "MySQL and MariaDB drivers here have no Kerberos (GSSAPI) login; use a password or a client certificate."
    }
    # MySQL --ssl-mode (https://dev.mysql.com/doc/refman/8.0/en/connection-options.html#option_general_ssl-mode)
    ssl_modes = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
    protocols = {
        "mysql+mysqldb": Driver("MySQLdb", "mysqlclient"),
        "mysql+pymysql": Driver("pymysql", "PyMySQL"),
        "mariadb+mariadbconnector": Driver("mariadb", "mariadb"),
        "mysql+mysqlconnector": Driver("mysql.connector", "mysql-connector-python"),
    }

    def connect_args(self, params: Any, endpoint: Endpoint, ctx: TestContext) -> dict[str, Any]:
        seconds = max(1, math.ceil(ctx.deadline.remaining()))
        # connect_timeout alone does not bound a server that accepts and never speaks:
        # the handshake read needs read_timeout too (PyMySQL and mysqlclient alike).
        args: dict[str, Any] = {"connect_timeout": seconds, "read_timeout": seconds, "write_timeout": seconds}
        driver = self._driver(params)
        if driver in ("MySQLdb", "pymysql"):
            args["local_infile"] = False  # a server could otherwise read the wizard's files
        return args

    def _driver(self, params: Any) -> str:
        return self.protocols[params.protocol or "mysql+mysqldb"].module

    def tls_state(self, conn: Any) -> dict[str, Any]:
        cur = conn.cursor()
        try:
            cur.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")
            status = {str(k): str(v) for k, v in cur.fetchall()}
        finally:
            cur.close()
        if not status.get("Ssl_version"):
            return {"enabled": False}
        return {"enabled": True, "version": status["Ssl_version"], "cipher": status.get("Ssl_cipher"), "verified": False}

    def inspect(self, conn: Any, params: Any) -> dict[str, Any]:
        cur = conn.cursor()
        try:
            cur.execute("SELECT VERSION(), CURRENT_USER(), DATABASE()")
            version, user, database = cur.fetchone()
        finally:
            cur.close()
        version = str(version)
        product = "MariaDB" if "mariadb" in version.lower() else "MySQL"
        return {"product": product, "version": version.split("-")[0], "user": str(user), "database": database}

    def classify(self, exc: BaseException, params: Any, endpoint: Endpoint) -> Failure:
        number = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = one_line(str(exc.args[1]) if len(exc.args) > 1 else str(exc))
        if number == 2003:  # CR_CONN_HOST_ERROR: the OS error number is in the message
            os_errno = _os_errno(text)
            if os_errno == errno.ECONNREFUSED:
                return Failure(Code.PORT_CLOSED, text, fields={"port": "Nothing is listening on this port."}, stage="tcp")
            return Failure(Code.CONNECTION_TIMEOUT, text, stage="tls")
        if number in _ERRORS:
            code, fields = _ERRORS[number]
            if number == 2026 and ("certificate" in text.lower() or "verify" in text.lower()):
                code, fields = Code.TLS_CERTIFICATE_INVALID, {"hooks_params.SSL.ca": "The server's certificate is not trusted."}
            return Failure(code, text, fields=fields, stage=stage_of(code))
        if isinstance(exc, TimeoutError):
            return Failure(Code.CONNECTION_TIMEOUT, text, stage="tls")
        return Failure(Code.UNEXPECTED_ERROR, text or type(exc).__name__, stage="authentication")

    # Every claim below is from the MySQL 8.0 / MariaDB documentation:
    # [bulk]     https://dev.mysql.com/doc/refman/8.0/en/optimizing-innodb-bulk-data-loading.html
    # [truncate] https://dev.mysql.com/doc/refman/8.0/en/truncate-table.html
    # [fk]       https://dev.mysql.com/doc/refman/8.0/en/create-table-foreign-keys.html (foreign_key_checks)
    # [alter]    https://dev.mysql.com/doc/refman/8.0/en/alter-table.html (DISABLE KEYS: MyISAM only)
    # [trigger]  https://dev.mysql.com/doc/refman/8.0/en/triggers.html; https://mariadb.com/kb/en/triggers/
    # [autoinc]  https://dev.mysql.com/doc/refman/8.0/en/example-auto-increment.html
    # [commit]   https://dev.mysql.com/doc/refman/8.0/en/implicit-commit.html
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


CONNECTOR = MySQLMariaDB()
