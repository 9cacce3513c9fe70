"""The recruiter's workspace: accounts and sessions, requisitions and their recruiters, applications (requisition
and tracking-system reference per applicant), decisions, the append-only review event log, and the webhook outbox.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        sa.Column("locked_until", _WHEN),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_table(
        "review_sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
    )
    op.create_table(
        "requisitions",
        sa.Column("requisition_id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("knowledge_base", sa.String(64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_table(
        "requisition_recruiters",
        sa.Column("requisition_id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), primary_key=True),
    )
    op.create_table(
        "applications",
        sa.Column("applicant_id", sa.String(200), primary_key=True),
        sa.Column("requisition_id", sa.String(64), nullable=False),
        sa.Column("ats_reference", sa.String(100)),
        sa.Column("applied_at", _WHEN),
    )
    op.create_index("ix_applications_requisition_id", "applications", ["requisition_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("applicant_id", sa.String(200)),
        sa.Column("requisition_id", sa.String(64), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("sales_score", sa.Float()),
        sa.Column("sales_score_low", sa.Float()),
        sa.Column("sales_score_high", sa.Float()),
        sa.Column("band", sa.String(16)),
        sa.Column("model_version", sa.String(64)),
        sa.Column("answers_played", sa.Integer(), nullable=False),
        sa.Column("unwatched", sa.Boolean(), nullable=False),
        sa.Column("decided_at", _WHEN, nullable=False),
    )
    op.create_index("ix_decisions_applicant_id", "decisions", ["applicant_id"])
    op.create_table(
        "review_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("requisition_id", sa.String(64)),
        sa.Column("applicant_id", sa.String(200)),
        sa.Column("model_version", sa.String(64)),
        sa.Column("detail", sa.Text()),
    )
    op.create_index("ix_review_events_applicant_id", "review_events", ["applicant_id"])
    op.create_table(
        "webhook_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("requisition_id", sa.String(64)),
        sa.Column("applicant_id", sa.String(200)),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _WHEN),
        sa.Column("delivered_at", _WHEN),
        sa.Column("last_error", sa.Text()),
    )
    op.create_index("ix_webhook_events_applicant_id", "webhook_events", ["applicant_id"])


def downgrade() -> None:
    for table in ("webhook_events", "review_events", "decisions", "applications", "requisition_recruiters",
                  "requisitions", "review_sessions", "accounts"):
        op.drop_table(table)
