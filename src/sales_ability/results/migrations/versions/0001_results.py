"""The results database's first schema: applicants, segments, rejects, videos, batch runs, file hashes.

Frozen: the tables exactly as this revision made them, spelt out with ``op`` (never built from the package's
metadata of the day), so every later revision starts from the same schema.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# Frozen with the revision: the traits as they were then, spelt here (never read from the package).
TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")


def _traits_and_bounds() -> list[sa.Column]:
    return [*[sa.Column(t, sa.Float()) for t in TRAITS],
            *[sa.Column(f"{t}_{end}", sa.Float()) for t in TRAITS for end in ("low", "high")]]


def _sales_score() -> list[sa.Column]:
    return [sa.Column(name, sa.Float()) for name in ("sales_score", "sales_score_low", "sales_score_high")]


def _provenance() -> list[sa.Column]:
    return [sa.Column("model_uri", sa.Text()), sa.Column("model_version", sa.String(64), nullable=False),
            sa.Column("knowledge_base", sa.String(32)), sa.Column("scored_at", sa.String(40)),
            sa.Column("batch_run_id", sa.String(250))]


def upgrade() -> None:
    op.create_table(
        "applicants",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("applicant_id", sa.String(200), nullable=False, index=True),
        sa.Column("answers", sa.Integer()),
        sa.Column("segments", sa.Integer()),
        sa.Column("face_share", sa.Float()),
        *_traits_and_bounds(),
        *[sa.Column(f"score_{t}", sa.Integer()) for t in TRAITS],
        *[sa.Column(f"score_{t}_{end}", sa.Integer()) for t in TRAITS for end in ("low", "high")],
        *_sales_score(),
        *_provenance(),
        sa.UniqueConstraint("applicant_id", "model_version", name="uq_applicant_version"),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("clip_id", sa.String(250), nullable=False),
        sa.Column("applicant_id", sa.String(200), nullable=False, index=True),
        sa.Column("source", sa.Text()),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("start_s", sa.Float()),
        sa.Column("end_s", sa.Float()),
        *_traits_and_bounds(),
        *[sa.Column(f"score_{t}", sa.Integer()) for t in TRAITS],
        *_sales_score(),
        sa.Column("face_share", sa.Float()),
        sa.Column("strip_png", sa.LargeBinary()),
        *_provenance(),
        sa.UniqueConstraint("content_sha256", "clip_id", "model_version", name="uq_segment_version"),
    )
    op.create_table(
        "rejects",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("clip_id", sa.String(250), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("applicant_id", sa.String(200), index=True),
        sa.Column("batch_run_id", sa.String(250)),
        sa.UniqueConstraint("source", "clip_id", name="uq_reject"),
    )
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("content_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("applicant_id", sa.String(200), nullable=False, index=True),
        sa.Column("batch_run_id", sa.String(250)),
        sa.Column("recorded_at", sa.String(40)),
        sa.UniqueConstraint("content_sha256", "applicant_id", name="uq_video_applicant"),
    )
    op.create_table(
        "batch_runs",
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("model_uri", sa.Text()),
        sa.Column("model_version", sa.String(200)),
        sa.Column("knowledge_base", sa.String(32)),
        sa.Column("applicants_new", sa.Integer()),
        sa.Column("segments_new", sa.Integer()),
        sa.Column("videos_rejected_new", sa.Integer()),
        sa.Column("merge_seconds", sa.Float()),
    )
    op.create_table(
        "file_hashes",
        sa.Column("path", sa.String(1000), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for name in ('file_hashes', 'batch_runs', 'videos', 'rejects', 'segments', 'applicants'):
        op.drop_table(name)
