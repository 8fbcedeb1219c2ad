"""Whether the store answers, decided within a deadline.

A load balancer asks every few seconds; a store that hangs (a stopped VM, a dropped packet) must
turn into ``503`` within the deadline, not into a request that hangs with it. The check runs in a
daemon thread of its own and is waited for with a timeout; at most one check runs at a time, so a
hanging store holds one thread, not one per probe (later probes wait for the same check), and a
new one only every :data:`GIVE_UP_S` seconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("wizard.ops")

READY_DEADLINE_S = 1.0
"""How long a probe waits for the store: the contract is an answer within 2 s, and the rest is left
to HTTP on a loaded machine."""
GIVE_UP_S = 30.0
"""A check still hanging after this long is abandoned and a new one started: a connection stuck on
a store that died (TCP may take many minutes to notice) must not keep the process unready after
the store is back or has moved."""


class StoreProbe:
    """Runs ``check`` (blocking; raises when the store does not answer), one at a time."""

    def __init__(self, check: Callable[[], None], deadline_s: float = READY_DEADLINE_S) -> None:
        self.check = check
        self.deadline_s = deadline_s
        self._lock = threading.Lock()
        self._running: concurrent.futures.Future[None] | None = None
        self._started = 0.0
        self._last: str | None = None

    def _start(self) -> tuple[concurrent.futures.Future[None], float]:
        """The check in flight (or a new one) and when it started."""
        with self._lock:
            running = self._running
            if running is not None and not running.done() and time.monotonic() - self._started < GIVE_UP_S:
                return running, self._started
            future: concurrent.futures.Future[None] = concurrent.futures.Future()

            def run() -> None:
                try:
                    self.check()
                except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                    future.set_exception(exc)
                else:
                    future.set_result(None)

            threading.Thread(target=run, name="wizard-ready", daemon=True).start()
            self._running, self._started = future, time.monotonic()
            return future, self._started

    async def ready(self) -> str | None:
        """None when the store answered in time, else why not (in words without secrets)."""
        future, started = self._start()
        # A probe that finds a check already in flight waits only for what is left of that check's
        # deadline: a store that has not answered for the whole deadline is not ready, now.
        left = max(0.0, self.deadline_s - (time.monotonic() - started))
        why: str | None = None
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout=left)
        except TimeoutError:
            why = f"the store did not answer within {self.deadline_s:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure of the store is "not ready"
            # The exception text of a driver may hold the store URL: only its type is told.
            why = f"the store failed ({type(exc).__name__})"
        if why != self._last:  # logged when it changes, not at every probe
            if why is None:
                log.info("readiness: the store answers again")
            else:
                log.warning("readiness: not ready, %s", why)
            self._last = why
        return why
