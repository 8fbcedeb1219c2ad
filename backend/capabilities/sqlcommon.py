"""What the SQL examinations share: running the blocking catalog work inside the test's deadline,
identifier quoting for pasteable fixes, and the answer when the catalog itself is refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from backend.capabilities.facts import Finding, Findings
from backend.capabilities.rules import ACCESS_NAMES, CAPABILITY_NAMES
from backend.core import RunContext
from backend.diagnosis.stages import run_blocking

T = TypeVar("T")

_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")
_RESERVED = {
    "all", "analyse", "analyze", "and", "any", "as", "asc", "both", "case", "check", "column", "constraint",
    "create", "default", "desc", "distinct", "do", "else", "end", "for", "foreign", "from", "grant", "group",
    "having", "in", "index", "into", "is", "key", "limit", "not", "null", "on", "or", "order", "primary",
    "references", "select", "table", "then", "to", "trigger", "union", "unique", "user", "using", "when", "where",
    "with",
}


def quoted(name: str, quote: str = '"') -> str:
    """``name`` as an identifier a fix can carry: bare when plain lower case, else quoted (quotes doubled)."""
    if _PLAIN.match(name) and name not in _RESERVED:
        return name
    return f"{quote}{name.replace(quote, quote * 2)}{quote}"


async def in_deadline(fn: Callable[[], T], ctx: RunContext) -> T:
    """``fn`` (blocking catalog queries) in its own thread, abandoned at the test's deadline."""
    return await run_blocking(fn, ctx.deadline, "the privilege catalog")


def catalog_refused(scope: str, why: str) -> Findings:
    """Every item unknown: the server did not let this user read what the answer needs."""
    reason = f"The server did not let this user read its privilege catalog ({why}), so this could not be told."
    unknown = Finding.unknown(reason)
    return Findings(
        scope=scope,
        capabilities=dict.fromkeys(CAPABILITY_NAMES, unknown),
        access=dict.fromkeys(ACCESS_NAMES, unknown),
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def cursor_rows(conn: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    """All rows of one query (DB-API)."""
    cur = conn.cursor()
    try:
        cur.execute(sql, args) if args is not None else cur.execute(sql)
        return list(cur.fetchall())
    finally:
        cur.close()


PROBE_NOT_VERIFIED = (
    "The write probe is not run on {label}: this examination is not verified against a live {label} server yet, "
    "so it writes nothing; the answer comes from the privilege catalog."
)
