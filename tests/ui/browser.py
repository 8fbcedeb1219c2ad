"""The browser journeys' fixtures and helpers: one ``streamlit run app.py`` wizard process per module,
headless Chromium, and what a person does on its pages (shared by the tests/ui/test_browser*.py modules)."""

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
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Route, WebSocketRoute, expect, sync_playwright

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


class HeldAnswers:
    """The page's websocket to Streamlit, with the server's messages held back while :attr:`holding` (then delivered
    in order by :meth:`release`), and every rerun the page asks for noted (``reruns``: its widgets' string values by
    widget id). Holding the answers replays, in a fixed order, what a slow server does to a quick person: the next
    click lands before the page has drawn the answer to the last one.

    ``page.route_web_socket(STREAM, held.route)`` before the page is opened.
    """

    STREAM = "**/_stcore/stream"

    def __init__(self) -> None:
        self.holding = False
        self.held: list[str | bytes] = []
        self.reruns: list[dict[str, str]] = []
        self._page_side: WebSocketRoute | None = None

    def route(self, ws: WebSocketRoute) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        server = ws.connect_to_server()
        self._page_side = ws

        def to_page(message: str | bytes) -> None:
            if self.holding:
                self.held.append(message)
            else:
                ws.send(message)

        def to_server(message: str | bytes) -> None:
            if isinstance(message, bytes):
                sent = BackMsg.FromString(message)
                if sent.WhichOneof("type") == "rerun_script":
                    self.reruns.append({w.id: w.string_value for w in sent.rerun_script.widget_states.widgets})
            server.send(message)

        server.on_message(to_page)
        ws.on_message(to_server)

    def release(self) -> None:
        """Deliver what was held, in order, and stop holding."""
        assert self._page_side is not None, "the page opened its websocket"
        self.holding = False
        for message in self.held:
            self._page_side.send(message)
        self.held.clear()

    def held_a_finished_run(self, page: Page) -> None:
        """Wait until the server has finished a run whose answer is held (the page has not drawn it)."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        for _ in range(WAIT_MS // 25):
            if any(isinstance(m, bytes) and ForwardMsg.FromString(m).WhichOneof("type") == "script_finished"
                   for m in self.held):
                return
            page.wait_for_timeout(25)
        raise AssertionError("the server finished no run while its answers were held")

    def asked_with(self, page: Page, key: str, value: str) -> None:
        """Wait (Playwright's event loop turning) until the page has asked for a rerun with the widget ``key`` at
        ``value`` (a string value, e.g. a picker's option label)."""
        for _ in range(WAIT_MS // 25):
            if any(wid.endswith(f"-{key}") and seen == value for rerun in self.reruns for wid, seen in rerun.items()):
                return
            page.wait_for_timeout(25)
        raise AssertionError(f"the page never asked for a rerun with {key} = {value!r}: {self.reruns}")
