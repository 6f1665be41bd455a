"""tickets remember when their kiosk said they were about to print

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("print_started_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("claims", schema=None) as batch_op:
        # The lease sweep looks for open claims whose lease has passed.
        batch_op.create_index("ix_claims_open_lease", ["open", "lease_expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index("ix_claims_open_lease")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("print_started_at")
