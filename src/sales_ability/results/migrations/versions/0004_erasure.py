"""Erasure that cannot be undone or fall short: tombstones, one lock row (with the tombstones' salt), and where
each batch run read and wrote (its inbox and outbox), so an erasure reaches them without being told.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tombstones",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # the listing's watermark compares ids
        sa.Column("applicant_hash", sa.String(64), nullable=False, index=True),  # HMAC-SHA256(salt, applicant id)
        sa.Column("erased_at", sa.String(40), nullable=False),
        sa.Column("request", sa.String(40)),  # cli, website, retention
        sa.Column("removed", sa.Text),  # JSON counts per place: no names, no paths
    )
    state = op.create_table(
        "erasure_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),  # every erasure and merge updates it first: the lock
    )
    op.bulk_insert(state, [{"id": 1, "salt": secrets.token_hex(32), "generation": 0}])
    existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("batch_runs")}
    with op.batch_alter_table("batch_runs") as batch:
        for name in ("inbox", "outbox"):
            if name not in existing:  # a database made before 0001 was frozen may have them already
                batch.add_column(sa.Column(name, sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("batch_runs") as batch:
        batch.drop_column("outbox")
        batch.drop_column("inbox")
    op.drop_table("erasure_state")
    op.drop_table("tombstones")
