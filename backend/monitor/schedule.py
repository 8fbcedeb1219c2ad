"""The scheduler of monitored connections: each due test run once, however many processes share the store.

Every API process runs one :class:`Scheduler` (started in the app's lifespan: nothing to run
beside ``make run``). Its timer is the event loop's; "exactly once" does not rest on the timer but
on the store, the one thing all processes share (as procrastinate and solid_queue do):

- ``wizard_connection_health.next_due`` says when a connection's next test is due (set when
  monitoring is turned on: due at once; after each test: the next multiple of its interval after now);
- a process **claims** the due tests it has free slots for with ONE guarded ``UPDATE … SET
  lease_until, lease_by WHERE connection_id IN (…) AND next_due <= now AND (lease_until IS NULL OR
  lease_until < now) RETURNING connection_id``: on SQLite writes are serialised; on PostgreSQL the
  rows are picked by ``SELECT … FOR UPDATE SKIP LOCKED`` (rows another process is claiming are
  skipped, and a row changed meanwhile is re-checked), so each due test is won by one process;
- the winner tests, keeps the verdict (``trigger: "schedule"``) and moves ``next_due`` on, in a write
  guarded by its own ``lease_by``; a process that dies while testing leaves the lease to run out
  (``WIZARD_MONITOR_LEASE_S``, at least the test deadline + 5 s), then another claims the test.

A test is claimed only once a slot is free: scheduled tests use at most half of
``WIZARD_MAX_CONCURRENT_TESTS`` and take a slot only when one is free (user tests first: they never
get a 503 because of the schedule); they are not counted against the owner's test rate, and run
as the owner (the audit line names them). A claim runs ONE test however late it comes: the due
times it missed are skipped, not run twice (``next_due`` becomes the next due time after now).

The clock is injected (``clock``), so the schedule, the lease and the retention are tested exactly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backend.settings import Settings

if TYPE_CHECKING:  # SQLAlchemy loads when the store is first used, not at import
    from backend.diagnosis.service import ConnectionTester
    from backend.monitor.claims import Claims, Due
    from backend.saved.service import Loaded, SavedConnections
    from backend.saved.store import Stored
    from backend.spec.schemas import ApplicationMessage

log = logging.getLogger("wizard.monitor")

PRUNE_EVERY_S = 3600.0
LEASE_MARGIN_S = 5.0
KEEP_BATCH = 200
"""At most this many verdicts per transaction (the store's write lock is not held long)."""


class Scheduler:
    """Runs the monitored connections' tests of this process (see the module's docstring)."""

    def __init__(
        self,
        settings: Settings,
        saved: SavedConnections,
        tester: ConnectionTester,
        *,
        clock: Callable[[], float] = time.time,
        on_pass: Callable[[dict[str, int]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.saved = saved
        self.tester = tester
        self.clock = clock
        self.on_pass = on_pass
        """Told the count of monitored connections per state at each pass (the gauge)."""
        self.me = f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.share = max(1, settings.max_concurrent_tests // 2)
        self.running: set[asyncio.Task[None]] = set()
        self.passes = 0
        self._claims: Claims | None = None
        self._pruned_at: float | None = None
        self._timers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._wakes: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
        self._starved = False
        self._to_keep: dict[asyncio.AbstractEventLoop, list[tuple[_ToKeep, asyncio.Future[None]]]] = {}
        self._keepers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        """The last pass left due tests for want of a slot: look again as soon as one comes free."""

    @property
    def claims(self) -> Claims:
        if self._claims is None:
            from backend.monitor.claims import Claims

            store = self.saved.store
            self._claims = Claims(store.engine, self.saved.history._ensure)
        return self._claims

    @property
    def lease_s(self) -> float:
        return max(self.settings.monitor_lease_s, self.settings.test_timeout_s + LEASE_MARGIN_S)

    # --- the timer ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start looking for due tests on the running loop (one timer per loop that starts the app)."""
        loop = asyncio.get_running_loop()
        if loop not in self._timers:
            self._timers[loop] = loop.create_task(self._forever(), name="wizard-monitor")

    async def stop(self) -> None:
        """Stop looking for due tests; the tests running end with their verdicts (within their deadline)."""
        loop = asyncio.get_running_loop()
        timer = self._timers.pop(loop, None)
        if timer is not None:
            timer.cancel()
            # A pass stuck on a store that does not answer holds its thread until the driver gives
            # up: the process does not wait for it longer than a test's deadline.
            await asyncio.wait({timer}, timeout=self.settings.test_timeout_s + 1)
        mine = [task for task in self.running if task.get_loop() is loop]
        if mine:
            await asyncio.gather(*mine, return_exceptions=True)

    async def _forever(self) -> None:
        wake = self._wakes.setdefault(asyncio.get_running_loop(), asyncio.Event())
        try:
            while True:
                try:
                    await self.tick()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a store that fails now is tried again next time
                    log.error("the scheduler of monitored connections failed a pass: %s", _reason(exc, self.settings))
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), timeout=self.settings.monitor_poll_s)
                except TimeoutError:
                    pass
        finally:
            self._wakes.pop(asyncio.get_running_loop(), None)

    def wake(self) -> None:
        """Look for due tests now (a slot came free); called on the loop whose timer should look."""
        try:
            event = self._wakes.get(asyncio.get_running_loop())
        except RuntimeError:
            return
        if event is not None:
            event.set()

    # --- one pass ----------------------------------------------------------------------------------

    async def tick(self) -> int:
        """One pass: due tests claimed and started (as many as free slots allow); old history pruned."""
        now = self.clock()
        claims = self.claims
        await asyncio.to_thread(claims.sync, now)
        if self.on_pass is not None:  # the states the tests up to now left
            self.on_pass(await asyncio.to_thread(self.saved.history.states))
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY_S or now < self._pruned_at:
            removed = await asyncio.to_thread(self.saved.history.prune, now - self.settings.history_days * 86400.0)
            self._pruned_at = now
            if removed:
                log.info("pruned %d kept tests older than %d days", removed, self.settings.history_days)
        started = 0
        free = self.share - len(self.running)
        self._starved = free <= 0
        if free > 0:
            # A slot for each due test first (user tests first: only free ones), then ONE guarded claim.
            candidates = []
            for due in await asyncio.to_thread(claims.due, now, free):
                if not self.tester.try_admit():
                    self._starved = True
                    break
                candidates.append(due)
            won: dict[str, Prepared | None] = {}
            try:
                if candidates:
                    won = await asyncio.to_thread(self._claim, [d.connection_id for d in candidates], now)
            finally:
                for due in candidates:
                    if due.connection_id not in won:
                        self.tester._release()  # another process was first (or the claim failed)
            for due in candidates:
                if due.connection_id in won:
                    test = self._test(due, won[due.connection_id])
                    task = asyncio.get_running_loop().create_task(test, name="wizard-scheduled-test")
                    self.running.add(task)
                    task.add_done_callback(self._done)
                    started += 1
        self.passes += 1
        return started

    def _done(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        if self._starved:
            self.wake()

    async def drain(self) -> None:
        """Wait for the tests started so far (tests use it after :meth:`tick`)."""
        while self.running:
            await asyncio.gather(*list(self.running), return_exceptions=True)

    def _claim(self, connection_ids: list[str], now: float) -> dict[str, Prepared | None]:
        """ONE guarded claim, then the rows won read in ONE query and made ready to test (in one thread hop).

        A won id maps to its :class:`Prepared` (``loaded`` None: nothing to test, it moves on), or to
        None when its row could not be read here (its test reads it again, and logs why it cannot).
        """
        won = self.claims.claim_many(connection_ids, now, now + self.lease_s, self.me)
        if not won:
            return {}
        try:
            rows = self.saved.store.get_many(sorted(won))
        except Exception as exc:  # noqa: BLE001 - each test tries again, alone
            log.warning("the claimed scheduled tests could not be read at once: %s", _reason(exc, self.settings))
            return dict.fromkeys(won)
        return {cid: self._prepared(rows.get(cid)) for cid in won}

    def _prepared(self, stored: Stored | None) -> Prepared:
        """A claimed connection ready to test (decrypted), or ``loaded`` None when there is nothing to test."""
        from backend.core.saved_errors import SavedError

        if stored is None or stored.monitor_every_minutes is None:
            return Prepared(None, None)  # deleted, or monitoring turned off, since: nothing to test
        try:
            return Prepared(self.saved.load_stored(stored, "schedule"), stored.monitor_every_minutes)
        except SavedError:
            return Prepared(None, stored.monitor_every_minutes)  # kept as CANNOT_DECRYPT (or a body no longer read)

    async def _test(self, due: Due, prepared: Prepared | None) -> None:
        """Run one claimed test (its slot already taken) as the owner; keep it; move the schedule on.

        The connection was read and decrypted with the claim (:meth:`_claim`); the verdict is kept
        with the other tests that end meanwhile, in ONE transaction (:meth:`_keep_batched`): its
        ``last_test``, history, health and ``next_due`` (by the interval as it is now; guarded by the lease).
        """
        from backend.monitor.claims import next_due_after

        every = due.every_minutes
        moved = False

        def prepare() -> Prepared:
            stored = self.saved.store.get(due.owner, due.connection_id)
            return self._prepared(stored)

        def move_on() -> None:
            nonlocal moved
            moved = True
            self.claims.finish(due.connection_id, self.me, next_due_after(due.next_due, every, self.clock()))

        def keep(loaded: Loaded, message: ApplicationMessage) -> None:
            self.saved.record(loaded, message, "schedule", self.clock())
            move_on()

        admitted = True
        try:
            if prepared is None:
                prepared = await asyncio.to_thread(prepare)
            elif prepared.loaded is not None and prepared.loaded.stored.owner != due.owner:
                prepared = Prepared(None, None)
            every = prepared.every_minutes or every
            loaded = prepared.loaded
            if loaded is not None:
                admitted = False  # run_admitted releases the slot from here on
                message = await self.tester.run_admitted(loaded.model, due.owner)
                try:
                    await self._keep_batched(due, loaded, message, every)
                    moved = True
                except Exception as exc:  # noqa: BLE001 - kept alone instead, as a user's test is
                    log.warning("scheduled tests could not be kept together: %s", _reason(exc, self.settings))
                    await asyncio.to_thread(keep, loaded, message)
        except Exception as exc:  # noqa: BLE001 - logged; the schedule moves on
            log.error("a scheduled test failed to run: %s", _reason(exc, self.settings))
        finally:
            if admitted:
                self.tester._release()
            if not moved:
                try:
                    await asyncio.to_thread(move_on)
                except Exception as exc:  # noqa: BLE001 - the lease runs out; another pass (or process) takes it
                    log.error("a scheduled test could not be moved on: %s", _reason(exc, self.settings))

    # --- keeping verdicts together -----------------------------------------------------------------

    async def _keep_batched(self, due: Due, loaded: Loaded, message: ApplicationMessage, every: int) -> None:
        """Queue a verdict for the next write of this loop's keeper; return once it is committed (raise if not)."""
        loop = asyncio.get_running_loop()
        kept: asyncio.Future[None] = loop.create_future()
        self._to_keep.setdefault(loop, []).append((_ToKeep(due, loaded, message, every), kept))
        if loop not in self._keepers:
            self._keepers[loop] = loop.create_task(self._keeper(loop), name="wizard-scheduled-keeper")
        await kept

    async def _keeper(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write the queued verdicts, up to :data:`KEEP_BATCH` per transaction, until none is left."""
        try:
            while queued := self._to_keep.pop(loop, None):
                for start in range(0, len(queued), KEEP_BATCH):
                    batch = queued[start:start + KEEP_BATCH]
                    try:
                        await asyncio.to_thread(self._keep_all, [item for item, _ in batch])
                    except Exception as exc:  # noqa: BLE001 - each test then keeps its own verdict
                        for _, kept in batch:
                            if not kept.done():
                                kept.set_exception(exc)
                    else:
                        for _, kept in batch:
                            if not kept.done():
                                kept.set_result(None)
        finally:
            self._keepers.pop(loop, None)

    def _keep_all(self, batch: list[_ToKeep]) -> None:
        """Each verdict's ``last_test``, history row, health row and ``next_due``: ONE transaction for all;
        then the alerts of the changes of state it made (after the commit, as :meth:`SavedConnections.record`)."""
        from backend.monitor.claims import next_due_after
        from backend.monitor.history import Transition, Verdict

        saved, history = self.saved, self.saved.history
        history._ensure()
        at = self.clock()
        transitions: list[Transition] = []
        with saved.store.engine.begin() as conn:
            for item in batch:
                stored = item.loaded.stored
                saved.store.record_test_in(conn, stored.owner, stored.id, stored.version, saved.last_test_of(item.message, at))
                change = history.keep_in(conn, stored.id, stored.owner, stored.name, Verdict.of(item.message), "schedule", at)
                self.claims.finish_in(conn, item.due.connection_id, self.me, next_due_after(item.due.next_due, item.every, at))
                if change is not None:
                    transitions.append(change)
        for change in transitions:
            saved.notify(change)


@dataclass(frozen=True)
class Prepared:
    """A claimed connection, read and decrypted: ``loaded`` None when there is nothing to test."""

    loaded: Loaded | None
    every_minutes: int | None


@dataclass(frozen=True)
class _ToKeep:
    due: Due
    loaded: Loaded
    message: ApplicationMessage
    every: int


def _reason(exc: BaseException, settings: Settings) -> str:
    """A failure in one line: the store's first line (its URL's password masked), else the exception's type."""
    from sqlalchemy.exc import SQLAlchemyError

    from backend.store.calls import first_line

    return first_line(exc, settings)[:300] if isinstance(exc, SQLAlchemyError) else type(exc).__name__

