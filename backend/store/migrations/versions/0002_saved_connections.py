"""Saved connections: the body without its secrets, each secret a Fernet token of its own.

Revision ID: 0002_saved_connections
Revises: 0001_auth
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_saved_connections"
down_revision = "0001_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wizard_saved_connections",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("connector_type", sa.String(64), nullable=False),
        sa.Column("connection", sa.Text, nullable=False),
        sa.Column("secrets", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("last_test", sa.Text, nullable=True),
        sa.UniqueConstraint("owner", "name", name="uq_wizard_saved_connections_owner_name"),
    )
    op.create_index("ix_wizard_saved_connections_owner_created", "wizard_saved_connections", ["owner", "created_at"])


def downgrade() -> None:
    op.drop_table("wizard_saved_connections")
