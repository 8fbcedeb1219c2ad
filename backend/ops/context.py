"""The request id of the request being served, in a contextvar.

A contextvar follows the request wherever its work goes: into the tasks it creates and into
threads started with ``asyncio.to_thread``, ``run_in_threadpool`` or ``contextvars.copy_context()``
(``backend.diagnosis.stages.run_blocking`` copies it into its driver threads), so a driver's log line
written in a thread carries the id of the test that started it.
"""

from __future__ import annotations

import re
import uuid
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
