"""Privileges per table → findings, for the databases whose catalogs are read into one common shape.

SQL Server, Oracle, Db2, SAP ASE and Databricks each have their own catalog (``fn_my_permissions``,
``SESSION_PRIVS``/``USER_TAB_PRIVS``, ``SYSCAT.*AUTH``, ``sp_helprotect``, ``SHOW GRANTS``); their
modules turn its rows into :class:`Grants` (the privileges this user holds on each table of the
schema, ownership counted as ``OWNER``, and what it may create), and name, per item, which
privileges suffice (:class:`Need`) and the statement that grants them. This module does the rest
the same way for all five.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.capabilities.facts import ACCESS_NAMES, Finding, Findings, coverage

OWNER = "OWNER"
"""Held on the tables this user owns: every right that comes with ownership."""


@dataclass(frozen=True)
class Need:
    """What one item needs on every table: any one of ``any_of`` (each a set held together)."""

    verb: str
    """Reads after "you may": "truncate", "insert into"."""
    any_of: tuple[frozenset[str], ...]
    fix: str
    """The statement to paste; ``{schema}``, ``{user}``, ``{database}`` are filled in."""
    note: str = ""
    """Appended to an unavailable reason (e.g. "only the owner may; no GRANT gives it")."""

    @classmethod
    def of(cls, verb: str, alternatives: str, fix: str, note: str = "") -> Need:
        """``alternatives``: "INSERT | OWNER" (any one), "ALTER+REFERENCES | OWNER" (held together)."""
        sets = tuple(frozenset(p.strip() for p in alt.split("+")) for alt in alternatives.split("|"))
        return cls(verb, sets, fix, note)


@dataclass
class Grants:
    """One user's privileges in one schema, in the common shape."""

    user: str
    database: str
    schema: str
    scope: str
    tables: list[str]
    held: dict[str, set[str]]
    """Table → privileges held on it (schema-, database- and system-wide ones included; OWNER when owned)."""
    create_tables: Finding
    create_schemas: Finding
    all_powerful: str | None = None
    """Why no check applies (sysadmin, DBADM…), or None."""
    requirements: dict[str, list[tuple[str, Finding]]] = field(default_factory=dict)


def findings_from(g: Grants, needs: dict[str, Need]) -> Findings:
    """Findings for READ, WRITE, DELETE and every capability in ``needs`` (SCHEMA_MANAGEMENT from ``create_schemas``)."""
    findings = Findings(scope=g.scope, requirements=g.requirements)
    if g.all_powerful:
        everything = Finding.available(g.all_powerful)
        findings.access = dict.fromkeys(ACCESS_NAMES, everything)
        findings.capabilities = dict.fromkeys([*needs, "SCHEMA_MANAGEMENT"], everything)
        return findings
    where = f"schema {g.schema}"

    def check(need: Need) -> Finding:
        allowed = {t for t in g.tables if any(alt <= g.held.get(t, set()) for alt in need.any_of)}
        fix = _fix(need.fix, g, [t for t in g.tables if t not in allowed])
        found = coverage(need.verb, where, g.tables, allowed, fix)
        if need.note and found.fix:
            found.reason = f"{found.reason} {need.note}"
        return found

    findings.access = {name: check(needs[name]) for name in ("READ", "WRITE", "DELETE")}
    findings.access["CREATE"] = g.create_tables
    findings.capabilities = {name: check(need) for name, need in needs.items() if name not in findings.access}
    findings.capabilities["SCHEMA_MANAGEMENT"] = g.create_schemas
    return findings


def _fix(template: str, g: Grants, refused: list[str]) -> str:
    """The fix with the names filled in; a per-table template (``{table}``) becomes one line per refused table."""
    lines = []
    for line in template.splitlines():
        if "{table}" in line:
            lines += [line.format(schema=g.schema, user=g.user, database=g.database, table=t) for t in refused]
        else:
            lines.append(line.format(schema=g.schema, user=g.user, database=g.database))
    return "\n".join(lines)


def allowed_or(ok: bool, yes: str, no: str, fix: str) -> Finding:
    return Finding.available(yes) if ok else Finding.unavailable(no, fix)
