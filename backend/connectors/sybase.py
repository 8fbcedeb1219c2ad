"""Sybase (SAP) ASE: pyodbc over FreeTDS, speaking TDS 5.0.

The TDS machinery (ODBC driver lookup, the relay that bounds every wait, the FreeTDS config
sections, the classification of TDS errors) is shared with SQL Server in ``connectors/_tds/``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from backend.connectors._tds.connector import TDSConnector, TDSModel
from backend.connectors._tds.odbc import OdbcProtocolDriver
from backend.connectors.base import functionality
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure
from backend.spec.fields import SECRET
from backend.spec.formfacts import URIFacts


class CreateSybaseConnector(TDSModel):
    connector_type: Literal["SybaseConnector"] = Field(title="Connector Type")
    host: str = Field(min_length=1, title="Host")
    database: str = Field(min_length=1, title="Database")
    username: str = Field(min_length=1, title="Username")
    password: Annotated[str, SECRET] = Field(title="Password", repr=False)
    schema_name: str | None = Field(default=None, title="Schema Name")
    port: int | None = Field(default=5000, ge=1, le=65535, title="Port")
    protocol: str | None = Field(default="sybase+pyodbc", title="Protocol")


class Sybase(TDSConnector[CreateSybaseConnector]):
    type_name = "SybaseConnector"
    label = "Sybase ASE"
    product = "Adaptive Server Enterprise"
    position = 7
    model = CreateSybaseConnector
    example = {"connector_type": "SybaseConnector",
               "host": "ase.example.com", "port": 5000, "database": "sales", "username": "etl", "password": "example-password"}
    tds_version = "5.0"
    # Form facts (GET …/forms/, backend.spec.uri): jConnect's jdbc:sybase:Tds:host:port/database.
    uri = URIFacts(schemes=("sybase", "jdbc:sybase:tds"), example="sybase://etl@ase.example.com:5000/sales",
                   spellings=("jdbc:sybase:Tds:ase.example.com:5000/sales?user=etl",))
    hooks = frozenset({"SSHTunnel"})
    hook_notes = {
        "SSL": "FreeTDS cannot open Sybase ASE's SSL (TLS) ports: ASE expects TLS from the first byte, which FreeTDS "
               "does not do for TDS 5.0. Use an SSH tunnel to protect the connection.",
        "Kerberos": "FreeTDS has no Kerberos login for Sybase ASE (TDS 5.0); use a user name and password.",
    }
    protocols = {
        # the sybase+pyodbc dialect comes from the sqlalchemy-sybase package
        "sybase+pyodbc": OdbcProtocolDriver("pyodbc", "pyodbc"),
    }

    facts_sql = "SELECT @@version, suser_name(), db_name(), user_name()"
    # In ASE a schema is the database user that owns the objects: user_id() is NULL for a
    # name that is no user of the current database (Reference Manual: Building Blocks, user_id).
    schema_sql = "SELECT user_id(?)"

    def no_schema(self, database: str, user: str, schema_name: str) -> Failure:
        return Failure(Code.SCHEMA_NOT_FOUND, f"The database '{database}' has no user (schema) '{schema_name}'.",
                       fields={"schema_name": "No user of this name owns objects in this database."}, stage="query")

    def product_version(self, version_text: str) -> tuple[str, str | None]:
        # "Adaptive Server Enterprise/16.0 SP04 PL02/EBF 29862 SMP/P/x86_64/…"
        parts = version_text.split("/")
        return parts[0].strip() or self.product, parts[1].strip() if len(parts) > 1 else None

    # Every claim below is from SAP's ASE documentation (infocenter.sybase.com):
    # [bcp]      Utility Guide 16.0, "Fast bcp" / "Slow bcp"
    #            (…/com.sybase.infocenter.dc30191.1600/doc/html/san1367605065601.html, …/san1367605065242.html)
    # [trigger]  "Bulk copy" (…/com.sybase.dc20020_1251/html/databases/X18500.htm): alter table … disable
    #            trigger during the copy, alter table … enable trigger afterwards
    # [identity] Reference Manual: Commands 16.0, inserting into IDENTITY columns
    #            (…/com.sybase.infocenter.dc36272.1600/doc/html/san1393051026775.html): set identity_insert
    #            on for one table at a time in a database
    # [ri]       Reference Manual: Commands 16.0 (…/dc36272.1600/doc/html/san1393050989102.html): referential
    #            constraints are removed with alter table … drop constraint (ASE cannot disable them)
    # [truncate] Reference Manual: Commands 16.0, truncate table: not on a table that other tables reference
    functionalities = (
        functionality(
            "HIGH_PERFORMANCE_WRITING",
            "ADDITIVE",
            "PARTIAL",
            "Bulk loads use fast bcp when the database option 'select into/bulkcopy/pllsort' is on; a unique "
            "index, or a clustered index on an allpages-locked table, makes bcp slow [bcp]. Limits: ASE cannot "
            "switch off referential constraints or indexes, so they are dropped and created again [ri]; "
            "triggers can be disabled and enabled with alter table [trigger]; TRUNCATE TABLE needs the "
            "referencing foreign keys out of the way [truncate]; explicit identity values need set "
            "identity_insert, for one table at a time [identity].",
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
            "Running the same write twice leaves the same data: target rows are deleted (or the table "
            "truncated once the referencing constraints are dropped [truncate]) and written again, and "
            "identity values are written as given with set identity_insert, so keys stay the same on every "
            "run [identity].",
            {
                "DATA_DELETION": [],
                "DATA_TRUNCATION": ["FOREIGN_KEY_MANAGEMENT"],
                "FOREIGN_KEY_MANAGEMENT": [],
                "IDENTITY_WRITING": [],
            },
        ),
    )


CONNECTOR = Sybase()
