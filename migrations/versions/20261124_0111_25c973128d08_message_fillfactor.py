"""message fillfactor

Space left free in each page of `messages` and `message_parts`: the gateway updates every
row a few times (claimed, accepted, delivered), and an update whose new version fits on the
same page, touching no indexed column, is HOT (no new index entries). PostgreSQL only.

Revision ID: 25c973128d08
Revises: 28b31a4b7cdc
Create Date: 2026-11-24 01:11:03.697220+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "25c973128d08"
down_revision: str | Sequence[str] | None = "28b31a4b7cdc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTORS = {"messages": 80, "message_parts": 75}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, fillfactor in FILLFACTORS.items():
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in FILLFACTORS:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
