"""surveys

Revision ID: e57da3d15c56
Revises: 552257b783b7
Create Date: 2026-11-23 12:44:24.873924+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e57da3d15c56"
down_revision: str | Sequence[str] | None = "552257b783b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "live",
                "closed",
                name="survey_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("brand_id", sa.Integer(), nullable=True),
        sa.Column("short_code", sa.String(length=21), nullable=False),
        sa.Column(
            "traffic",
            sa.Enum(
                "commercial",
                "informational",
                "transactional",
                name="traffic",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("intro", sa.Text(), nullable=False),
        sa.Column("completion", sa.Text(), nullable=False),
        sa.Column("keyword", sa.String(length=64), nullable=True),
        sa.Column(
            "when_open",
            sa.Enum(
                "queue",
                "replace",
                "refuse",
                name="survey_when_open",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("max_reprompts", sa.Integer(), nullable=False),
        sa.Column(
            "after_reprompts",
            sa.Enum(
                "skip",
                "end",
                name="survey_after_reprompts",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("remind_after_hours", sa.Integer(), nullable=True),
        sa.Column("question_expiry_hours", sa.Integer(), nullable=True),
        sa.Column("expiry_hours", sa.Integer(), nullable=True),
        sa.Column("current_version_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_surveys_brand_id_brands"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_surveys_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
    )
    op.create_table(
        "survey_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_versions_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_versions")),
        sa.UniqueConstraint(
            "survey_id", "number", name=op.f("uq_survey_versions_survey_id_number")
        ),
    )
    op.create_table(
        "survey_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=21), nullable=False),
        sa.Column("short_code", sa.String(length=21), nullable=False),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "queued",
                "open",
                "completed",
                "expired",
                "opted_out",
                "ended",
                name="survey_session_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("question_key", sa.String(length=32), nullable=True),
        sa.Column("reprompts", sa.Integer(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded", sa.Boolean(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held_text", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_sessions_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["survey_versions.id"],
            name=op.f("fk_survey_sessions_version_id_survey_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_sessions")),
    )
    with op.batch_alter_table("survey_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survey_sessions_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index("ix_survey_sessions_due", ["state", "due_at"], unique=False)
        batch_op.create_index(
            "ix_survey_sessions_phone_short_code_state",
            ["phone", "short_code", "state"],
            unique=False,
        )
        batch_op.create_index(
            "ix_survey_sessions_survey_id_state", ["survey_id", "state"], unique=False
        )
        batch_op.create_index(
            "uq_survey_sessions_open",
            ["phone", "short_code"],
            unique=True,
            postgresql_where=sa.text("state = 'open'"),
            sqlite_where=sa.text("state = 'open'"),
        )

    op.create_table(
        "survey_answers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("question_key", sa.String(length=32), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reprompts", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column(
            "inbound_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["survey_sessions.id"],
            name=op.f("fk_survey_answers_session_id_survey_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
        sa.UniqueConstraint(
            "session_id", "question_key", name=op.f("uq_survey_answers_session_id_question_key")
        ),
    )
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_answers_survey_id_question_key", ["survey_id", "question_key"], unique=False
        )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("survey_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_campaigns_survey_id_surveys"),
            "surveys",
            ["survey_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_campaigns_survey_id_surveys"), type_="foreignkey")
        batch_op.drop_column("survey_id")
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_answers_survey_id_question_key")

    op.drop_table("survey_answers")
    with op.batch_alter_table("survey_sessions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_survey_sessions_open",
            postgresql_where=sa.text("state = 'open'"),
            sqlite_where=sa.text("state = 'open'"),
        )
        batch_op.drop_index("ix_survey_sessions_survey_id_state")
        batch_op.drop_index("ix_survey_sessions_phone_short_code_state")
        batch_op.drop_index("ix_survey_sessions_due")
        batch_op.drop_index(batch_op.f("ix_survey_sessions_contact_id"))

    op.drop_table("survey_sessions")
    op.drop_table("survey_versions")
    op.drop_table("surveys")
