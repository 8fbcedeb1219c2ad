"""One way to act on every log record of the process when it is made.

Logger filters see only the records of their own logger, not those of its children or of
third-party loggers (paramiko, drivers, uvicorn); the record factory sees them all, whichever
handler writes them. :mod:`backend.security.secrets` scrubs each record there, and :mod:`backend.ops.logs`
stamps its request id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_installed: set[str] = set()


def on_every_record(name: str, step: Callable[[logging.LogRecord], logging.LogRecord]) -> None:
    """Wrap the process's record factory so that ``step`` sees each new record; once per ``name``."""
    with _lock:
        if name in _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return step(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed.add(name)
