"""The screening self-report (sex, race/ethnicity), for the bias audit only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "self_reports",
        sa.Column("applicant_id", sa.String(200), primary_key=True),
        sa.Column("sex", sa.String(40)),
        sa.Column("race_ethnicity", sa.String(60)),
        sa.Column("reported_at", sa.String(40)),
    )


def downgrade() -> None:
    op.drop_table("self_reports")
