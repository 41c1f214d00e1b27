"""daily rollups, converters, deferred and queued

Existing hourly rows get 0 in the new columns and no daily rows: run ``interactive rollups
rebuild`` after upgrading.

Revision ID: 28b31a4b7cdc
Revises: bf240f360583
Create Date: 2026-11-24 00:06:54.945023+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "28b31a4b7cdc"
down_revision: str | Sequence[str] | None = "bf240f360583"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_campaign_days",
        sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("variant_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("targeted", sa.BigInteger(), nullable=False),
        sa.Column("eligible", sa.BigInteger(), nullable=False),
        sa.Column("deferred", sa.BigInteger(), nullable=False),
        sa.Column("held_out", sa.BigInteger(), nullable=False),
        sa.Column("not_sent", sa.BigInteger(), nullable=False),
        sa.Column("queued", sa.BigInteger(), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.Column("parts", sa.BigInteger(), nullable=False),
        sa.Column("delivered", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("clicks_human", sa.BigInteger(), nullable=False),
        sa.Column("clicks_preview", sa.BigInteger(), nullable=False),
        sa.Column("clicks_scanner", sa.BigInteger(), nullable=False),
        sa.Column("clicks_head", sa.BigInteger(), nullable=False),
        sa.Column("clickers", sa.BigInteger(), nullable=False),
        sa.Column("replies", sa.BigInteger(), nullable=False),
        sa.Column("repliers", sa.BigInteger(), nullable=False),
        sa.Column("opt_outs", sa.BigInteger(), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("converters", sa.BigInteger(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign_id", "variant_key", "day", name=op.f("pk_rollup_campaign_days")
        ),
    )
    with op.batch_alter_table("rollup_campaign_days", schema=None) as batch_op:
        batch_op.create_index("ix_rollup_campaign_days_day", ["day"], unique=False)

    with op.batch_alter_table("rollup_campaign_hours", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("deferred", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("queued", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("converters", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
    with op.batch_alter_table("rollup_campaign_hours", schema=None) as batch_op:
        for name in ("deferred", "queued", "converters"):
            batch_op.alter_column(name, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("rollup_campaign_hours", schema=None) as batch_op:
        batch_op.drop_column("converters")
        batch_op.drop_column("queued")
        batch_op.drop_column("deferred")

    with op.batch_alter_table("rollup_campaign_days", schema=None) as batch_op:
        batch_op.drop_index("ix_rollup_campaign_days_day")

    op.drop_table("rollup_campaign_days")
