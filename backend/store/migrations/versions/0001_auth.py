"""Users, sessions and failed logins: the tables ``backend/security/auth/store.py`` made with ``create_all``.

Revision ID: 0001_auth
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_auth"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wizard_users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(150), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "wizard_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("wizard_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_wizard_sessions_user_id", "wizard_sessions", ["user_id"])
    op.create_index("ix_wizard_sessions_expires_at", "wizard_sessions", ["expires_at"])
    op.create_table(
        "wizard_login_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_wizard_login_failures_key", "wizard_login_failures", ["key"])
    op.create_index("ix_wizard_login_failures_at", "wizard_login_failures", ["at"])


def downgrade() -> None:
    op.drop_table("wizard_login_failures")
    op.drop_table("wizard_sessions")
    op.drop_table("wizard_users")
