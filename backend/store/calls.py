"""Blocking calls to the wizard's own SQL store, made from async code, each within a deadline.

The users, sessions and saved connections share one store (``WIZARD_DATABASE_URL``). Every call
runs in a thread of the store's own pool (so that a stuck store cannot take the threads that
other requests, ``live/`` and ``ready/`` need), within ``WIZARD_STORE_TIMEOUT_S``
(docs/design.md, "The store under faults"), enforced on the client side — a frozen server
enforces nothing:

- connecting: the driver's ``connect_timeout``; waiting for a pooled connection: ``pool_timeout``;
- each statement: ``statement_timeout`` (PostgreSQL, set at each checkout, which is also the
  liveness ping of the pooled connection) or ``busy_timeout`` (SQLite); and, whatever the server
  does, the :class:`Watchdog` shuts down the socket of a connection still in use when its call's
  deadline passes (interrupts it, on SQLite), so the blocked driver call fails at once and the
  thread is free again;
- the caller waits at most the deadline (plus a moment): a store that is down or frozen is a
  ``StoreUnavailable`` (503 ``STORE_UNAVAILABLE`` with ``Retry-After``) in time, never a hang.

The log line names the failure without the store URL's password. SQLAlchemy is imported on first
use only, so importing the API loads no database code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from backend.core.saved_errors import StoreUnavailable
from backend.security.secrets import scrub
from backend.settings import Settings

T = TypeVar("T")

log = logging.getLogger("wizard.store")

WORKERS = 16
"""Threads of the store's own pool (the connection pool holds 5 + 10 overflow per process)."""
GRACE_S = 0.25
"""How long past the deadline the caller waits for the thread to report the failure itself."""


class StoreDeadline(Exception):
    """The call's deadline passed before (or while) it could use the store."""


def url_password(url: str) -> list[str]:
    """The password inside a store URL, to mask in messages that might quote it."""
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 - an unparsable URL has no password to hide
        return []
    return [str(password)] if password else []


def first_line(exc: BaseException, settings: Settings) -> str:
    """The first line of a store error, the store URL's password masked."""
    return scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, url_password(settings.database_url))


# --- the deadline of the current thread's store call -----------------------------------------------

_local = threading.local()


def current_deadline() -> float | None:
    """The ``time.monotonic()`` by which this thread's store call must end (None: no deadline)."""
    return getattr(_local, "deadline", None)


@contextlib.contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Store calls made by this thread inside the block end by ``at`` (monotonic), or fail."""
    previous = current_deadline()
    _local.deadline = at
    try:
        yield
    finally:
        _local.deadline = previous


class Watchdog:
    """Cuts the connections that outlive their call's deadline; one daemon thread for the process."""

    idle_wait_s = 1.0
    """How long the thread sleeps when no call is watched (a call's deadline is later: it wakes in time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, Any]] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._waking_at = 0.0
        """When the thread looks at the deadlines next: a deadline after it needs no wake-up (0: it is about
        to look, just started or woken)."""

    def watch(self, key: int, dbapi_conn: Any, at: float) -> None:
        with self._lock:
            self._watched[key] = (at, dbapi_conn)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="wizard-store-watchdog", daemon=True)
                self._thread.start()
            elif at >= self._waking_at:
                return  # it will look at this deadline in time: no thread woken per store call
            self._waking_at = 0.0
        self._wake.set()

    def unwatch(self, key: int) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                due = [k for k, (at, _c) in self._watched.items() if at <= now]
                for key in due:
                    _at, conn = self._watched.pop(key)
                    _cut(conn)  # under the lock: the connection cannot be closed (and its fd reused) meanwhile
                following = min((at for at, _c in self._watched.values()), default=None)
                wait = self.idle_wait_s if following is None else max(0.005, following - time.monotonic())
                self._waking_at = time.monotonic() + wait
            self._wake.wait(wait)
            self._wake.clear()


def _cut(dbapi_conn: Any) -> None:
    """Make the driver call blocked on ``dbapi_conn`` fail now."""
    with contextlib.suppress(Exception):
        if hasattr(dbapi_conn, "interrupt"):  # sqlite3
            dbapi_conn.interrupt()
            return
        fd = os.dup(dbapi_conn.fileno())  # psycopg2: the socket, shut down for every holder of it
        sock = socket.socket(fileno=fd)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()
    log.warning("a store call outlived its deadline: its connection was cut")


WATCHDOG = Watchdog()


def guard_engine(engine: Any, timeout_s: float) -> None:
    """Put the deadline of each store call on ``engine``'s connections (see the module's docstring)."""
    from sqlalchemy import event
    from sqlalchemy.exc import DisconnectionError

    postgres = engine.dialect.name == "postgresql"

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        at = current_deadline()
        if at is not None:
            if time.monotonic() >= at:
                raise StoreDeadline("the store did not answer in time")
            WATCHDOG.watch(id(record), dbapi_conn, at)
        if not postgres:
            return
        left_ms = 0 if at is None else max(1, int((at - time.monotonic()) * 1000))
        try:  # the pre-ping, and the server's own bound on each statement of this call
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute(f"SET statement_timeout = {left_ms}")
            finally:
                cursor.close()
        except Exception as exc:  # noqa: BLE001 - any failure of the ping: a dead connection
            WATCHDOG.unwatch(id(record))
            if at is not None and time.monotonic() >= at:
                raise StoreDeadline("the store did not answer in time") from None
            raise DisconnectionError(type(exc).__name__) from None  # the pool replaces the connection

    def _release(_dbapi_conn: Any, record: Any, *_rest: Any) -> None:
        WATCHDOG.unwatch(id(record))

    for name in ("checkin", "close", "invalidate", "soft_invalidate", "detach"):
        event.listen(engine, name, _release)


# --- the calls -----------------------------------------------------------------------------------

_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="wizard-store")
        return _executor


def _run(fn: Callable[[], T], at: float) -> T:
    if time.monotonic() >= at:  # waited in the queue for the whole deadline: do not start now
        raise StoreDeadline("the store did not answer in time")
    with deadline(at):
        return fn()


def unavailable(exc: BaseException, settings: Settings, log: logging.Logger, what: str) -> StoreUnavailable:
    """Log why the store failed (its URL's password masked) and say so in the domain's words."""
    why = "it did not answer in time" if isinstance(exc, (StoreDeadline, TimeoutError)) else first_line(exc, settings)
    log.error("the %s failed: %s", what, why)
    return StoreUnavailable(what, settings.retry_after_s)


async def call_store(fn: Callable[[], T], settings: Settings, log: logging.Logger, what: str) -> T:
    """Run ``fn`` in a thread of the store's pool within ``WIZARD_STORE_TIMEOUT_S``; if the store fails
    or does not answer in time, log it and raise :class:`StoreUnavailable` (``what`` is unavailable)."""
    from sqlalchemy.exc import SQLAlchemyError

    at = time.monotonic() + settings.store_timeout_s
    future = _pool().submit(_run, fn, at)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout=settings.store_timeout_s + GRACE_S)
    except (SQLAlchemyError, StoreDeadline, TimeoutError) as exc:
        future.cancel()  # not started yet: never will
        raise unavailable(exc, settings, log, what) from None


def ping(engine: Any, deadline_s: float) -> None:
    """One ``SELECT 1`` on a SQLAlchemy engine, within ``deadline_s`` (the store's watchdog cuts a
    connection that outlives it, so a check on a frozen store frees its thread; the pool's checkout
    ping replaces a dead connection)."""
    from sqlalchemy import text

    with deadline(time.monotonic() + deadline_s), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
