"""The request id of the request being served, and what to do once its answer is sent, in contextvars.

A contextvar follows the request wherever its work goes: into the tasks it creates and into
threads started with ``asyncio.to_thread``, ``run_in_threadpool`` or ``contextvars.copy_context()``
(``backend.diagnosis.stages.run_blocking`` copies it into its driver threads), so a driver's log line
written in a thread carries the id of the test that started it.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

HEADER = "X-Request-ID"
NO_ID = "-"
"""The request id of log records written outside any request (start-up, shut-down)."""

_SAFE = re.compile(rb"[A-Za-z0-9._-]{1,64}")

REQUEST_ID: ContextVar[str] = ContextVar("wizard_request_id", default=NO_ID)


def current_request_id() -> str:
    """The id of the request whose work is running here, or ``-`` outside any request."""
    return REQUEST_ID.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_or_generate(supplied: bytes | None) -> str:
    """The caller's id when it is a safe token (≤ 64 of ``[A-Za-z0-9._-]``), else a new one.

    Anything else (too long, spaces, control characters, other bytes) is dropped, never echoed:
    it would otherwise reach log lines and response headers as the caller wrote it.
    """
    if supplied is not None and _SAFE.fullmatch(supplied):
        return supplied.decode("ascii")
    return new_request_id()


class AfterAnswer:
    """Work of one request that its answer does not wait for, run once the answer is sent
    (``backend.ops.middleware.Operations`` runs them): a driver's connection closed, and with it the
    database server's end of the session (a process exiting, often on the same machine as the client);
    the test's audit line written."""

    def __init__(self) -> None:
        self._calls: list[Callable[[], None]] = []
        self._done = False

    def add(self, fn: Callable[[], None]) -> None:
        if self._done:  # e.g. a task the request started still cleaning up after the answer: at once
            fn()
        else:
            self._calls.append(fn)

    def run(self) -> None:
        self._done = True
        calls, self._calls = self._calls, []
        for fn in calls:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - one clean-up's failure must not skip the others
                logging.getLogger("wizard.ops").warning("a clean-up after the answer failed: %s", type(exc).__name__)


AFTER_ANSWER: ContextVar[AfterAnswer | None] = ContextVar("wizard_after_answer", default=None)


def after_answer(fn: Callable[[], None]) -> bool:
    """``fn()`` once the current request's answer is sent. False, and ``fn`` left to the caller, outside a
    request (the command line, the scheduler of monitored connections) or where no ``Operations`` serves it."""
    pending = AFTER_ANSWER.get()
    if pending is None:
        return False
    pending.add(fn)
    return True
