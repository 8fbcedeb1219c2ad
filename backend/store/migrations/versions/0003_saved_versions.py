"""Saved connections a team can rely on: a version per row, a folded name to search, the key of each row's secrets.

- ``version``: 1 at creation, +1 per PATCH that changes something (optimistic concurrency, ``ETag``);
- ``name_folded``: the name NFC-normalised and ``casefold()``ed, so that ``?search=`` folds case in
  every script on every store (PostgreSQL's ``lower()`` under the C locale folds ASCII only);
- ``key_id``: the fingerprint of the key that encrypted the row's secrets (null: not known yet, the
  API fills it in at start), and ``secret_count``, so that the start-up check and ``secrets check``
  count over every row in one query what needs which key.

Revision ID: 0003_saved_versions
Revises: 0002_saved_connections
"""

from __future__ import annotations

import json
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0003_saved_versions"
down_revision = "0002_saved_connections"
branch_labels = None
depends_on = None

TABLE = "wizard_saved_connections"


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column(TABLE, sa.Column("name_folded", sa.String(400), nullable=False, server_default=""))
    op.add_column(TABLE, sa.Column("key_id", sa.String(16), nullable=True))
    op.add_column(TABLE, sa.Column("secret_count", sa.Integer, nullable=False, server_default="0"))
    table = sa.table(
        TABLE,
        sa.column("seq", sa.Integer),
        sa.column("name", sa.String),
        sa.column("secrets", sa.Text),
        sa.column("name_folded", sa.String),
        sa.column("secret_count", sa.Integer),
    )
    bind = op.get_bind()
    for row in bind.execute(sa.select(table.c.seq, table.c.name, table.c.secrets)).all():
        bind.execute(
            sa.update(table)
            .where(table.c.seq == row.seq)
            .values(name_folded=_fold(row.name), secret_count=len(json.loads(row.secrets or "{}")))
        )
    op.create_index("ix_wizard_saved_connections_key_id", TABLE, ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_wizard_saved_connections_key_id", TABLE)
    with op.batch_alter_table(TABLE) as batch:
        for column in ("secret_count", "key_id", "name_folded", "version"):
            batch.drop_column(column)
