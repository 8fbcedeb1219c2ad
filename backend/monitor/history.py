"""Every kept test of a saved connection, the state it leads to, and the health answer.

``keep`` writes one history row and moves the connection's health row (``state``, ``since``,
``last_success_at``, the newest known expiries, the p50/p95 of ``elapsed_ms`` over the 7 days
before this test) in ONE transaction, and returns the change of state it made, if any (what an
alert is sent for). ``health/`` reads those rows: one join, never a scan of the history (the
percentiles are those of the 7 days up to each connection's newest kept test; none when that
test is older than 7 days). Every method is blocking: call it in a thread.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, insert, select, update

from backend.diagnosis.messages import Code
from backend.monitor import expiry
from backend.monitor.tables import health, history
from backend.saved.store import saved_connections

State = Literal["ok", "warning", "failing", "unknown"]
Trigger = Literal["user", "schedule", "cli"]
TRIGGERS: tuple[str, ...] = ("user", "schedule", "cli")
STATES: tuple[State, ...] = ("ok", "warning", "failing", "unknown")
CANNOT_DECRYPT = "CANNOT_DECRYPT"
WEEK_S = 7 * 86400.0

_INSERT_HISTORY = insert(history)
_HEALTH = select(health.c.state).where(health.c.connection_id == bindparam("i"))
_HEALTH_FOR_UPDATE = _HEALTH.with_for_update()
_ELAPSED = select(history.c.elapsed_ms).where(
    history.c.connection_id == bindparam("i"), history.c.at >= bindparam("lo"), history.c.at <= bindparam("hi"),
    history.c.elapsed_ms.is_not(None),
)


def state_of(code: str, kind: str | None) -> State:
    """``ok``: CONNECTION_SUCCESSFUL, success; ``warning``: CONNECTION_SUCCESSFUL, warning; ``failing``: anything else."""
    if code == Code.CONNECTION_SUCCESSFUL:
        return "warning" if kind == "warning" else "ok"
    return "failing"


@dataclass(frozen=True)
class Verdict:
    """What is kept of one test."""

    code: str
    kind: str | None
    title: str
    elapsed_ms: int | None
    stages: list[dict[str, Any]]
    expires: list[dict[str, Any]] | None
    """The verdict's ``payload.server.expires``, when it learned any."""

    @classmethod
    def of(cls, message: Any) -> Verdict:
        """From an ApplicationMessage."""
        payload = message.payload if isinstance(message.payload, dict) else {}
        elapsed = payload.get("elapsed_ms")
        server = payload.get("server") if isinstance(payload.get("server"), dict) else {}
        expires = server.get("expires") if server else None
        stages = payload.get("stages")
        return cls(
            code=str(message.code),
            kind=message.kind.value if message.kind is not None else None,
            title=message.title,
            elapsed_ms=int(elapsed) if isinstance(elapsed, (int, float)) else None,
            stages=list(stages) if isinstance(stages, list) else [],
            expires=list(expires) if isinstance(expires, list) else None,
        )


@dataclass(frozen=True)
class Transition:
    """A change of state among ok, warning and failing that deserves an alert."""

    connection_id: str
    name: str
    owner: str
    state: State
    previous_state: State
    code: str
    title: str
    at: float


def alerts_for(previous: State, state: State) -> bool:
    """Each change among ok, warning and failing; a first test (from unknown) only when it fails."""
    if previous == state:
        return False
    return state == "failing" if previous == "unknown" else True


class HistoryStore:
    """The history and health tables (owner-scoped reads)."""

    def __init__(self, engine: Engine, ensure_schema: Callable[[], None]) -> None:
        self.engine = engine
        self._ensure = ensure_schema

    # --- writing -------------------------------------------------------------------------------

    def keep(self, connection_id: str, owner: str, name: str, verdict: Verdict, trigger: str, at: float) -> Transition | None:
        """Keep one test; move the connection's state; the change that deserves an alert, if any.

        Tried again once when its health row was made meanwhile by another writer (the scheduler
        turning monitoring on, another process's test): the first insert lost, the update wins.
        """
        from sqlalchemy.exc import IntegrityError

        self._ensure()
        try:
            return self._keep(connection_id, owner, name, verdict, trigger, at)
        except IntegrityError:
            return self._keep(connection_id, owner, name, verdict, trigger, at)

    def _keep(self, connection_id: str, owner: str, name: str, verdict: Verdict, trigger: str, at: float) -> Transition | None:
        with self.engine.begin() as conn:
            return self.keep_in(conn, connection_id, owner, name, verdict, trigger, at)

    def keep_in(
        self, conn: Connection, connection_id: str, owner: str, name: str, verdict: Verdict, trigger: str, at: float
    ) -> Transition | None:
        """:meth:`keep` within the caller's transaction (the scheduler's: ``last_test``, history, health
        and ``next_due`` of many tests in one). Its statements are built once, not per test."""
        state = state_of(verdict.code, verdict.kind)
        expires = _dump(verdict.expires) if verdict.expires is not None else None
        conn.execute(_INSERT_HISTORY, {
            "connection_id": connection_id, "owner": owner, "at": at, "trigger": trigger, "code": verdict.code,
            "kind": verdict.kind, "title": verdict.title, "elapsed_ms": verdict.elapsed_ms,
            "stages": _dump(verdict.stages), "expires": expires,
        })
        row = conn.execute(_HEALTH_FOR_UPDATE if conn.dialect.name == "postgresql" else _HEALTH, {"i": connection_id}).first()
        success = verdict.code == Code.CONNECTION_SUCCESSFUL
        # The 7 days' percentiles as of this test, from this connection's kept tests (indexed:
        # connection_id, at): health/ then reads them instead of scanning every kept test.
        elapsed = sorted(ms for (ms,) in conn.execute(_ELAPSED, {"i": connection_id, "lo": at - WEEK_S, "hi": at}))
        values: dict[str, Any] = {"state": state, "tested_at": at, "elapsed_ms_p50": percentile(elapsed, 50),
                                  "elapsed_ms_p95": percentile(elapsed, 95)}
        if success or verdict.expires is not None:
            values["expires"] = expires
        if success:
            values["last_success_at"] = at
        previous: State = "unknown"
        if row is None:
            conn.execute(insert(health).values(connection_id=connection_id, owner=owner, since=at, **values))
        else:
            previous = row.state if row.state in STATES else "unknown"
            if previous != state:
                values["since"] = at
            conn.execute(update(health).where(health.c.connection_id == bindparam("i")).values(**values), {"i": connection_id})
        if not alerts_for(previous, state):
            return None
        return Transition(connection_id, name, owner, state, previous, verdict.code, verdict.title, at)

    def prune(self, before: float) -> int:
        """Delete the tests kept before ``before`` (``WIZARD_HISTORY_DAYS``); how many."""
        self._ensure()
        with self.engine.begin() as conn:
            return int(conn.execute(delete(history).where(history.c.at < before)).rowcount or 0)

    # --- reading -------------------------------------------------------------------------------

    def page(self, owner: str, connection_id: str, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """``(how many, this page)`` of a connection's kept tests, newest first."""
        self._ensure()
        where = and_(history.c.owner == owner, history.c.connection_id == connection_id)
        with self.engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(history).where(where)).scalar_one()
            rows = conn.execute(
                select(history).where(where).order_by(history.c.at.desc(), history.c.seq.desc()).offset(offset).limit(limit)
            ).all()
        return int(count), [
            {
                "at": r.at,
                "trigger": r.trigger,
                "code": r.code,
                "kind": r.kind,
                "title": r.title,
                "elapsed_ms": r.elapsed_ms,
                "stages": json.loads(r.stages),
            }
            for r in rows
        ]

    def health_json(self, owner: str, now: float, iso: Callable[[float], str]) -> bytes:
        """``health/``'s body: every connection of ``owner``, newest first, with its health row (or none).

        ONE query over the saved connections and their health rows (indexed: owner, created_at; the
        health row by its key), never the history. Written straight from the rows: ``last_test`` is
        stored as the JSON of a :class:`LastTest` already, so no row is decoded, validated and encoded
        again (the body is :class:`HealthList`'s, as tests/test_health.py checks); only ``expires`` is
        read, to count its ``days_left`` again at ``now``.
        """
        self._ensure()
        s = saved_connections
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    s.c.id, s.c.name, s.c.connector_type, s.c.monitor_every_minutes, s.c.last_test,
                    health.c.state, health.c.since, health.c.last_success_at, health.c.expires, health.c.tested_at,
                    health.c.elapsed_ms_p50, health.c.elapsed_ms_p95,
                )
                .select_from(s.outerjoin(health, health.c.connection_id == s.c.id))
                .where(s.c.owner == owner)
                .order_by(s.c.created_at.desc(), s.c.seq.desc())
            ).all()
        week_ago = now - WEEK_S
        parts = []
        for (cid, name, connector_type, every, last_test, state, since, last_success_at, expires, tested_at,
             p50, p95) in rows:
            recent = tested_at is not None and tested_at >= week_ago  # else no kept test in 7 days
            known = state in STATES and state != "unknown"
            parts.append("".join((
                '{"id":', _str(cid), ',"name":', _str(name), ',"connector_type":', _str(connector_type),
                ',"monitor":', f'{{"every_minutes":{int(every)}}}' if every else "null",
                ',"state":', _str(state if state in STATES else "unknown"),
                ',"since":', _str(iso(since)) if known and since is not None else "null",
                ',"last_test":', last_test or "null",
                ',"last_success_at":', _str(iso(last_success_at)) if last_success_at is not None else "null",
                ',"elapsed_ms_p50":', str(int(p50)) if recent and p50 is not None else "null",
                ',"elapsed_ms_p95":', str(int(p95)) if recent and p95 is not None else "null",
                ',"expires":', _dump(expiry.refreshed(json.loads(expires), now)) if expires else "[]",
                "}",
            )))
        return ('{"results":[' + ",".join(parts) + "]}").encode()

    def states(self) -> dict[str, int]:
        """How many monitored connections are in each state (the gauge ``wizard_monitored_connections``)."""
        self._ensure()
        s = saved_connections
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(health.c.state, func.count())
                .select_from(s.outerjoin(health, health.c.connection_id == s.c.id))
                .where(s.c.monitor_every_minutes.is_not(None))
                .group_by(health.c.state)
            ).all()
        counts: dict[str, int] = dict.fromkeys(STATES, 0)
        for state, count in rows:
            counts[state if state in STATES else "unknown"] += int(count)
        return counts


def percentile(values: list[int], p: int) -> int | None:
    """The nearest-rank percentile of sorted ``values`` (an integer of the data), None when empty."""
    if not values:
        return None
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[rank - 1]


_str: Callable[[str], str] = json.encoder.encode_basestring
"""A string as JSON (the C encoder json.dumps uses, without its per-call set-up)."""


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
