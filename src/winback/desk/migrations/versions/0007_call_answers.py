"""every answer of a call kept (call_answers) and the call's offer as a concession

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 20:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_call_answers_call_id", "call_answers", ["call_id"])
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("offer_concession_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("offer_concession_id")
    op.drop_index("ix_call_answers_call_id", table_name="call_answers")
    op.drop_table("call_answers")
