"""MySQL / MariaDB: what this account may do in the database, from ``information_schema``'s privilege views.

What each capability needs, per the MySQL 8.0 reference manual and the MariaDB knowledge base:

- TRUNCATE TABLE needs DROP: MySQL has no TRUNCATE privilege
  (https://dev.mysql.com/doc/refman/8.0/en/truncate-table.html, "It requires the DROP privilege";
  https://mariadb.com/kb/en/truncate-table/). DELETE needs DELETE, INSERT needs INSERT
  (https://dev.mysql.com/doc/refman/8.0/en/privileges-provided.html); explicit values go into an
  AUTO_INCREMENT column with INSERT alone (https://dev.mysql.com/doc/refman/8.0/en/example-auto-increment.html).
- Unique constraints are indexes: CREATE/DROP INDEX need INDEX ("The INDEX privilege enables you to
  create or drop (remove) indexes", privileges-provided.html#priv_index). Foreign keys are added and
  dropped with ALTER TABLE, which needs ALTER, CREATE and INSERT on the table
  (https://dev.mysql.com/doc/refman/8.0/en/alter-table.html).
- CREATE on the database creates tables in it; CREATE at the global level creates databases
  (schemas): https://dev.mysql.com/doc/refman/8.0/en/create-database.html.
- A privilege holds at the global (``*.*``), database (``db.*``, possibly a LIKE pattern) or table
  level. ``SHOW GRANTS`` lists them as GRANT statements, for the account and, on MariaDB, for its
  current role too (https://mariadb.com/kb/en/show-grants/); MySQL 8 adds a role's privileges only
  with ``USING`` the enabled roles (https://dev.mysql.com/doc/refman/8.0/en/show-grants.html), which
  ``information_schema.ENABLED_ROLES`` names. The ``information_schema.*_PRIVILEGES`` views are not
  enough: MariaDB leaves a role's privileges out of them (checked with MariaDB 10.11).
- High-performance writing loads with LOAD DATA LOCAL INFILE, which the server refuses unless its
  ``local_infile`` system variable is ON (https://dev.mysql.com/doc/refman/8.0/en/load-data-local-security.html;
  https://mariadb.com/kb/en/server-system-variables/#local_infile). Turning it on is server-wide:
  the fix says so and the wizard never changes it.

DDL is not transactional here: the write probe creates ``wizard_probe_<random>`` and drops it explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from backend.capabilities.facts import Finding, Findings, coverage, probe_name
from backend.capabilities.schemas import CapabilityOptions
from backend.capabilities.sqlcommon import catalog_refused, cursor_rows, first_line, in_deadline
from backend.connectors.mysql import CreateMySQLMariaDBConnector
from backend.core import RunContext
from backend.diagnosis.stages import Deadline, Failure, run_blocking

_LOCAL_INFILE_FIX = (
    "-- server-wide: lets every client of this server send files from its own machine with LOAD DATA LOCAL INFILE;\n"
    "-- weigh that first, and set local_infile = 1 in the server's configuration too, or a restart undoes it\n"
    "SET GLOBAL local_infile = 1;"
)


_ALL_PRIVILEGES = frozenset({
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "REFERENCES", "INDEX", "ALTER", "CREATE TEMPORARY TABLES",
    "LOCK TABLES", "EXECUTE", "CREATE VIEW", "SHOW VIEW", "CREATE ROUTINE", "ALTER ROUTINE", "EVENT", "TRIGGER",
})
"""What ``ALL PRIVILEGES`` stands for at the table and database levels (and more at the global level)."""

_GRANT = re.compile(
    r"^GRANT (?P<privileges>.+?) ON (?P<database>`(?:[^`]|``)*`|\*)\.(?P<table>`(?:[^`]|``)*`|\*) TO (?P<grantee>\S+)",
    re.DOTALL,
)


@dataclass(frozen=True)
class Grant:
    """One privilege statement of ``SHOW GRANTS``."""

    grantee: str
    """Unquoted: ``user@host``, or a role's name."""
    database: str | None
    """None: every database (``*.*``); else a name or LIKE pattern (as written, ``\\_`` escapes kept)."""
    table: str | None
    """None: every table of ``database``."""
    privileges: frozenset[str]


def parse_grants(lines: Iterable[str]) -> list[Grant]:
    """``SHOW GRANTS`` statements → grants; role grants, routine grants and column lists are left out
    (a column-level privilege does not reach a whole table)."""

    def name(quoted: str) -> str | None:
        return None if quoted == "*" else quoted[1:-1].replace("``", "`")

    found = []
    for line in lines:
        match = _GRANT.match(line.strip())
        if match is None:
            continue
        privileges: set[str] = set()
        for part in _split_privileges(match["privileges"]):
            if "(" in part or part == "USAGE":
                continue
            privileges |= _ALL_PRIVILEGES if part in ("ALL", "ALL PRIVILEGES") else {part}
        grantee = match["grantee"].replace("`", "").replace("'", "")
        found.append(Grant(grantee, name(match["database"]), name(match["table"]), frozenset(privileges)))
    return found


def _split_privileges(text: str) -> list[str]:
    """``SELECT, INSERT (a, b), DELETE`` → its parts (commas inside a column list do not split)."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(current.strip().upper())
            current = ""
        else:
            current += char
    parts.append(current.strip().upper())
    return [p for p in parts if p]


@dataclass
class Catalog:
    """The rows the catalog queries return, for the pure mapping below."""

    account: str
    """CURRENT_USER(): ``user@host``."""
    schema: str
    local_infile: bool
    schema_exists: bool
    roles: list[str] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    """What ``SHOW GRANTS`` says, one :class:`Grant` per statement on a table, a database or ``*.*``."""
    tables: list[str] = field(default_factory=list)
    mariadb: bool = True
    """MariaDB (``max_statement_time`` bounds each probe statement) rather than MySQL (only lock waits are bounded)."""


async def examine(conn: Any, params: CreateMySQLMariaDBConnector, options: CapabilityOptions, ctx: RunContext) -> Findings:
    schema = options.schema_name or params.database
    try:
        catalog = await in_deadline(lambda: read_catalog(conn, schema), ctx)
    except Failure:
        raise  # the deadline: the engine says so
    except Exception as exc:  # noqa: BLE001 - the drivers' errors share no base class we import here
        return catalog_refused(f"database {schema}", _error(exc))
    findings = mapping(catalog)
    if options.write_probe and catalog.schema_exists:
        # The probe's explicit DROP may run PROBE_GRACE_S past the deadline: a table left behind unreported
        # would be worse than answering a little late (still within the deadline + 0.5 s of every test).
        grace = Deadline(ctx.deadline.remaining() + PROBE_GRACE_S)
        await run_blocking(lambda: write_probe(conn, catalog, findings, ctx.deadline), grace, "the write probe")
    return findings


def _error(exc: BaseException) -> str:
    number = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = str(exc.args[1]) if len(exc.args) > 1 else first_line(exc)
    return f"error {number}: {text}" if number else text


def read_catalog(conn: Any, schema: str) -> Catalog:
    account, local_infile, version = cursor_rows(conn, "SELECT CURRENT_USER(), @@local_infile, VERSION()")[0]
    exists = bool(cursor_rows(conn, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                              (schema,))[0][0])
    catalog = Catalog(str(account), schema, bool(int(local_infile)), exists, mariadb="mariadb" in str(version).lower())
    try:
        catalog.roles = [str(r[0]) for r in cursor_rows(conn, "SELECT ROLE_NAME FROM information_schema.ENABLED_ROLES")]
    except Exception:  # noqa: BLE001 - servers without roles (MySQL 5.7) have no such view
        catalog.roles = []
    show = "SHOW GRANTS"
    if catalog.roles and not catalog.mariadb:
        show = "SHOW GRANTS FOR CURRENT_USER() USING " + ", ".join(f"`{r.replace('`', '``')}`" for r in catalog.roles)
    catalog.grants = parse_grants(str(r[0]) for r in cursor_rows(conn, show))
    catalog.tables = [
        str(r[0]) for r in cursor_rows(
            conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' "
                  "ORDER BY TABLE_NAME", (schema,))
    ]
    return catalog


# --- the mapping (pure: unit-tested on rows) --------------------------------------------------------


def mine(c: Catalog, grant: Grant) -> bool:
    """A grant to this account, or to one of its enabled roles (MariaDB: ``role``; MySQL: ``role@host``)."""
    return grant.grantee == c.account or grant.grantee.rpartition("@")[0] in c.roles or grant.grantee in c.roles


def like(pattern: str, name: str) -> bool:
    """A database-level grant's name is a LIKE pattern (``_`` and ``%``, ``\\`` escapes)."""
    regex = ""
    escaped = False
    for char in pattern:
        if escaped:
            regex += re.escape(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            regex += ".*"
        elif char == "_":
            regex += "."
        else:
            regex += re.escape(char)
    return re.fullmatch(regex, name, flags=re.IGNORECASE) is not None


def privileges(c: Catalog) -> tuple[set[str], set[str], dict[str, set[str]]]:
    """(global, on the whole schema, per table) privileges of the account and its enabled roles."""
    held = [g for g in c.grants if mine(c, g)]
    on_all = {p for g in held if g.database is None for p in g.privileges}
    on_schema = on_all | {p for g in held if g.database is not None and g.table is None and like(g.database, c.schema)
                          for p in g.privileges}
    per_table: dict[str, set[str]] = {t: set(on_schema) for t in c.tables}
    for g in held:
        if g.database == c.schema and g.table in per_table:
            per_table[g.table] |= g.privileges
    return on_all, on_schema, per_table


def mapping(c: Catalog) -> Findings:
    """Privileges → findings, naming the tables and the GRANT that would fix each."""
    findings = Findings(scope=f"{c.account.split('@', 1)[0]} on database {c.schema}")
    if not c.schema_exists:
        findings.schema_missing = c.schema
        return findings
    on_all, on_schema, per_table = privileges(c)
    to = f"TO {_account(c)};"
    db = _db(c)
    where = f"database {c.schema}"

    def tables_with(verb: str, *needed: str) -> Finding:
        allowed = {t for t, held in per_table.items() if set(needed) <= held}
        return coverage(verb, where, c.tables, allowed, f"GRANT {', '.join(needed)} ON {db} {to}",
                        none_left=" Tables you create later follow the database-level grants.")

    truncating = tables_with("truncate", "DROP")
    if truncating.fix:
        truncating.fix = "-- MySQL has no TRUNCATE privilege: DROP also lets it drop these tables\n" + truncating.fix
    findings.access = {
        "READ": tables_with("read", "SELECT"),
        "WRITE": tables_with("insert into", "INSERT"),
        "CREATE": _in_scope("CREATE" in on_schema, f"You may create tables in {where}.",
                            f"You may not create tables in {where} (no CREATE privilege on it).",
                            f"GRANT CREATE ON {db} {to}"),
        "DELETE": tables_with("delete from", "DELETE"),
    }
    findings.capabilities = {
        "IDENTITY_WRITING": tables_with("insert explicit AUTO_INCREMENT values into", "INSERT"),
        "DATA_TRUNCATION": truncating,
        "DATA_DELETION": findings.access["DELETE"],
        "INDEX_MANAGEMENT": tables_with("create and drop the indexes of", "INDEX"),
        "FOREIGN_KEY_MANAGEMENT": tables_with("drop and re-create the foreign keys (ALTER TABLE) of",
                                              "ALTER", "CREATE", "INSERT"),
        "UNIQUE_CONSTRAINT_MANAGEMENT": tables_with("drop and re-create the unique constraints (indexes) of", "INDEX"),
        "SCHEMA_MANAGEMENT": _in_scope("CREATE" in on_all, "You may create databases (schemas) on this server.",
                                       "You may not create databases (schemas): that takes CREATE on *.*.",
                                       f"GRANT CREATE ON *.* {to}"),
    }
    if c.local_infile:
        infile = Finding.available("The server accepts LOAD DATA LOCAL INFILE (local_infile is ON).")
    else:
        infile = Finding.unavailable(
            "The server refuses LOAD DATA LOCAL INFILE (local_infile is OFF), so bulk loading falls back to INSERTs.",
            _LOCAL_INFILE_FIX,
        )
    findings.requirements["HIGH_PERFORMANCE_WRITING"] = [("local_infile", infile)]
    return findings


def _account(c: Catalog) -> str:
    """The account as GRANT names it: ``'user'@'host'``."""
    user, _, host = c.account.rpartition("@")
    return f"'{user}'@'{host}'"


def _db(c: Catalog) -> str:
    return f"`{c.schema.replace('`', '``')}`.*"


def _in_scope(allowed: bool, yes: str, no: str, fix: str) -> Finding:
    return Finding.available(yes) if allowed else Finding.unavailable(no, fix)


# --- the write probe -------------------------------------------------------------------------------

_PROBE_STEPS = (
    ("insert an explicit id", "INSERT INTO {t} (id, v) VALUES (7, 1)"),
    ("create a unique index", "CREATE UNIQUE INDEX {n}_uq ON {t} (v)"),
    ("delete", "DELETE FROM {t}"),
    ("truncate", "TRUNCATE TABLE {t}"),
)
_MARGIN_S = 0.5
"""Left for the explicit DROP: a step starts only with more than this before the deadline."""
PROBE_GRACE_S = 0.4
"""How far past the deadline the explicit DROP may run."""


def _bounded(c: Catalog, statement: str, seconds: float) -> str:
    """On MariaDB, ``statement`` aborted by the server after ``seconds`` (lock waits included)."""
    if not c.mariadb:
        return statement
    return f"SET STATEMENT max_statement_time = {max(0.05, seconds):.3f} FOR {statement}"


def write_probe(conn: Any, c: Catalog, findings: Findings, deadline: Deadline) -> None:
    """Create ``wizard_probe_<random>``, use it, and drop it explicitly; a table that cannot be dropped
    is reported as a leftover. Lock waits end before the deadline (``lock_wait_timeout``)."""
    name = probe_name()
    table = f"`{c.schema.replace('`', '``')}`.`{name}`"
    done: list[str] = []
    wait = max(1, int(deadline.remaining() - _MARGIN_S))
    cursor_rows_quiet(conn, f"SET SESSION lock_wait_timeout = {wait}")
    created = False
    try:
        cursor_rows(conn, _bounded(c, f"CREATE TABLE {table} (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
                                   deadline.remaining() - _MARGIN_S))
        created = True
        for what, statement in _PROBE_STEPS:
            if deadline.remaining() <= _MARGIN_S:
                findings.notes.append(f"The write probe stopped before it could {what}: the deadline was near.")
                break
            cursor_rows(conn, _bounded(c, statement.format(t=table, n=name), deadline.remaining() - _MARGIN_S))
            done.append(what)
    except Exception as exc:  # noqa: BLE001 - a refused step is an answer, not an error
        step = "create a table" if not created else next(w for w, _ in _PROBE_STEPS if w not in done)
        findings.notes.append(f"The write probe could not {step} in database {c.schema} ({_error(exc)}).")
        if not created:
            findings.access["CREATE"] = Finding.unavailable(
                f"The write probe could not create a table in database {c.schema}: {_error(exc)}.",
                findings.access["CREATE"].fix or f"GRANT CREATE ON {_db(c)} TO {_account(c)};",
            )
    finally:
        if created:
            _drop(conn, table, name, c, findings, done, deadline)


def _drop(conn: Any, table: str, name: str, c: Catalog, findings: Findings, done: list[str], deadline: Deadline) -> None:
    try:
        cursor_rows(conn, _bounded(c, f"DROP TABLE {table}", deadline.remaining() + PROBE_GRACE_S - 0.1))
    except Exception as exc:  # noqa: BLE001 - a table left behind is reported, never silently kept
        findings.leftovers.append(f"table {c.schema}.{name}")
        findings.notes.append(f"The write probe created table {c.schema}.{name} but could not drop it ({_error(exc)}).")
        return
    findings.access["CREATE"].reason += " Confirmed by the write probe."
    used = f", used it ({', '.join(done)})" if done else ""
    findings.notes.append(f"The write probe created table {c.schema}.{name}{used} and dropped it: nothing was kept.")


def cursor_rows_quiet(conn: Any, sql: str) -> None:
    """A session setting that may not exist on every server version: tried, never fatal."""
    try:
        cursor_rows(conn, sql)
    except Exception:  # noqa: BLE001 - best effort
        pass


def denied_fixes(params: CreateMySQLMariaDBConnector, schema: str | None) -> str:
    """The grant that lets a refused account use the database (a PERMISSION_DENIED test): its host is not known
    from outside, so ``'%'`` (any host) is written; narrow it to the wizard's address if you prefer."""
    database = (schema or params.database or "").replace("`", "``")
    user = str(params.username).replace("'", "''")
    return f"GRANT SELECT ON `{database}`.* TO '{user}'@'%';"
