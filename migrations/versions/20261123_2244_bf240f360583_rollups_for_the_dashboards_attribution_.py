"""Rollups for the dashboards; attribution window per campaign

Revision ID: bf240f360583
Revises: 0cb2cd3f311f
Create Date: 2026-11-23 22:44:19.169918+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "bf240f360583"
down_revision: str | Sequence[str] | None = "0cb2cd3f311f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_campaign_breakdowns",
        sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("variant_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign_id", "variant_key", "kind", "key", name=op.f("pk_rollup_campaign_breakdowns")
        ),
    )
    op.create_table(
        "rollup_campaign_hours",
        sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("variant_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("targeted", sa.BigInteger(), nullable=False),
        sa.Column("eligible", sa.BigInteger(), nullable=False),
        sa.Column("held_out", sa.BigInteger(), nullable=False),
        sa.Column("not_sent", sa.BigInteger(), nullable=False),
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
        sa.Column("revenue", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign_id", "variant_key", "hour", name=op.f("pk_rollup_campaign_hours")
        ),
    )
    with op.batch_alter_table("rollup_campaign_hours", schema=None) as batch_op:
        batch_op.create_index("ix_rollup_campaign_hours_hour", ["hour"], unique=False)

    op.create_table(
        "rollup_campaign_lift",
        sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("arm", sa.String(length=8), nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.Column("converters", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "arm", name=op.f("pk_rollup_campaign_lift")),
    )
    op.create_table(
        "rollup_link_hours",
        sa.Column(
            "link_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clicks_human", sa.BigInteger(), nullable=False),
        sa.Column("clicks_preview", sa.BigInteger(), nullable=False),
        sa.Column("clicks_scanner", sa.BigInteger(), nullable=False),
        sa.Column("clicks_head", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("link_id", "hour", name=op.f("pk_rollup_link_hours")),
    )
    with op.batch_alter_table("rollup_link_hours", schema=None) as batch_op:
        batch_op.create_index("ix_rollup_link_hours_hour", ["hour"], unique=False)

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attribution_days", sa.Integer(), server_default="7", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_campaigns_attribution_days"), "attribution_days BETWEEN 1 AND 90"
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_campaigns_attribution_days"), type_="check")
        batch_op.drop_column("attribution_days")

    with op.batch_alter_table("rollup_link_hours", schema=None) as batch_op:
        batch_op.drop_index("ix_rollup_link_hours_hour")

    op.drop_table("rollup_link_hours")
    op.drop_table("rollup_campaign_lift")
    with op.batch_alter_table("rollup_campaign_hours", schema=None) as batch_op:
        batch_op.drop_index("ix_rollup_campaign_hours_hour")

    op.drop_table("rollup_campaign_hours")
    op.drop_table("rollup_campaign_breakdowns")
