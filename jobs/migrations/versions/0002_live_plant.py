"""live plant: plants, schedule versions, webhook inbox, callback subscriptions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_T = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _tenant() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE")


def upgrade() -> None:
    # Long by nature: one create_table per table, as alembic's autogenerate writes them.
    # A migration is history, so it stays as it was applied.
    op.create_table(
        "plants",
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("options", JSON_T, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("needs_solve", sa.Boolean(), nullable=False),
        sa.Column("run_queued", sa.Boolean(), nullable=False),
        sa.Column("run_owner", sa.String(length=200), nullable=True),
        sa.Column("run_lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        _tenant(),
        sa.PrimaryKeyConstraint("tenant_id"),
        sa.UniqueConstraint("id"),
    )
    op.create_table(
        "plant_schedules",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("plant_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("cause", sa.String(length=200), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("diff", JSON_T, nullable=True),
        sa.Column("details", JSON_T, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _tenant(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plant_id", "version"),
    )
    op.create_table(
        "plant_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("plant_id", sa.String(length=36), nullable=False),
        sa.Column("webhook_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("payload", JSON_T, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", JSON_T, nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("applied_version", sa.Integer(), nullable=True),
        _tenant(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "webhook_id"),
    )
    with op.batch_alter_table("plant_events", schema=None) as batch_op:
        batch_op.create_index("ix_plant_events_pending", ["plant_id", "status"], unique=False)
    op.create_table(
        "callback_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", JSON_T, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        _tenant(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "callback_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("body", JSON_T, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["callback_subscriptions.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("callback_deliveries")
    op.drop_table("callback_subscriptions")
    with op.batch_alter_table("plant_events", schema=None) as batch_op:
        batch_op.drop_index("ix_plant_events_pending")
    op.drop_table("plant_events")
    op.drop_table("plant_schedules")
    op.drop_table("plants")
