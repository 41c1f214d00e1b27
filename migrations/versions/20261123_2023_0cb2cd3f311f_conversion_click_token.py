"""conversion click token

Revision ID: 0cb2cd3f311f
Revises: 26b814733c28
Create Date: 2026-11-23 20:23:28.479761+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0cb2cd3f311f"
down_revision: str | Sequence[str] | None = "26b814733c28"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("click_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("order_id", sa.String(length=128), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_conversions_click_token"), ["click_token"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversions_click_token"))
        batch_op.drop_column("order_id")
        batch_op.drop_column("click_token")
