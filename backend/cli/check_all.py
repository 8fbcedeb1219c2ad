"""``python -m backend check --all [--user NAME] [--json]``: test every saved connection of a user now.

For cron jobs and CI that run without the server (docs/design.md, "Connection health over time").
Each test is the API's own (:class:`backend.diagnosis.service.ConnectionTester`, the ``WIZARD_*`` settings),
several at once (at most ``WIZARD_MAX_CONCURRENT_TESTS``); each verdict becomes the connection's
``last_test`` and is kept in its history as ``trigger: "cli"``, as ``{id}/test/`` keeps a user's;
a change of state it makes is alerted (``WIZARD_ALERT_WEBHOOK_URL``) as the server would.
A connection whose secret no key decrypts is reported (and kept) as ``CANNOT_DECRYPT``.

Output: one line per connection, then a summary; with ``--json`` one object
``{"results": [{"id", "name", "code", "kind", "title", "elapsed_ms"}], "failed": int}``.

Exit status: 0 every test is ``CONNECTION_SUCCESSFUL`` (either kind; also when there is none),
1 any is not, 2 it could not run (invalid settings, unknown user, store unavailable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from backend.settings import Settings

if TYPE_CHECKING:
    from backend.saved.service import SavedConnections
    from backend.saved.store import Stored

ALL_CONNECTED, SOME_FAILED, COULD_NOT_RUN = 0, 1, 2
SUCCESS = "CONNECTION_SUCCESSFUL"


class CannotRun(Exception):
    """Exit 2 with this reason."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="Test every saved connection of a user now (for cron jobs and CI).",
        description="Test every saved connection of a user and print each verdict. Exit status: 0 all connect "
                    "(also when there is none), 1 any does not, 2 it could not run (unknown user, store unavailable).",
    )
    parser.add_argument("--all", action="store_true", required=True, help="every saved connection of the user")
    parser.add_argument("--user", metavar="NAME", help="whose saved connections (default: WIZARD_ADMIN_USERNAME)")
    parser.add_argument("--json", action="store_true", help='print one JSON object {"results": [...], "failed": n}')
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from backend.cli import load_settings
    from backend.cli.check import _quiet_logs

    settings = load_settings()
    if settings is None:
        return COULD_NOT_RUN
    _quiet_logs()
    try:
        saved, rows = _connections(args.user, settings)
        changes: list[Any] = []
        saved.observers.append(changes.append)  # a change of state is alerted as the server would
        results = asyncio.run(check_all(saved, rows, settings))
    except CannotRun as exc:
        sys.stderr.write(f"error: {exc}\n")
        return COULD_NOT_RUN
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: the tests were cancelled and cleaned up\n")
        return 130
    if changes:
        from backend.monitor.alerts import deliver_now

        deliver_now(settings, changes)
    failed = sum(1 for r in results if r["code"] != SUCCESS)
    if args.json:
        sys.stdout.write(json.dumps({"results": results, "failed": failed}, ensure_ascii=False) + "\n")
    else:
        for r in results:
            took = f" ({r['elapsed_ms']} ms)" if r["elapsed_ms"] is not None else ""
            mark = "✔" if r["code"] == SUCCESS and r["kind"] != "warning" else "!" if r["code"] == SUCCESS else "✘"
            sys.stdout.write(f"{mark} {r['name']}: {r['code']}: {r['title']}{took}\n")
        sys.stdout.write(f"{len(results) - failed} of {len(results)} connected\n")
    sys.stdout.flush()
    return ALL_CONNECTED if failed == 0 else SOME_FAILED


def _connections(user: str | None, settings: Settings) -> tuple[SavedConnections, list[Stored]]:
    """The store and the user's connections, newest first (CannotRun: unknown user, store unavailable)."""
    from backend.saved.service import SavedConnections, owner_of
    from backend.security.auth import AuthService

    name = user or (settings.admin_username if settings.auth_enabled else None)
    try:
        auth = AuthService(settings)
        saved = SavedConnections(settings, auth)
        if name is not None and name != settings.admin_username and not name.startswith("oidc:"):
            auth.store.create()
            if not auth.store.user_exists(name):
                raise CannotRun(f"there is no user '{name}' (see: python -m backend users list)")
        _, rows = saved.store.page(owner_of(name), None, 0, 1_000_000)
    except CannotRun:
        raise
    except Exception as exc:  # noqa: BLE001 - the store's driver, its URL: said without the URL
        raise CannotRun(f"the store of saved connections (WIZARD_DATABASE_URL) cannot be read ({type(exc).__name__})") from None
    return saved, rows


async def check_all(saved: SavedConnections, rows: list[Stored], settings: Settings) -> list[dict[str, Any]]:
    """Test each connection (at most ``WIZARD_MAX_CONCURRENT_TESTS`` at once); one result per connection, in order."""
    from backend.diagnosis.service import ConnectionTester

    tester = ConnectionTester(settings)
    slots = asyncio.Semaphore(settings.max_concurrent_tests)

    async def one(stored: Stored) -> dict[str, Any]:
        async with slots:
            return await _check(saved, tester, stored)

    return list(await asyncio.gather(*(one(stored) for stored in rows)))


async def _check(saved: SavedConnections, tester: Any, stored: Stored) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    from backend.core.saved_errors import CannotDecryptSecrets, SavedError
    from backend.monitor.history import CANNOT_DECRYPT

    result: dict[str, Any] = {"id": stored.id, "name": stored.name}
    try:
        loaded = await run_in_threadpool(saved.load_stored, stored, "cli")
    except SavedError as exc:
        code = CANNOT_DECRYPT if isinstance(exc, CannotDecryptSecrets) else str(exc.code)
        return {**result, "code": code, "kind": "error", "title": exc.title, "elapsed_ms": None}
    message = await tester.test(loaded.model)
    try:
        await run_in_threadpool(saved.record, loaded, message, "cli")
    except Exception as exc:  # noqa: BLE001 - the test ran: its verdict stands
        sys.stderr.write(f"warning: the verdict of '{stored.name}' could not be kept ({type(exc).__name__})\n")
    payload = message.payload if isinstance(message.payload, dict) else {}
    elapsed = payload.get("elapsed_ms")
    return {
        **result,
        "code": message.code,
        "kind": message.kind.value if message.kind is not None else None,
        "title": message.title,
        "elapsed_ms": int(elapsed) if isinstance(elapsed, (int, float)) else None,
    }
