"""Microsoft SQL Server: what this login may do in the schema, from ``fn_my_permissions``.

Not verified against a live SQL Server (the suite has none): the mapping is unit-tested on rows
shaped like ``fn_my_permissions``' documented output (entity_name, subentity_name,
permission_name: https://learn.microsoft.com/en-us/sql/relational-databases/system-functions/sys-fn-my-permissions-transact-sql),
which lists the effective permissions of the caller, roles and implied permissions included
(CONTROL implies ALTER, db_owner implies everything:
https://learn.microsoft.com/en-us/sql/relational-databases/security/permissions-database-engine).

What each capability needs, per the T-SQL reference:
- TRUNCATE TABLE: ALTER on the table (https://learn.microsoft.com/en-us/sql/t-sql/statements/truncate-table-transact-sql#permissions).
- SET IDENTITY_INSERT: ALTER on the table, or ownership (https://learn.microsoft.com/en-us/sql/t-sql/statements/set-identity-insert-transact-sql#permissions).
- CREATE/DROP INDEX, ALTER TABLE … ADD CONSTRAINT (unique, foreign key), DISABLE TRIGGER: ALTER on
  the table; a foreign key also REFERENCES on the referenced table
  (https://learn.microsoft.com/en-us/sql/t-sql/statements/alter-table-transact-sql#permissions,
  https://learn.microsoft.com/en-us/sql/t-sql/statements/disable-trigger-transact-sql#permissions).
- CREATE TABLE: CREATE TABLE in the database and ALTER on the schema; CREATE SCHEMA: CREATE SCHEMA in the database.
- BULK INSERT: INSERT and ADMINISTER BULK OPERATIONS (server; ADMINISTER DATABASE BULK OPERATIONS
  on Azure SQL Database): https://learn.microsoft.com/en-us/sql/t-sql/statements/bulk-insert-transact-sql#permissions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backend.capabilities.facts import Findings
from backend.capabilities.grants import Grants, Need, allowed_or, findings_from
from backend.capabilities.schemas import CapabilityOptions
from backend.capabilities.sqlcommon import PROBE_NOT_VERIFIED, catalog_refused, first_line, in_deadline
from backend.connectors.mssql import CreateMsSQLConnector
from backend.core import RunContext

WHO = "SELECT USER_NAME(), DB_NAME(), SCHEMA_NAME(), SCHEMA_ID(?)"
TABLE_PERMISSIONS = (
    "SELECT t.name, p.permission_name FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id "
    "CROSS APPLY fn_my_permissions(QUOTENAME(s.name) + '.' + QUOTENAME(t.name), 'OBJECT') p "
    "WHERE s.name = ? AND p.subentity_name = '' ORDER BY t.name"
)
TABLES = "SELECT t.name FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id WHERE s.name = ? ORDER BY t.name"
SCHEMA_PERMISSIONS = "SELECT permission_name FROM fn_my_permissions(?, 'SCHEMA')"
DATABASE_PERMISSIONS = "SELECT permission_name FROM fn_my_permissions(NULL, 'DATABASE')"
SERVER_PERMISSIONS = "SELECT permission_name FROM fn_my_permissions(NULL, 'SERVER')"

NEEDS = {
    "READ": Need.of("read", "SELECT", "GRANT SELECT ON SCHEMA::[{schema}] TO [{user}];"),
    "WRITE": Need.of("insert into", "INSERT", "GRANT INSERT ON SCHEMA::[{schema}] TO [{user}];"),
    "DELETE": Need.of("delete from", "DELETE", "GRANT DELETE ON SCHEMA::[{schema}] TO [{user}];"),
    "DATA_DELETION": Need.of("delete from", "DELETE", "GRANT DELETE ON SCHEMA::[{schema}] TO [{user}];"),
    "IDENTITY_WRITING": Need.of("SET IDENTITY_INSERT on and insert into", "INSERT+ALTER",
                                "GRANT INSERT, ALTER ON SCHEMA::[{schema}] TO [{user}];"),
    "DATA_TRUNCATION": Need.of("truncate", "ALTER", "GRANT ALTER ON SCHEMA::[{schema}] TO [{user}];"),
    "INDEX_MANAGEMENT": Need.of("drop and re-create the indexes of", "ALTER",
                                "GRANT ALTER ON SCHEMA::[{schema}] TO [{user}];"),
    "FOREIGN_KEY_MANAGEMENT": Need.of("drop and re-create the foreign keys of", "ALTER+REFERENCES",
                                      "GRANT ALTER, REFERENCES ON SCHEMA::[{schema}] TO [{user}];"),
    "UNIQUE_CONSTRAINT_MANAGEMENT": Need.of("drop and re-create the unique constraints of", "ALTER",
                                            "GRANT ALTER ON SCHEMA::[{schema}] TO [{user}];"),
    "TRIGGER_MANAGEMENT": Need.of("disable and re-enable the triggers of", "ALTER",
                                  "GRANT ALTER ON SCHEMA::[{schema}] TO [{user}];"),
}


def grants_from(
    user: str, database: str, schema: str, tables: Iterable[str], table_rows: Iterable[tuple[str, str]],
    schema_permissions: Iterable[str], database_permissions: Iterable[str], server_permissions: Iterable[str],
) -> Grants:
    """Rows of fn_my_permissions (per table, on the schema, the database, the server) → :class:`Grants`."""
    names = list(tables)
    held: dict[str, set[str]] = {t: set() for t in names}
    for table, permission in table_rows:
        held.setdefault(table, set()).add(permission.upper())
    on_schema = {p.upper() for p in schema_permissions}
    on_database = {p.upper() for p in database_permissions}
    on_server = {p.upper() for p in server_permissions}
    database_wide = "CONTROL" in on_database
    q = f"[{user}]"
    grants = Grants(
        user=user, database=database, schema=schema, scope=f"{user} on database {database}, schema {schema}",
        tables=names, held=held,
        create_tables=allowed_or(
            database_wide or ("CREATE TABLE" in on_database and "ALTER" in on_schema),
            f"You may create tables in schema {schema}.",
            f"You may not create tables in schema {schema} (that takes CREATE TABLE in the database and ALTER on the schema).",
            f"GRANT CREATE TABLE TO {q};\nGRANT ALTER ON SCHEMA::[{schema}] TO {q};",
        ),
        create_schemas=allowed_or(
            database_wide or "CREATE SCHEMA" in on_database,
            f"You may create schemas in database {database}.",
            f"You may not create schemas in database {database} (no CREATE SCHEMA permission).",
            f"GRANT CREATE SCHEMA TO {q};",
        ),
        all_powerful="You have CONTROL SERVER (e.g. sysadmin): no permission check applies."
        if "CONTROL SERVER" in on_server else None,
    )
    bulk = "ADMINISTER BULK OPERATIONS" in on_server or "ADMINISTER DATABASE BULK OPERATIONS" in on_database
    grants.requirements["HIGH_PERFORMANCE_WRITING"] = [("ADMINISTER BULK OPERATIONS", allowed_or(
        bulk, "You may run BULK INSERT (ADMINISTER BULK OPERATIONS).",
        "You may not run BULK INSERT: it takes ADMINISTER BULK OPERATIONS, a server-level permission.",
        "-- server-level: lets this login bulk-load into any table it may insert into\n"
        f"USE master; GRANT ADMINISTER BULK OPERATIONS TO [{user}];",
    ))]
    return grants


def mapping(grants: Grants) -> Findings:
    return findings_from(grants, NEEDS)


async def examine(session: Any, params: CreateMsSQLConnector, options: CapabilityOptions, ctx: RunContext) -> Findings:
    return await in_deadline(lambda: _examine(session, params, options), ctx)


def _examine(session: Any, params: CreateMsSQLConnector, options: CapabilityOptions) -> Findings:
    wanted = options.schema_name or params.schema_name
    try:
        user, database, default_schema, found = session.rows(WHO, wanted or "")[0]
        schema = wanted or default_schema
        if wanted and found is None:
            return Findings(scope=f"database {database}, schema {wanted}", schema_missing=wanted)
        grants = grants_from(
            str(user), str(database), str(schema),
            [str(r[0]) for r in session.rows(TABLES, schema)],
            [(str(t), str(p)) for t, p in session.rows(TABLE_PERMISSIONS, schema)],
            [str(r[0]) for r in session.rows(SCHEMA_PERMISSIONS, schema)],
            [str(r[0]) for r in session.rows(DATABASE_PERMISSIONS)],
            [str(r[0]) for r in session.rows(SERVER_PERMISSIONS)],
        )
    except Exception as exc:  # noqa: BLE001 - a refused catalog is an answer: unknown, with the reason
        return catalog_refused(f"database {params.database}", first_line(exc))
    findings = mapping(grants)
    if options.write_probe:
        findings.notes.append(PROBE_NOT_VERIFIED.format(label="SQL Server"))
    return findings

