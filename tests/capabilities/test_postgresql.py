"""PostgreSQL live capabilities against the suite's own server: an owner, a writer, a reader, an outsider."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.capabilities.conftest import CAPABILITY_NAMES, ask, item, statuses
from tests.conftest import DB, DEADLINE_S
from tests.helpers import wall_bound

SCHEMA = "capshop"
PASSWORD = "Cap-Secret-4-Tests"
ROLES = ("cap_owner", "cap_writer", "cap_reader", "cap_none")


@pytest.fixture(scope="module")
def shop(postgres: DB) -> Iterator[DB]:
    """Schema capshop owned by cap_owner (3 tables: identity, serial, plain) and three other users."""
    server = postgres.server
    server.sql(*(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'" for role in ROLES),
               *(f"GRANT CONNECT ON DATABASE appdb TO {role}" for role in ROLES),
               "GRANT CREATE ON DATABASE appdb TO cap_owner")
    server.sql(
        f"CREATE SCHEMA {SCHEMA} AUTHORIZATION cap_owner",
        "SET ROLE cap_owner",
        f"CREATE TABLE {SCHEMA}.orders (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, total numeric)",
        f"CREATE TABLE {SCHEMA}.customers (id serial PRIMARY KEY, name text UNIQUE)",
        f"CREATE TABLE {SCHEMA}.audit_log (at timestamptz, what text)",
        f"CREATE INDEX audit_at ON {SCHEMA}.audit_log (at)",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO cap_writer, cap_reader",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {SCHEMA} TO cap_writer",
        f"REVOKE INSERT ON {SCHEMA}.audit_log FROM cap_writer",
        f"GRANT UPDATE ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO cap_writer",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO cap_reader",
        "RESET ROLE",
        database="appdb",
    )
    yield postgres
    server.sql(f"DROP SCHEMA {SCHEMA} CASCADE", database="appdb")
    server.sql("REVOKE ALL ON DATABASE appdb FROM cap_owner, cap_writer, cap_reader, cap_none",
               *(f"DROP ROLE {role}" for role in ROLES))


def body(db: DB, user: str) -> dict[str, Any]:
    return db.body("PostgreSQLConnector", username=user, password=PASSWORD)


def catalog(db: DB) -> list[tuple[Any, ...]]:
    """Every schema, table, index, constraint, trigger and sequence of appdb outside the system schemas."""
    import psycopg2

    from tests.servers.postgres import SUPERPASS, SUPERUSER

    conn = psycopg2.connect(host=db.host, port=db.port, user=SUPERUSER, password=SUPERPASS, dbname="appdb")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT 'schema', nspname, '' FROM pg_namespace "
                "UNION ALL SELECT 'relation:' || c.relkind::text, n.nspname, c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg_toast%' "
                "UNION ALL SELECT 'constraint', conrelid::regclass::text, conname FROM pg_constraint "
                "UNION ALL SELECT 'trigger', tgrelid::regclass::text, tgname FROM pg_trigger ORDER BY 1, 2, 3"
            )
            return list(cur.fetchall())
    finally:
        conn.close()


def test_owner_may_do_everything(client: httpx.Client, shop: DB) -> None:
    answer = ask(client, body(shop, "cap_owner"), schema=SCHEMA)
    assert answer["verdict"]["code"] == "CONNECTION_SUCCESSFUL"
    assert answer["scope"] == f"cap_owner on database appdb, schema {SCHEMA}"
    assert SCHEMA in answer["schemas"] and "public" in answer["schemas"]
    assert set(statuses(answer).values()) == {"available"}, answer
    assert item(answer, "DATA_TRUNCATION")["reason"] == f"You may truncate all 3 tables of schema {SCHEMA}."


def test_writer_without_truncate_and_ownership(client: httpx.Client, shop: DB) -> None:
    answer = ask(client, body(shop, "cap_writer"), schema=SCHEMA)
    assert statuses(answer) == {
        "IDENTITY_WRITING": "available",
        "DATA_TRUNCATION": "unavailable",
        "DATA_DELETION": "available",
        "INDEX_MANAGEMENT": "unavailable",
        "FOREIGN_KEY_MANAGEMENT": "unavailable",
        "UNIQUE_CONSTRAINT_MANAGEMENT": "unavailable",
        "TRIGGER_MANAGEMENT": "unavailable",
        "SCHEMA_MANAGEMENT": "unavailable",
        "HIGH_PERFORMANCE_WRITING": "unavailable",
        "IDEMPOTENT_WRITING": "unavailable",
        "READ": "available",
        "WRITE": "unavailable",
        "CREATE": "unavailable",
        "DELETE": "available",
    }
    write = item(answer, "WRITE")
    assert write["reason"] == f"You may insert into 2 of the 3 tables of schema {SCHEMA}; not audit_log."
    assert write["fix"] == f"GRANT INSERT ON ALL TABLES IN SCHEMA {SCHEMA} TO cap_writer;"
    index = item(answer, "INDEX_MANAGEMENT")
    assert "Only the table's owner may (no GRANT gives it)." in index["fix"]
    assert index["fix"].splitlines()[-1] == "GRANT cap_owner TO cap_writer;"
    # Truncating needs foreign keys dropped first (depends_on): both fixes are given.
    truncation = item(answer, "DATA_TRUNCATION")
    assert "It also needs manage foreign keys" in truncation["fix"]  # the why, folded into the fix as a comment
    assert f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA {SCHEMA} TO cap_writer;" in truncation["fix"].splitlines()
    assert item(answer, "SCHEMA_MANAGEMENT")["fix"] == "GRANT CREATE ON DATABASE appdb TO cap_writer;"


def test_explicit_ids_need_insert_and_the_reason_names_sequences_it_cannot_move(client: httpx.Client, shop: DB) -> None:
    shop.server.sql(f"REVOKE UPDATE ON ALL SEQUENCES IN SCHEMA {SCHEMA} FROM cap_writer", database="appdb")
    try:
        identity = item(ask(client, body(shop, "cap_writer"), schema=SCHEMA), "IDENTITY_WRITING")
    finally:
        shop.server.sql(f"GRANT UPDATE ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO cap_writer", database="appdb")
    # Available, but it needs something: that something is the fix (issue 20: every "available but needs X").
    assert identity["status"] == "available"
    assert identity["reason"] == (f"You may insert explicit ids in schema {SCHEMA}, but moving the sequences of "
                                  "customers, orders past them needs UPDATE.")
    assert identity["fix"].splitlines()[-1] == f"GRANT UPDATE ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO cap_writer;"


def test_the_fix_can_be_pasted(client: httpx.Client, shop: DB) -> None:
    """The fix is a statement an administrator pastes as it is; afterwards the item is available."""
    before = item(ask(client, body(shop, "cap_writer"), schema=SCHEMA), "WRITE")
    assert before["status"] == "unavailable"
    shop.server.sql("SET ROLE cap_owner", before["fix"], database="appdb")
    try:
        assert item(ask(client, body(shop, "cap_writer"), schema=SCHEMA), "WRITE")["status"] == "available"
    finally:
        shop.server.sql(f"REVOKE INSERT ON {SCHEMA}.audit_log FROM cap_writer", database="appdb")


def test_membership_in_the_owning_role_gives_ownership(client: httpx.Client, shop: DB) -> None:
    """The ownership fix is a role membership: pasted, the owner-only capabilities become available."""
    fix = item(ask(client, body(shop, "cap_writer"), schema=SCHEMA), "INDEX_MANAGEMENT")["fix"]
    shop.server.sql(fix)
    try:
        answer = ask(client, body(shop, "cap_writer"), schema=SCHEMA)
        for name in ("INDEX_MANAGEMENT", "FOREIGN_KEY_MANAGEMENT", "UNIQUE_CONSTRAINT_MANAGEMENT", "TRIGGER_MANAGEMENT",
                     "DATA_TRUNCATION", "WRITE"):
            assert item(answer, name)["status"] == "available", item(answer, name)
    finally:
        shop.server.sql("REVOKE cap_owner FROM cap_writer")


def test_reader_gets_a_complete_answer(client: httpx.Client, shop: DB) -> None:
    answer = ask(client, body(shop, "cap_reader"), schema=SCHEMA)
    found = statuses(answer)
    assert found.pop("READ") == "available"
    assert set(found.values()) == {"unavailable"}, answer
    assert item(answer, "DATA_DELETION")["reason"] == f"You may not delete from any of the 3 tables of schema {SCHEMA} " \
                                                      "(audit_log, customers, orders)."


def test_user_without_access_to_the_schema(client: httpx.Client, shop: DB) -> None:
    answer = ask(client, body(shop, "cap_none"), schema=SCHEMA)
    assert set(statuses(answer).values()) == {"unavailable"}, answer
    read = item(answer, "READ")
    assert "no USAGE privilege on schema capshop" in read["reason"]
    assert read["fix"].splitlines()[0] == f"GRANT USAGE ON SCHEMA {SCHEMA} TO cap_none;"


def test_unknown_schema_is_schema_not_found_naming_schema(client: httpx.Client, shop: DB) -> None:
    answer = ask(client, body(shop, "cap_owner"), schema="no_such_schema")
    assert answer["verdict"]["code"] == "SCHEMA_NOT_FOUND"
    assert list(answer["verdict"]["details"]) == ["schema"]
    assert set(statuses(answer).values()) == {"unknown"}


def test_failed_test_leaves_every_item_unknown(client: httpx.Client, shop: DB) -> None:
    answer = ask(client, shop.body("PostgreSQLConnector", username="cap_owner", password="wrong"))
    assert answer["verdict"]["code"] == "AUTHENTICATION_FAILED"
    assert set(statuses(answer).values()) == {"unknown"}
    assert "the connection test failed" in item(answer, "WRITE")["reason"]


def test_default_schema_is_the_users_own(client: httpx.Client, shop: DB) -> None:
    answer = ask(client, body(shop, "cap_reader"))
    assert answer["scope"] == "cap_reader on database appdb, schema public"


def test_nothing_is_written_without_the_probe(client: httpx.Client, shop: DB) -> None:
    before = catalog(shop)
    ask(client, body(shop, "cap_owner"), schema=SCHEMA)
    assert catalog(shop) == before


def test_write_probe_leaves_the_catalog_as_it_was(client: httpx.Client, shop: DB) -> None:
    before = catalog(shop)
    answer = ask(client, body(shop, "cap_owner"), schema=SCHEMA, write_probe=True)
    assert catalog(shop) == before
    assert "(confirmed by the write probe)" in item(answer, "CREATE")["reason"]
    assert "rolled everything back: nothing was kept" in answer["verdict"]["body"]
    assert answer["verdict"]["kind"] == "success"


def test_write_probe_refused_says_so(client: httpx.Client, shop: DB) -> None:
    before = catalog(shop)
    answer = ask(client, body(shop, "cap_reader"), schema=SCHEMA, write_probe=True)
    assert catalog(shop) == before
    assert item(answer, "CREATE")["status"] == "unavailable"
    assert "SQLSTATE 42501" in item(answer, "CREATE")["reason"]


@pytest.mark.deadline
def test_write_probe_cut_off_by_the_deadline(client: httpx.Client, shop: DB) -> None:
    """Another session holds the schema (an uncommitted DROP SCHEMA): the probe waits, the deadline ends it."""
    import psycopg2

    from tests.servers.postgres import SUPERPASS, SUPERUSER

    before = catalog(shop)
    blocker = psycopg2.connect(host=shop.host, port=shop.port, user=SUPERUSER, password=SUPERPASS, dbname="appdb")
    try:
        with blocker.cursor() as cur:
            cur.execute(f"DROP SCHEMA {SCHEMA} CASCADE")  # not committed: holds the schema's lock
        started = time.monotonic()
        result: dict[str, Any] = {}
        asking = threading.Thread(target=lambda: result.update(
            ask(client, body(shop, "cap_owner"), schema=SCHEMA, write_probe=True)))
        asking.start()
        asking.join(wall_bound(DEADLINE_S + 0.5))
        elapsed = time.monotonic() - started
    finally:
        blocker.rollback()
        blocker.close()
    assert result["elapsed_ms"] < (DEADLINE_S + 0.5) * 1000, "within the deadline, as the server measured it"
    assert elapsed < wall_bound(DEADLINE_S + 0.5)
    assert result["verdict"]["code"] == "CONNECTION_SUCCESSFUL"
    assert "could not create a table" in result["verdict"]["body"]
    time.sleep(0.2)
    assert catalog(shop) == before


def test_catalog_forbidden_is_unknown_not_a_500(client: httpx.Client, shop: DB) -> None:
    """A database whose pg_class the users may not read: every item unknown, with the reason."""
    shop.server.sql("CREATE DATABASE capcatalog", "GRANT CONNECT ON DATABASE capcatalog TO cap_reader")
    try:
        shop.server.sql("REVOKE SELECT ON pg_catalog.pg_class FROM PUBLIC", database="capcatalog")
        answer = ask(client, body(shop, "cap_reader") | {"database": "capcatalog"})
        assert answer["verdict"]["code"] == "CONNECTION_SUCCESSFUL"
        assert {i["status"] for i in answer["capabilities"]} == {"unknown"}
        assert "SQLSTATE 42501" in answer["capabilities"][0]["reason"]
    finally:
        shop.server.sql("DROP DATABASE capcatalog")


@pytest.mark.parametrize("name", CAPABILITY_NAMES)
def test_every_capability_is_examined(client: httpx.Client, shop: DB, name: str) -> None:
    """No capability PostgreSQL's functionalities list is left to "not examined"."""
    reason = item(ask(client, body(shop, "cap_writer"), schema=SCHEMA), name)["reason"]
    assert "not examined" not in reason


def test_a_data_steward_gets_a_different_answer_for_each_user(client: httpx.Client, shop: DB) -> None:
    """Issue 20: the same schema, users of different privileges, different answers; each says whose it is."""
    answers = {role: ask(client, body(shop, role), schema=SCHEMA) for role in ROLES}
    assert len({json_of(statuses(a)) for a in answers.values()}) == len(ROLES)
    for role, answer in answers.items():
        assert answer["scope"] == f"{role} on database appdb, schema {SCHEMA}"
    none = answers["cap_none"]
    assert f"GRANT USAGE ON SCHEMA {SCHEMA} TO cap_none;" in item(none, "READ")["fix"].splitlines()


def test_a_test_refused_with_permission_denied_still_names_the_grants(client: httpx.Client, shop: DB) -> None:
    """The connection's own schema is one cap_none may not use: the test says PERMISSION_DENIED, and the access
    items carry the grants to ask for (DESIGN.md "Live capabilities")."""
    answer = ask(client, body(shop, "cap_none") | {"schema_name": SCHEMA})
    assert answer["verdict"]["code"] == "PERMISSION_DENIED", answer["verdict"]
    assert answer["scope"] == f"cap_none on database appdb, schema {SCHEMA}"
    for access in answer["access"]:
        assert access["status"] == "unknown"
        assert access["fix"].splitlines() == ["GRANT CONNECT ON DATABASE appdb TO cap_none;",
                                              f"GRANT USAGE ON SCHEMA {SCHEMA} TO cap_none;"]


def json_of(found: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(found.items()))
