"""calls.gateway: which process holds a call still in progress (open rows, gateway_died)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER most things; for an added nullable column it is a plain
    # ALTER TABLE ADD COLUMN on both databases.
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("gateway", sa.String(128), nullable=True))
    # The sweep looks for open rows: outcome is already indexed (ix_calls_outcome).


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("gateway")
