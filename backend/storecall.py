"""Blocking calls to the wizard's own SQL store, made from async code.

The users, sessions and saved connections share one store (``WIZARD_DATABASE_URL``). Every
call runs in a thread; a store that fails is a ``503`` with ``Retry-After`` (never a 500), and
the log line names the failure without the store URL's password. SQLAlchemy is imported on
the first failure only, so importing the API loads no database code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from backend.errors import APIError
from backend.messages import Code
from backend.secrets import scrub
from backend.settings import Settings

T = TypeVar("T")


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


async def call_store(fn: Callable[[], T], settings: Settings, log: logging.Logger, what: str) -> T:
    """Run ``fn`` in a thread; if the store fails, log it and answer 503 saying ``what`` is unavailable."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return await run_in_threadpool(fn)
    except SQLAlchemyError as exc:
        log.error("the %s failed: %s", what, first_line(exc, settings))
        raise APIError(
            503,
            Code.SERVICE_BUSY,
            f"The {what} is unavailable",
            f"The wizard cannot reach its {what}. Try again shortly.",
            headers={"Retry-After": str(settings.retry_after_s)},
        ) from None
