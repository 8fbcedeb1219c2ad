"""Connection health over time: the monitor of a saved connection, the history of its tests, its health.

- ``wizard_saved_connections.monitor_every_minutes``: null (not monitored) or 1–1440.
- ``wizard_test_history``: every kept test of a saved connection (deleted with it).
- ``wizard_connection_health``: per tested or monitored connection its state, since when, the last
  success, the newest known expiries, the 7 days' p50/p95 as of its newest test, and the schedule
  (``next_due``, the claim's lease).

Revision ID: 0004_monitoring
Revises: 0003_saved_versions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_monitoring"
down_revision = "0003_saved_versions"
branch_labels = None
depends_on = None

SAVED = "wizard_saved_connections"


def upgrade() -> None:
    with op.batch_alter_table(SAVED) as batch:
        batch.add_column(sa.Column("monitor_every_minutes", sa.Integer, nullable=True))
    op.create_table(
        "wizard_test_history",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connection_id", sa.String(32), sa.ForeignKey(f"{SAVED}.id", ondelete="CASCADE"), nullable=False),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("elapsed_ms", sa.Integer, nullable=True),
        sa.Column("stages", sa.Text, nullable=False),
        sa.Column("expires", sa.Text, nullable=True),
    )
    op.create_index("ix_wizard_test_history_connection_at", "wizard_test_history", ["connection_id", "at"])
    op.create_index("ix_wizard_test_history_owner_at", "wizard_test_history", ["owner", "at"])
    op.create_index("ix_wizard_test_history_at", "wizard_test_history", ["at"])
    op.create_table(
        "wizard_connection_health",
        sa.Column(
            "connection_id", sa.String(32), sa.ForeignKey(f"{SAVED}.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", sa.Float, nullable=True),
        sa.Column("last_success_at", sa.Float, nullable=True),
        sa.Column("expires", sa.Text, nullable=True),
        sa.Column("tested_at", sa.Float, nullable=True),
        sa.Column("elapsed_ms_p50", sa.Integer, nullable=True),
        sa.Column("elapsed_ms_p95", sa.Integer, nullable=True),
        sa.Column("next_due", sa.Float, nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("lease_by", sa.String(200), nullable=True),
    )
    op.create_index("ix_wizard_connection_health_next_due", "wizard_connection_health", ["next_due"])


def downgrade() -> None:
    op.drop_table("wizard_connection_health")
    op.drop_table("wizard_test_history")
    with op.batch_alter_table(SAVED) as batch:
        batch.drop_column("monitor_every_minutes")
