"""The tables of connection health (SQLAlchemy Core), mirroring revision ``0004_monitoring`` for the queries."""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text

from backend.saved.store import metadata

history = Table(
    "wizard_test_history",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("connection_id", String(32), ForeignKey("wizard_saved_connections.id", ondelete="CASCADE"), nullable=False),
    Column("owner", String(300), nullable=False),
    Column("at", Float, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("code", String(64), nullable=False),
    Column("kind", String(16), nullable=True),
    Column("title", Text, nullable=False),
    Column("elapsed_ms", Integer, nullable=True),
    Column("stages", Text, nullable=False),
    Column("expires", Text, nullable=True),
    Index("ix_wizard_test_history_connection_at", "connection_id", "at"),
    Index("ix_wizard_test_history_owner_at", "owner", "at"),
    Index("ix_wizard_test_history_at", "at"),
)

health = Table(
    "wizard_connection_health",
    metadata,
    Column("connection_id", String(32), ForeignKey("wizard_saved_connections.id", ondelete="CASCADE"), primary_key=True),
    Column("owner", String(300), nullable=False),
    Column("state", String(16), nullable=False),
    Column("since", Float, nullable=True),
    Column("last_success_at", Float, nullable=True),
    Column("expires", Text, nullable=True),
    Column("tested_at", Float, nullable=True),
    Column("elapsed_ms_p50", Integer, nullable=True),
    Column("elapsed_ms_p95", Integer, nullable=True),
    Column("next_due", Float, nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("lease_by", String(200), nullable=True),
    Index("ix_wizard_connection_health_next_due", "next_due"),
)
