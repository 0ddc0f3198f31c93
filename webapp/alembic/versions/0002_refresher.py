"""Refresh locks kept in the database; the questions each refresh found.

The refresher locks a search in Redis while it refreshes it; when Redis
cannot be reached it takes the lock as a row of ``refresh_locks`` instead,
which works the same on SQLite and PostgreSQL.  Each refresh also keeps the
ids of the questions it found new and changed, for the results page.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "refresh_locks",
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["searches.id"],
            name=op.f("fk_refresh_locks_search_id_searches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("search_id", name=op.f("pk_refresh_locks")),
    )
    with op.batch_alter_table("refreshes") as batch_op:
        batch_op.add_column(sa.Column("new_ids", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("changed_ids", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("refreshes") as batch_op:
        batch_op.drop_column("changed_ids")
        batch_op.drop_column("new_ids")
    op.drop_table("refresh_locks")
