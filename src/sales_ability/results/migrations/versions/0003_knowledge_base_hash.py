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
    # a database made before revision 0001 was frozen (it built its tables from the package's metadata of the
    # day) may have the column already
    existing = sa.inspect(op.get_bind())
    for table in TABLES:
        if "knowledge_base_sha256" not in {c["name"] for c in existing.get_columns(table)}:
            with op.batch_alter_table(table) as batch:
                batch.add_column(sa.Column("knowledge_base_sha256", sa.String(64)))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("knowledge_base_sha256")
