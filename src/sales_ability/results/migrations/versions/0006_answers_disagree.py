"""Every applicant row says whether the applicant's own answers disagree (``answers_disagree``): their odd and
even answers' sales scores lie further apart than the calibration people's do (empty for one answer).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applicants") as batch:
        batch.add_column(sa.Column("answers_disagree", sa.Boolean()))


def downgrade() -> None:
    with op.batch_alter_table("applicants") as batch:
        batch.drop_column("answers_disagree")
