"""Two browser tabs edit one saved connection at once (issue 18): no edit is lost.

Real headless Chromium against ``streamlit run app.py`` (UI + embedded API, login on), as in
``tests/ui/test_browser.py``, whose fixtures and helpers this module reuses: one wizard process for the
module, the login through the page. Two pages of one browser context are two tabs of one person (one
session cookie, two Streamlit sessions), each with the connection open on the Connect page.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.ui.browser import (  # noqa: F401 - wizard and browser are the fixtures of this module too
    CT,
    SAVED_API,
    STORED_MASK,
    WAIT_MS,
    browser,
    field,
    log_in,
    open_context,
    shoot,
    type_field,
    wizard,
)

NAME = "Shared warehouse (two tabs)"


def open_saved(page: Page, url: str, saved_id: str) -> None:
    """The connection's own link, as the Connections page's Edit gives it: the Connect page, prefilled."""
    page.goto(f"{url}/?connection={saved_id}")
    expect(page.get_by_text(f"Editing the saved connection {NAME}")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(field("password") + " input")).to_have_value(STORED_MASK)


def save_changes(page: Page) -> None:
    button = page.locator(".st-key-save_changes button")
    expect(button).to_have_count(1, timeout=WAIT_MS)
    button.click()


def stored(page: Page, url: str, saved_id: str) -> dict[str, Any]:
    """The connection as the API has it now, read with the tabs' own session cookie."""
    response = page.request.get(f"{url}{SAVED_API}{saved_id}/")
    assert response.status == 200, response.text()
    found: dict[str, Any] = response.json()
    return found


def test_two_tabs_save_the_same_connection_the_second_is_told_and_nothing_is_lost(
        wizard: str, browser: Browser) -> None:
    context, blocked = open_context(browser)
    first = context.new_page()
    try:
        first.goto(wizard)
        log_in(first)
        expect(first.get_by_role("heading", name="Test a connection")).to_be_visible(timeout=WAIT_MS)
        csrf = str(first.request.get(wizard + "/api/v1/auth/").json().get("csrf_token"))
        # Stored as the Connect page's Save stores it (with the form's direction, ``is_source``).
        made = first.request.post(wizard + SAVED_API, headers={"X-CSRF-Token": csrf}, data={
            "name": NAME, "description": "Edited from two tabs",
            "connection": {"connector_type": CT, "is_source": True, "host": "127.0.0.1", "port": 5432,
                           "database": "sales", "username": "reader", "password": "Two-Tabs-Pw-1"}})
        assert made.status == 201, made.text()
        saved_id = made.json()["id"]
        assert made.json()["version"] == 1

        # Both tabs open it (the second has the session cookie already: no login form) and each changes a field
        # the other does not: the first the database, the second the user name (neither moves the password).
        second = context.new_page()
        open_saved(first, wizard, saved_id)
        open_saved(second, wizard, saved_id)
        type_field(first, "database", "sales_2025")
        type_field(second, "username", "analyst")

        # The first saves: it succeeds, and the store has its change.
        save_changes(first)
        expect(first.get_by_text("Changes saved.")).to_be_visible(timeout=WAIT_MS)
        first.get_by_text("Changes saved.").scroll_into_view_if_needed()
        shoot(first, "concurrent-1-first-saved", 1280)
        after_first = stored(first, wizard, saved_id)
        assert after_first["version"] == 2
        assert after_first["connection"]["database"] == "sales_2025"
        assert after_first["connection"]["username"] == "reader"

        # The second saves the version it opened: refused, and told so — who changed what, and a Reload offer.
        save_changes(second)
        warning = second.locator('[data-testid="stAlertContentWarning"]').filter(
            has_text="Someone else changed this connection")
        expect(warning).to_be_visible(timeout=WAIT_MS)
        expect(warning).to_contain_text("your changes were not saved")
        expect(warning).to_contain_text("They changed: Database. ")  # theirs only, not this tab's own edit
        expect(second.get_by_text("Changes saved.")).to_have_count(0)
        reload_button = second.locator(".st-key-reload_saved button")
        expect(reload_button).to_be_visible()
        reload_button.scroll_into_view_if_needed()
        shoot(second, "concurrent-2-second-refused", 1280)

        # Nothing was lost: the first tab's change is stored, the refused one changed nothing.
        refused = stored(second, wizard, saved_id)
        assert refused["version"] == 2
        assert refused["connection"]["database"] == "sales_2025"
        assert refused["connection"]["username"] == "reader"
        assert refused["connection"]["password"] == STORED_MASK

        # Reload shows the first tab's version; the second makes its change again and saves: both are there.
        reload_button.click()
        expect(warning).to_have_count(0, timeout=WAIT_MS)
        expect(second.locator(field("database") + " input")).to_have_value("sales_2025", timeout=WAIT_MS)
        expect(second.locator(field("username") + " input")).to_have_value("reader")
        type_field(second, "username", "analyst")
        save_changes(second)
        expect(second.get_by_text("Changes saved.")).to_be_visible(timeout=WAIT_MS)
        expect(second.get_by_text("Someone else changed this connection")).to_have_count(0)
        second.get_by_text("Changes saved.").scroll_into_view_if_needed()
        shoot(second, "concurrent-3-second-saved-after-reload", 1280)
        both = stored(second, wizard, saved_id)
        assert both["version"] == 3
        assert both["connection"]["database"] == "sales_2025"
        assert both["connection"]["username"] == "analyst"
        assert both["connection"]["host"] == "127.0.0.1" and both["connection"]["port"] == 5432
        assert both["connection"]["password"] == STORED_MASK

        gone = first.request.delete(f"{wizard}{SAVED_API}{saved_id}/", headers={"X-CSRF-Token": csrf})
        assert gone.status == 204, gone.text()
        assert blocked == [], blocked
    finally:
        context.close()
