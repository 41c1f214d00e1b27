"""Campaigns, variants, runs, chunks and recipients; a CANCELLED message state

Revision ID: 3cb8fed88732
Revises: 5f1c2a7e9b30
Create Date: 2026-11-23 09:37:18.960910+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3cb8fed88732"
down_revision: str | Sequence[str] | None = "5f1c2a7e9b30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "goal",
            sa.Enum(
                "clicks",
                "conversion",
                "reply",
                name="campaign_goal",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("goal_value", sa.String(length=64), nullable=True),
        sa.Column(
            "traffic",
            sa.Enum(
                "commercial",
                "informational",
                "transactional",
                name="campaign_traffic",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("brand_id", sa.Integer(), nullable=True),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("holdout_percent", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "draft",
                "scheduled",
                "sending",
                "paused",
                "completed",
                "cancelled",
                name="campaign_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recurrence",
            sa.Enum(
                "none",
                "daily",
                "weekly",
                "monthly",
                name="campaign_recurrence",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("recurrence_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_start", sa.Integer(), nullable=True),
        sa.Column("window_end", sa.Integer(), nullable=True),
        sa.Column("rate_per_second", sa.Integer(), nullable=True),
        sa.Column("validity_minutes", sa.Integer(), nullable=True),
        sa.Column("track_links", sa.Boolean(), nullable=False),
        sa.Column("utm", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "holdout_percent BETWEEN 0 AND 50", name=op.f("ck_campaigns_holdout_percent")
        ),
        sa.CheckConstraint(
            "rate_per_second IS NULL OR rate_per_second > 0", name=op.f("ck_campaigns_rate")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_campaigns_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_campaigns_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaigns_state_next_run_at", ["state", "next_run_at"], unique=False
        )

    op.create_table(
        "campaign_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "expanding",
                "sent",
                "done",
                "cancelled",
                name="campaign_run_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pace_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_runs_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_runs")),
        sa.UniqueConstraint(
            "campaign_id", "number", name=op.f("uq_campaign_runs_campaign_id_number")
        ),
    )
    with op.batch_alter_table("campaign_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_runs_campaign_id"), ["campaign_id"], unique=False
        )

    op.create_table(
        "campaign_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=8), nullable=False),
        sa.Column("share", sa.Integer(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.CheckConstraint("share BETWEEN 0 AND 100", name=op.f("ck_campaign_variants_share")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_variants_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_variants")),
        sa.UniqueConstraint(
            "campaign_id", "label", name=op.f("uq_campaign_variants_campaign_id_label")
        ),
    )
    op.create_table(
        "campaign_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "first_contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "last_contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "queued",
                "done",
                "cancelled",
                name="campaign_chunk_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["campaign_runs.id"],
            name=op.f("fk_campaign_chunks_run_id_campaign_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_chunks")),
        sa.UniqueConstraint("run_id", "seq", name=op.f("uq_campaign_chunks_run_id_seq")),
    )
    with op.batch_alter_table("campaign_chunks", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_chunks_state", ["state", "run_id"], unique=False)

    op.create_table(
        "campaign_recipients",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("phone", sa.String(length=21), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "skipped",
                "deferred",
                "held_out",
                "cancelled",
                name="recipient_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "reason",
            sa.Enum(
                "erased",
                "blocked",
                "failing",
                "opted_out",
                "no_consent",
                "consent_revoked",
                "frequency_cap",
                "quiet_hours",
                "send_window",
                "invalid_number",
                "holdout",
                "template_error",
                "cancelled",
                name="recipient_reason",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_recipients_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["campaign_runs.id"],
            name=op.f("fk_campaign_recipients_run_id_campaign_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_recipients")),
        sa.UniqueConstraint(
            "run_id", "contact_id", name=op.f("uq_campaign_recipients_run_id_contact_id")
        ),
    )
    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaign_recipients_campaign_id_status", ["campaign_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_campaign_recipients_status_not_before", ["status", "not_before"], unique=False
        )
    _state_values(STATES + ", 'cancelled'")


def downgrade() -> None:
    op.execute("UPDATE message_parts SET state = 'failed' WHERE state = 'cancelled'")
    op.execute("UPDATE messages SET state = 'failed' WHERE state = 'cancelled'")
    _state_values(STATES)
    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_recipients_status_not_before")
        batch_op.drop_index("ix_campaign_recipients_campaign_id_status")

    op.drop_table("campaign_recipients")
    with op.batch_alter_table("campaign_chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_chunks_state")

    op.drop_table("campaign_chunks")
    op.drop_table("campaign_variants")
    with op.batch_alter_table("campaign_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_runs_campaign_id"))

    op.drop_table("campaign_runs")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_state_next_run_at")

    op.drop_table("campaigns")


STATES = (
    "'queued', 'submitting', 'accepted', 'rejected', 'unknown', '"
    "suppressed', 'delivered', 'undeliverable', 'expired', 'deleted', 'failed'"
)


def _state_values(values: str) -> None:
    """The CHECK constraints of messages.state and message_parts.state (the enum's values)."""
    for table, name in (("messages", "message_state"), ("message_parts", "part_state")):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"ck_{table}_{name}"), type_="check")
            batch_op.create_check_constraint(
                batch_op.f(f"ck_{table}_{name}"), sa.text(f"state IN ({values})")
            )
