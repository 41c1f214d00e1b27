"""messages: no index on state

Revision ID: 29f405170da2
Revises: de451740dce7
Create Date: 2026-11-23 06:54:14.834328+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "29f405170da2"
down_revision: str | Sequence[str] | None = "de451740dce7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_state"))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_state"), ["state"], unique=False)
