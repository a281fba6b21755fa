"""public posts: their sources, the posts stored once, webhook replays; urgent cases

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 16:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "post_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("reach", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("etag", sa.String(length=500), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("last_polled_at", sa.DateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_after", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "public_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("source_name", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=500), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("author", sa.String(length=300), nullable=True),
        sa.Column("location", sa.String(length=300), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("followers", sa.Integer(), nullable=True),
        sa.Column("sentiment", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("urgency", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("match_method", sa.String(length=50), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("reply_url", sa.String(length=2000), nullable=True),
        sa.Column("replied_at", sa.DateTime(), nullable=True),
        sa.Column("replied_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["post_sources.id"]),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["replied_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_public_posts_state", "public_posts", ["state", "received_at"])
    op.create_index(op.f("ix_public_posts_customer_id"), "public_posts", ["customer_id"])
    op.create_index(op.f("ix_public_posts_case_id"), "public_posts", ["case_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("signature"),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_received_at"), "webhook_deliveries", ["received_at"]
    )
    # The post that made the case urgent (no foreign key: SQLite cannot add one to a table
    # that exists; the desk's services keep the two in step).
    op.add_column(
        "cases", sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("cases", sa.Column("post_id", sa.Integer(), nullable=True))
    op.add_column("cases", sa.Column("due_at", sa.DateTime(), nullable=True))
    op.add_column("cases", sa.Column("escalated_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    for column in ("escalated_at", "due_at", "post_id", "urgent"):
        op.drop_column("cases", column)
    op.drop_index(op.f("ix_webhook_deliveries_received_at"), table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_public_posts_case_id"), table_name="public_posts")
    op.drop_index(op.f("ix_public_posts_customer_id"), table_name="public_posts")
    op.drop_index("ix_public_posts_state", table_name="public_posts")
    op.drop_table("public_posts")
    op.drop_table("post_sources")
