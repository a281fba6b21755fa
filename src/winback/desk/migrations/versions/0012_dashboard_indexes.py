"""dashboard indexes: closed cases by closing time, with what the headline sums

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 23:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = ["state", "closed_at", "outcome", "contacted", "value_before", "revenue_last_year"]


def upgrade() -> None:
    # The reasons report reads the closed cases (and those closed since a date) through it,
    # the headline counts this month's win-backs and sums the open cases' value from it
    # alone (an index-only read on PostgreSQL) rather than from every case's whole row.
    op.create_index("ix_cases_headline", "cases", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_cases_headline", table_name="cases")
