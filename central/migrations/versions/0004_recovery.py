"""lost-ticket recovery: accounts (bound phones), face templates, recovery sessions, SMS codes, partners

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("phone_hmac", sa.String(length=64), nullable=False),
        sa.Column("phone_masked", sa.String(length=20), nullable=False),
        sa.Column("id_last4_hmac", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("phone_hmac"),
    )
    # A plain column (no foreign key): SQLite can add it in place, without rebuilding orders.
    op.add_column("orders", sa.Column("account_id", sa.String(length=64), nullable=True))
    op.create_index("ix_orders_account_id", "orders", ["account_id"], unique=False)
    op.create_table(
        "face_templates",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("consent_version", sa.String(length=40), nullable=False),
        sa.Column("consented_at", sa.DateTime(), nullable=False),
        sa.Column("enrolled_by", sa.String(length=64), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "recovery_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kiosk_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("order_ids", sa.Text(), nullable=False),
        sa.Column("face_consent", sa.String(length=40), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("face_attempts", sa.Integer(), nullable=False),
        sa.Column("sms_codes", sa.Integer(), nullable=False),
        sa.Column("verified_by", sa.String(length=10), nullable=True),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("phone_sealed", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["kiosk_id"], ["kiosks.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recovery_sessions_account_id", "recovery_sessions", ["account_id"], unique=False)
    op.create_index("ix_recovery_sessions_kiosk_id", "recovery_sessions", ["kiosk_id"], unique=False)
    op.create_table(
        "recovery_sms_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("code_hmac", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("wrong_entries", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["recovery_sessions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recovery_sms_codes_session_id", "recovery_sms_codes", ["session_id"], unique=False)
    op.create_table(
        "recovery_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kiosk_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("phone_hmac", sa.String(length=64), nullable=True),
        sa.Column("phone_masked", sa.String(length=20), nullable=True),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("distance", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recovery_attempts_phone", "recovery_attempts", ["phone_hmac", "at"], unique=False)
    op.create_index("ix_recovery_attempts_kiosk", "recovery_attempts", ["kiosk_id", "at"], unique=False)
    op.create_index("ix_recovery_attempts_session_id", "recovery_attempts", ["session_id"], unique=False)
    op.create_table(
        "recovery_replies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kiosk_id", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kiosk_id", "idempotency_key", name="uq_recovery_reply_key"),
    )
    op.create_table(
        "partners",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("partners")
    op.drop_table("recovery_replies")
    op.drop_index("ix_recovery_attempts_session_id", table_name="recovery_attempts")
    op.drop_index("ix_recovery_attempts_kiosk", table_name="recovery_attempts")
    op.drop_index("ix_recovery_attempts_phone", table_name="recovery_attempts")
    op.drop_table("recovery_attempts")
    op.drop_index("ix_recovery_sms_codes_session_id", table_name="recovery_sms_codes")
    op.drop_table("recovery_sms_codes")
    op.drop_index("ix_recovery_sessions_kiosk_id", table_name="recovery_sessions")
    op.drop_index("ix_recovery_sessions_account_id", table_name="recovery_sessions")
    op.drop_table("recovery_sessions")
    op.drop_table("face_templates")
    op.drop_index("ix_orders_account_id", table_name="orders")
    op.drop_column("orders", "account_id")  # SQLite 3.35+ drops it in place
    op.drop_table("accounts")
