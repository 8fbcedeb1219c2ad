"""SQL Server: the permissions → capabilities mapping on rows shaped like fn_my_permissions' output.

Not verified against a live SQL Server (the suite has none); these rows follow the documented
columns (entity_name, subentity_name, permission_name) as the module's queries select them.
"""

from __future__ import annotations

from backend.capabilities.mssql import grants_from, mapping
from tests.capabilities.conftest import answer_of, item, statuses

TABLES = ["audit_log", "customers", "orders"]
WRITER_ROWS = [(t, p) for t in TABLES for p in ("SELECT", "INSERT", "UPDATE", "DELETE")]


def answer(table_rows, schema=(), database=(), server=("CONNECT SQL",)):
    grants = grants_from("etl", "sales_db", "sales", TABLES, table_rows, schema, database, server)
    return answer_of("MsSQLConnector", mapping(grants))


def test_writer_without_alter() -> None:
    found = answer(WRITER_ROWS, database=("CONNECT",))
    assert statuses(found) == {
        "IDENTITY_WRITING": "unavailable", "DATA_TRUNCATION": "unavailable", "DATA_DELETION": "available",
        "INDEX_MANAGEMENT": "unavailable", "FOREIGN_KEY_MANAGEMENT": "unavailable",
        "UNIQUE_CONSTRAINT_MANAGEMENT": "unavailable", "TRIGGER_MANAGEMENT": "unavailable",
        "SCHEMA_MANAGEMENT": "unavailable", "HIGH_PERFORMANCE_WRITING": "unavailable",
        "IDEMPOTENT_WRITING": "unavailable", "READ": "available", "WRITE": "available", "CREATE": "unavailable",
        "DELETE": "available",
    }
    assert "GRANT ALTER ON SCHEMA::[sales] TO [etl];" in item(found, "DATA_TRUNCATION")["fix"]
    assert item(found, "CREATE")["fix"] == "GRANT CREATE TABLE TO [etl];\nGRANT ALTER ON SCHEMA::[sales] TO [etl];"


def test_alter_on_some_tables_names_the_others() -> None:
    rows = [*WRITER_ROWS, ("orders", "ALTER"), ("customers", "ALTER")]
    truncation = item(answer(rows), "DATA_TRUNCATION")
    assert truncation["status"] == "unavailable"
    assert "You may truncate 2 of the 3 tables of schema sales; not audit_log." in truncation["reason"]


def test_bulk_operations_need_the_server_permission() -> None:
    rows = [*WRITER_ROWS, *((t, p) for t in TABLES for p in ("ALTER", "REFERENCES"))]
    owner_like = answer(rows, schema=("ALTER",), database=("CREATE TABLE", "CREATE SCHEMA"))
    bulk = item(owner_like, "HIGH_PERFORMANCE_WRITING")
    assert bulk["status"] == "unavailable"
    assert "ADMINISTER BULK OPERATIONS" in bulk["reason"]
    assert bulk["fix"].endswith("USE master; GRANT ADMINISTER BULK OPERATIONS TO [etl];")
    assert item(owner_like, "IDEMPOTENT_WRITING")["status"] == "available"
    with_bulk = answer(rows, schema=("ALTER",), database=("CREATE TABLE", "CREATE SCHEMA"),
                       server=("ADMINISTER BULK OPERATIONS",))
    assert set(statuses(with_bulk).values()) == {"available"}


def test_control_server_passes_every_check() -> None:
    assert set(statuses(answer([], server=("CONTROL SERVER", "ADMINISTER BULK OPERATIONS"))).values()) == {"available"}


def test_a_reader_has_nothing_to_write_with() -> None:
    found = answer([(t, "SELECT") for t in TABLES])
    assert statuses(found)["READ"] == "available"
    assert item(found, "WRITE")["reason"] == "You may not insert into any of the 3 tables of schema sales " \
                                            "(audit_log, customers, orders)."
