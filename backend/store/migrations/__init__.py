"""The store's schema, managed by Alembic: ``python -m backend db upgrade``, also applied at start.

:func:`upgrade` brings any database of ``WIZARD_DATABASE_URL`` to the newest revision. A store
made before migrations existed (by ``metadata.create_all``: the auth tables, no
``alembic_version``) is adopted: stamped at the first revision, whose tables it already has,
then upgraded. Several processes starting at once on PostgreSQL take turns (an advisory lock
held for the transaction); on SQLite the loser of a race retries and finds the work done.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

if TYPE_CHECKING:  # Alembic loads when the store is first used, not at import
    from alembic.config import Config

log = logging.getLogger("wizard.store")

HERE = Path(__file__).resolve().parent
FIRST = "0001_auth"
"""The revision whose tables a pre-migration store (made by ``create_all``) already has."""
ADVISORY_LOCK = 0x57495A41  # "WIZA": PostgreSQL's advisory lock of the store's migrations


def _config(conn: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = conn
    return config


def head() -> str:
    """The newest revision."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_config()).get_current_head())


def current(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _upgrade_once(engine: Engine) -> tuple[str | None, str | None]:
    from alembic import command

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        tables = set(inspect(conn).get_table_names())
        before = _revision(conn)
        config = _config(conn)
        if before is None and "wizard_users" in tables:
            log.info("adopting a store made before migrations: stamped at %s", FIRST)
            command.stamp(config, FIRST)
        command.upgrade(config, "head")
        return before, _revision(conn)


def _revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the store to the newest revision; ``(revision before, revision after)``."""
    for attempt in range(3):
        try:
            before, after = _upgrade_once(engine)
            if before != after:
                log.info("store schema upgraded: %s → %s", before or "empty", after)
            return before, after
        except (IntegrityError, ProgrammingError, OperationalError):
            # Another process (SQLite has no advisory lock) created the same tables first.
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")
