"""Oracle: the privileges → capabilities mapping on rows shaped like SESSION_PRIVS, SESSION_ROLES,
USER_TAB_PRIVS and ROLE_TAB_PRIVS (not verified against a live Oracle server: the suite has none)."""

from __future__ import annotations

from backend.capabilities.oracle import grants_from, mapping
from tests.capabilities.conftest import answer_of, item, statuses

TABLES = ["AUDIT_LOG", "CUSTOMERS", "ORDERS"]


def answer(user="ETL", schema="SALES", privs=("CREATE SESSION",), roles=(), user_tab=(), role_tab=()):
    return answer_of("OracleConnector", mapping(grants_from(user, "ORCL", schema, TABLES, privs, roles, user_tab, role_tab)))


def test_owner_of_the_schema() -> None:
    found = answer(user="SALES", privs=("CREATE SESSION", "CREATE TABLE"))
    assert statuses(found) == {
        "IDENTITY_WRITING": "available", "DATA_TRUNCATION": "available", "DATA_DELETION": "available",
        "INDEX_MANAGEMENT": "available", "FOREIGN_KEY_MANAGEMENT": "available",
        "UNIQUE_CONSTRAINT_MANAGEMENT": "available", "TRIGGER_MANAGEMENT": "available",
        "SCHEMA_MANAGEMENT": "unavailable", "HIGH_PERFORMANCE_WRITING": "available",
        "IDEMPOTENT_WRITING": "unavailable", "READ": "available", "WRITE": "available", "CREATE": "available",
        "DELETE": "available",
    }
    assert item(found, "SCHEMA_MANAGEMENT")["fix"].endswith("GRANT CREATE USER TO SALES;")


def test_writer_through_a_role_cannot_truncate() -> None:
    role_tab = [("ETL_WRITER", t, p) for t in TABLES for p in ("SELECT", "INSERT", "UPDATE", "DELETE")]
    found = answer(roles=("ETL_WRITER",), role_tab=role_tab)
    assert statuses(found)["WRITE"] == "available" and statuses(found)["DATA_DELETION"] == "available"
    truncation = item(found, "DATA_TRUNCATION")
    assert truncation["status"] == "unavailable"
    assert "DROP ANY TABLE" in truncation["fix"]
    assert "GRANT DROP ANY TABLE TO ETL;" in truncation["fix"].splitlines()


def test_grants_of_a_role_not_enabled_do_not_count() -> None:
    role_tab = [("OTHER_ROLE", t, "INSERT") for t in TABLES]
    assert statuses(answer(role_tab=role_tab))["WRITE"] == "unavailable"


def test_direct_grants_on_some_tables() -> None:
    user_tab = [("ETL", "ORDERS", "INSERT"), ("ETL", "CUSTOMERS", "INSERT"), ("PUBLIC", "AUDIT_LOG", "SELECT")]
    found = answer(user_tab=user_tab)
    assert item(found, "WRITE")["reason"] == "You may insert into 2 of the 3 tables of schema SALES; not AUDIT_LOG."
    assert item(found, "READ")["reason"] == "You may read 1 of the 3 tables of schema SALES; not CUSTOMERS, ORDERS."


def test_any_privileges_cover_every_table() -> None:
    privs = ("SELECT ANY TABLE", "INSERT ANY TABLE", "DELETE ANY TABLE", "DROP ANY TABLE", "ALTER ANY TABLE",
             "CREATE ANY INDEX", "CREATE ANY TABLE", "CREATE USER")
    found = answer(privs=privs, user_tab=[("ETL", t, "REFERENCES") for t in TABLES])
    assert set(statuses(found).values()) == {"available"}
