"""Microsoft SQL Server: pyodbc over an ODBC driver (FreeTDS, or Microsoft's own), or pymssql.

The TDS machinery it shares with Sybase ASE (ODBC driver lookup, the relay that bounds every
wait, the FreeTDS configuration, the classification of TDS errors) is in ``connectors/_tds/``.

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

import re
from typing import Annotated, Literal

from pydantic import Field

from backend.connectors._tds.connector import RelayedAddress, TDSConnector, TDSModel
from backend.connectors._tds.odbc import OdbcProtocolDriver, find_odbc_driver
from backend.connectors.base import functionality
from backend.connectors.sql import Driver
from backend.core import RunContext
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure
from backend.hooks import tls
from backend.spec.fields import SECRET
from backend.spec.formfacts import URICut, URIDialect, URIFacts, URIParts


class CreateMsSQLConnector(TDSModel):
    connector_type: Literal["MsSQLConnector"] = Field(title="Connector Type")
    host: str = Field(min_length=1, title="Host")
    database: str = Field(min_length=1, title="Database")
    username: str = Field(min_length=1, title="Username")
    password: Annotated[str, SECRET] = Field(title="Password", repr=False)
    schema_name: str | None = Field(default=None, title="Schema Name")
    port: int | None = Field(default=1433, ge=1, le=65535, title="Port")
    protocol: str | None = Field(default="mssql+pyodbc", title="Protocol")
    include_views: bool | None = Field(default=False, title="Include Views")


class SQLServerURIs(URIDialect):
    """``jdbc:sqlserver://host:port;databaseName=sales;user=etl;``: ``;key=value`` settings after the host."""

    def read(self, scheme: str, rest: str, cut: URICut) -> URIParts:
        parts = cut(rest)
        parts.hostport, _, settings = parts.hostport.partition(";")
        parts.add_parameters(settings, ";")
        return parts


class MsSQL(TDSConnector[CreateMsSQLConnector]):
    type_name = "MsSQLConnector"
    label = "SQL Server"
    product = "Microsoft SQL Server"
    position = 1
    model = CreateMsSQLConnector
    example = {"connector_type": "MsSQLConnector",
               "host": "sql.example.com", "port": 1433, "database": "sales", "username": "etl", "password": "example-password"}
    tds_version = "7.4"  # SQL Server 2012 and later; older servers answer with the version they speak
    # Form facts (GET …/forms/, backend.spec.uri): jdbc:sqlserver://host:port;databaseName=sales;user=etl;
    uri = URIFacts(schemes=("mssql", "sqlserver", "jdbc:sqlserver"), example="mssql://etl@sql.example.com:1433/sales",
                   dialect=SQLServerURIs(),
                   spellings=("jdbc:sqlserver://sql.example.com:1433;databaseName=sales;user=etl",))
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
    ssl_refusals = {
        "allow": "SQL Server has no 'try without TLS first' mode.",
        "prefer": "SQL Server's nearest mode, 'optional', encrypts only the login unless the server forces encryption.",
        "verify-full": "The host name in the certificate cannot be checked here (FreeTDS checks the relay's address): "
                       "'verify-ca' checks the CA.",
    }
    protocols = {
        "mssql+pyodbc": OdbcProtocolDriver(
            "pyodbc", "pyodbc", microsoft=True,
            install_hint="the FreeTDS ODBC driver (Debian/Ubuntu: apt-get install tdsodbc unixodbc) or Microsoft's "
                         "ODBC Driver 18 for SQL Server (msodbcsql18)"),
        "mssql+pymssql": Driver("pymssql", "pymssql"),
    }

    def check_tls(self, params: CreateMsSQLConnector, ctx: RunContext) -> None:
        found = tls.prepare(params.hooks_params.SSL if params.hooks_params else None, ctx, self.ssl_words())
        if found is None:
            return
        problems: dict[str, str] = {}
        for item in ("cert", "key"):
            if getattr(found, item) is not None:
                problems[found.blame(item)] = ("SQL Server does not log in with client certificates: leave the "
                                               "client certificate and key empty.")
        mode = self.tls_mode(ctx)
        if found.ca is not None and mode != "verify-ca":
            problems[tls.MODE_FIELD] = "A CA certificate is used only with ssl_mode 'verify-ca'."
        protocol = params.protocol or "mssql+pyodbc"
        odbc = find_odbc_driver(microsoft=True) if protocol == "mssql+pyodbc" else None
        if mode == "verify-ca" and odbc is not None and not odbc.freetds and found.ca is not None:
            problems[found.blame("ca")] = ("Microsoft's ODBC driver checks certificates against the system's CAs only: "
                                           "install the CA there and leave this empty.")
        if mode == "verify-ca" and found.ca is None and tls.system_ca_file() is None:
            problems[f"{tls.FIELD}.ca"] = "This machine has no CA bundle: give the CA certificate (ca or ca_filename)."
        if problems:
            raise Failure(Code.INVALID_PARAMETERS, " ".join(dict.fromkeys(problems.values())), fields=problems,
                          stage="parameters")

    def tls_mode(self, ctx: RunContext) -> str:
        return tls.chosen_mode(tls.material(ctx), with_ca="verify-ca", default="optional")

    def odbc_attributes(self, params: CreateMsSQLConnector, endpoint: RelayedAddress) -> list[tuple[str, str]]:
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
