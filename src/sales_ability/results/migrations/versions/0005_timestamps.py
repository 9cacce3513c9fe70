"""Timestamps as timezone-aware ``DateTime`` instead of ISO 8601 text: compared as times, not as strings.

Existing rows are converted: on SQLite into SQLAlchemy's ``DATETIME`` text (UTC; the offset the old strings
carried was always +00:00), on PostgreSQL by a cast to ``timestamptz``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = {"applicants": ["scored_at"], "segments": ["scored_at"], "videos": ["recorded_at"],
           "batch_runs": ["finished_at"], "self_reports": ["reported_at"], "tombstones": ["erased_at"]}


def upgrade() -> None:
    bind = op.get_bind()
    for table, columns in COLUMNS.items():
        for column in columns:
            if bind.dialect.name != "sqlite":
                op.alter_column(table, column, type_=sa.DateTime(timezone=True), existing_type=sa.String(40),
                                postgresql_using=f"{column}::timestamptz")
                continue
            # SQLite: a type change copies the table with CAST(... AS DATETIME), which keeps only a number's worth of
            # '2026-12-03T...'; so a new column takes the converted text, then replaces the old one
            staging = f"{column}_utc"
            with op.batch_alter_table(table) as batch:
                batch.add_column(sa.Column(staging, sa.DateTime(timezone=True)))
            # '2026-12-03T13:07:26+00:00' (always UTC) -> '2026-12-03 13:07:26.000000', SQLAlchemy's DATETIME text
            op.execute(f"UPDATE {table} SET {staging} = replace(substr({column}, 1, 19), 'T', ' ') || '.000000' "
                       f"WHERE {column} IS NOT NULL AND length({column}) >= 19")
            with op.batch_alter_table(table) as batch:
                batch.drop_column(column)
                batch.alter_column(staging, new_column_name=column, existing_type=sa.DateTime(timezone=True),
                                   existing_nullable=True, nullable=column != "erased_at")


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        for column in columns:
            with op.batch_alter_table(table) as batch:
                batch.alter_column(column, type_=sa.String(40), existing_type=sa.DateTime(timezone=True))
