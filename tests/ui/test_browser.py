"""End to end in real headless Chromium: ``streamlit run app.py`` (UI + embedded API) against PostgreSQL.

Screenshots go to ``artifacts/`` (gitignored): each step at 1280×800, and the whole page at
1280 and at 420 px wide.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import DB
from tests.servers.common import LOOPBACK, free_port
from tests.ui.conftest import ROOT

ARTIFACTS = ROOT / "artifacts"
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


@pytest.fixture(scope="module")
def wizard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run app.py`` as a user starts it: one process, UI and API on one port."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("wizard")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIZARD_")}
    env.update(
        WIZARD_AUTH_ENABLED="false",
        WIZARD_TEST_TIMEOUT_S="3",
        WIZARD_DATABASE_URL=f"sqlite:///{workdir}/wizard.db",
        WIZARD_FILES_DIR=str(workdir / "files"),
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


def shoot(page: Page, name: str, width: int) -> None:
    """The viewport as the user sees it, and the whole (inner-scrolling) page."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"))
    height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    view = page.viewport_size or {"height": 800}
    page.set_viewport_size({"width": width, "height": max(int(height) + 40, view["height"])})
    page.wait_for_timeout(400)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}-full.png"))
    page.set_viewport_size({"width": width, "height": view["height"]})


def field(page: Page, path: str) -> str:
    return f".st-key-w-{CT}-{path.replace('.', '-')}"


def fill_postgres(page: Page, db: DB, port: int) -> None:
    """Paste a URI (picks PostgreSQL, fills host, port, database, user), then type the password."""
    page.get_by_text("Have a connection string?").click()
    uri = page.locator(".st-key-uri_text input")
    uri.fill(f"postgresql://{db.user}@{db.host}:{port}/{db.database}")
    uri.press("Enter")
    page.locator(".st-key-uri_fill button").click()
    expect(page.locator(field(page, "host") + " input")).to_have_value(db.host, timeout=WAIT_MS)
    expect(page.locator(field(page, "port") + " input")).to_have_value(str(port))
    password = page.locator(field(page, "password") + " input")
    expect(password).to_have_attribute("type", "password")
    password.fill(db.password)
    password.press("Enter")


def navigate(page: Page, title: str) -> None:
    """Follow the app's own navigation (the top bar, or the sidebar menu on a narrow screen)."""
    top = page.locator('[data-testid="stTopNavLink"]').filter(has_text=title).first
    if top.count() and top.is_visible():
        top.click()
        return
    sidebar = page.locator('[data-testid="stSidebar"]')
    if not sidebar.is_visible():
        page.locator('[data-testid="stExpandSidebarButton"]').click()
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=title).first.click()
    close = page.locator('[data-testid="stSidebarCollapseButton"] button')
    if close.count() and close.first.is_visible():
        close.first.click()  # narrow screens: the menu stays open over the page
    expect(page.locator('[data-testid="stExpandSidebarButton"]')).to_be_visible()


def press_test(page: Page) -> None:
    page.wait_for_timeout(300)  # let the last input's value reach the server
    page.locator(".st-key-test button").click()


@pytest.mark.parametrize("width,height", [(1280, 800), (420, 860)])
def test_postgresql_success_then_a_flagged_failure(
    wizard: str, browser: Browser, postgres: DB, closed_port: int, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(wizard)
        expect(page.get_by_role("heading", name="Test a connection")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator(".st-key-test button")).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("Connect to", exact=True)).to_be_visible()
        page.wait_for_timeout(500)
        shoot(page, "connect-empty", width)

        fill_postgres(page, postgres, postgres.port)
        press_test(page)
        verdict = page.locator('[data-testid="stAlertContentSuccess"]')
        expect(verdict).to_contain_text("Connected to PostgreSQL", timeout=WAIT_MS)
        timeline = page.locator('[data-testid="stExpander"]').filter(has_text="Result: Connected")
        expect(timeline).to_contain_text("Run a test query")
        expect(timeline).to_contain_text(" ms")
        verdict.scroll_into_view_if_needed()
        shoot(page, "connect-success", width)

        port = page.locator(field(page, "port") + " input")
        port.fill(str(closed_port))
        port.press("Enter")
        press_test(page)
        flag = page.locator(f".st-key-fld-w-{CT}-port").locator('[data-testid="stMarkdownContainer"]').filter(
            has_text="listening"
        )
        expect(flag).to_be_visible(timeout=WAIT_MS)
        expect(page.locator('[data-testid="stAlertContentError"]')).to_contain_text("Nothing is listening")
        flag.scroll_into_view_if_needed()
        shoot(page, "connect-flagged", width)

        # The secret never reaches the URL, and no page of this session shows it.
        assert postgres.password not in page.url
        for name, heading, ready in (
            ("Capabilities", "What each connector can do", '[data-testid="stGraphVizChart"] svg'),
            ("API", "Use the API", '[data-testid="stCode"]'),
        ):
            navigate(page, name)
            expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=WAIT_MS)
            expect(page.locator(ready).first).to_be_visible(timeout=WAIT_MS)
            page.wait_for_timeout(1500)
            assert postgres.password not in page.url
            assert postgres.password not in page.locator("body").inner_text()
            shoot(page, name.lower(), width)
        assert "<PASSWORD>" in page.locator("body").inner_text(), "the API page shows the form, secret masked"
    finally:
        context.close()


def test_the_embedded_api_serves_the_playground_and_schema(wizard: str) -> None:
    schema = httpx.get(f"{wizard}/api/schema/", timeout=10).json()
    assert "/api/v1/database_connections/test/" in schema["paths"]
    assert "swagger-ui" in httpx.get(f"{wizard}/api/playground/", timeout=10).text.lower()
    assert httpx.get(f"{wizard}/_stcore/health", timeout=10).text == "ok"



def test_the_stages_appear_live_while_a_silent_host_keeps_the_test_waiting(
    wizard: str, browser: Browser, postgres: DB, silent_port: int
) -> None:
    """The silent host accepts the connection and never answers: the settled stages are on screen, and the
    login shown in progress, while the test still waits for its deadline; then the verdict replaces them."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(wizard)
        expect(page.locator(".st-key-test button")).to_be_visible(timeout=WAIT_MS)
        fill_postgres(page, postgres, silent_port)
        press_test(page)
        box = page.locator('[data-testid="stExpander"]').filter(has_text="Testing PostgreSQL")
        running = box.get_by_text("in progress")
        expect(running).to_be_visible(timeout=WAIT_MS)  # the box stays open while it fills
        box.scroll_into_view_if_needed()
        expect(box.get_by_text(f"127.0.0.1:{silent_port} accepted the connection")).to_be_visible()
        expect(box).to_contain_text("Reach the port (TCP)")
        expect(box).to_contain_text("Encrypt (TLS)")
        verdict = page.locator('[data-testid="stAlertContentError"]')
        assert verdict.count() == 0, "the stages are shown before the verdict"
        page.mouse.move(0, 0)  # no hover on the box's header in the picture
        page.screenshot(path=str(ARTIFACTS / "connect-live-1280.png"))

        expect(verdict).to_contain_text("did not answer in time", timeout=WAIT_MS)
        result = page.locator('[data-testid="stExpander"]').filter(has_text="Result: The server did not answer")
        expect(result).to_contain_text("Encrypt (TLS)")
        expect(result).not_to_contain_text("in progress")
        verdict.scroll_into_view_if_needed()
        shoot(page, "connect-live-verdict", 1280)
    finally:
        context.close()
