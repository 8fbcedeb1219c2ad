"""Oracle Database: what this user may do in the schema, from SESSION_PRIVS, SESSION_ROLES and the object grants.

Not verified against a live Oracle server (the suite has none): the mapping is unit-tested on rows
shaped like the documented views (Oracle Database Reference 19c): ``SESSION_PRIVS`` (PRIVILEGE: the
system privileges in effect now, roles included), ``SESSION_ROLES`` (ROLE), ``USER_TAB_PRIVS``
(GRANTEE, OWNER, TABLE_NAME, GRANTOR, PRIVILEGE) and ``ROLE_TAB_PRIVS`` (ROLE, OWNER, TABLE_NAME,
COLUMN_NAME, PRIVILEGE); a schema is a user, and a user owns every table of its own schema.

What each capability needs (SQL Language Reference 19c):
- TRUNCATE TABLE: "the table must be in your own schema or you must have the DROP ANY TABLE system
  privilege" (https://docs.oracle.com/en/database/oracle/oracle-database/19/sqlrf/TRUNCATE-TABLE.html):
  no object grant allows it.
- CREATE INDEX on another schema's table: the INDEX object privilege (or CREATE ANY INDEX)
  (https://docs.oracle.com/en/database/oracle/oracle-database/19/sqlrf/CREATE-INDEX.html).
- ALTER TABLE (constraints, DISABLE ALL TRIGGERS): own table, the ALTER object privilege or ALTER ANY
  TABLE; a foreign key also REFERENCES on the parent
  (https://docs.oracle.com/en/database/oracle/oracle-database/19/sqlrf/ALTER-TABLE.html).
- An identity column GENERATED ALWAYS refuses explicit values; changing it to BY DEFAULT is an ALTER TABLE
  (https://docs.oracle.com/en/database/oracle/oracle-database/19/sqlrf/CREATE-TABLE.html#GUID-F9CE0CC3-13AE-4744-A43C-EAC7A71AAAB6).
- A schema is a user: creating one needs CREATE USER
  (https://docs.oracle.com/en/database/oracle/oracle-database/19/sqlrf/CREATE-USER.html).
The fixes use schema-level grants (``GRANT … ON SCHEMA``), which exist from Oracle Database 23ai
(https://docs.oracle.com/en/database/oracle/oracle-database/23/sqlrf/GRANT.html); the fix says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from backend.capabilities.facts import Findings
from backend.capabilities.grants import OWNER, Grants, Need, allowed_or, findings_from
from backend.capabilities.schemas import CapabilityOptions
from backend.capabilities.sqlcommon import PROBE_NOT_VERIFIED, catalog_refused, cursor_rows, first_line, in_deadline
from backend.connectors.oracle import CreateOracleConnector
from backend.core import RunContext

WHO = "SELECT USER, SYS_CONTEXT('USERENV', 'DB_NAME') FROM DUAL"
SCHEMA = "SELECT USERNAME FROM ALL_USERS WHERE USERNAME = :name"
SESSION_PRIVS = "SELECT PRIVILEGE FROM SESSION_PRIVS"
SESSION_ROLES = "SELECT ROLE FROM SESSION_ROLES"
TABLES = "SELECT TABLE_NAME FROM ALL_TABLES WHERE OWNER = :name ORDER BY TABLE_NAME"
USER_TAB_PRIVS = "SELECT GRANTEE, TABLE_NAME, PRIVILEGE FROM USER_TAB_PRIVS WHERE OWNER = :name"
ROLE_TAB_PRIVS = "SELECT ROLE, TABLE_NAME, PRIVILEGE FROM ROLE_TAB_PRIVS WHERE OWNER = :name AND COLUMN_NAME IS NULL"

# System privileges that act as an object privilege on every table of every schema.
_ANY = {
    "SELECT ANY TABLE": "SELECT", "READ ANY TABLE": "READ", "INSERT ANY TABLE": "INSERT",
    "DELETE ANY TABLE": "DELETE", "ALTER ANY TABLE": "ALTER", "CREATE ANY INDEX": "INDEX",
    "DROP ANY TABLE": "DROP ANY TABLE",
}
_SCHEMA_GRANT = "-- Oracle Database 23ai schema privileges; before 23ai, one GRANT … ON {schema}.<table> per table\n"

NEEDS = {
    "READ": Need.of("read", "SELECT | READ | OWNER", _SCHEMA_GRANT + "GRANT SELECT ANY TABLE ON SCHEMA {schema} TO {user};"),
    "WRITE": Need.of("insert into", "INSERT | OWNER", _SCHEMA_GRANT + "GRANT INSERT ANY TABLE ON SCHEMA {schema} TO {user};"),
    "DELETE": Need.of("delete from", "DELETE | OWNER", _SCHEMA_GRANT + "GRANT DELETE ANY TABLE ON SCHEMA {schema} TO {user};"),
    "DATA_DELETION": Need.of("delete from", "DELETE | OWNER",
                             _SCHEMA_GRANT + "GRANT DELETE ANY TABLE ON SCHEMA {schema} TO {user};"),
    "IDENTITY_WRITING": Need.of("insert explicit identity values into", "INSERT+ALTER | OWNER",
                                _SCHEMA_GRANT + "GRANT INSERT ANY TABLE, ALTER ANY TABLE ON SCHEMA {schema} TO {user};"),
    "DATA_TRUNCATION": Need.of(
        "truncate", "OWNER | DROP ANY TABLE",
        "-- database-wide: lets {user} drop and truncate any table of any schema (no narrower grant exists)\n"
        "GRANT DROP ANY TABLE TO {user};",
        note="Only the owner, or a user with DROP ANY TABLE, may truncate.",
    ),
    "INDEX_MANAGEMENT": Need.of("create and drop the indexes of", "INDEX | OWNER",
                                _SCHEMA_GRANT + "GRANT CREATE ANY INDEX, DROP ANY INDEX ON SCHEMA {schema} TO {user};"),
    "FOREIGN_KEY_MANAGEMENT": Need.of("drop and re-create the foreign keys of", "ALTER+REFERENCES | OWNER",
                                      _SCHEMA_GRANT + "GRANT ALTER ANY TABLE ON SCHEMA {schema} TO {user};\n"
                                      "-- and REFERENCES on each parent table: GRANT REFERENCES ON {schema}.<table> TO {user};"),
    "UNIQUE_CONSTRAINT_MANAGEMENT": Need.of("drop and re-create the unique constraints of", "ALTER | OWNER",
                                            _SCHEMA_GRANT + "GRANT ALTER ANY TABLE ON SCHEMA {schema} TO {user};"),
    "TRIGGER_MANAGEMENT": Need.of("disable and re-enable the triggers of", "ALTER | OWNER",
                                  _SCHEMA_GRANT + "GRANT ALTER ANY TABLE ON SCHEMA {schema} TO {user};"),
}


def grants_from(
    user: str, database: str, schema: str, tables: Iterable[str], session_privs: Iterable[str],
    session_roles: Iterable[str], user_tab_privs: Iterable[tuple[str, str, str]],
    role_tab_privs: Iterable[tuple[str, str, str]],
) -> Grants:
    """The views' rows → :class:`Grants` (the object grants of the user, PUBLIC and the session's roles)."""
    names = list(tables)
    system = {p.upper() for p in session_privs}
    mine = {user.upper(), "PUBLIC", *(r.upper() for r in session_roles)}
    everywhere = {_ANY[p] for p in system if p in _ANY}
    owned = {OWNER} if schema.upper() == user.upper() else set()
    held = {t: set(everywhere) | owned for t in names}
    for grantee, table, privilege in [*user_tab_privs, *role_tab_privs]:
        if grantee.upper() in mine and table in held:
            held[table].add(privilege.upper())
    own_schema = bool(owned)
    create_ok = ("CREATE TABLE" in system and own_schema) or "CREATE ANY TABLE" in system
    create_fix = f"GRANT CREATE TABLE TO {user};" if own_schema else (
        _SCHEMA_GRANT.format(schema=schema) + f"GRANT CREATE ANY TABLE ON SCHEMA {schema} TO {user};")
    return Grants(
        user=user, database=database, schema=schema, scope=f"{user} on database {database}, schema {schema}",
        tables=names, held=held,
        create_tables=allowed_or(create_ok, f"You may create tables in schema {schema}.",
                                 f"You may not create tables in schema {schema}.", create_fix),
        create_schemas=allowed_or("CREATE USER" in system, "You may create schemas (users): you have CREATE USER.",
                                  "You may not create schemas: in Oracle a schema is a user, and that takes CREATE USER.",
                                  f"-- database-wide: lets {user} create users\nGRANT CREATE USER TO {user};"),
    )


def mapping(grants: Grants) -> Findings:
    return findings_from(grants, NEEDS)


async def examine(session: Any, params: CreateOracleConnector, options: CapabilityOptions, ctx: RunContext) -> Findings:
    conn = session.conn
    wanted = options.schema_name or params.schema_name
    try:
        if session.asynchronous:
            conn.call_timeout = max(1, int(ctx.deadline.remaining() * 1000))  # every round trip, in ms

            async def fetch(sql: str, binds: dict[str, str]) -> list[tuple[Any, ...]]:
                with conn.cursor() as cur:
                    await cur.execute(sql, binds)
                    return list(await cur.fetchall())

            read = await asyncio.wait_for(_read(fetch, wanted), timeout=ctx.deadline.remaining())
        else:  # cx_Oracle: blocking, in a thread of its own (as the connector's own inspect() does)

            async def fetch_blocking(sql: str, binds: dict[str, str]) -> list[tuple[Any, ...]]:
                return cursor_rows(conn, sql, binds)

            read = await in_deadline(lambda: asyncio.run(_read(fetch_blocking, wanted)), ctx)
    except Exception as exc:  # noqa: BLE001 - a refused catalog is an answer: unknown, with the reason
        return catalog_refused(f"schema {wanted or params.username}", first_line(exc))
    findings = read if isinstance(read, Findings) else mapping(read)
    if options.write_probe and not isinstance(read, Findings):
        findings.notes.append(PROBE_NOT_VERIFIED.format(label="Oracle"))
    return findings


async def _read(fetch: Callable[[str, dict[str, str]], Awaitable[list[tuple[Any, ...]]]], wanted: str | None) -> Grants | Findings:
    """The catalog queries, in order; a schema that is no user of the database is :class:`Findings` saying so."""
    user, database = (await fetch(WHO, {}))[0]
    schema = str(user)
    if wanted:
        # Unquoted names fold to upper case; a quoted one keeps its case (ALL_USERS lists every user to anyone).
        found = await fetch(SCHEMA, {"name": wanted}) or await fetch(SCHEMA, {"name": wanted.upper()})
        if not found:
            return Findings(scope=f"database {database}, schema {wanted}", schema_missing=wanted)
        schema = str(found[0][0])
    name = {"name": schema}
    return grants_from(
        str(user), str(database), schema,
        [str(r[0]) for r in await fetch(TABLES, name)],
        [str(r[0]) for r in await fetch(SESSION_PRIVS, {})],
        [str(r[0]) for r in await fetch(SESSION_ROLES, {})],
        [(str(g), str(t), str(p)) for g, t, p in await fetch(USER_TAB_PRIVS, name)],
        [(str(g), str(t), str(p)) for g, t, p in await fetch(ROLE_TAB_PRIVS, name)],
    )
