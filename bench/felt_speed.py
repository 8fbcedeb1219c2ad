"""Felt speed: click **Test** → the verdict on screen, in real headless Chromium, vs the test's own time.

``streamlit run app.py`` (UI and embedded API in one process, login on) against the bench's PostgreSQL. The page
is timed from inside: a capturing click listener notes the click (``performance.now()``), a MutationObserver
waits for this test's green "Connected" to appear, and the next animation frame — the frame that paints it — is
the moment it is on screen. Consecutive tests go to two databases in turn, so each verdict names another
database than the one on screen before it ("…, database 'postgres'"): a verdict redrawn in place, without ever
leaving the page, is still told from the last one. The test's own time is the verdict's ``payload.elapsed_ms``,
read from its Technical details ("The test took … ms"). Target: median(on screen − elapsed_ms) ≤ 250 ms.
``python -m bench.felt_speed`` runs this section alone.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.databases import start_postgres
from bench.procs import ADMIN_PASSWORD, ADMIN_USER, REPO, Env, Server, stop_all, streamlit, wait_health
from bench.report import Section, judge
from bench.stats import Stat

CHROMIUM = "/usr/bin/chromium"
TARGET_MS = 250.0
WAIT_MS = 30_000
SUCCESS = '[data-testid="stAlertContentSuccess"]'

OTHER_DATABASE = "postgres"
"""The second database the tests alternate with (every PostgreSQL has it, and lets every user connect)."""

# Installed once per page: the click on Test, then the first frame that paints a "Connected" verdict naming the
# database this test went to (``window.__want``, set before each click).
WATCH = """() => {
  if (window.__felt) return;
  const verdict = (want) => [...document.querySelectorAll('SUCCESS')].find(
      e => e.offsetParent !== null && e.innerText.includes('Connected') && e.innerText.includes(`database '${want}'`));
  window.__felt = {clickAt: null, shownAt: null};
  document.addEventListener('click', e => {
    if (e.target.closest && e.target.closest('.st-key-test')) {
      window.__felt = {clickAt: performance.now(), want: window.__want, shownAt: null};
    }
  }, true);
  new MutationObserver(() => {
    const f = window.__felt;
    if (f.clickAt === null || f.shownAt !== null || f.pending) return;
    if (verdict(f.want)) { f.pending = true; requestAnimationFrame(() => { f.shownAt = performance.now(); }); }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
}""".replace("SUCCESS", SUCCESS)


def _loopback_only(context: Any) -> None:
    def route(r: Any) -> None:
        host = urlsplit(r.request.url).hostname or ""
        if r.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost", "::1"):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)


def _fill(page: Any, pg: Any, expect: Any) -> None:
    ct = "PostgreSQLConnector"
    login = page.get_by_role("heading", name="Log in")
    expect(login.or_(page.get_by_role("heading", name="Test a connection"))).to_be_visible(timeout=WAIT_MS)
    if login.count():  # WIZARD_AUTH_ENABLED: the bench's own admin logs in
        page.locator(".st-key-login_username input").fill(ADMIN_USER)
        page.locator(".st-key-login_password input").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Test a connection")).to_be_visible(timeout=WAIT_MS)
    picker = page.locator(".st-key-connector input")
    picker.click()
    picker.press_sequentially("Postgre")
    picker.press("Enter")
    for path, value in (("host", "127.0.0.1"), ("port", str(pg.port)), ("database", pg.database),
                        ("username", pg.user), ("password", pg.password)):
        box = page.locator(f".st-key-w-{ct}-{path} input")
        expect(box).to_be_visible(timeout=WAIT_MS)
        box.fill(value)
        box.press("Tab")
        expect(box).to_have_value(value)


def _one(page: Any, expect: Any, database: str) -> tuple[float, float]:
    """One click on Test, to ``database``: (click → its verdict painted, the verdict's own elapsed_ms), in ms."""
    box = page.locator(".st-key-w-PostgreSQLConnector-database input")
    if box.input_value() != database:  # typed before the click, as a person would: the Test click sends it
        box.fill(database)
        box.press("Tab")
        expect(box).to_have_value(database)
    page.evaluate(WATCH)
    page.evaluate("(want) => { window.__want = want; }", database)
    button = page.locator(".st-key-test button")
    expect(button).to_have_count(1, timeout=WAIT_MS)
    button.click()
    page.wait_for_function("() => window.__felt && window.__felt.shownAt !== null", timeout=WAIT_MS)
    felt = float(page.evaluate("() => window.__felt.shownAt - window.__felt.clickAt"))
    details = page.locator('[data-testid="stExpander"]').filter(has_text="Technical details")
    expect(details).to_have_count(1, timeout=WAIT_MS)
    expect(details).to_contain_text(f"database '{database}'", timeout=WAIT_MS)
    found = re.search(r"The test took (\d+) ms", details.text_content() or "")
    if not found:
        raise RuntimeError("the verdict's Technical details do not say the test's time in ms")
    return felt, float(found.group(1))


def measure(ui: Server, pg: Any, samples: int, warmup: int = 3) -> Section:
    """Section 11, against a running ``streamlit run app.py`` and a PostgreSQL the wizard user logs into."""
    from playwright.sync_api import expect, sync_playwright

    s = Section("11. Felt speed: click Test → verdict on screen (Chromium) vs the test's own `elapsed_ms`")
    felt, own, extra = Stat(), Stat(), Stat()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                    "--disable-background-networking"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            _loopback_only(context)
            page = context.new_page()
            page.goto(ui.base_url)
            _fill(page, pg, expect)
            for i in range(warmup + samples):
                on_screen, elapsed = _one(page, expect, (pg.database, OTHER_DATABASE)[i % 2])
                if i >= warmup:
                    felt.add(on_screen)
                    own.add(elapsed)
                    extra.add(on_screen - elapsed)
        finally:
            browser.close()

    def row(label: str, stat: Stat, target: str = "", result: str = "") -> None:
        s.row(label, f"{stat.median:.0f} ms", f"{stat.min:.0f}", f"{stat.max:.0f}", stat.n, target, result)

    row("click Test → the green verdict painted", felt)
    row("the test's own time (`payload.elapsed_ms`)", own)
    row("**on screen − the test's own time** (per run)", extra, f"≤ {TARGET_MS:g} ms", judge(extra.median <= TARGET_MS))
    s.note("One browser tab, one user, a successful PostgreSQL test repeated, to two databases in turn so that "
           f"each verdict differs from the last ({warmup} warm-up runs not counted); timed inside the page (click "
           "listener → MutationObserver → next animation frame), so neither Playwright's polling nor its round "
           "trips are in the figure.")
    return s


def start_ui(env: Env, procs: list[Server]) -> Server:
    ui = streamlit(env, "ui-felt", REPO / "app.py")
    procs.append(ui)
    ui.start()
    wait_health(ui, "/api/schema/", timeout=120.0)
    return ui


def main(argv: list[str] | None = None) -> int:
    from tests.servers.postgres import PostgresServer

    parser = argparse.ArgumentParser(prog="python -m bench.felt_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--samples", type=int, default=None, help="runs counted (default 20; 5 with --quick)")
    args = parser.parse_args(argv)
    samples = args.samples or (5 if args.quick else 20)
    workdir = Path(tempfile.mkdtemp(prefix="wizard-bench-felt-"))
    procs: list[Server] = []
    pg_server = PostgresServer()
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        stack.callback(lambda: pg_server.stop() if pg_server.workdir != Path() else None)
        stack.callback(stop_all, procs)
        pg = start_postgres(pg_server)
        ui = start_ui(Env(workdir, auth=True), procs)
        print(measure(ui, pg, samples).markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
