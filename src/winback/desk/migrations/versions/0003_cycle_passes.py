"""the periodic cycle: a record of every pass, and the lock that runs one at a time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cycle_passes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(length=40), nullable=True),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("step", sa.String(length=40), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slot"),
    )
    op.create_index("ix_cycle_passes_started_at", "cycle_passes", ["started_at"])
    op.create_table(
        "cycle_lock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO cycle_lock (id, holder, expires_at) VALUES (1, NULL, NULL)")


def downgrade() -> None:
    op.drop_table("cycle_lock")
    op.drop_index("ix_cycle_passes_started_at", table_name="cycle_passes")
    op.drop_table("cycle_passes")
