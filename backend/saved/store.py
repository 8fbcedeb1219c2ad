"""The saved-connections table (SQLAlchemy Core), in the store of ``WIZARD_DATABASE_URL``.

A row holds the connection body with every secret set to null (``connection``, JSON) and the
secrets apart (``secrets``, JSON ``{path: Fernet token}``): the clear values never reach the
database. Every query names the owner: another owner's row is never read, changed or counted.
The schema is made by the Alembic migrations (``backend/migrations``); the table below mirrors
revision ``0002_saved_connections`` for the queries.

Every method is blocking: call it through a thread.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

saved_connections = Table(
    "wizard_saved_connections",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("owner", String(300), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=True),
    Column("connector_type", String(64), nullable=False),
    Column("connection", Text, nullable=False),
    Column("secrets", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_test", Text, nullable=True),
    Column("monitor_every_minutes", Integer, nullable=True),  # revision 0003_monitoring (backend/monitor)
    UniqueConstraint("owner", "name", name="uq_wizard_saved_connections_owner_name"),
)

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")


class DuplicateName(Exception):
    """The owner already has a connection of this name."""


@dataclass(frozen=True)
class Stored:
    """One row, decoded (secrets still encrypted)."""

    id: str
    owner: str
    name: str
    description: str | None
    connector_type: str
    public: dict[str, Any]
    """The body with every secret null."""
    secrets: dict[str, str]
    """Secret path → Fernet token."""
    created_at: float
    updated_at: float
    last_test: dict[str, Any] | None
    monitor_every_minutes: int | None = None
    """``monitor.every_minutes`` (null: not monitored)."""

    @classmethod
    def of(cls, row: Row[Any]) -> Stored:
        return cls(
            id=row.id,
            owner=row.owner,
            name=row.name,
            description=row.description,
            connector_type=row.connector_type,
            public=json.loads(row.connection),
            secrets=json.loads(row.secrets),
            created_at=row.created_at,
            updated_at=row.updated_at,
            last_test=json.loads(row.last_test) if row.last_test else None,
            monitor_every_minutes=row.monitor_every_minutes,
        )


def new_id() -> str:
    """An opaque id: 22 random URL-safe characters (nothing to guess, nothing to count)."""
    return secrets.token_urlsafe(16)


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class SavedStore:
    """The owner-scoped queries. ``ensure_schema`` runs the migrations before the first query."""

    def __init__(self, engine: Engine, ensure_schema: Callable[[], None]) -> None:
        self.engine = engine
        self._ensure = ensure_schema

    def _owned(self, owner: str, connection_id: str) -> Any:
        return (saved_connections.c.owner == owner) & (saved_connections.c.id == connection_id)

    def create(
        self,
        owner: str,
        name: str,
        description: str | None,
        public: dict[str, Any],
        tokens: dict[str, str],
        monitor_every_minutes: int | None = None,
    ) -> Stored:
        self._ensure()
        now = time.time()
        values = {
            "id": new_id(),
            "owner": owner,
            "name": name,
            "description": description,
            "connector_type": public["connector_type"],
            "connection": _dump(public),
            "secrets": _dump(tokens),
            "created_at": now,
            "updated_at": now,
            "last_test": None,
            "monitor_every_minutes": monitor_every_minutes,
        }
        try:
            with self.engine.begin() as conn:
                self._check_name(conn, owner, name, None)
                conn.execute(insert(saved_connections).values(**values))
        except IntegrityError:
            raise DuplicateName(name) from None  # a race with the check: the constraint decides
        return Stored(id=values["id"], owner=owner, name=name, description=description,
                      connector_type=public["connector_type"], public=public, secrets=tokens,
                      created_at=now, updated_at=now, last_test=None, monitor_every_minutes=monitor_every_minutes)

    def _check_name(self, conn: Connection, owner: str, name: str, except_id: str | None) -> None:
        """Refuse a duplicate before the constraint does (an IntegrityError aborts a PostgreSQL transaction)."""
        query = select(saved_connections.c.id).where(saved_connections.c.owner == owner, saved_connections.c.name == name)
        if except_id is not None:
            query = query.where(saved_connections.c.id != except_id)
        if conn.execute(query).first() is not None:
            raise DuplicateName(name)

    def get(self, owner: str, connection_id: str) -> Stored | None:
        if not ID_PATTERN.fullmatch(connection_id):
            return None
        self._ensure()
        with self.engine.connect() as conn:
            row = conn.execute(select(saved_connections).where(self._owned(owner, connection_id))).first()
        return Stored.of(row) if row is not None else None

    def get_by_name(self, owner: str, name: str) -> Stored | None:
        self._ensure()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(saved_connections).where(saved_connections.c.owner == owner, saved_connections.c.name == name)
            ).first()
        return Stored.of(row) if row is not None else None

    def page(self, owner: str, search: str | None, offset: int, limit: int) -> tuple[int, list[Stored]]:
        """``(how many match, the rows of this page)``, newest first."""
        self._ensure()
        where = saved_connections.c.owner == owner
        if search:
            where = where & func.lower(saved_connections.c.name).contains(search.lower(), autoescape=True)
        with self.engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(saved_connections).where(where)).scalar_one()
            rows = conn.execute(
                select(saved_connections)
                .where(where)
                .order_by(saved_connections.c.created_at.desc(), saved_connections.c.seq.desc())
                .offset(offset)
                .limit(limit)
            ).all()
        return int(count), [Stored.of(r) for r in rows]

    def update(
        self,
        owner: str,
        connection_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        set_description: bool = False,
        public: dict[str, Any] | None = None,
        tokens: dict[str, str] | None = None,
        monitor_every_minutes: int | None = None,
        set_monitor: bool = False,
    ) -> Stored | None:
        """Change what is given, in one transaction; a new connection body clears ``last_test``. None: no such row."""
        if not ID_PATTERN.fullmatch(connection_id):
            return None
        self._ensure()
        values: dict[str, Any] = {"updated_at": time.time()}
        if name is not None:
            values["name"] = name
        if set_description:
            values["description"] = description
        if set_monitor:
            values["monitor_every_minutes"] = monitor_every_minutes
        if public is not None and tokens is not None:
            values.update(
                connector_type=public["connector_type"], connection=_dump(public), secrets=_dump(tokens), last_test=None
            )
        try:
            with self.engine.begin() as conn:
                if name is not None:
                    self._check_name(conn, owner, name, connection_id)
                changed = conn.execute(
                    update(saved_connections).where(self._owned(owner, connection_id)).values(**values)
                ).rowcount
        except IntegrityError:
            raise DuplicateName(name or "") from None
        return self.get(owner, connection_id) if changed else None

    def record_test(self, owner: str, connection_id: str, seen_updated_at: float, last_test: dict[str, Any]) -> None:
        """Keep a verdict as ``last_test``, unless the connection changed (or went) while it ran."""
        self._ensure()
        with self.engine.begin() as conn:
            conn.execute(
                update(saved_connections)
                .where(self._owned(owner, connection_id), saved_connections.c.updated_at == seen_updated_at)
                .values(last_test=_dump(last_test))
            )

    def delete(self, owner: str, connection_id: str) -> bool:
        if not ID_PATTERN.fullmatch(connection_id):
            return False
        self._ensure()
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(saved_connections).where(self._owned(owner, connection_id))).rowcount)

    def newest_tokens(self, limit: int) -> list[str]:
        """Some stored tokens, newest connections first (the start-up check of the key)."""
        self._ensure()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(saved_connections.c.secrets).order_by(saved_connections.c.seq.desc()).limit(limit)
            ).all()
        return [token for row in rows for token in json.loads(row.secrets).values()]

    def delete_owner(self, owner: str) -> int:
        """Delete every connection of ``owner`` (a removed user's: a later user of the same name must not inherit them)."""
        self._ensure()
        with self.engine.begin() as conn:
            return int(conn.execute(delete(saved_connections).where(saved_connections.c.owner == owner)).rowcount)

    def rewrite_secrets(
        self, change: Callable[[Stored], dict[str, str] | None], before_commit: Callable[[], None] | None = None
    ) -> int:
        """Apply ``change`` to every row's tokens in ONE transaction (rows locked); how many rows changed.

        ``change`` returns the new tokens, or None to leave a row as it is; if it or ``before_commit``
        raises, nothing is changed at all.
        """
        self._ensure()
        changed = 0
        with self.engine.begin() as conn:
            query = select(saved_connections).order_by(saved_connections.c.seq)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            for row in _rows(conn, query):
                tokens = change(row)
                if tokens is not None:
                    conn.execute(
                        update(saved_connections).where(saved_connections.c.id == row.id).values(secrets=_dump(tokens))
                    )
                    changed += 1
            if before_commit is not None:
                before_commit()
        return changed


def _rows(conn: Connection, query: Any) -> Iterator[Stored]:
    for row in conn.execute(query).all():
        yield Stored.of(row)
