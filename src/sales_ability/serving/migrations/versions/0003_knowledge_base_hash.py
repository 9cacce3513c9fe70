"""Every result row names the knowledge base's file hash (``knowledge_base_sha256``), beside the model version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("applicants", "segments")


def upgrade() -> None:
    # revision 0001 creates its tables from the package's current metadata, so a new database has the
    # column already; a database made by an earlier release gets it here
    existing = sa.inspect(op.get_bind())
    for table in TABLES:
        if "knowledge_base_sha256" not in {c["name"] for c in existing.get_columns(table)}:
            with op.batch_alter_table(table) as batch:
                batch.add_column(sa.Column("knowledge_base_sha256", sa.String(64)))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("knowledge_base_sha256")
