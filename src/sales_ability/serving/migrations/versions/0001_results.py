"""The results database's first schema: applicants, segments, rejects, videos, batch runs, file hashes.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from sales_ability.serving.results_db import create_schema_v1

    create_schema_v1(op.get_bind())


def downgrade() -> None:
    from sales_ability.serving.results_db import metadata

    metadata.drop_all(op.get_bind())
