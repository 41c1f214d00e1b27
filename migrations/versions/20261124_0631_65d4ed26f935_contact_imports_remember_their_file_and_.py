"""contact imports remember their file and its repeated numbers

A number whose rows fall in more than one chunk of an import is written by each chunk in
turn, the last row winning; importing the same file again would first put back what the
earlier rows said. An import now keeps the file's SHA-256 and those numbers with the line
of their last row, and an import of the same file skips their earlier rows.

Revision ID: 65d4ed26f935
Revises: 09f2f5b6053a
Create Date: 2026-11-24 06:31:55.087165+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "65d4ed26f935"
down_revision: str | Sequence[str] | None = "09f2f5b6053a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact_imports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("file_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("repeated", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_imports", schema=None) as batch_op:
        batch_op.drop_column("repeated")
        batch_op.drop_column("file_sha256")
