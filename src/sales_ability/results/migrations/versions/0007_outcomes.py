"""Hires' job outcomes (``outcomes``): one figure per applicant, outcome and period, for the validity study.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("applicant_id", sa.String(200), nullable=False),
        sa.Column("requisition", sa.String(200)),
        sa.Column("hire_date", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("period", sa.String(100), nullable=False),
        sa.Column("import_id", sa.String(64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("applicant_id", "outcome", "period", name="uq_outcome"),
    )
    op.create_index("ix_outcomes_applicant_id", "outcomes", ["applicant_id"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_applicant_id", table_name="outcomes")
    op.drop_table("outcomes")
