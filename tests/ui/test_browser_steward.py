"""The data steward's journey in real headless Chromium (issue 20.2), at 1280 and 420 px.

Three PostgreSQL users of different privileges on schema ``sales`` of the suite's server — its owner, a reader and
a user with no privilege on it — each test the connection as a destination, ask **Check what I can do**, choose
``sales`` from the schemas the answer lists, and read the answer on the Capabilities page: each a different one,
each saying whose it is (the ``scope``), and the user without privileges with the GRANT to ask for.

The wizard process, the browser and the helpers are tests/ui/test_browser.py's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import DB
from tests.ui.test_browser import (  # noqa: F401 - browser and wizard are the fixtures of this module too
    WAIT_MS,
    browser,
    field,
    go,
    log_in,
    open_context,
    pick_connector,
    press_test,
    shoot,
    type_field,
    type_secret,
    wizard,
)

SCHEMA = "sales"
PASSWORD = "Steward-Secret-20c"
CHECK = ".st-key-check_capabilities button"


class User(NamedTuple):
    name: str
    password: str
    read: str  # the Read item's status words
    write: str  # the Write item's status words
    grant: str | None  # a fix the answer must show to copy


@pytest.fixture(scope="module")
def stewards(postgres: DB) -> Iterator[list[User]]:
    """On schema ``sales`` (owned by the suite's user): one table, a reader with SELECT on it and a user who may
    connect to the database but has no privilege on the schema."""
    server = postgres.server
    server.sql(*(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'" for role in ("capreader", "capnone")),
               "GRANT CONNECT ON DATABASE appdb TO capreader, capnone")
    server.sql(
        f"SET ROLE {postgres.user}",
        f"CREATE TABLE {SCHEMA}.orders (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, total numeric)",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO capreader",
        f"GRANT SELECT ON {SCHEMA}.orders TO capreader",
        "RESET ROLE",
        database="appdb",
    )
    yield [
        User(postgres.user, postgres.password, "yes", "yes", None),
        User("capreader", PASSWORD, "yes", "no", f"GRANT INSERT ON ALL TABLES IN SCHEMA {SCHEMA} TO capreader;"),
        User("capnone", PASSWORD, "no", "no", f"GRANT USAGE ON SCHEMA {SCHEMA} TO capnone;"),
    ]
    server.sql(f"DROP TABLE {SCHEMA}.orders", f"REVOKE ALL ON SCHEMA {SCHEMA} FROM capreader", database="appdb")
    server.sql("REVOKE ALL ON DATABASE appdb FROM capreader, capnone", "DROP ROLE capreader", "DROP ROLE capnone")


def examined(user: str, db: DB, schema: str) -> str:
    return f"Examined: {user} on database {db.database}, schema {schema}"


def status(name: str, words: str) -> re.Pattern[str]:
    """An item's line as the page says it: its plain name, then its status in words."""
    return re.compile(rf"\b{name}\s*·\s*{words}\b")


def check_sales(page: Page, user: User, db: DB) -> None:
    """Check what I can do, then choose ``sales`` from the schemas the answer lists and check again."""
    button = page.locator(CHECK)
    expect(button).to_have_count(1, timeout=WAIT_MS)
    button.click()
    picker = page.locator(".st-key-live_schema")
    expect(picker).to_be_visible(timeout=WAIT_MS)  # the answer's own list of schemas
    expect(page.get_by_text(re.compile(rf"^Examined: {re.escape(user.name)} on database"))).to_be_visible()
    picker.locator("input").click()
    options = page.get_by_role("option")
    expect(options.filter(has_text=re.compile(rf"^{SCHEMA}$"))).to_have_count(1, timeout=WAIT_MS)
    assert "secret_schema" in options.all_inner_texts(), "every schema of the database is listed to choose from"
    options.filter(has_text=re.compile(rf"^{SCHEMA}$")).click()
    expect(picker.locator("input")).to_have_value(SCHEMA, timeout=WAIT_MS)
    button.click()
    expect(page.get_by_text(examined(user.name, db, SCHEMA), exact=True)).to_be_visible(timeout=WAIT_MS)


def test_three_users_of_schema_sales_each_get_their_own_answer(wizard: str, browser: Browser, postgres: DB,  # noqa: F811
                                                               stewards: list[User]) -> None:
    for width in (1280, 420):
        context, blocked = open_context(browser, width=width, height=900)
        page = context.new_page()
        try:
            page.goto(wizard)
            log_in(page)
            expect(page.get_by_role("heading", name="Test a connection")).to_be_visible(timeout=WAIT_MS)
            page.get_by_text("Write data to it").click()
            pick_connector(page, "Postgre", "PostgreSQL")
            for path, value in (("host", postgres.host), ("port", postgres.port), ("database", postgres.database)):
                type_field(page, path, value)
            others = [u.name for u in stewards]
            for user in stewards:
                type_field(page, "username", user.name)
                type_secret(page, field("password"), user.password)
                press_test(page)
                success = page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="Connected")
                expect(success).to_be_visible(timeout=WAIT_MS)
                check_sales(page, user, postgres)

                # The Capabilities page: whose answer it is, first, then this user's own statuses and GRANTs.
                go(page, "Capabilities", "What each connector can do")
                mine = page.get_by_role("heading", name="With your connection")
                expect(mine).to_be_visible(timeout=WAIT_MS)
                scope = page.get_by_text(examined(user.name, postgres, SCHEMA), exact=True)
                expect(scope).to_be_visible(timeout=WAIT_MS)
                main = page.locator('[data-testid="stMain"]')
                for other in others:
                    if other != user.name:
                        expect(main).not_to_contain_text(f"Examined: {other} on")
                expect(main).to_contain_text(status("Read data", user.read))
                expect(main).to_contain_text(status("Write data", user.write))
                codes = page.locator('[data-testid="stCode"]')
                if user.grant is None:
                    expect(main).not_to_contain_text(status("Create tables", "no"))
                    expect(codes.filter(has_text="GRANT USAGE ON SCHEMA")).to_have_count(0)
                else:
                    expect(codes.filter(has_text=user.grant).first).to_be_visible()
                assert user.password not in main.inner_text()
                mine.scroll_into_view_if_needed()
                shoot(page, f"steward-{user.name}", width)
                go(page, "Connect", "Test a connection")
            assert blocked == [], blocked
        finally:
            context.close()
