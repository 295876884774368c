"""live plant: runs lost in a row (the reaper's retry count)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("plants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_lost", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("plants", schema=None) as batch_op:
        batch_op.drop_column("run_lost")
