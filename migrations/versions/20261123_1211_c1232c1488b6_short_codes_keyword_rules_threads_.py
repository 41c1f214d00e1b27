"""short codes, keyword rules, threads, routing decisions, webhooks

Revision ID: c1232c1488b6
Revises: 3cb8fed88732
Create Date: 2026-11-23 12:11:56.256031+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c1232c1488b6"
down_revision: str | Sequence[str] | None = "3cb8fed88732"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.create_index("ix_clicks_clicked_at", ["clicked_at"], unique=False)
    op.create_table(
        "quick_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quick_replies")),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("name", name=op.f("uq_webhooks_name")),
    )
    op.create_table(
        "short_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=21), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=True),
        sa.Column("opt_out_keywords", sa.JSON(), nullable=False),
        sa.Column("opt_in_keywords", sa.JSON(), nullable=False),
        sa.Column("help_keywords", sa.JSON(), nullable=False),
        sa.Column("opt_out_phrases", sa.JSON(), nullable=False),
        sa.Column("scoped_opt_outs", sa.JSON(), nullable=False),
        sa.Column("double_opt_in", sa.Boolean(), nullable=False),
        sa.Column("confirm_keyword", sa.String(length=32), nullable=False),
        sa.Column("replies", sa.JSON(), nullable=False),
        sa.Column("attribution_hours", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_short_codes_brand_id_brands"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_short_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_short_codes_code")),
    )
    op.create_table(
        "threads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=21), nullable=False),
        sa.Column("short_code", sa.String(length=21), nullable=False),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "state",
            sa.Enum(
                "open", "closed", name="thread_state", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("unread", sa.Integer(), nullable=False),
        sa.Column("last_text", sa.String(length=200), nullable=False),
        sa.Column(
            "last_decision",
            sa.Enum(
                "opt_out",
                "opt_in",
                "help",
                "conversation",
                "rule",
                "inbox",
                "review",
                name="decision",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"],
            ["users.id"],
            name=op.f("fk_threads_assigned_to_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_threads_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threads")),
        sa.UniqueConstraint("phone", "short_code", name=op.f("uq_threads_phone_short_code")),
    )
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_threads_assigned_to_id"), ["assigned_to_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_threads_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index("ix_threads_last_message_at", ["last_message_at", "id"], unique=False)
        batch_op.create_index(
            "ix_threads_state_last_message_at", ["state", "last_message_at", "id"], unique=False
        )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column(
            "inbound_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "webhook_id", "inbound_id", name=op.f("uq_webhook_deliveries_webhook_id_inbound_id")
        ),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_due", ["state", "next_attempt_at"], unique=False
        )

    op.create_table(
        "keyword_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("short_code_id", sa.Integer(), nullable=False),
        sa.Column("keyword", sa.String(length=64), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column(
            "match_mode",
            sa.Enum(
                "whole",
                "first_word",
                "prefix",
                "regex",
                name="match_mode",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("pattern", sa.String(length=300), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("fuzzy", sa.Boolean(), nullable=False),
        sa.Column("fold_accents", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("active_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handler", sa.String(length=32), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("reply_tr", sa.Text(), nullable=False),
        sa.Column("reply_en", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["short_code_id"],
            ["short_codes.id"],
            name=op.f("fk_keyword_rules_short_code_id_short_codes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keyword_rules")),
    )
    with op.batch_alter_table("keyword_rules", schema=None) as batch_op:
        batch_op.create_index("ix_keyword_rules_short_code_id", ["short_code_id"], unique=False)

    op.create_table(
        "opt_in_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("short_code_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=21), nullable=False),
        sa.Column(
            "inbound_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["short_code_id"],
            ["short_codes.id"],
            name=op.f("fk_opt_in_requests_short_code_id_short_codes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opt_in_requests")),
    )
    with op.batch_alter_table("opt_in_requests", schema=None) as batch_op:
        batch_op.create_index("ix_opt_in_requests_phone", ["phone", "short_code_id"], unique=False)

    with op.batch_alter_table("brands", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "opt_out_phrase_policy",
                sa.String(length=16),
                nullable=False,
                server_default="suppress",
            )
        )

    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=21), nullable=True))
        batch_op.add_column(
            sa.Column(
                "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "thread_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "decision",
                sa.Enum(
                    "opt_out",
                    "opt_in",
                    "help",
                    "conversation",
                    "rule",
                    "inbox",
                    "review",
                    name="decision",
                    native_enum=False,
                    create_constraint=True,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("reason", sa.String(length=300), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("rule_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "reply_to_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("variant_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_inbound_messages_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inbound_messages_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index("ix_inbound_messages_thread_id", ["thread_id", "id"], unique=False)
        batch_op.create_index("ix_inbound_messages_rule_id", ["rule_id"], unique=False)
        batch_op.create_index(
            "ix_inbound_messages_unrouted",
            ["id"],
            unique=False,
            postgresql_where=sa.text("routed_at IS NULL"),
            sqlite_where=sa.text("routed_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_index("ix_clicks_clicked_at")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_inbound_messages_unrouted",
            postgresql_where=sa.text("routed_at IS NULL"),
            sqlite_where=sa.text("routed_at IS NULL"),
        )
        batch_op.drop_index("ix_inbound_messages_rule_id")
        batch_op.drop_index("ix_inbound_messages_thread_id")
        batch_op.drop_index(batch_op.f("ix_inbound_messages_contact_id"))
        batch_op.drop_index(batch_op.f("ix_inbound_messages_campaign_id"))
        batch_op.drop_column("variant_id")
        batch_op.drop_column("campaign_id")
        batch_op.drop_column("reply_to_id")
        batch_op.drop_column("rule_id")
        batch_op.drop_column("reason")
        batch_op.drop_constraint(batch_op.f("ck_inbound_messages_decision"), type_="check")
        batch_op.drop_column("decision")
        batch_op.drop_column("thread_id")
        batch_op.drop_column("contact_id")
        batch_op.drop_column("phone")
        batch_op.drop_column("routed_at")

    with op.batch_alter_table("brands", schema=None) as batch_op:
        batch_op.drop_column("opt_out_phrase_policy")

    with op.batch_alter_table("opt_in_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_opt_in_requests_phone")

    op.drop_table("opt_in_requests")
    with op.batch_alter_table("keyword_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_keyword_rules_short_code_id")

    op.drop_table("keyword_rules")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_due")

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index("ix_threads_state_last_message_at")
        batch_op.drop_index("ix_threads_last_message_at")
        batch_op.drop_index(batch_op.f("ix_threads_contact_id"))
        batch_op.drop_index(batch_op.f("ix_threads_assigned_to_id"))

    op.drop_table("threads")
    op.drop_table("short_codes")
    op.drop_table("webhooks")
    op.drop_table("quick_replies")
