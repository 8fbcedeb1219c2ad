"""End to end in real headless Chromium: ``streamlit run app.py`` (UI + embedded API, login on) against PostgreSQL.

One wizard process for the module, as a user starts it, with authentication on: each test logs
in through the page like a person does. Screenshots go to the folder ``WIZARD_SCREENSHOTS`` names
(``WIZARD_SCREENSHOTS=artifacts make test`` keeps them in ``artifacts/``, gitignored, to look at);
otherwise to the suite's temp folder, removed with it.

axe-core is the npm package, injected from disk (``node_modules/axe-core``, or the file ``AXE_CORE_JS`` names).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Route, expect, sync_playwright

from tests.conftest import DB
from tests.helpers import wait_until, wall_bound
from tests.servers.common import LOOPBACK, free_port
from tests.ui.conftest import ROOT


def screenshots() -> Path:
    """Where screenshots go: ``WIZARD_SCREENSHOTS`` (relative to the checkout), else the suite's temp folder."""
    chosen = os.environ.get("WIZARD_SCREENSHOTS")
    folder = ROOT / chosen if chosen else Path(tempfile.gettempdir()) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
CT = "PostgreSQLConnector"
WAIT_MS = 30_000
ADMIN_PASSWORD = "Browser-Admin-Pw-7!"
DEADLINE_S = 10
PAGES = {"/": "Test a connection", "/connections": "Saved connections", "/capabilities": "What each connector can do",
         "/use-the-api": "Use the API"}
NAV = {"/": "Connect", "/connections": "Connections", "/capabilities": "Capabilities", "/use-the-api": "API"}


@pytest.fixture(scope="module")
def wizard(tmp_path_factory: pytest.TempPathFactory, closed_port: int) -> Iterator[str]:
    """``streamlit run app.py`` as a user starts it: one process, UI and API on one port, login required."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("wizard")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIZARD_", "AWS_"))}
    env.update(
        WIZARD_AUTH_ENABLED="true",
        WIZARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        WIZARD_TEST_TIMEOUT_S=str(DEADLINE_S),
        WIZARD_DATABASE_URL=f"sqlite:///{workdir}/wizard.db",
        WIZARD_FILES_DIR=str(workdir / "files"),
        # S3 tests go to a closed loopback port, never to the internet.
        AWS_ENDPOINT_URL_S3=f"http://{LOOPBACK}:{closed_port}",
    )
    log = (workdir / "streamlit.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/schema/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit run app.py did not start:\n" + (workdir / "streamlit.log").read_text())
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def loopback_only(context: BrowserContext, blocked: list[str]) -> None:
    """Abort every request of the context that is not for a loopback address (and note it)."""

    def route(r: Route) -> None:
        host = urlsplit(r.request.url).hostname or ""
        if r.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost", "::1"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)


def open_context(browser: Browser, width: int = 1280, height: int = 860) -> tuple[BrowserContext, list[str]]:
    blocked: list[str] = []
    context = browser.new_context(viewport={"width": width, "height": height})
    loopback_only(context, blocked)
    return context, blocked


def shoot(page: Page, name: str, width: int) -> None:
    """The viewport as the user sees it."""
    page.mouse.move(0, 0)
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots() / f"{name}-{width}.png"))


def log_in(page: Page) -> None:
    """Fill the login form that stands in for any page; the browser then holds the session cookie."""
    expect(page.get_by_role("heading", name="Log in")).to_be_visible(timeout=WAIT_MS)
    page.locator(".st-key-login_username input").fill("admin")
    page.locator(".st-key-login_password input").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def field(path: str, ct: str = CT) -> str:
    return f".st-key-w-{ct}-{path.replace('.', '-')}"


def block(path: str, ct: str = CT) -> str:
    """A field's block: its input, the flag under it, its help."""
    return f".st-key-fld-w-{ct}-{path.replace('.', '-')}"


def flag_in(block: Locator) -> Locator:
    """The verdict's flag under a field: its error icon (a ``:material/error:`` in markdown is an ``img`` so named)."""
    return block.get_by_role("img", name="error icon", exact=True)


def fill_postgres(page: Page, db: DB, port: int, password: str) -> None:
    """Paste a URI (picks PostgreSQL, fills host, port, database, user), then type the password."""
    page.get_by_text("Have a connection string?").click()
    uri = page.locator(".st-key-uri_text input")
    uri.fill(f"postgresql://{db.user}@{db.host}:{port}/{db.database}")
    page.locator(".st-key-uri_fill button").click()
    expect(page.locator(field("host") + " input")).to_have_value(db.host, timeout=WAIT_MS)
    port_box = page.locator(field("port") + " input")
    if port_box.input_value() != str(port):
        port_box.fill(str(port))
        port_box.press("Enter")
    expect(port_box).to_have_value(str(port))
    type_secret(page, field("password"), password)


def type_secret(page: Page, selector: str, value: str) -> None:
    """Type into a masked field and press Tab: the focus goes to the field's own show-password eye."""
    box = page.locator(selector + " input")
    expect(box).to_have_attribute("type", "password")
    box.fill(value)
    box.press("Tab")
    focused = page.evaluate("() => document.activeElement && document.activeElement.getAttribute('aria-label')")
    assert focused == "Show password", f"Tab from a masked field lands on its eye (got {focused!r})"


def press_test(page: Page) -> None:
    """Click Test at once, with no pause for the last field to settle: a user does not wait either.

    (While a rerun redraws the page, Streamlit may briefly show the old button beside the new one.)
    """
    button = page.locator(".st-key-test button")
    expect(button).to_have_count(1, timeout=WAIT_MS)
    button.click()


def go(page: Page, link: str, heading: str) -> None:
    """Follow a link of the navigation bar. A click that lands while the page is still redrawing after a
    test can be dropped by Streamlit (the page's own rerun wins), so it is repeated until the page shows."""
    for _ in range(5):
        page.locator(".st-key-nav").get_by_text(link, exact=True).click()
        try:
            expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=4000)
            return
        except AssertionError:
            continue
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=WAIT_MS)


def in_flight(wizard: str) -> float:
    text = httpx.get(f"{wizard}/api/metrics", timeout=10).text
    found = re.search(r"^wizard_tests_in_flight\s+([0-9.]+)$", text, re.M)
    assert found, "the metrics name the tests in flight"
    return float(found.group(1))


def cancelled(wizard: str) -> float:
    """How many tests the server ended as cancelled (a test run to its deadline counts as a timeout instead)."""
    text = httpx.get(f"{wizard}/api/metrics", timeout=10).text
    return sum(float(m) for m in re.findall(r'^wizard_tests_total\{[^}]*code="CANCELLED"[^}]*\}\s+([0-9.]+)$', text, re.M))


def assert_cancelled_on_the_server(wizard: str, before: float) -> None:
    """The server ended the test as cancelled (not at its deadline), and holds no test any more."""
    wait_until(lambda: cancelled(wizard) == before + 1 and in_flight(wizard) == 0, timeout=wall_bound(DEADLINE_S),
               what="the server's end of the cancelled test")


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


def focused_in(page: Page, selector: str) -> bool:
    return bool(page.evaluate("(s) => !!(document.activeElement && document.activeElement.closest(s))", selector))


def tab_to(page: Page, selector: str, *, back: bool = False, limit: int = 80) -> None:
    """Press Tab (Shift+Tab with ``back``) until the focus is inside ``selector``, as a keyboard user does."""
    for _ in range(limit):
        if focused_in(page, selector):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
        page.wait_for_timeout(30)
    raise AssertionError(f"{limit} presses of Tab never reached {selector}")


def key_in(page: Page, selector: str, text: str) -> None:
    """Tab to a field, replace what it holds by typing (no mouse)."""
    tab_to(page, selector)
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(text, delay=5)


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


SAVED_API = "/api/v1/database_connections/"
STORED_MASK = "**********"


def pick_connector(page: Page, typed: str, label: str) -> None:
    """Type part of a connector's name into the picker and press Enter, as a user searching the list does."""
    picker = page.locator(".st-key-connector input")
    picker.click()
    picker.press_sequentially(typed)
    picker.press("Enter")
    expect(page.get_by_role("heading", name=label, exact=True)).to_be_visible(timeout=WAIT_MS)


def type_field(page: Page, path: str, value: str | int) -> None:
    """Type a plain field's value and leave it with Tab (number inputs keep their value on leaving too)."""
    box = page.locator(field(path) + " input")
    box.fill(str(value))
    box.press("Tab")
    expect(box).to_have_value(str(value))


def saved_named(page: Page, wizard: str, name: str) -> dict[str, Any] | None:
    """The stored connection of that name, read through the API with the browser's own session cookie."""
    response = page.request.get(wizard + SAVED_API, params={"search": name})
    assert response.status == 200, response.text()
    found: dict[str, Any] | None = next((c for c in response.json()["results"] if c["name"] == name), None)
    return found


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


# --- issue 20: accessibility (axe-core, injected from disk) and the person's journeys --------------------------

AXE = Path(os.environ.get("AXE_CORE_JS") or ROOT / "node_modules" / "axe-core" / "axe.min.js")
WIDTHS = (1280, 420)
SEVERE = ("serious", "critical")

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


# --- two tabs edit one saved connection (issue 18) ------------------------------------------------
# Two browser tabs edit one saved connection at once (issue 18): no edit is lost.
#
# Real headless Chromium against ``streamlit run app.py`` (UI + embedded API, login on), as in
# ``tests/ui/test_browser.py``, whose fixtures and helpers this module reuses: one wizard process for the
# module, the login through the page. Two pages of one browser context are two tabs of one person (one
# session cookie, two Streamlit sessions), each with the connection open on the Connect page.


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


# --- the data steward's journey (issue 20) --------------------------------------------------------
# The data steward's journey in real headless Chromium (issue 20.2), at 1280 and 420 px.
#
# Three PostgreSQL users of different privileges on schema ``sales`` of the suite's server — its owner, a reader and
# a user with no privilege on it — each test the connection as a destination, ask **Check what I can do**, choose
# ``sales`` from the schemas the answer lists, and read the answer on the Capabilities page: each a different one,
# each saying whose it is (the ``scope``), and the user without privileges with the GRANT to ask for.
#
# The wizard process, the browser and the helpers are tests/ui/test_browser.py's.


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


def test_three_users_of_schema_sales_each_get_their_own_answer(wizard: str, browser: Browser, postgres: DB,
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
