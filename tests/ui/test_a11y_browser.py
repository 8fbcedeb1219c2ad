"""Accessibility and the person's journeys in real Chromium (issue 20): axe-core on every page, with and without a
verdict, at 1280 and 420 px; typed values survive page switches; Enter in a field runs Test.

axe-core is the npm package, injected from disk (``node_modules/axe-core``, or the file ``AXE_CORE_JS`` names).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import DB
from tests.ui.conftest import ROOT
from tests.ui.test_browser import (  # noqa: F401 - the module's fixtures: one wizard process, one browser
    CT,
    WAIT_MS,
    block,
    browser,
    field,
    flag_in,
    go,
    log_in,
    open_context,
    press_test,
    shoot,
    type_field,
    type_secret,
    wizard,
)

AXE = Path(os.environ.get("AXE_CORE_JS") or ROOT / "node_modules" / "axe-core" / "axe.min.js")
WIDTHS = (1280, 420)
SEVERE = ("serious", "critical")

pytestmark = pytest.mark.skipif(not AXE.is_file(), reason=f"axe-core is not installed ({AXE}): npm install axe-core")


def axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of WCAG 2.1 A/AA on the page as it is now."""
    page.wait_for_timeout(600)  # let the last rerun settle
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"] if v["impact"] in SEVERE
    ]


def assert_clean(page: Page, where: str) -> None:
    found = axe(page)
    assert found == [], f"{where}: " + json.dumps(found, indent=1)


def accessible_names(page: Page) -> list[tuple[str, str]]:
    """(name, id) of every input of the form: its label's text, else its aria-label, as the browser gives them."""
    found: list[list[str]] = page.eval_on_selector_all(
        '[class*="st-key-w-"] input',
        "els => els.map(e => [(e.labels && e.labels.length ? e.labels[0].innerText : '') || e.getAttribute('aria-label') || '', e.id])",
    )
    return [(name.strip(), ident) for name, ident in found]


def test_axe_finds_nothing_serious_on_any_page_with_or_without_a_verdict(
    wizard: str, browser: Browser, postgres: DB, closed_port: int,  # noqa: F811
) -> None:
    for width in WIDTHS:
        context, blocked = open_context(browser, width=width, height=900)
        page = context.new_page()
        try:
            page.goto(wizard)
            expect(page.get_by_role("heading", name="Log in")).to_be_visible(timeout=WAIT_MS)
            assert_clean(page, f"login {width}")
            log_in(page)
            expect(page.get_by_role("heading", name="Test a connection")).to_be_visible(timeout=WAIT_MS)
            assert_clean(page, f"connect, empty {width}")
            pick = page.locator(".st-key-connector input")
            pick.click()
            pick.press_sequentially("Postgre")
            pick.press("Enter")
            expect(page.locator(field("host") + " input")).to_be_visible(timeout=WAIT_MS)
            for name, label in accessible_names(page):
                assert name and "*" not in name and ":red" not in name, (label, name)
            assert_clean(page, f"connect, form {width}")
            for path, value in (("host", postgres.host), ("port", closed_port), ("database", postgres.database),
                                ("username", postgres.user)):
                type_field(page, path, value)
            type_secret(page, field("password"), postgres.password)
            press_test(page)
            expect(flag_in(page.locator(block("port")))).to_be_visible(timeout=WAIT_MS)
            expect(page.locator(block("port"))).to_contain_text("Port:")  # the message names its field
            assert_clean(page, f"connect, failed verdict {width}")
            shoot(page, "a11y-connect-failed", width)
            type_field(page, "port", postgres.port)
            press_test(page)
            expect(page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="Connected")).to_be_visible(
                timeout=WAIT_MS)
            assert_clean(page, f"connect, success {width}")
            shoot(page, "a11y-connect-success", width)
            for link, heading in (("Connections", "Saved connections"), ("Capabilities", "What each connector can do"),
                                  ("API", "Use the API")):
                go(page, link, heading)
                assert_clean(page, f"{heading} {width}")
                shoot(page, "a11y-" + link.lower(), width)
            assert blocked == [], blocked
        finally:
            context.close()


def test_typed_values_survive_page_switches_and_enter_runs_test(wizard: str, browser: Browser,  # noqa: F811
                                                                postgres: DB) -> None:
    """Type every field, wander off to every page, come back: the values are there, and Enter in a field runs the
    test with exactly them (the database accepts the password typed before the switch)."""
    for width in WIDTHS:
        context, blocked = open_context(browser, width=width, height=900)
        page = context.new_page()
        try:
            page.goto(wizard)
            log_in(page)
            expect(page.get_by_role("heading", name="Test a connection")).to_be_visible(timeout=WAIT_MS)
            pick = page.locator(".st-key-connector input")
            pick.click()
            pick.press_sequentially("Postgre")
            pick.press("Enter")
            expect(page.locator(field("host") + " input")).to_be_visible(timeout=WAIT_MS)
            values = {"host": postgres.host, "port": str(postgres.port), "database": postgres.database,
                      "username": postgres.user}
            for path, value in values.items():
                type_field(page, path, value)
            type_secret(page, field("password"), postgres.password)
            for link, heading in (("Connections", "Saved connections"), ("Capabilities", "What each connector can do"),
                                  ("API", "Use the API")):
                go(page, link, heading)
            code = page.locator('[data-testid="stCode"]').first
            expect(code).to_contain_text(f'"database": "{postgres.database}"', timeout=WAIT_MS)
            expect(code).to_contain_text('"password": "<PASSWORD>"')
            go(page, "Connect", "Test a connection")
            for path, value in values.items():
                expect(page.locator(field(path) + " input")).to_have_value(value, timeout=WAIT_MS)
            password = page.locator(field("password") + " input")
            expect(password).to_have_value(postgres.password)
            shoot(page, "state-back-on-connect", width)
            page.locator(field("database") + " input").press("Enter")
            success = page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="Connected")
            expect(success).to_be_visible(timeout=WAIT_MS)
            success.scroll_into_view_if_needed()
            shoot(page, "state-enter-tested", width)
            assert postgres.password not in page.locator("body").inner_text()
            assert blocked == [], blocked
        finally:
            context.close()
