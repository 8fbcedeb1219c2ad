"""IBM Db2 (LUW): what this user may do in the schema, from SYSCAT.DBAUTH, SYSCAT.TABAUTH and SYSCAT.SCHEMAAUTH.

Not verified against a live Db2 server (the suite has none): the mapping is unit-tested on rows
shaped like the documented catalog views (Db2 11.5 SQL Reference, "Catalog views"): ``DBAUTH``
(GRANTEE, GRANTEETYPE, DBADMAUTH, CREATETABAUTH, IMPLSCHEMAAUTH, LOADAUTH, DATAACCESSAUTH),
``TABAUTH`` (GRANTEE, GRANTEETYPE, TABNAME, CONTROLAUTH, ALTERAUTH, DELETEAUTH, INDEXAUTH,
INSERTAUTH, SELECTAUTH, REFAUTH: 'Y' held, 'G' held and grantable, 'N' not), ``SCHEMAAUTH``
(GRANTEE, GRANTEETYPE, ALTERINAUTH, CREATEINAUTH, DROPINAUTH) and ``TABLES`` (TABNAME, OWNER).
Grants to the user (U), to PUBLIC and to its roles (R, ``AUTH_LIST_ROLES_FOR_AUTHID``) count;
grants to operating-system groups are not read (the answer says so when it matters).

What each capability needs (https://www.ibm.com/docs/en/db2/11.5 SQL statements, "Authorization"):
TRUNCATE needs DELETE on the table, CONTROL or DATAACCESS; CREATE INDEX needs INDEX or CONTROL;
ALTER TABLE (constraints, triggers' tables) needs ALTER or CONTROL, a foreign key also REFERENCES;
CREATE TABLE needs CREATETAB and CREATEIN on the schema; CREATE SCHEMA needs DBADM (or IMPLICIT_SCHEMA
to create one implicitly); the LOAD utility needs LOAD authority and INSERT. The table's owner holds
CONTROL. DATAACCESS gives SELECT, INSERT and DELETE on every table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from backend.capabilities.facts import Findings
from backend.capabilities.grants import OWNER, Grants, Need, allowed_or, findings_from
from backend.capabilities.schemas import CapabilityOptions
from backend.capabilities.sqlcommon import PROBE_NOT_VERIFIED, catalog_refused, first_line, in_deadline
from backend.connectors.db2 import CreateDB2Connector
from backend.core import RunContext

WHO = "SELECT CURRENT SERVER, CURRENT USER FROM SYSIBM.SYSDUMMY1"
SCHEMA = "SELECT SCHEMANAME FROM SYSCAT.SCHEMATA WHERE SCHEMANAME = ?"
ROLES = "SELECT ROLENAME FROM TABLE(SYSPROC.AUTH_LIST_ROLES_FOR_AUTHID(CURRENT USER, 'U')) AS R"
DBAUTH = ("SELECT GRANTEE, GRANTEETYPE, DBADMAUTH, CREATETABAUTH, IMPLSCHEMAAUTH, LOADAUTH, DATAACCESSAUTH "
          "FROM SYSCAT.DBAUTH")
TABAUTH = ("SELECT GRANTEE, GRANTEETYPE, TABNAME, CONTROLAUTH, ALTERAUTH, DELETEAUTH, INDEXAUTH, INSERTAUTH, "
           "SELECTAUTH, REFAUTH FROM SYSCAT.TABAUTH WHERE TABSCHEMA = ?")
SCHEMAAUTH = "SELECT GRANTEE, GRANTEETYPE, ALTERINAUTH, CREATEINAUTH, DROPINAUTH FROM SYSCAT.SCHEMAAUTH WHERE SCHEMANAME = ?"
TABLES = "SELECT TABNAME, OWNER FROM SYSCAT.TABLES WHERE TABSCHEMA = ? AND TYPE = 'T' ORDER BY TABNAME"

_TABAUTH_COLUMNS = ("CONTROL", "ALTER", "DELETE", "INDEX", "INSERT", "SELECT", "REFERENCES")
_SCHEMA_ADM = "-- Db2 11.5 schema authority (every right on the schema's objects); narrower: one GRANT … ON TABLE per table\n"

NEEDS = {
    "READ": Need.of("read", "SELECT | CONTROL", "GRANT SELECTIN ON SCHEMA {schema} TO USER {user};"),
    "WRITE": Need.of("insert into", "INSERT | CONTROL", "GRANT INSERTIN ON SCHEMA {schema} TO USER {user};"),
    "DELETE": Need.of("delete from", "DELETE | CONTROL", "GRANT DELETEIN ON SCHEMA {schema} TO USER {user};"),
    "DATA_DELETION": Need.of("delete from", "DELETE | CONTROL", "GRANT DELETEIN ON SCHEMA {schema} TO USER {user};"),
    "DATA_TRUNCATION": Need.of("truncate", "DELETE | CONTROL", "GRANT DELETEIN ON SCHEMA {schema} TO USER {user};"),
    "IDENTITY_WRITING": Need.of("insert explicit identity values into (and restart the identity of)",
                                "INSERT+ALTER | CONTROL",
                                "GRANT INSERTIN, ALTERIN ON SCHEMA {schema} TO USER {user};"),
    "INDEX_MANAGEMENT": Need.of("create and drop the indexes of", "INDEX | CONTROL",
                                _SCHEMA_ADM + "GRANT SCHEMAADM ON SCHEMA {schema} TO USER {user};"),
    "FOREIGN_KEY_MANAGEMENT": Need.of("drop and re-create the foreign keys of", "ALTER+REFERENCES | CONTROL",
                                      _SCHEMA_ADM + "GRANT SCHEMAADM ON SCHEMA {schema} TO USER {user};"),
    "UNIQUE_CONSTRAINT_MANAGEMENT": Need.of("drop and re-create the unique constraints of", "ALTER | CONTROL",
                                            "GRANT ALTERIN ON SCHEMA {schema} TO USER {user};"),
    "TRIGGER_MANAGEMENT": Need.of("drop and re-create the triggers of", "ALTER | CONTROL",
                                  "GRANT ALTERIN, CREATEIN, DROPIN ON SCHEMA {schema} TO USER {user};"),
}


def _held(value: Any) -> bool:
    return str(value).strip().upper() in ("Y", "G")


def grants_from(
    user: str, database: str, schema: str, tables: Iterable[tuple[str, str]], roles: Iterable[str],
    dbauth: Iterable[Sequence[Any]], tabauth: Iterable[Sequence[Any]], schemaauth: Iterable[Sequence[Any]],
) -> Grants:
    """The views' rows → :class:`Grants`."""
    me = user.strip().upper()
    role_names = {r.strip().upper() for r in roles}

    def mine(grantee: Any, kind: Any) -> bool:
        name, kind = str(grantee).strip().upper(), str(kind).strip().upper()
        return (kind == "U" and name == me) or (kind == "G" and name == "PUBLIC") or (kind == "R" and name in role_names)

    db: set[str] = set()
    for grantee, kind, dbadm, createtab, implschema, load, dataaccess in dbauth:
        if mine(grantee, kind):
            db |= {n for n, v in (("DBADM", dbadm), ("CREATETAB", createtab), ("IMPLICIT_SCHEMA", implschema),
                                  ("LOAD", load), ("DATAACCESS", dataaccess)) if _held(v)}
    in_schema: set[str] = set()
    for grantee, kind, alterin, createin, dropin in schemaauth:
        if mine(grantee, kind):
            in_schema |= {n for n, v in (("ALTERIN", alterin), ("CREATEIN", createin), ("DROPIN", dropin)) if _held(v)}
    everywhere = {"SELECT", "INSERT", "DELETE"} if "DATAACCESS" in db else set()
    if "ALTERIN" in in_schema:
        everywhere.add("ALTER")
    listed = [(str(t).strip(), str(o).strip().upper()) for t, o in tables]
    held = {t: set(everywhere) | ({OWNER, "CONTROL"} if owner == me else set()) for t, owner in listed}
    for grantee, kind, table, *flags in tabauth:
        name = str(table).strip()
        if mine(grantee, kind) and name in held:
            held[name] |= {p for p, v in zip(_TABAUTH_COLUMNS, flags, strict=False) if _held(v)}
    grants = Grants(
        user=user.strip(), database=database.strip(), schema=schema, scope=f"{user.strip()} on database {database.strip()}, schema {schema}",
        tables=[t for t, _ in listed], held=held,
        create_tables=allowed_or(
            "DBADM" in db or ("CREATETAB" in db and "CREATEIN" in in_schema),
            f"You may create tables in schema {schema}.",
            f"You may not create tables in schema {schema} (that takes CREATETAB on the database and CREATEIN on the schema).",
            f"GRANT CREATETAB ON DATABASE TO USER {user.strip()};\nGRANT CREATEIN ON SCHEMA {schema} TO USER {user.strip()};",
        ),
        create_schemas=allowed_or(
            "DBADM" in db or "IMPLICIT_SCHEMA" in db,
            "You may create schemas (DBADM or IMPLICIT_SCHEMA).",
            "You may not create schemas: that takes DBADM, or IMPLICIT_SCHEMA for schemas created implicitly.",
            f"GRANT IMPLICIT_SCHEMA ON DATABASE TO USER {user.strip()};",
        ),
    )
    grants.requirements["HIGH_PERFORMANCE_WRITING"] = [("LOAD authority", allowed_or(
        "LOAD" in db or "DBADM" in db or "DATAACCESS" in db,
        "You may run the LOAD utility.",
        "You may not run the LOAD utility (no LOAD authority).",
        f"GRANT LOAD ON DATABASE TO USER {user.strip()};",
    ))]
    return grants


def mapping(grants: Grants) -> Findings:
    return findings_from(grants, NEEDS)


async def examine(session: Any, params: CreateDB2Connector, options: CapabilityOptions, ctx: RunContext) -> Findings:
    return await in_deadline(lambda: _examine(session.conn, params, options), ctx)


def _rows(conn: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """All rows of ``sql`` through ibm_db's procedural API."""
    from backend.connectors.db2 import load_driver

    ibm_db = load_driver()
    stmt = ibm_db.prepare(conn, sql)
    ibm_db.execute(stmt, args)
    rows = []
    while (row := ibm_db.fetch_tuple(stmt)) is not False and row is not None:
        rows.append(tuple(row))
    return rows


def _examine(conn: Any, params: CreateDB2Connector, options: CapabilityOptions) -> Findings:
    wanted = options.schema_name or params.schema_name
    try:
        database, user = (str(v).strip() for v in _rows(conn, WHO)[0])
        schema = user.upper()
        if wanted:
            found = _rows(conn, SCHEMA, wanted) or _rows(conn, SCHEMA, wanted.upper())
            if not found:
                return Findings(scope=f"database {database}, schema {wanted}", schema_missing=wanted)
            schema = str(found[0][0]).strip()
        grants = grants_from(
            user, database, schema,
            [(str(t), str(o)) for t, o in _rows(conn, TABLES, schema)],
            [str(r[0]) for r in _rows(conn, ROLES)],
            _rows(conn, DBAUTH), _rows(conn, TABAUTH, schema), _rows(conn, SCHEMAAUTH, schema),
        )
    except Exception as exc:  # noqa: BLE001 - a refused catalog is an answer: unknown, with the reason
        return catalog_refused(f"database {params.database}", first_line(exc))
    findings = mapping(grants)
    if options.write_probe:
        findings.notes.append(PROBE_NOT_VERIFIED.format(label="Db2"))
    return findings
