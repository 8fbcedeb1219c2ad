"""The catalog SQL of the engines no server here runs (SQL Server, Oracle, Db2, ASE, Databricks), checked
without a server: every query parses with sqlglot in its engine's dialect, and where a mapper unpacks
a query's rows (``for grantee, table, privilege in rows(QUERY)``, ``user, db = rows(WHO)[0]``) it
reads exactly as many columns as the query's select list has, and a mapper that reads a row by
name reads a column the query selects.

Db2 has no sqlglot dialect: its queries are read with sqlglot's default (ANSI) dialect, the special
registers spelled with an underscore (``CURRENT_USER``: Db2 accepts both spellings).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlglot
from sqlglot import expressions as exp

BACKEND = Path(__file__).resolve().parents[1] / "backend"
DIALECTS = {"mssql": "tsql", "sybase": "tsql", "oracle": "oracle", "db2": "", "databricks": "databricks"}
"""Module name (in ``capabilities/`` and ``connectors/``) → sqlglot dialect ("" the default)."""
FILES = [
    *[(BACKEND / folder / f"{name}.py", dialect) for name, dialect in DIALECTS.items()
      for folder in ("capabilities", "connectors")],
    *[(path, "tsql") for path in sorted((BACKEND / "connectors" / "_tds").glob("*.py"))],
]
QUERY = re.compile(r"^\s*(SELECT|WITH)\s+[^|+]*?(\bFROM\b|\()", re.I | re.S)
"""A query, not a privilege's name (``SELECT ANY TABLE``, ``SELECT | OWNER``)."""
_DB2_REGISTERS = re.compile(r"\bCURRENT\s+(USER|SERVER|SCHEMA|TIMESTAMP|DATE)\b", re.I)
_TEMPLATE = re.compile(r"\{[a-z_]+\}")


@dataclass(frozen=True)
class Query:
    path: Path
    line: int
    name: str | None
    """The module-level constant holding it, if any."""
    sql: str
    dialect: str

    def parsed(self) -> exp.Expr:
        text = _TEMPLATE.sub("'x'", self.sql)  # str.format templates: {principal}
        if self.path.stem == "db2":
            text = _DB2_REGISTERS.sub(lambda m: f"CURRENT_{m.group(1).upper()}", text)
        return sqlglot.parse_one(text, read=self.dialect or None)

    def columns(self) -> list[exp.Expr]:
        found = self.parsed()
        select = found if isinstance(found, exp.Select) else found.find(exp.Select)
        assert select is not None, self
        return list(select.selects)

    def __str__(self) -> str:
        return f"{self.path.relative_to(BACKEND.parent)}:{self.line}"


def queries() -> list[Query]:
    found: list[Query] = []
    for path, dialect in FILES:
        if not path.exists():
            continue
        tree = ast.parse(path.read_text())
        names = {id(node.value): node.targets[0].id for node in tree.body
                 if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and QUERY.match(node.value):
                found.append(Query(path, node.lineno, names.get(id(node)), node.value, dialect))
    return found


QUERIES = queries()


def test_the_queries_are_found() -> None:
    """Each of the five engines has catalog queries, in capabilities/ and in its connector."""
    assert {q.path.stem for q in QUERIES} >= set(DIALECTS)
    assert len(QUERIES) >= 30


@pytest.mark.parametrize("query", QUERIES, ids=str)
def test_every_catalog_query_parses_in_its_dialect(query: Query) -> None:
    columns = query.columns()
    assert columns and not any(isinstance(c, exp.Star) for c in columns), "name the columns a mapper reads"


def unpackings(path: Path) -> list[tuple[int, str, int]]:
    """``(line, constant, columns read)`` wherever a tuple is unpacked from rows of a module-level query."""
    tree = ast.parse(path.read_text())
    constants = {q.name for q in QUERIES if q.path == path and q.name}
    found: list[tuple[int, str, int]] = []

    def used(node: ast.AST) -> str | None:
        return next((n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in constants), None)

    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.target, ast.Tuple):
            name = used(node.iter)
            if name:
                found.append((getattr(node, "lineno", node.iter.lineno), name, len(node.target.elts)))
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple) \
                and isinstance(node.value, ast.Subscript):
            name = used(node.value)
            if name:
                found.append((node.lineno, name, len(node.targets[0].elts)))
    return found


@pytest.mark.parametrize(("path", "dialect"), [f for f in FILES if f[0].exists()], ids=lambda p: str(p)[-30:])
def test_the_mappers_read_the_columns_the_queries_select(path: Path, dialect: str) -> None:
    by_name = {q.name: q for q in QUERIES if q.path == path and q.name}
    for line, name, read in unpackings(path):
        selected = len(by_name[name].columns())
        assert read == selected, f"{path.name}:{line} unpacks {read} columns of {name}, which selects {selected}"
    for query in by_name.values():
        text = path.read_text()
        for key in re.findall(rf"\b{query.name}\b[^\n]*?\[\"([A-Za-z_]+)\"\]", text):
            names = {c.alias_or_name.lower() for c in query.columns()}
            assert key.lower() in names, f"{path.name} reads {key} of {query.name}, which selects {sorted(names)}"


def test_the_arity_check_can_fail(tmp_path: Path) -> None:
    """A mapper unpacking three columns of a two-column query is caught."""
    module = tmp_path / "oracle.py"
    module.write_text('Q = "SELECT GRANTEE, PRIVILEGE FROM USER_TAB_PRIVS"\n'
                      "def f(rows):\n    return [(g, t, p) for g, t, p in rows(Q)]\n")
    query = Query(module, 1, "Q", "SELECT GRANTEE, PRIVILEGE FROM USER_TAB_PRIVS", "oracle")
    QUERIES.append(query)
    try:
        with pytest.raises(AssertionError, match="unpacks 3 columns of Q, which selects 2"):
            test_the_mappers_read_the_columns_the_queries_select(module, "oracle")
    finally:
        QUERIES.remove(query)
