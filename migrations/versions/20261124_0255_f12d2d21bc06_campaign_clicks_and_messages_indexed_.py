"""Campaign clicks and messages indexed for listing newest first

Clicks: by campaign, kind, time and id, and by kind, time and id (each replacing an index
that held a prefix of it); messages: by campaign and id.

Revision ID: f12d2d21bc06
Revises: 25c973128d08
Create Date: 2026-11-24 02:55:18.393852+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "f12d2d21bc06"
down_revision: str | Sequence[str] | None = "25c973128d08"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clicks_campaign_id_kind"))
        batch_op.drop_index(batch_op.f("ix_clicks_clicked_at"))
        batch_op.create_index(
            "ix_clicks_campaign_id_kind_clicked_at", ["campaign_id", "kind", "clicked_at", "id"]
        )
        batch_op.create_index("ix_clicks_kind_clicked_at", ["kind", "clicked_at", "id"])

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_campaign_id"))
        batch_op.create_index("ix_messages_campaign_id_id", ["campaign_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_campaign_id_id")
        batch_op.create_index(batch_op.f("ix_messages_campaign_id"), ["campaign_id"], unique=False)

    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_index("ix_clicks_kind_clicked_at")
        batch_op.drop_index("ix_clicks_campaign_id_kind_clicked_at")
        batch_op.create_index(batch_op.f("ix_clicks_clicked_at"), ["clicked_at"])
        batch_op.create_index(batch_op.f("ix_clicks_campaign_id_kind"), ["campaign_id", "kind"])
