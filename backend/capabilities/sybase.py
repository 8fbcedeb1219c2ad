"""SAP ASE (Sybase): what this user may do in the schema (the objects of one database user), from
``sp_helprotect`` and object ownership.

Not verified against a live ASE server (the suite has none): the mapping is unit-tested on rows
shaped like ``sp_helprotect``'s documented output (grantor, grantee, type, action, object, column,
grantable: https://help.sap.com/docs/SAP_ASE/e0d4539d39c34f52ae9ef822c2060077/ab3da8d5bc2b1014b1b8d25d9d89c9a7.html)
and ``sysobjects`` ownership. In ASE a "schema" is the database user that owns the objects.

What each capability needs (ASE Reference Manual: Commands):
- ``truncate table``: the table owner, or the grantable ``truncate table`` permission (ASE 15.0.2+).
- ``set identity_insert``: the table owner, the database owner, or the ``identity_insert`` permission (ASE 15.7+).
- ``create index``, ``alter table`` (constraints), ``create trigger``/``alter table … disable trigger``:
  the table owner only ("defaults to the table owner and is not transferable").
- ``create table``: the ``create table`` permission in the database; a new schema is a new database
  user, which only the database owner or a System Administrator adds (``sp_adduser``).
- Fast ``bcp`` (minimally logged) needs the database option ``select into/bulkcopy/pllsort``
  (``sysdatabases.status`` bit 4); turning it on is database-wide, and the fix says what it costs.
The sa_role (``proc_role('sa_role')``) and the database owner (user id 1) pass every check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from backend.capabilities.facts import Finding, Findings
from backend.capabilities.grants import OWNER, Grants, Need, allowed_or, findings_from
from backend.capabilities.schemas import CapabilityOptions
from backend.capabilities.sqlcommon import PROBE_NOT_VERIFIED, catalog_refused, first_line, in_deadline
from backend.connectors.sybase import CreateSybaseConnector
from backend.core import RunContext

WHO = "SELECT user_name(), db_name(), user_id(), proc_role('sa_role'), user_id(?)"
TABLES = "SELECT o.name, user_name(o.uid) FROM sysobjects o WHERE o.type = 'U' AND o.uid = user_id(?) ORDER BY o.name"
HELPROTECT = "EXEC sp_helprotect ?"
BULKCOPY = "SELECT status & 4 FROM master..sysdatabases WHERE name = db_name()"

_OWNER_ONLY = "Only the table's owner may (ASE does not let this be granted)."
_OWNER_FIX = (
    "-- ASE: only {schema} (the tables' owner) or the database owner may; connect as {schema} instead of {user},\n"
    "-- or transfer ownership, table by table:\n"
    "exec sp_changeobjectowner '{schema}.{table}', '{user}'"
)

NEEDS = {
    "READ": Need.of("read", "SELECT | OWNER", "GRANT SELECT ON {schema}.{table} TO {user}"),
    "WRITE": Need.of("insert into", "INSERT | OWNER", "GRANT INSERT ON {schema}.{table} TO {user}"),
    "DELETE": Need.of("delete from", "DELETE | OWNER", "GRANT DELETE ON {schema}.{table} TO {user}"),
    "DATA_DELETION": Need.of("delete from", "DELETE | OWNER", "GRANT DELETE ON {schema}.{table} TO {user}"),
    "DATA_TRUNCATION": Need.of("truncate", "TRUNCATE TABLE | OWNER", "GRANT TRUNCATE TABLE ON {schema}.{table} TO {user}"),
    "IDENTITY_WRITING": Need.of("insert explicit identity values into", "INSERT+IDENTITY_INSERT | OWNER",
                                "GRANT INSERT, IDENTITY_INSERT ON {schema}.{table} TO {user}"),
    "INDEX_MANAGEMENT": Need.of("create and drop the indexes of", "OWNER", _OWNER_FIX, _OWNER_ONLY),
    "FOREIGN_KEY_MANAGEMENT": Need.of("drop and re-create the foreign keys of", "OWNER", _OWNER_FIX, _OWNER_ONLY),
    "UNIQUE_CONSTRAINT_MANAGEMENT": Need.of("drop and re-create the unique constraints of", "OWNER", _OWNER_FIX,
                                            _OWNER_ONLY),
    "TRIGGER_MANAGEMENT": Need.of("disable and re-enable the triggers of", "OWNER", _OWNER_FIX, _OWNER_ONLY),
}


def grants_from(
    user: str, database: str, schema: str, user_id: int, sa_role: bool, tables: Iterable[tuple[str, str]],
    helprotect: Iterable[Sequence[Any]], bulkcopy: bool | None,
) -> Grants:
    """``sp_helprotect`` rows (grantor, grantee, type, action, object, column, grantable) → :class:`Grants`.

    A "Revoke" row (a column-level or later revoke) takes the action away again; ``object`` may
    be "owner.table" or "table".
    """
    listed = [(str(t).strip(), str(o).strip()) for t, o in tables]
    held: dict[str, set[str]] = {t: ({OWNER} if owner == user else set()) for t, owner in listed}
    on_database: set[str] = set()
    for row in helprotect:
        _grantor, grantee, kind, action, obj, column = (str(v).strip() if v is not None else "" for v in row[:6])
        if grantee not in (user, "public"):
            continue
        table = obj.rsplit(".", 1)[-1]
        target = held.get(table) if column in ("", "All") else None
        privilege = action.upper()
        if kind.lower().startswith("revoke"):
            if target is not None:
                target.discard(privilege)
            continue
        if target is not None:
            target.add(privilege)
        elif obj in ("", database):
            on_database.add(privilege)
    powerful = "You have sa_role: no permission check applies." if sa_role else (
        "You are the database owner (dbo): no permission check applies." if user_id == 1 else None)
    grants = Grants(
        user=user, database=database, schema=schema, scope=f"{user} on database {database}, schema (owner) {schema}",
        tables=[t for t, _ in listed], held=held, all_powerful=powerful,
        create_tables=allowed_or("CREATE TABLE" in on_database, f"You may create tables in database {database}.",
                                 f"You may not create tables in database {database}.", f"GRANT CREATE TABLE TO {user}"),
        create_schemas=allowed_or(False, "", "You may not add schemas: in ASE a schema is a database user, which only the "
                                  "database owner or a System Administrator adds.",
                                  "-- run as the database owner: a new schema is a new database user\n"
                                  "sp_adduser '<login>', '<new schema name>'"),
    )
    if bulkcopy is None:
        option = Finding.unknown("Whether the database allows fast bcp (select into/bulkcopy/pllsort) could not be read.")
    else:
        option = allowed_or(
            bulkcopy, "The database allows fast (minimally logged) bcp: select into/bulkcopy/pllsort is on.",
            "The database does not allow fast bcp (select into/bulkcopy/pllsort is off): bulk loads are fully logged.",
            "-- database-wide: allows minimally logged operations (fast bcp, select into); the transaction log can no\n"
            "-- longer be dumped for recovery until the next full database dump\n"
            f"use master\nexec sp_dboption {database}, 'select into/bulkcopy/pllsort', true",
        )
    grants.requirements["HIGH_PERFORMANCE_WRITING"] = [("select into/bulkcopy/pllsort", option)]
    return grants


def mapping(grants: Grants) -> Findings:
    return findings_from(grants, NEEDS)


async def examine(session: Any, params: CreateSybaseConnector, options: CapabilityOptions, ctx: RunContext) -> Findings:
    return await in_deadline(lambda: _examine(session, params, options), ctx)


def _examine(session: Any, params: CreateSybaseConnector, options: CapabilityOptions) -> Findings:
    wanted = options.schema_name or params.schema_name
    try:
        user, database, user_id, sa_role, found = session.rows(WHO, wanted or "")[0]
        if wanted and found is None:
            return Findings(scope=f"database {database}, schema (owner) {wanted}", schema_missing=wanted)
        schema = wanted or str(user)
        try:
            bulkcopy: bool | None = bool(session.rows(BULKCOPY)[0][0])
        except Exception:  # noqa: BLE001 - master..sysdatabases may be closed to this user
            bulkcopy = None
        grants = grants_from(
            str(user), str(database), schema, int(user_id), bool(sa_role),
            [(str(t), str(o)) for t, o in session.rows(TABLES, schema)],
            session.rows(HELPROTECT, str(user)), bulkcopy,
        )
    except Exception as exc:  # noqa: BLE001 - a refused catalog is an answer: unknown, with the reason
        return catalog_refused(f"database {params.database}", first_line(exc))
    findings = mapping(grants)
    if options.write_probe:
        findings.notes.append(PROBE_NOT_VERIFIED.format(label="SAP ASE"))
    return findings
