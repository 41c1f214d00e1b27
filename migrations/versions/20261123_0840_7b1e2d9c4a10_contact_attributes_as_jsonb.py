"""contact attributes as jsonb on PostgreSQL

Revision ID: 7b1e2d9c4a10
Revises: e24067500e6d
Create Date: 2026-11-23 08:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "7b1e2d9c4a10"
down_revision: str | Sequence[str] | None = "e24067500e6d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE contacts ALTER COLUMN attributes TYPE jsonb USING attributes::jsonb"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contacts ALTER COLUMN attributes TYPE json USING attributes::json")
