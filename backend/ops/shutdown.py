"""Clean-ups of the process's own temp folders, run when the app shuts down and again at exit.

``atexit`` alone is not enough: on SIGTERM uvicorn shuts the app down (its lifespan ends), then
restores the default signal handler and raises the signal again, so the process dies of SIGTERM
and ``atexit`` handlers never run. The app's lifespan calls :func:`run_cleanups` at its end;
``atexit`` still covers an interpreter that exits normally.

A clean-up must be idempotent and must leave its owner able to work again (the test suite runs
several apps in one process: one app's shutdown must not break the next one's tests).
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable

_lock = threading.Lock()
_cleanups: list[Callable[[], None]] = []


def on_shutdown(cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` when the app shuts down and when the interpreter exits."""
    with _lock:
        if cleanup in _cleanups:
            return
        _cleanups.append(cleanup)
    atexit.register(cleanup)


def run_cleanups() -> None:
    """Every registered clean-up, each once, none allowed to stop the others."""
    with _lock:
        cleanups = list(_cleanups)
    for cleanup in cleanups:
        with contextlib.suppress(Exception):
            cleanup()
