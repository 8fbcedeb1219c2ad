"""End to end in real headless Chromium: ``streamlit run app.py`` (UI + embedded API, login on) against PostgreSQL.

One wizard process for the module, as a user starts it, with authentication on: each test logs
in through the page like a person does. Screenshots go to the folder ``WIZARD_SCREENSHOTS`` names
(``WIZARD_SCREENSHOTS=artifacts make test`` keeps them in ``artifacts/``, gitignored, to look at);
otherwise to the suite's temp folder, removed with it.

axe-core is the npm package, injected from disk (``node_modules/axe-core``, or the file ``AXE_CORE_JS`` names).
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser, expect

from tests.conftest import DB
from tests.ui.browser import (  # noqa: F401 - wizard and browser are fixtures
    ADMIN_PASSWORD,
    CT,
    NAV,
    PAGES,
    SAVED_API,
    STORED_MASK,
    WAIT_MS,
    WIDTHS,
    HeldAnswers,
    accessible_names,
    assert_cancelled_on_the_server,
    assert_clean,
    block,
    browser,
    cancelled,
    field,
    fill_postgres,
    flag_in,
    go,
    in_flight,
    key_in,
    log_in,
    open_context,
    pick_connector,
    press_test,
    saved_named,
    shoot,
    tab_to,
    type_field,
    type_secret,
    wizard,
)


def test_tab_out_of_each_masked_field_then_test(wizard: str, browser: Browser, postgres: DB) -> None:
    """Issue 11.1: a value typed in a masked field and left with Tab is the value the next Test sends."""
    context, blocked = open_context(browser)
    page = context.new_page()
    try:
        page.goto(wizard)
        log_in(page)
        expect(page.get_by_role("heading", name="Test a connection")).to_be_visible(timeout=WAIT_MS)
        # The database password: left with Tab, then Test at once → the real server accepts it.
        fill_postgres(page, postgres, postgres.port, postgres.password)
        press_test(page)
        success = page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="Connected")
        expect(success).to_be_visible(timeout=WAIT_MS)
        success.scroll_into_view_if_needed()
        shoot(page, "connect-success", 1280)

        # The SSH password: with it the test goes on to the (unknown) SSH server; without, the settings are refused.
        page.locator(f".st-key-hook-{CT}-SSHTunnel label").first.click()
        ssh_host = page.locator(field("hooks_params.SSHTunnel.host") + " input")
        expect(ssh_host).to_be_visible(timeout=WAIT_MS)
        ssh_host.fill("bastion.example.invalid")
        page.locator(field("hooks_params.SSHTunnel.username") + " input").fill("jump")
        type_secret(page, field("hooks_params.SSHTunnel.password"), "ssh-secret")
        press_test(page)
        verdict = page.locator('[data-testid="stAlertContentError"]')
        expect(verdict).to_be_visible(timeout=WAIT_MS)
        expect(verdict).not_to_contain_text("not valid")
        expect(page.locator(block("hooks_params.SSHTunnel.host"))).to_contain_text("not found")

        # The private key and its passphrase, behind the sign-in choice: typed, Tab, Test → both are in the
        # request (the API page shows the request the last Test sent, secrets as placeholders).
        page.locator(f".st-key-choice-{CT}-SSHTunnel-auth").get_by_text("Private key").click()
        type_secret(page, field("hooks_params.SSHTunnel.pkey"), "not a key")
        type_secret(page, field("hooks_params.SSHTunnel.pkey_password"), "passphrase")
        press_test(page)
        page.wait_for_timeout(1000)
        expect(page.locator(".st-key-running")).to_have_count(0, timeout=WAIT_MS)
        pkey = page.locator(block("hooks_params.SSHTunnel.pkey"))
        expect(pkey).not_to_contain_text("Give the SSH password")
        pkey.scroll_into_view_if_needed()
        shoot(page, "connect-ssh-key", 1280)
        go(page, "API", "Use the API")
        code = page.locator('[data-testid="stCode"]').first
        expect(code).to_contain_text("<SSHTUNNEL_PKEY_PASSWORD>", timeout=WAIT_MS)
        expect(code).to_contain_text("<SSHTUNNEL_PKEY>")
        go(page, "Connect", "Test a connection")

        # The S3 secret key: sent, the test reaches the (closed) endpoint instead of asking for the secret.
        page.get_by_text("Write data to it").click()
        picker = page.locator(".st-key-connector input")
        picker.click()
        picker.fill("S3")
        page.get_by_role("option").filter(has_text="Amazon S3").first.click()
        s3 = "S3FSConnector"
        page.locator(field("bucket", s3) + " input").fill("wizard-bucket")
        page.locator(field("region", s3) + " input").fill("eu-west-1")
        page.locator(field("aws_access_key_id", s3) + " input").fill("AKIAWIZARD")
        type_secret(page, field("aws_secret_access_key", s3), "s3-secret")
        press_test(page)
        expect(page.locator('[data-testid="stAlertContentError"]')).to_be_visible(timeout=WAIT_MS)
        expect(page.locator(block("aws_secret_access_key", s3))).not_to_contain_text("secret access key of an IAM")
        for secret in (postgres.password, "ssh-secret", "passphrase", "s3-secret"):
            assert secret not in page.locator("body").inner_text()
        assert blocked == [], blocked
    finally:
        context.close()


def test_keyboard_alone_wrong_password_then_success(wizard: str, browser: Browser, postgres: DB) -> None:
    """Issue 11, done when: log in, pick the connector, fill the form, meet a wrong password and fix it, with
    the keyboard alone, on a laptop and on a phone."""
    for width in (1280, 420):
        context, blocked = open_context(browser, width=width, height=900)
        page = context.new_page()
        try:
            page.goto(wizard)
            expect(page.get_by_role("heading", name="Log in")).to_be_visible(timeout=WAIT_MS)
            key_in(page, ".st-key-login_username input", "admin")
            key_in(page, ".st-key-login_password input", ADMIN_PASSWORD)
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", name="Test a connection")).to_be_visible(timeout=WAIT_MS)

            key_in(page, ".st-key-connector input", "PostgreSQL")
            page.keyboard.press("Enter")
            expect(page.locator(field("host") + " input")).to_be_visible(timeout=WAIT_MS)
            for path, value in (("host", postgres.host), ("port", str(postgres.port)),
                                ("database", postgres.database), ("username", postgres.user),
                                ("password", "not-the-password")):
                key_in(page, field(path) + " input", value)
            tab_to(page, ".st-key-test button")
            page.keyboard.press("Enter")
            flag = flag_in(page.locator(block("password")))
            expect(flag).to_be_visible(timeout=WAIT_MS)
            verdict = page.locator('[data-testid="stAlertContentError"]')
            expect(verdict).to_contain_text("password")
            verdict.scroll_into_view_if_needed()
            shoot(page, "keyboard-wrong-password", width)

            tab_to(page, field("password") + " input", back=True)  # back from the verdict to the field it names
            page.keyboard.press("ControlOrMeta+a")
            page.keyboard.type(postgres.password, delay=5)
            tab_to(page, ".st-key-test button")
            page.keyboard.press("Enter")
            success = page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="Connected")
            expect(success).to_be_visible(timeout=WAIT_MS)
            expect(flag).to_have_count(0)
            expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
            success.scroll_into_view_if_needed()
            shoot(page, "keyboard-success", width)
            assert blocked == [], blocked
        finally:
            context.close()


def test_a_failed_then_a_passing_test_leaves_no_red(wizard: str, browser: Browser, postgres: DB,
                                                     closed_port: int) -> None:
    context, _ = open_context(browser)
    page = context.new_page()
    try:
        page.goto(wizard)
        log_in(page)
        fill_postgres(page, postgres, closed_port, postgres.password)
        press_test(page)
        flag = page.locator(f".st-key-fld-w-{CT}-port").get_by_text("listening")
        expect(flag).to_be_visible(timeout=WAIT_MS)
        expect(page.locator('[data-testid="stAlertContentError"]')).to_be_visible()
        page.locator(field("host")).scroll_into_view_if_needed()
        shoot(page, "connect-flagged", 1280)
        page.locator('[data-testid="stAlertContentError"]').scroll_into_view_if_needed()
        shoot(page, "connect-verdict", 1280)

        port = page.locator(field("port") + " input")
        port.fill(str(postgres.port))
        press_test(page)
        expect(page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="Connected")).to_be_visible(
            timeout=WAIT_MS)
        expect(flag).to_have_count(0)
        expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
        assert "listening" not in page.locator("body").inner_text()
    finally:
        context.close()


def test_cancel_during_a_black_hole_test_ends_it_on_the_server(wizard: str, browser: Browser, postgres: DB,
                                                              silent_port: int, closed_port: int) -> None:
    """A failed test, then a black hole: while the second runs, the first's verdict is gone; Cancel ends it."""
    context, _ = open_context(browser)
    page = context.new_page()
    try:
        page.goto(wizard)
        log_in(page)
        fill_postgres(page, postgres, closed_port, "whatever")
        press_test(page)
        expect(page.locator('[data-testid="stAlertContentError"]')).to_be_visible(timeout=WAIT_MS)
        port = page.locator(field("port") + " input")
        port.fill(str(silent_port))
        press_test(page)
        running = page.locator(".st-key-running")
        expect(running.get_by_text("in progress")).to_be_visible(timeout=WAIT_MS)
        expect(running).to_contain_text(re.compile(r"\d+\.\d s"))  # the time it has waited
        expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)  # no old verdict meanwhile
        expect(page.get_by_text("What to fix")).to_have_count(0)
        expect(flag_in(page.locator(block("port")))).to_have_count(0)
        running.scroll_into_view_if_needed()
        assert in_flight(wizard) == 1
        shoot(page, "connect-running", 1280)
        before = cancelled(wizard)
        running.get_by_role("button", name="Cancel").click()
        expect(page.get_by_text("Test cancelled")).to_be_visible(timeout=WAIT_MS)
        assert_cancelled_on_the_server(wizard, before)
    finally:
        context.close()


def test_the_playground_renders_offline(wizard: str, browser: Browser) -> None:
    """Every non-loopback request is blocked: Swagger UI still comes up with every operation."""
    context, blocked = open_context(browser)
    page = context.new_page()
    try:
        page.goto(f"{wizard}/api/playground/")
        operations = page.locator(".opblock")
        expect(operations.first).to_be_visible(timeout=WAIT_MS)
        schema = httpx.get(f"{wizard}/api/schema/", timeout=10).json()
        count = sum(1 for item in schema["paths"].values() for m in item if m in ("get", "post", "patch", "put", "delete"))
        expect(operations).to_have_count(count)
        assert blocked == [], f"the playground asked the internet for {blocked}"
        shoot(page, "playground", 1280)
    finally:
        context.close()


def test_a_link_to_each_page_logs_in_then_shows_it_and_the_login_survives(wizard: str, browser: Browser) -> None:
    """A fresh browser: login stands in for the page asked for; then a reload and a second tab stay logged in,
    and logging out in one tab ends the session in the other."""
    for path, heading in PAGES.items():
        context, _ = open_context(browser)
        page = context.new_page()
        try:
            page.goto(wizard + path)
            log_in(page)
            expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=WAIT_MS)
            assert urlsplit(page.url).path == path
            cookie = next(c for c in context.cookies() if c["name"] == "sessionid")
            assert cookie["httpOnly"], "the session cookie is out of the page scripts' reach"
            page.reload()
            expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=WAIT_MS)
            if path != "/":
                continue
            other = context.new_page()
            other.goto(wizard + "/capabilities")
            expect(other.get_by_role("heading", name=PAGES["/capabilities"])).to_be_visible(timeout=WAIT_MS)
            page.locator(".st-key-nav").get_by_role("button", name="admin").click()
            page.get_by_role("button", name="Log out").click()
            expect(page.get_by_role("heading", name="Log in")).to_be_visible(timeout=WAIT_MS)
            other.reload()
            expect(other.get_by_role("heading", name="Log in")).to_be_visible(timeout=WAIT_MS)
        finally:
            context.close()


def test_every_page_at_420_px_has_visible_labelled_navigation(wizard: str, browser: Browser) -> None:
    context, blocked = open_context(browser, width=420, height=900)
    page = context.new_page()
    try:
        page.goto(wizard)
        expect(page.get_by_role("heading", name="Log in")).to_be_visible(timeout=WAIT_MS)
        shoot(page, "page-login", 420)
        log_in(page)
        for path, heading in PAGES.items():
            nav = page.locator(".st-key-nav")
            expect(nav).to_be_visible(timeout=WAIT_MS)
            go(page, NAV[path], heading)
            for label in NAV.values():
                expect(nav.get_by_text(label, exact=True)).to_be_visible()
            box = nav.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 420, "the navigation fits the screen"
            if path == "/capabilities":  # the connector table is drawn, not an empty frame
                expect(page.locator('[data-testid="stDataFrame"] canvas').first).to_be_visible(timeout=WAIT_MS)
            page.wait_for_timeout(800)
            shoot(page, "page" + (path.replace("/", "-") if path != "/" else "-connect"), 420)
        assert blocked == [], blocked
    finally:
        context.close()


def test_save_reload_list_test_again_edit_and_delete_a_connection(wizard: str, browser: Browser, postgres: DB) -> None:
    """Issue 9's UI flow as a user goes through it: test → save → reload (still logged in) → list → test again →
    edit (the stored password kept, never re-typed) → save a wrong database → test → delete."""
    name = "Sales warehouse (browser)"
    context, blocked = open_context(browser)
    page = context.new_page()
    try:
        page.goto(wizard)
        log_in(page)
        expect(page.get_by_role("heading", name="Test a connection")).to_be_visible(timeout=WAIT_MS)
        pick_connector(page, "Postgre", "PostgreSQL")
        for path, value in (("host", postgres.host), ("port", postgres.port), ("database", postgres.database),
                            ("username", postgres.user)):
            type_field(page, path, value)
        type_secret(page, field("password"), postgres.password)
        press_test(page)
        expect(page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="Connected")).to_be_visible(
            timeout=WAIT_MS)

        # Save, under a name: the form is offered after a successful test only.
        save_form = page.locator('[data-testid="stForm"]').filter(has_text="Save this connection")
        save_form.scroll_into_view_if_needed()
        shoot(page, "saved-1-tested", 1280)
        save_form.locator(".st-key-save_name input").fill(name)
        save_form.locator(".st-key-save_description textarea").fill("Read-only, for the sales team")
        save_form.get_by_role("button", name="Save").click()
        expect(page.get_by_text(f"Saved as {name}")).to_be_visible(timeout=WAIT_MS)
        page.get_by_text(f"Saved as {name}").scroll_into_view_if_needed()
        shoot(page, "saved-2-saved", 1280)
        stored = saved_named(page, wizard, name)
        assert stored is not None, "the Save button stored the connection"
        assert stored["connection"]["password"] == STORED_MASK and stored["connection"]["database"] == postgres.database
        assert stored["last_test"] is None
        card = page.locator(f".st-key-saved-{stored['id']}")

        # A reload keeps the login (the HttpOnly session cookie), not the login form.
        page.reload()
        expect(page.get_by_role("heading", name="Test a connection")).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_role("heading", name="Log in")).to_have_count(0)

        # Listed, with its target and its (not yet any) last verdict; Test → the verdict and "just now", and the
        # button says "Test again" from then on.
        go(page, "Connections", "Saved connections")
        expect(card).to_contain_text(name, timeout=WAIT_MS)
        expect(card).to_contain_text(f"PostgreSQL · {postgres.host}:{postgres.port}/{postgres.database}")
        expect(card).to_contain_text("Not tested since it was saved")
        shoot(page, "saved-3-listed", 1280)
        card.get_by_role("button", name="Test", exact=True).click()
        flash = page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text=name)
        expect(flash).to_contain_text("Connected to PostgreSQL", timeout=WAIT_MS)
        expect(card).to_contain_text("Connected to PostgreSQL")
        expect(card).to_contain_text("just now")
        expect(card.get_by_role("button", name="Test again")).to_be_visible()
        shoot(page, "saved-4-tested-again", 1280)
        tested = saved_named(page, wizard, name)
        assert tested is not None and tested["last_test"]["code"] == "CONNECTION_SUCCESSFUL"

        # Edit: the Connect page by the connection's own link, prefilled; the stored password is the mask, not the value.
        card.get_by_role("link", name="Edit").click()
        expect(page.get_by_text(f"Editing the saved connection {name}")).to_be_visible(timeout=WAIT_MS)
        assert urlsplit(page.url).query == f"connection={stored['id']}"
        expect(page.locator(field("host") + " input")).to_have_value(postgres.host)
        expect(page.locator(field("database") + " input")).to_have_value(postgres.database)
        password = page.locator(field("password") + " input")
        expect(password).to_have_value(STORED_MASK)
        expect(password).to_have_attribute("type", "password")
        values = page.eval_on_selector_all("input, textarea", "els => els.map(e => e.value)")
        assert postgres.password not in values, "the stored password never comes back to the page"
        expect(page.get_by_text("leave them as they are to keep them")).to_be_visible()
        password.scroll_into_view_if_needed()
        shoot(page, "saved-5-edit", 1280)

        # A wrong database, saved with the password left as stored (the host stays: no rebind), then tested.
        type_field(page, "database", "no_such_db")
        page.locator(".st-key-save_changes button").click()
        expect(page.get_by_text("Changes saved.")).to_be_visible(timeout=WAIT_MS)
        changed = saved_named(page, wizard, name)
        assert changed is not None and changed["id"] == stored["id"]
        assert changed["connection"]["database"] == "no_such_db" and changed["connection"]["host"] == postgres.host
        assert changed["connection"]["password"] == STORED_MASK and changed["last_test"] is None
        press_test(page)
        verdict = page.locator('[data-testid="stAlertContentError"]')
        # "does not exist" comes after the login: the kept password still logs in.
        expect(verdict).to_contain_text("The database does not exist", timeout=WAIT_MS)
        expect(page.get_by_text("Changes saved.")).to_have_count(0)
        expect(flag_in(page.locator(block("database")))).to_have_count(1)
        expect(page.locator(block("database"))).to_contain_text("No database of this name")
        expect(flag_in(page.locator(block("password")))).to_have_count(0)
        verdict.scroll_into_view_if_needed()
        shoot(page, "saved-6-wrong-database", 1280)
        page.locator(block("database")).scroll_into_view_if_needed()
        shoot(page, "saved-7-wrong-database-flag", 1280)
        failed = saved_named(page, wizard, name)
        assert failed is not None and failed["last_test"]["code"] == "DATABASE_NOT_FOUND"

        # Delete, after its confirmation: gone from the page and from the store.
        go(page, "Connections", "Saved connections")
        expect(card).to_contain_text("The database does not exist", timeout=WAIT_MS)
        expect(card).to_contain_text(f"{postgres.host}:{postgres.port}/no_such_db")
        card.get_by_role("button", name="Delete").click()
        expect(card).to_contain_text("cannot be undone", timeout=WAIT_MS)
        shoot(page, "saved-8-confirm-delete", 1280)
        assert saved_named(page, wizard, name) is not None, "nothing is deleted before the confirmation"
        card.get_by_role("button", name="Yes, delete").click()
        expect(page.locator('[data-testid="stAlertContentSuccess"]')).to_contain_text(f"Deleted {name}", timeout=WAIT_MS)
        expect(card).to_have_count(0)
        shoot(page, "saved-9-deleted", 1280)
        assert saved_named(page, wizard, name) is None
        assert page.request.get(f"{wizard}{SAVED_API}{stored['id']}/").status == 404
        assert postgres.password not in page.locator("body").inner_text()
        assert blocked == [], blocked
    finally:
        context.close()


def test_axe_finds_nothing_serious_on_any_page_with_or_without_a_verdict(
    wizard: str, browser: Browser, postgres: DB, closed_port: int,
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


def test_typed_values_survive_page_switches_and_enter_runs_test(wizard: str, browser: Browser, postgres: DB) -> None:
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


def test_a_saved_test_streams_its_stages_with_the_time_and_cancel(wizard: str, browser: Browser,
                                                                   silent_port: int) -> None:
    """Issue 20.6: on the Connections page a saved connection's test shows its stages as they come, the time it has
    waited and Cancel, which ends it on the server; nothing is kept from a cancelled test."""
    context, _ = open_context(browser)
    page = context.new_page()
    try:
        page.goto(wizard + "/connections")
        log_in(page)
        expect(page.get_by_role("heading", name="Saved connections")).to_be_visible(timeout=WAIT_MS)
        csrf = page.request.get(wizard + "/api/v1/auth/").json().get("csrf_token")
        made = page.request.post(wizard + SAVED_API, headers={"X-CSRF-Token": str(csrf)}, data={
            "name": "Silent (browser)", "description": None,
            "connection": {"connector_type": CT, "host": "127.0.0.1", "port": silent_port, "database": "d",
                           "username": "u", "password": "Silent-Browser-Pw-1"}})
        assert made.status == 201, made.text()
        saved_id = made.json()["id"]
        page.reload()
        card = page.locator(f".st-key-saved-{saved_id}")
        card.get_by_role("button", name="Test", exact=True).click()
        running = page.locator(".st-key-saved-running")
        expect(running.get_by_text("in progress")).to_be_visible(timeout=WAIT_MS)
        expect(running).to_contain_text(re.compile(r"\d+\.\d s"))
        expect(running).to_contain_text("Reach the server")
        assert in_flight(wizard) == 1
        running.scroll_into_view_if_needed()
        shoot(page, "saved-running", 1280)
        before = cancelled(wizard)
        running.get_by_role("button", name="Cancel").click()
        expect(page.get_by_text("test cancelled")).to_be_visible(timeout=WAIT_MS)
        assert_cancelled_on_the_server(wizard, before)
        assert page.request.get(f"{wizard}{SAVED_API}{saved_id}/").json()["last_test"] is None
        page.request.delete(f"{wizard}{SAVED_API}{saved_id}/", headers={"X-CSRF-Token": str(csrf)})
    finally:
        context.close()


def test_a_connector_picked_while_the_direction_is_on_its_way_stays_picked(wizard: str, browser: Browser,
                                                                          postgres: DB) -> None:
    """A quick person on a slow server: "Write data to it", then PostgreSQL picked before the page has drawn the
    answer to the first click (the server's answers are held back until the pick is sent). The picker keeps PostgreSQL, and so does the next run (a field committed): the form
    stays. (The page used to tell the browser "nothing chosen" with every run that had no choice yet; arriving
    after the pick, that emptied the picker over PostgreSQL's form, and the next run dropped the form.)"""
    context, blocked = open_context(browser, width=420, height=900)
    page = context.new_page()
    held = HeldAnswers()
    page.route_web_socket(HeldAnswers.STREAM, held.route)
    try:
        page.goto(wizard)
        log_in(page)
        expect(page.get_by_role("heading", name="Test a connection")).to_be_visible(timeout=WAIT_MS)
        picker = page.locator(".st-key-connector input")
        expect(picker).to_have_value("")
        held.holding = True
        page.get_by_text("Write data to it").click()
        held.held_a_finished_run(page)  # the server has drawn its answer; the page shows the old one still
        picker.click()
        picker.press_sequentially("Postgre")
        picker.press("Enter")
        held.asked_with(page, "connector", "PostgreSQL  ·  Database")
        held.release()
        expect(page.get_by_role("heading", name="PostgreSQL", exact=True)).to_be_visible(timeout=WAIT_MS)
        expect(picker).to_have_value("PostgreSQL  ·  Database")
        # The next run: the port's value committed. The form drawn after it is still PostgreSQL's.
        type_field(page, "host", postgres.host)
        type_field(page, "port", postgres.port)
        expect(page.get_by_role("button", name="New connection")).to_be_visible(timeout=WAIT_MS)  # that run drew
        expect(picker).to_have_value("PostgreSQL  ·  Database")
        expect(page.locator(field("database") + " input")).to_be_visible()
        expect(page.locator(field("host") + " input")).to_have_value(postgres.host)
        shoot(page, "picked-while-the-direction-was-on-its-way", 420)
        assert blocked == [], blocked
    finally:
        context.close()
