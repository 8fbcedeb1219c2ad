"""The schedule's rows in the store: the guarded claim with a lease (see :mod:`backend.monitor.schedule`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from backend.monitor.tables import health
from backend.saved.store import saved_connections

_FINISH = (
    update(health)
    .where(health.c.connection_id == bindparam("i"), health.c.lease_by == bindparam("me"))
    .values(next_due=bindparam("nd"), lease_until=None, lease_by=None)
)


@dataclass(frozen=True)
class Due:
    connection_id: str
    owner: str
    next_due: float
    every_minutes: int


def next_due_after(due: float, every_minutes: int, now: float) -> float:
    """The first due time of the series ``due + k * interval`` that is after ``now`` (missed ones skipped)."""
    interval = every_minutes * 60.0
    if now < due:
        return due
    return due + interval * (math.floor((now - due) / interval) + 1)


class Claims:
    """The schedule's rows in the store. Blocking: call in a thread."""

    def __init__(self, engine: Engine, ensure_schema: Callable[[], None]) -> None:
        self.engine = engine
        self._ensure = ensure_schema

    def sync(self, now: float) -> None:
        """Monitoring turned on: due now; turned off: no longer due (one statement each, cheap when nothing changed)."""
        self._ensure()
        s = saved_connections
        monitored = select(s.c.id).where(s.c.monitor_every_minutes.is_not(None))
        unmonitored = select(s.c.id).where(s.c.monitor_every_minutes.is_(None))
        with self.engine.begin() as conn:
            new = conn.execute(
                select(s.c.id, s.c.owner).where(
                    s.c.monitor_every_minutes.is_not(None),
                    ~exists().where(health.c.connection_id == s.c.id),
                )
            ).all()
        if len(new) > 1 and self._insert_all(new, now):
            new = []
        for row in new:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(health).values(connection_id=row.id, owner=row.owner, state="unknown", next_due=now))
            except IntegrityError:
                pass  # another process (or a test's verdict) made the row first
        with self.engine.begin() as conn:
            conn.execute(update(health).where(health.c.next_due.is_(None), health.c.connection_id.in_(monitored))
                         .values(next_due=now))
            conn.execute(update(health).where(health.c.next_due.is_not(None), health.c.connection_id.in_(unmonitored))
                         .values(next_due=None, lease_until=None, lease_by=None))

    def _insert_all(self, new: Sequence[Any], now: float) -> bool:
        """The health rows of many newly monitored connections in ONE statement; False when one was made meanwhile."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(health), [
                    {"connection_id": row.id, "owner": row.owner, "state": "unknown", "next_due": now} for row in new
                ])
        except IntegrityError:
            return False  # another process (or a test's verdict) made one first: one by one, below
        return True

    def due(self, now: float, limit: int) -> list[Due]:
        """Due tests nobody holds, the most overdue first."""
        self._ensure()
        s = saved_connections
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(health.c.connection_id, health.c.owner, health.c.next_due, s.c.monitor_every_minutes)
                .select_from(health.join(s, s.c.id == health.c.connection_id))
                .where(s.c.monitor_every_minutes.is_not(None), health.c.next_due <= now, _free(now))
                .order_by(health.c.next_due)
                .limit(limit)
            ).all()
        return [Due(r.connection_id, r.owner, r.next_due, r.monitor_every_minutes) for r in rows]

    def claim(self, connection_id: str, now: float, lease_until: float, me: str) -> bool:
        """The guarded claim: True for exactly one process per due test."""
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(health)
                .where(health.c.connection_id == connection_id, health.c.next_due <= now, _free(now))
                .values(lease_until=lease_until, lease_by=me)
            ).rowcount
        return bool(claimed)

    def claim_many(self, connection_ids: list[str], now: float, lease_until: float, me: str) -> set[str]:
        """The same guarded claim for several due tests in ONE statement; the ids this process won."""
        if not connection_ids:
            return set()
        due = [health.c.connection_id.in_(connection_ids), health.c.next_due <= now, _free(now)]
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Rows another process is claiming right now are skipped, not waited for (no lock
                # queue, no deadlock between two passes that want overlapping rows).
                free = select(health.c.connection_id).where(*due).with_for_update(skip_locked=True)
                where = [health.c.connection_id.in_(free.scalar_subquery())]
            else:
                where = due  # SQLite: one writer at a time
            won = conn.execute(
                update(health).where(*where).values(lease_until=lease_until, lease_by=me).returning(health.c.connection_id)
            ).scalars().all()
        return set(won)

    def finish(self, connection_id: str, me: str, next_due: float | None) -> bool:
        """Move ``next_due`` on and let go of the lease, if it is still ours."""
        with self.engine.begin() as conn:
            return self.finish_in(conn, connection_id, me, next_due)

    @staticmethod
    def finish_in(conn: Connection, connection_id: str, me: str, next_due: float | None) -> bool:
        """:meth:`finish` within the caller's transaction."""
        return bool(conn.execute(_FINISH, {"i": connection_id, "me": me, "nd": next_due}).rowcount)

    def lease_of(self, connection_id: str) -> tuple[float | None, str | None, float | None]:
        """``(next_due, lease_by, lease_until)`` of a connection (for tests and the UI)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(health.c.next_due, health.c.lease_by, health.c.lease_until).where(health.c.connection_id == connection_id)
            ).first()
        return (row.next_due, row.lease_by, row.lease_until) if row is not None else (None, None, None)


def _free(now: float) -> Any:
    return or_(health.c.lease_until.is_(None), health.c.lease_until < now)
