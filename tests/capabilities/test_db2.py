"""Db2: the authorities → capabilities mapping on rows shaped like SYSCAT.DBAUTH, TABAUTH, SCHEMAAUTH
and TABLES (not verified against a live Db2 server: the suite has none)."""

from __future__ import annotations

from backend.capabilities.db2 import grants_from, mapping
from tests.capabilities.conftest import answer_of, item, statuses

TABLES = [("AUDIT_LOG", "ADMIN"), ("CUSTOMERS", "ADMIN"), ("ORDERS", "ADMIN")]
NO_DB = ("ETL", "U", "N", "N", "N", "N", "N")


def tabauth(grantee, kind, table, control="N", alter="N", delete="N", index="N", insert="N", select="N", ref="N"):
    return (grantee, kind, table, control, alter, delete, index, insert, select, ref)


def answer(user="ETL", tables=TABLES, roles=(), dbauth=(NO_DB,), tab=(), schemaauth=()):
    return answer_of("DB2Connector", mapping(grants_from(user, "SAMPLE", "SALES", tables, roles, dbauth, tab, schemaauth)))


def test_writer_may_delete_and_truncate_but_not_alter() -> None:
    tab = [tabauth("ETL", "U", t, delete="Y", insert="Y", select="G") for t, _ in TABLES]
    found = answer(tab=tab)
    assert statuses(found) == {
        "IDENTITY_WRITING": "unavailable", "DATA_TRUNCATION": "unavailable", "DATA_DELETION": "available",
        "INDEX_MANAGEMENT": "unavailable", "FOREIGN_KEY_MANAGEMENT": "unavailable",
        "UNIQUE_CONSTRAINT_MANAGEMENT": "unavailable", "TRIGGER_MANAGEMENT": "unavailable",
        "SCHEMA_MANAGEMENT": "unavailable", "HIGH_PERFORMANCE_WRITING": "unavailable",
        "IDEMPOTENT_WRITING": "unavailable", "READ": "available", "WRITE": "available", "CREATE": "unavailable",
        "DELETE": "available",
    }
    # TRUNCATE needs only DELETE in Db2; it is unavailable here because it depends on FOREIGN_KEY_MANAGEMENT.
    assert "manage foreign keys" in item(found, "DATA_TRUNCATION")["reason"]
    assert "You may truncate all 3 tables" in item(found, "DATA_TRUNCATION")["fix"]  # its own part, folded


def test_owner_holds_control() -> None:
    dbauth = [("ETL", "U", "N", "Y", "Y", "Y", "N")]
    found = answer(tables=[(t, "ETL") for t, _ in TABLES], dbauth=dbauth, schemaauth=[("ETL", "U", "Y", "Y", "Y")])
    assert set(statuses(found).values()) == {"available"}


def test_public_and_role_grants_count_other_users_do_not() -> None:
    tab = [tabauth("PUBLIC", "G", "ORDERS", select="Y"), tabauth("READERS", "R", "CUSTOMERS", select="Y"),
           tabauth("SOMEONE", "U", "AUDIT_LOG", select="Y")]
    found = answer(roles=("READERS",), tab=tab)
    assert item(found, "READ")["reason"] == "You may read 2 of the 3 tables of schema SALES; not AUDIT_LOG."


def test_load_authority_for_bulk_loading() -> None:
    tab = [tabauth("ETL", "U", t, control="Y") for t, _ in TABLES]
    without = item(answer(tab=tab, dbauth=[("ETL", "U", "N", "N", "Y", "N", "N")]), "HIGH_PERFORMANCE_WRITING")
    assert without["status"] == "unavailable" and "GRANT LOAD ON DATABASE TO USER ETL;" in without["fix"]
    with_load = item(answer(tab=tab, dbauth=[("ETL", "U", "N", "N", "Y", "Y", "N")]), "HIGH_PERFORMANCE_WRITING")
    assert with_load["status"] == "available"
