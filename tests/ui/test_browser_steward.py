"""The data steward's journey in real headless Chromium (issue 20): one schema, three users, three answers.

On the suite's PostgreSQL, schema ``sales`` of ``appdb`` gets three users: ``capowner`` owns a table
there and may create tables, ``capreader`` may only read it (USAGE and SELECT), ``capnone`` has no
USAGE on it. For each, at 1280 and at 420 px, the steward fills the Connect form (a connection to
write to), presses **Test**, asks **Check what I can do**, chooses schema ``sales`` and reads the
answer there and on the Capabilities page: whose answer it is ("capnone on database appdb, schema
sales"), what this user may do, and — for ``capnone`` — the exact ``GRANT`` to ask for. Switching to
the next user never shows the previous user's answer.

Screenshots go where ``WIZARD_SCREENSHOTS`` says (see ``tests/ui/test_browser.py``).
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.conftest import DB
from tests.ui.browser import (  # noqa: F401 - wizard and browser are fixtures
    WAIT_MS,
    WIDTHS,
    assert_clean,
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
PASSWORD = "Steward-Browser-Pw-5"
OWNER, READER, NONE = "capowner", "capreader", "capnone"
ROLES = (OWNER, READER, NONE)
TABLE = f"{SCHEMA}.steward_orders"
CONNECT, CAPABILITIES = "Test a connection", "What each connector can do"
EXAMINED = re.compile(r"Examined:")


@pytest.fixture(scope="module")
def steward(postgres: DB) -> Iterator[DB]:
    """The three users on schema ``sales`` (owned by the suite's ``wizard``), and a table ``capowner`` owns there."""
    server = postgres.server
    server.sql(*(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'" for role in ROLES),
               *(f"GRANT CONNECT ON DATABASE {postgres.database} TO {role}" for role in ROLES))
    server.sql(
        f"GRANT USAGE, CREATE ON SCHEMA {SCHEMA} TO {OWNER}",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {READER}",
        f"SET ROLE {OWNER}",
        f"CREATE TABLE {TABLE} (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, total numeric)",
        f"GRANT SELECT ON {TABLE} TO {READER}",
        "RESET ROLE",
        database=postgres.database,
    )
    try:
        yield postgres
    finally:
        server.sql(f"DROP TABLE IF EXISTS {TABLE}",
                   f"REVOKE ALL ON SCHEMA {SCHEMA} FROM {', '.join(ROLES)}", database=postgres.database)
        server.sql(f"REVOKE ALL ON DATABASE {postgres.database} FROM {', '.join(ROLES)}",
                   *(f"DROP ROLE {role}" for role in ROLES))


def item_line(page: Page, label: str) -> Locator:
    """The line of the live answer for one item ("Read data · yes"), as shown on the page."""
    return page.locator('[data-testid="stMarkdownContainer"]').filter(has_text=re.compile(rf"{label} · "))


def expect_answer(page: Page, role: str, database: str) -> None:
    """Whose answer it is, and what it says for ``role`` on schema ``sales``."""
    scope = f"{role} on database {database}, schema {SCHEMA}"
    expect(page.get_by_text(f"Examined: {scope}", exact=True)).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text(EXAMINED)).to_have_count(1)  # one answer on the page: this one
    expected = {
        OWNER: {"Read data": "yes", "Write data": "yes", "Create tables": "yes", "Delete data": "yes"},
        READER: {"Read data": "yes", "Write data": "no", "Create tables": "no", "Delete data": "no"},
        NONE: {"Read data": "no", "Write data": "no", "Create tables": "no", "Delete data": "no"},
    }[role]
    for label, status in expected.items():
        expect(item_line(page, label)).to_have_count(1)
        expect(item_line(page, label)).to_contain_text(f"{label} · {status}")
    grant = f"GRANT USAGE ON SCHEMA {SCHEMA} TO {NONE};"
    codes = page.locator('[data-testid="stCode"]').filter(has_text=grant)
    if role == NONE:
        expect(codes.first).to_be_visible()
        expect(item_line(page, "Read data")).to_contain_text(f"no USAGE privilege on schema {SCHEMA}")
    else:
        expect(codes).to_have_count(0)
    body = page.locator("body").inner_text()
    for other in ROLES:
        if other != role:
            assert f"{other} on database" not in body, f"{role}'s page shows {other}'s answer"


def show_answer(page: Page) -> None:
    """Scroll so that the answer starts at the top of the screen: whose it is, then its first items."""
    page.get_by_text("Examined:").evaluate("e => e.scrollIntoView({block: 'start'})")


def choose_schema(page: Page, schema: str) -> None:
    """The schema box lists what the first answer found; pick one by typing it, then ask again."""
    box = page.locator(".st-key-live_schema input")
    expect(box).to_be_visible(timeout=WAIT_MS)
    box.click()
    box.press_sequentially(schema)
    page.get_by_role("option", name=schema, exact=True).click()
    expect(box).to_have_value(schema)
    page.locator(".st-key-check_capabilities button").click()


def test_three_users_on_one_schema_get_three_answers_each_naming_its_user(
    wizard: str, browser: Browser, steward: DB,
) -> None:
    for width in WIDTHS:
        context, blocked = open_context(browser, width=width, height=900)
        page = context.new_page()
        try:
            page.goto(wizard)
            log_in(page)
            expect(page.get_by_role("heading", name=CONNECT)).to_be_visible(timeout=WAIT_MS)
            page.get_by_text("Write data to it").click()
            pick_connector(page, "Postgre", "PostgreSQL")
            for path, value in (("host", steward.host), ("port", steward.port), ("database", steward.database)):
                type_field(page, path, value)
            for role in ROLES:
                type_field(page, "username", role)
                type_secret(page, field("password"), PASSWORD)
                press_test(page)
                success = page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="Connected")
                expect(success).to_contain_text(f"as '{role}'", timeout=WAIT_MS)
                # A new user: nothing of the last answer is left, here or on the Capabilities page.
                expect(page.get_by_text(EXAMINED)).to_have_count(0)
                go(page, "Capabilities", CAPABILITIES)
                expect(page.get_by_text("Check what I can do")).to_be_visible(timeout=WAIT_MS)
                expect(page.get_by_text(EXAMINED)).to_have_count(0)
                go(page, "Connect", CONNECT)
                expect(page.locator(field("username") + " input")).to_have_value(role, timeout=WAIT_MS)
                expect(page.locator(".st-key-connector input")).to_have_value(re.compile("PostgreSQL"))

                # The first answer is about the connection's own schema; then schema sales, chosen from the list.
                check = page.locator(".st-key-check_capabilities button")
                check.scroll_into_view_if_needed()
                check.click()
                expect(page.get_by_text(f"Examined: {role} on database {steward.database}, schema public",
                                        exact=True)).to_be_visible(timeout=WAIT_MS)
                choose_schema(page, SCHEMA)
                expect_answer(page, role, steward.database)
                show_answer(page)
                shoot(page, f"steward-{role}-connect", width)
                if role == NONE:
                    assert_clean(page, f"{role}'s answer on Connect, {width} px")

                go(page, "Capabilities", CAPABILITIES)
                expect_answer(page, role, steward.database)
                show_answer(page)
                shoot(page, f"steward-{role}-capabilities", width)
                go(page, "Connect", CONNECT)
                expect(page.locator(field("username") + " input")).to_have_value(role, timeout=WAIT_MS)
                expect(page.locator(".st-key-live_schema input")).to_have_value(SCHEMA)  # as the answer says
                expect_answer(page, role, steward.database)
            assert PASSWORD not in page.locator("body").inner_text()
            assert blocked == [], blocked
        finally:
            context.close()
