"""PostgreSQL: what this user may do in the schema, from the server's own privilege catalog.

What each capability needs, per the PostgreSQL 15 documentation:

- TRUNCATE needs the TRUNCATE privilege on each table, which DELETE does not give
  (https://www.postgresql.org/docs/15/sql-truncate.html: "You must have the TRUNCATE privilege").
- DELETE needs DELETE (https://www.postgresql.org/docs/15/sql-delete.html); INSERT needs INSERT, also
  with OVERRIDING SYSTEM VALUE for identity columns (https://www.postgresql.org/docs/15/sql-insert.html);
  moving the identity's sequence past the written ids with ``setval`` needs UPDATE on the sequence
  (https://www.postgresql.org/docs/15/functions-sequence.html).
- Creating or dropping indexes, unique and foreign-key constraints, and disabling triggers
  (``ALTER TABLE … DISABLE TRIGGER``) need ownership of the table: "You must own the table to use
  ALTER TABLE" (https://www.postgresql.org/docs/15/sql-altertable.html; CREATE INDEX checks the same,
  https://www.postgresql.org/docs/15/sql-createindex.html). No GRANT gives ownership: "the right to
  modify or destroy an object is inherent in being the object's owner"
  (https://www.postgresql.org/docs/15/ddl-priv.html); a member of the owning role (with INHERIT)
  has it (https://www.postgresql.org/docs/15/role-membership.html), which ``pg_has_role(owner, 'USAGE')`` tells.
- Creating tables in a schema needs CREATE on it, reaching its tables USAGE; creating schemas needs
  CREATE on the database (https://www.postgresql.org/docs/15/sql-createschema.html).
- The inquiry functions ``has_table_privilege``, ``has_schema_privilege``, ``has_database_privilege``,
  ``has_sequence_privilege`` and ``pg_has_role`` answer for the current user, roles included
  (https://www.postgresql.org/docs/15/functions-info.html#FUNCTIONS-INFO-ACCESS-TABLE); no
  ``pg_read_server_files`` or superuser is needed to ask.

DDL is transactional in PostgreSQL, so the write probe runs in one transaction that is always
rolled back (and the server rolls back by itself if the connection is cut).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.capabilities.facts import ACCESS_NAMES, CAPABILITY_NAMES, Finding, Findings, coverage, listed, probe_name
from backend.capabilities.schemas import CapabilityOptions, CapabilityStatus
from backend.capabilities.sqlcommon import catalog_refused, cursor_rows, first_line, in_deadline, quoted
from backend.connectors.postgresql import CreatePostgreSQLConnector
from backend.core import RunContext
from backend.diagnosis.stages import Deadline

_USER = """
SELECT current_user, current_database(), r.rolsuper, has_database_privilege(current_database(), 'CREATE'),
       n.oid IS NOT NULL, coalesce(has_schema_privilege(n.oid, 'USAGE'), false),
       coalesce(has_schema_privilege(n.oid, 'CREATE'), false)
FROM pg_roles r LEFT JOIN pg_namespace n ON n.nspname = %(schema)s
WHERE r.rolname = current_user
"""
_TABLES = """
SELECT c.relname, pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'USAGE'),
       has_table_privilege(c.oid, 'SELECT'), has_table_privilege(c.oid, 'INSERT'),
       has_table_privilege(c.oid, 'DELETE'), has_table_privilege(c.oid, 'TRUNCATE')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""
_SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname NOT LIKE 'pg\\_%%' AND nspname <> 'information_schema'
ORDER BY nspname
"""
# Sequences that belong to a column (identity: deptype 'i'; serial: 'a'), and whether setval may move them.
_SEQUENCES = """
SELECT t.relname, s.relname, has_sequence_privilege(s.oid, 'UPDATE')
FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
  AND n.nspname = %(schema)s
ORDER BY t.relname, s.relname
"""


@dataclass
class Table:
    name: str
    owner: str
    owned: bool
    select: bool
    insert: bool
    delete: bool
    truncate: bool


@dataclass
class Catalog:
    """The rows the catalog queries return, for the pure mapping below."""

    user: str
    database: str
    schema: str
    superuser: bool
    create_in_database: bool
    schema_exists: bool
    usage: bool
    create_in_schema: bool
    tables: list[Table] = field(default_factory=list)
    sequences: list[tuple[str, str, bool]] = field(default_factory=list)
    """(table, sequence, UPDATE allowed) for every identity/serial sequence."""


async def examine(conn: Any, params: CreatePostgreSQLConnector, options: CapabilityOptions, ctx: RunContext) -> Findings:
    if not hasattr(conn, "cursor"):
        # A Kerberos login: the connection lives in its worker process (backend/hooks/kerberos.py),
        # with that login's credentials; the same examination runs there, on that connection.
        return await in_deadline(lambda: conn.call(_examine, params, options, ctx.deadline), ctx)
    return await in_deadline(lambda: _examine(conn, params, options, ctx.deadline), ctx)


def _examine(conn: Any, params: CreatePostgreSQLConnector, options: CapabilityOptions, deadline: Deadline) -> Findings:
    import psycopg2

    conn.autocommit = True
    schema = options.schema_name or params.schema_name
    try:
        if not schema:
            schema = cursor_rows(conn, "SELECT coalesce(current_schema(), 'public')")[0][0]
        catalog = read_catalog(conn, schema)
    except psycopg2.Error as exc:
        return catalog_refused(f"{params.username} on database {params.database}, schema {schema}", _sqlstate(exc))
    findings = mapping(catalog)
    try:
        findings.schemas = [str(row[0]) for row in cursor_rows(conn, _SCHEMAS)]
    except psycopg2.Error:
        findings.schemas = None  # the answer stands without the list to choose from
    if options.write_probe and catalog.schema_exists:
        write_probe(conn, catalog, findings, deadline)
    return findings


def _sqlstate(exc: Any) -> str:
    code = getattr(exc, "pgcode", None)
    return f"SQLSTATE {code}: {first_line(exc)}" if code else first_line(exc)


def read_catalog(conn: Any, schema: str) -> Catalog:
    user, database, superuser, create_db, exists, usage, create_schema = cursor_rows(conn, _USER, {"schema": schema})[0]
    catalog = Catalog(user, database, schema, superuser, create_db, exists, usage, create_schema)
    if exists:
        catalog.tables = [Table(*row) for row in cursor_rows(conn, _TABLES, {"schema": schema})]
        catalog.sequences = [(str(t), str(s), bool(ok)) for t, s, ok in cursor_rows(conn, _SEQUENCES, {"schema": schema})]
    return catalog


# --- the mapping (pure: unit-tested on rows) --------------------------------------------------------


def mapping(c: Catalog) -> Findings:
    """Privileges → findings, naming the tables and the statement that would fix each."""
    scope = f"{c.user} on database {c.database}, schema {c.schema}"
    findings = Findings(scope=scope)
    if not c.schema_exists:
        findings.schema_missing = c.schema
        return findings
    where = f"schema {c.schema}"
    u, s = quoted(c.user), quoted(c.schema)
    if c.superuser:
        everything = Finding.available(f"{c.user} is a superuser: no privilege check applies.")
        findings.capabilities = dict.fromkeys(CAPABILITY_NAMES, everything)
        findings.access = dict.fromkeys(ACCESS_NAMES, everything)
        return findings
    names = [t.name for t in c.tables]

    def on_tables(verb: str, allowed: set[str], privilege: str) -> Finding:
        fix = f"GRANT {privilege} ON ALL TABLES IN SCHEMA {s} TO {u};"
        return _needs_usage(c, coverage(verb, where, names, allowed, fix))

    def owned(verb: str) -> Finding:
        refused = [t for t in c.tables if not t.owned]
        fix = _ownership_fix(c, refused)
        found = coverage(verb, where, names, {t.name for t in c.tables if t.owned}, fix,
                         none_left=" Tables you create will be yours.")
        if found.status == CapabilityStatus.unavailable:
            found.reason += " Only the table's owner may (no GRANT gives it)."
        return _needs_usage(c, found)

    deleting = on_tables("delete from", {t.name for t in c.tables if t.delete}, "DELETE")
    findings.access = {
        "READ": on_tables("read", {t.name for t in c.tables if t.select}, "SELECT"),
        "WRITE": on_tables("insert into", {t.name for t in c.tables if t.insert}, "INSERT"),
        "CREATE": _create_in_schema(c),
        "DELETE": deleting,
    }
    findings.capabilities = {
        "IDENTITY_WRITING": _identity(c, findings.access["WRITE"]),
        "DATA_TRUNCATION": on_tables("truncate", {t.name for t in c.tables if t.truncate}, "TRUNCATE"),
        "DATA_DELETION": deleting,
        "INDEX_MANAGEMENT": owned("drop and re-create the indexes of"),
        "FOREIGN_KEY_MANAGEMENT": owned("drop and re-create the foreign keys of"),
        "UNIQUE_CONSTRAINT_MANAGEMENT": owned("drop and re-create the unique constraints of"),
        "TRIGGER_MANAGEMENT": owned("disable and re-enable the triggers of"),
        "SCHEMA_MANAGEMENT": _create_schemas(c),
    }
    return findings


def _needs_usage(c: Catalog, found: Finding) -> Finding:
    """Without USAGE on the schema no privilege on its tables can be used."""
    if c.usage:
        return found
    reason = f"You have no USAGE privilege on schema {c.schema}, so none of its objects can be reached."
    fix = "\n".join(line for line in (f"GRANT USAGE ON SCHEMA {quoted(c.schema)} TO {quoted(c.user)};", found.fix) if line)
    return Finding.unavailable(reason, fix)


def _ownership_fix(c: Catalog, refused: list[Table]) -> str:
    owners = sorted({t.owner for t in refused})
    u = quoted(c.user)
    lines = []
    for owner in owners:
        lines.append(f"-- makes {c.user} a member of {owner}, with every right {owner} has (its tables' ownership included)")
        lines.append(f"GRANT {quoted(owner)} TO {u};")
    return "\n".join(lines)


def _create_in_schema(c: Catalog) -> Finding:
    if c.create_in_schema and c.usage:
        return Finding.available(f"You may create tables in schema {c.schema}.")
    fix = f"GRANT USAGE, CREATE ON SCHEMA {quoted(c.schema)} TO {quoted(c.user)};"
    return Finding.unavailable(f"You may not create tables in schema {c.schema} (no CREATE privilege on it).", fix)


def _create_schemas(c: Catalog) -> Finding:
    if c.create_in_database:
        return Finding.available(f"You may create schemas in database {c.database}.")
    fix = f"GRANT CREATE ON DATABASE {quoted(c.database)} TO {quoted(c.user)};"
    return Finding.unavailable(f"You may not create schemas in database {c.database} (no CREATE privilege on it).", fix)


def _identity(c: Catalog, write: Finding) -> Finding:
    """Explicit ids go in with INSERT (OVERRIDING SYSTEM VALUE needs nothing more); moving the sequence
    past them afterwards (``setval``) takes UPDATE on it, which the reason names when it is missing."""
    with_ids = sorted({table for table, _, _ in c.sequences})
    if not with_ids:
        reason = f"No table of schema {c.schema} has an identity or serial column, so this is plain writing: {write.reason}"
        return Finding(write.status, reason, write.fix)
    s, u = quoted(c.schema), quoted(c.user)
    sequences_fix = f"GRANT UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO {u};"
    inserting = {t.name for t in c.tables if t.insert}
    found = coverage("insert explicit ids into", f"schema {c.schema}", with_ids, inserting,
                     f"GRANT INSERT ON ALL TABLES IN SCHEMA {s} TO {u};\n{sequences_fix}")
    found.reason = found.reason.replace("tables of", "tables with identity or serial columns of")
    stuck = sorted({table for table, _, ok in c.sequences if not ok and table in inserting})
    if stuck:  # available, but the sequences stay behind the ids written: the grant that moves them is the fix
        found.reason = (f"You may insert explicit ids in schema {c.schema}, but moving the sequences of "
                        f"{listed(stuck)} past them needs UPDATE. {found.reason}")
        if found.status == CapabilityStatus.available:
            found.fix = sequences_fix
    return _needs_usage(c, found)


def denied_fixes(params: CreatePostgreSQLConnector, schema: str | None) -> str:
    """The grants that let a refused user in (a PERMISSION_DENIED test): connect to the database, use the schema."""
    u = quoted(params.username)
    lines = [f"GRANT CONNECT ON DATABASE {quoted(params.database)} TO {u};"]
    if schema:
        lines.append(f"GRANT USAGE ON SCHEMA {quoted(schema)} TO {u};")
    return "\n".join(lines)


# --- the write probe -------------------------------------------------------------------------------

_PROBE_STEPS = (
    ("create a table", "CREATE TABLE {t} (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ref integer, v integer)"),
    ("insert an explicit id", "INSERT INTO {t} (id, ref, v) OVERRIDING SYSTEM VALUE VALUES (1, 1, 1)"),
    ("add a unique constraint", "ALTER TABLE {t} ADD CONSTRAINT {n}_uq UNIQUE (v)"),
    ("add a foreign key", "ALTER TABLE {t} ADD CONSTRAINT {n}_fk FOREIGN KEY (ref) REFERENCES {t} (id)"),
    ("create an index", "CREATE INDEX {n}_ix ON {t} (ref)"),
    ("disable its triggers", "ALTER TABLE {t} DISABLE TRIGGER USER"),
    ("delete", "DELETE FROM {t}"),
    ("truncate", "TRUNCATE {t}"),
)


def write_probe(conn: Any, c: Catalog, findings: Findings, deadline: Deadline) -> None:
    """Create, use and drop ``wizard_probe_<random>`` in one transaction that is always rolled back.

    Each statement is bounded by what is left of the deadline (``lock_timeout``,
    ``statement_timeout``); if the probe is cut off, closing the connection rolls it back too.
    """
    import psycopg2

    name = probe_name()
    table = f"{quoted(c.schema)}.{name}"
    done: list[str] = []
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            budget = max(1, int(deadline.remaining() * 1000) - 200)
            cur.execute(f"SET LOCAL statement_timeout = {budget}")
            cur.execute(f"SET LOCAL lock_timeout = {budget}")
            for what, statement in _PROBE_STEPS:
                try:
                    cur.execute(statement.format(t=table, n=name))
                except psycopg2.Error as exc:
                    _probe_refused(findings, what, done, c, _sqlstate(exc))
                    return
                done.append(what)
    finally:
        try:
            conn.rollback()
        finally:
            conn.autocommit = True
    created = findings.access["CREATE"]
    created.reason += " Confirmed by the write probe."
    findings.notes.append(
        f"The write probe created {name} in schema {c.schema}, used it ({', '.join(done[1:])}) and rolled "
        "everything back: nothing was kept."
    )


def _probe_refused(findings: Findings, what: str, done: list[str], c: Catalog, why: str) -> None:
    prior = f" after it could {', '.join(done)}" if done else ""
    findings.notes.append(
        f"The write probe could not {what} in schema {c.schema}{prior} ({why}); it rolled everything back: nothing was kept."
    )
    if not done:
        fix = f"GRANT USAGE, CREATE ON SCHEMA {quoted(c.schema)} TO {quoted(c.user)};"
        findings.access["CREATE"] = Finding.unavailable(
            f"The write probe could not create a table in schema {c.schema}: {why}.", fix
        )
