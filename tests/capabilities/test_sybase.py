"""SAP ASE: the permissions → capabilities mapping on rows shaped like sp_helprotect's output
(grantor, grantee, type, action, object, column, grantable) and sysobjects ownership (not verified
against a live ASE server: the suite has none)."""

from __future__ import annotations

from backend.capabilities.sybase import grants_from, mapping
from tests.capabilities.conftest import answer_of, item, statuses

TABLES = [("audit_log", "sales"), ("customers", "sales"), ("orders", "sales")]


def grant(action, obj, grantee="etl", kind="Grant", column="All"):
    return ("dbo", grantee, kind, action, obj, column, "FALSE")


def answer(user="etl", rows=(), user_id=5, sa_role=False, bulkcopy=True):
    return answer_of("SybaseConnector", mapping(grants_from(user, "salesdb", "sales", user_id, sa_role, TABLES, rows,
                                                            bulkcopy)))


def test_writer_of_another_users_tables() -> None:
    rows = [grant(a, f"sales.{t}") for t, _ in TABLES for a in ("Select", "Insert", "Delete")]
    found = answer(rows=rows)
    assert statuses(found)["WRITE"] == "available"
    index = item(found, "INDEX_MANAGEMENT")
    assert index["status"] == "unavailable" and "Only the table's owner may" in index["fix"]
    assert "exec sp_changeobjectowner 'sales.orders', 'etl'" in index["fix"].splitlines()
    truncation = item(found, "DATA_TRUNCATION")
    assert "GRANT TRUNCATE TABLE ON sales.audit_log TO etl" in truncation["fix"].splitlines()


def test_a_revoke_row_takes_the_grant_back() -> None:
    rows = [grant("Insert", f"sales.{t}") for t, _ in TABLES] + [grant("Insert", "sales.audit_log", kind="Revoke")]
    assert item(answer(rows=rows), "WRITE")["reason"] == \
        "You may insert into 2 of the 3 tables of schema sales; not audit_log."


def test_owner_and_bulkcopy_option() -> None:
    owner = answer(user="sales", rows=[grant("Create Table", "", grantee="sales")])
    found = statuses(owner)
    assert found.pop("SCHEMA_MANAGEMENT") == "unavailable"  # a new schema is a new user: only the dbo adds one
    assert found.pop("HIGH_PERFORMANCE_WRITING") == "unavailable"  # it needs SCHEMA_MANAGEMENT
    assert set(found.values()) == {"available"}
    slow = item(answer(sa_role=True, bulkcopy=False), "HIGH_PERFORMANCE_WRITING")
    assert slow["status"] == "unavailable"
    assert "exec sp_dboption salesdb, 'select into/bulkcopy/pllsort', true" in slow["fix"].splitlines()
    unknown = item(answer(sa_role=True, bulkcopy=None), "HIGH_PERFORMANCE_WRITING")
    assert unknown["status"] == "unknown"


def test_sa_role_passes_every_check() -> None:
    assert set(statuses(answer(sa_role=True)).values()) == {"available"}
    assert set(statuses(answer(user_id=1)).values()) == {"available"}  # the database owner
