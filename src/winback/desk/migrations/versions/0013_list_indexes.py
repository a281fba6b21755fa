"""list indexes: the open cases' sort orders and totals, open tasks by due date

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 03:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OPEN_CASE = "state <> 'closed'"
OPEN_TASK = "done_at IS NULL"


def _indexes(postgresql: bool) -> list[tuple[str, str, list[str], str]]:
    """(name, table, columns, partial condition) of every index made here."""
    # Worth sorts biggest first with blanks last (winback.desk.listing): PostgreSQL's
    # index says so; SQLite puts NULLs last in a descending order by itself.
    worth = "expected_value DESC NULLS LAST" if postgresql else "expected_value DESC"
    return [
        # All cases (the manager's list) and each rep's queue, in the queue's own order:
        # the first page reads 50 index entries instead of sorting every open case.
        ("ix_cases_open_order", "cases", ["urgent DESC", "priority", "id"], OPEN_CASE),
        (
            "ix_cases_open_owner_order",
            "cases",
            ["owner_id", "urgent DESC", "priority", "id"],
            OPEN_CASE,
        ),
        # Sorted by worth, and the totals (count, worth sum) read from the index alone.
        ("ix_cases_open_worth", "cases", [worth, "id"], OPEN_CASE),
        ("ix_cases_open_status_worth", "cases", ["customer_status", worth, "id"], OPEN_CASE),
        # Sorted by the customer's name (their id where the scan had none).
        ("ix_cases_open_name", "cases", ["coalesce(customer_name, customer_id)", "id"], OPEN_CASE),
        # Overdue work: open tasks by due date.
        ("ix_tasks_open_due_id", "tasks", ["due_on", "id"], OPEN_TASK),
    ]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, columns, where in _indexes(postgresql):
        op.create_index(
            name,
            table,
            [sa.text(c) for c in columns],
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )


def downgrade() -> None:
    for name, table, _, _ in _indexes(False):
        op.drop_index(name, table_name=table)
