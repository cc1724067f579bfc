"""calls and call_events

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=False),
        sa.Column("caller", sa.String(32), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("branch", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("danger", sa.String(32), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.JSON(), nullable=False),
        sa.Column("transcripts", sa.Boolean(), nullable=False),
        sa.Column("transcripts_removed_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_index("ix_calls_outcome", "calls", ["outcome"])
    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("t", sa.Float(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("words", sa.JSON(), nullable=True),
        sa.UniqueConstraint("call_id", "seq"),
    )
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_call_events_call_id", "call_events")
    op.drop_table("call_events")
    op.drop_index("ix_calls_outcome", "calls")
    op.drop_index("ix_calls_started_at", "calls")
    op.drop_table("calls")
