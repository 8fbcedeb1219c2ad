"""MySQL / MariaDB live capabilities against the suite's own MariaDB: ALL on a database, SELECT only,
ALL on the server, local_infile on and off, and the write probe (dropped, left behind, cut off)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.capabilities.conftest import ask, item, statuses
from tests.conftest import DB, DEADLINE_S
from tests.helpers import wall_bound

PASSWORD = "Cap-Secret-4-Tests"
CAPDB = "capdb"


@pytest.fixture(scope="module")
def shop(mariadb: DB) -> Iterator[DB]:
    """Database capdb (an AUTO_INCREMENT table and a plain one) and its users."""
    server = mariadb.server
    server.sql(
        f"CREATE DATABASE {CAPDB}",
        f"CREATE TABLE {CAPDB}.orders (id INT AUTO_INCREMENT PRIMARY KEY, total INT)",
        f"CREATE TABLE {CAPDB}.audit_log (at DATETIME, what TEXT)",
        *(f"CREATE USER '{u}'@'%' IDENTIFIED BY '{PASSWORD}'" for u in ("cap_all", "cap_select", "cap_nodrop")),
        f"GRANT ALL ON {CAPDB}.* TO 'cap_all'@'%'",
        f"GRANT SELECT ON {CAPDB}.* TO 'cap_select'@'%'",
        f"GRANT INSERT ON {CAPDB}.orders TO 'cap_select'@'%'",
        f"GRANT SELECT, INSERT, DELETE, CREATE, INDEX ON {CAPDB}.* TO 'cap_nodrop'@'%'",
        "CREATE ROLE cap_writers",
        f"GRANT SELECT, INSERT, DELETE ON {CAPDB}.* TO cap_writers",
        "GRANT cap_writers TO 'cap_nodrop'@'%'",
    )
    yield mariadb
    server.sql(f"DROP DATABASE {CAPDB}", *(f"DROP USER '{u}'@'%'" for u in ("cap_all", "cap_select", "cap_nodrop")),
               "DROP ROLE cap_writers")


@pytest.fixture
def local_infile(shop: DB) -> Iterator[Any]:
    """Switch the suite's own server's local_infile (a global setting of the test fixture) and restore it."""

    def switch(on: bool) -> None:
        shop.server.sql(f"SET GLOBAL local_infile = {1 if on else 0}")

    yield switch
    switch(False)


def body(db: DB, user: str, password: str = PASSWORD) -> dict[str, Any]:
    return db.body("MySQLMariaDBConnector", username=user, password=password, database=CAPDB)


def catalog(db: DB) -> list[tuple[Any, ...]]:
    """Every schema, table, index and trigger of the server, as root sees them."""
    import pymysql

    from tests.servers.mariadb import ROOTPASS

    conn = pymysql.connect(unix_socket=str(db.server.workdir / "sock"), user="root", password=ROOTPASS)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT 'schema', SCHEMA_NAME, '' FROM information_schema.SCHEMATA "
                "UNION ALL SELECT 'table', TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema', 'mysql', 'sys') "
                "UNION ALL SELECT 'index', TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema', 'mysql', 'sys') "
                "UNION ALL SELECT 'trigger', EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS "
                "ORDER BY 1, 2, 3"
            )
            return list(cur.fetchall())
    finally:
        conn.close()


def test_all_on_a_database(client: httpx.Client, shop: DB) -> None:
    answer = ask(client, body(shop, "cap_all"))
    assert answer["scope"] == f"cap_all on database {CAPDB}"
    assert statuses(answer) == {
        "IDENTITY_WRITING": "available",
        "DATA_TRUNCATION": "available",
        "DATA_DELETION": "available",
        "INDEX_MANAGEMENT": "available",
        "FOREIGN_KEY_MANAGEMENT": "available",
        "UNIQUE_CONSTRAINT_MANAGEMENT": "available",
        "TRIGGER_MANAGEMENT": "not_supported",
        "SCHEMA_MANAGEMENT": "unavailable",
        "HIGH_PERFORMANCE_WRITING": "unavailable",
        "IDEMPOTENT_WRITING": "unavailable",
        "READ": "available",
        "WRITE": "available",
        "CREATE": "available",
        "DELETE": "available",
    }
    assert item(answer, "SCHEMA_MANAGEMENT")["fix"] == "GRANT CREATE ON *.* TO 'cap_all'@'%';"
    assert "manage tables" in item(answer, "IDEMPOTENT_WRITING")["reason"]


def test_all_on_the_server_with_local_infile_on(client: httpx.Client, shop: DB, local_infile: Any) -> None:
    local_infile(True)
    answer = ask(client, body(shop, "poweruser", "power-pw"))
    found = statuses(answer)
    assert found.pop("TRIGGER_MANAGEMENT") == "not_supported"
    assert set(found.values()) == {"available"}, answer


def test_local_infile_off_blocks_bulk_loading_and_says_what_the_fix_changes(
    client: httpx.Client, shop: DB, local_infile: Any
) -> None:
    local_infile(False)
    answer = ask(client, body(shop, "poweruser", "power-pw"))
    bulk = item(answer, "HIGH_PERFORMANCE_WRITING")
    assert bulk["status"] == "unavailable"
    assert "local_infile is OFF" in bulk["fix"]  # the why, folded into the fix as a comment
    assert bulk["fix"].splitlines()[-1] == "SET GLOBAL local_infile = 1;"
    assert "server-wide" in bulk["fix"]
    assert item(answer, "IDEMPOTENT_WRITING")["status"] == "available"


def test_select_only(client: httpx.Client, shop: DB) -> None:
    answer = ask(client, body(shop, "cap_select"))
    found = statuses(answer)
    assert found.pop("READ") == "available"
    assert found.pop("TRIGGER_MANAGEMENT") == "not_supported"
    assert set(found.values()) == {"unavailable"}, answer
    write = item(answer, "WRITE")
    assert write["reason"] == f"You may insert into 1 of the 2 tables of database {CAPDB}; not audit_log."
    assert write["fix"] == f"GRANT INSERT ON `{CAPDB}`.* TO 'cap_select'@'%';"
    truncation = item(answer, "DATA_TRUNCATION")
    assert f"GRANT DROP ON `{CAPDB}`.* TO 'cap_select'@'%';" in truncation["fix"].splitlines()
    assert "MySQL has no TRUNCATE privilege" in truncation["fix"]


def test_privileges_of_the_default_role_count(client: httpx.Client, shop: DB) -> None:
    """A user whose only rights on the database come from its default role (MariaDB roles)."""
    shop.server.sql(f"CREATE USER 'cap_roleonly'@'%' IDENTIFIED BY '{PASSWORD}'", "GRANT cap_writers TO 'cap_roleonly'@'%'")
    try:
        # The role is not enabled at login yet: the user may not even open the database.
        without = ask(client, body(shop, "cap_roleonly"))
        assert without["verdict"]["code"] == "PERMISSION_DENIED"
        assert set(statuses(without).values()) == {"unknown"}
        shop.server.sql("SET DEFAULT ROLE cap_writers FOR 'cap_roleonly'@'%'")
        found = statuses(ask(client, body(shop, "cap_roleonly")))
        assert (found["READ"], found["WRITE"], found["DELETE"], found["CREATE"]) == \
            ("available", "available", "available", "unavailable")
    finally:
        shop.server.sql("DROP USER 'cap_roleonly'@'%'")


def test_unknown_schema(client: httpx.Client, shop: DB) -> None:
    answer = ask(client, body(shop, "cap_all"), schema="no_such_db")
    assert answer["verdict"]["code"] == "SCHEMA_NOT_FOUND"
    assert list(answer["verdict"]["details"]) == ["schema"]
    assert set(statuses(answer).values()) == {"unknown"}


def test_nothing_is_written_without_the_probe(client: httpx.Client, shop: DB) -> None:
    before = catalog(shop)
    ask(client, body(shop, "cap_all"))
    assert catalog(shop) == before


def test_write_probe_creates_and_drops(client: httpx.Client, shop: DB) -> None:
    before = catalog(shop)
    answer = ask(client, body(shop, "cap_all"), write_probe=True)
    assert catalog(shop) == before
    assert answer["verdict"]["kind"] == "success"
    assert "and dropped it: nothing was kept" in answer["verdict"]["body"]
    assert "(confirmed by the write probe)" in item(answer, "CREATE")["reason"]


def test_write_probe_leftover_is_a_warning_naming_it(client: httpx.Client, shop: DB) -> None:
    """CREATE without DROP: the probe table cannot be dropped; the verdict names it."""
    before = catalog(shop)
    answer = ask(client, body(shop, "cap_nodrop"), write_probe=True)
    left = [row for row in catalog(shop) if row not in before]
    try:
        tables = [row[2] for row in left if row[0] == "table"]
        assert len(tables) == 1 and {row[0] for row in left} == {"table", "index"}  # the table and its indexes
        table = tables[0]
        assert table.startswith("wizard_probe_")
        assert answer["verdict"]["kind"] == "warning"
        assert f"{CAPDB}.{table}" in answer["verdict"]["body"]
        assert item(answer, "DATA_TRUNCATION")["status"] == "unavailable"
    finally:
        for row in left:
            if row[0] == "table":
                shop.server.sql(f"DROP TABLE {CAPDB}.{row[2]}")
    assert catalog(shop) == before


@pytest.mark.deadline
def test_write_probe_cut_off_by_the_deadline(client: httpx.Client, shop: DB) -> None:
    """A global read lock held by another session: the probe's CREATE waits, and gives up before the deadline."""
    import pymysql

    from tests.servers.mariadb import ROOTPASS

    before = catalog(shop)
    blocker = pymysql.connect(unix_socket=str(shop.server.workdir / "sock"), user="root", password=ROOTPASS)
    result: dict[str, Any] = {}
    try:
        with blocker.cursor() as cur:
            cur.execute("FLUSH TABLES WITH READ LOCK")
        started = time.monotonic()
        asking = threading.Thread(target=lambda: result.update(ask(client, body(shop, "cap_all"), write_probe=True)))
        asking.start()
        asking.join(wall_bound(DEADLINE_S + 0.5))
        elapsed = time.monotonic() - started
    finally:
        with blocker.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        blocker.close()
    assert result["elapsed_ms"] < (DEADLINE_S + 0.5) * 1000, "within the deadline, as the server measured it"
    assert elapsed < wall_bound(DEADLINE_S + 0.5)
    assert result["verdict"]["code"] == "CONNECTION_SUCCESSFUL"
    assert "could not create a table" in result["verdict"]["body"]
    time.sleep(0.5)  # anything the probe still did after the answer would show now
    assert catalog(shop) == before


# --- SHOW GRANTS, as MariaDB and MySQL 8 write it (pure) -----------------------------------------


def test_show_grants_lines_become_grants() -> None:
    from backend.capabilities.mysql import Catalog, parse_grants, privileges

    lines = [
        "GRANT USAGE ON *.* TO `etl`@`%` IDENTIFIED BY PASSWORD '*0000000000000000000000000000000000000000'",
        "GRANT `writers` TO `etl`@`%`",
        "GRANT SELECT, INSERT (`total`, `at`), DELETE ON `shop`.`orders` TO `etl`@`%`",
        "GRANT ALL PRIVILEGES ON `shop\\_%`.* TO `writers` WITH GRANT OPTION",
        "GRANT EXECUTE ON PROCEDURE `shop`.`refresh` TO `etl`@`%`",
        "GRANT CREATE ON *.* TO 'other'@'localhost'",
        "GRANT INSERT ON `shop`.* TO `readers`@`%`",
    ]
    grants = parse_grants(lines)
    assert [(g.grantee, g.database, g.table) for g in grants] == [
        ("etl@%", None, None), ("etl@%", "shop", "orders"), ("writers", "shop\\_%", None), ("other@localhost", None, None),
        ("readers@%", "shop", None),
    ]
    assert grants[1].privileges == {"SELECT", "DELETE"}  # INSERT on two columns does not reach the table
    catalog = Catalog("etl@%", "shop_eu", False, True, roles=["writers"], grants=grants, tables=["orders"])
    on_all, on_schema, per_table = privileges(catalog)
    assert on_all == set()
    assert {"INSERT", "DROP", "INDEX", "ALTER"} <= on_schema  # ALL on the pattern shop\_% reaches shop_eu
    catalog.schema = "shop"
    _, on_schema, per_table = privileges(catalog)
    assert on_schema == set() and per_table["orders"] == {"SELECT", "DELETE"}  # readers@% is not an enabled role
