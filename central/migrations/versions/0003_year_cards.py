"""year-cards: card types, cards, issues, transactions, redemptions, blacklist, PSAMs, seat layouts, staff

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("showings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("format", sa.String(length=16), server_default="2D", nullable=False))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=20), server_default="online", nullable=False))

    op.create_table(
        "card_types",
        sa.Column("code", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("default_visits", sa.Integer(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=False),
        sa.Column("max_people", sa.Integer(), nullable=False),
        sa.Column("formats", sa.Text(), nullable=False),
        sa.Column("settlement_fen", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "card_type_prices",
        sa.Column("card_type", sa.Integer(), nullable=False),
        sa.Column("cinema_id", sa.String(length=64), nullable=False),
        sa.Column("settlement_fen", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["card_type"], ["card_types.code"]),
        sa.ForeignKeyConstraint(["cinema_id"], ["cinemas.id"]),
        sa.PrimaryKeyConstraint("card_type", "cinema_id"),
    )
    op.create_table(
        "cards",
        sa.Column("card_number", sa.String(length=16), nullable=False),
        sa.Column("card_type", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("issue_no", sa.Integer(), nullable=False),
        sa.Column("made_at", sa.DateTime(), nullable=False),
        sa.Column("sold_at", sa.DateTime(), nullable=True),
        sa.Column("sold_cinema_id", sa.String(length=64), nullable=True),
        sa.Column("activated_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("visits_left", sa.Integer(), nullable=False),
        sa.Column("last_counter", sa.Integer(), nullable=True),
        sa.Column("recycled_at", sa.DateTime(), nullable=True),
        sa.Column("recycled_cinema_id", sa.String(length=64), nullable=True),
        sa.Column("collected_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["card_type"], ["card_types.code"]),
        sa.ForeignKeyConstraint(["recycled_cinema_id"], ["cinemas.id"]),
        sa.ForeignKeyConstraint(["sold_cinema_id"], ["cinemas.id"]),
        sa.PrimaryKeyConstraint("card_number"),
    )
    op.create_index("ix_cards_card_type", "cards", ["card_type"], unique=False)
    op.create_index("ix_cards_status", "cards", ["status"], unique=False)
    op.create_table(
        "card_issues",
        sa.Column("card_number", sa.String(length=16), nullable=False),
        sa.Column("issue_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("card_type", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["card_number"], ["cards.card_number"]),
        sa.ForeignKeyConstraint(["card_type"], ["card_types.code"]),
        sa.PrimaryKeyConstraint("card_number", "issue_no"),
    )
    op.create_table(
        "card_transactions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("card_number", sa.String(length=16), nullable=False),
        sa.Column("issue_no", sa.Integer(), nullable=False),
        sa.Column("card_counter", sa.Integer(), nullable=False),
        sa.Column("counter_kind", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.String(length=12), nullable=False),
        sa.Column("terminal_seq", sa.BigInteger(), nullable=True),
        sa.Column("cinema_id", sa.String(length=64), nullable=False),
        sa.Column("kiosk_id", sa.String(length=64), nullable=True),
        sa.Column("staff_no", sa.String(length=32), nullable=True),
        sa.Column("card_local_time", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("tac", sa.String(length=8), nullable=True),
        sa.Column("proof", sa.String(length=10), nullable=False),
        sa.Column("redemption_id", sa.String(length=64), nullable=True),
        sa.Column("settlement_fen", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["card_number"], ["cards.card_number"]),
        sa.ForeignKeyConstraint(["cinema_id"], ["cinemas.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("card_number", "card_counter", "counter_kind", name="uq_card_transaction_counter"),
    )
    op.create_index("ix_card_transactions_card_number", "card_transactions", ["card_number"], unique=False)
    op.create_index("ix_card_transactions_kiosk", "card_transactions", ["kiosk_id", "id"], unique=False)
    op.create_index("ix_card_transactions_cinema_time", "card_transactions", ["cinema_id", "recorded_at"],
                    unique=False)
    op.create_index("ix_card_transactions_redemption_id", "card_transactions", ["redemption_id"], unique=False)
    op.create_table(
        "redemptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("card_number", sa.String(length=16), nullable=False),
        sa.Column("issue_no", sa.Integer(), nullable=False),
        sa.Column("kiosk_id", sa.String(length=64), nullable=False),
        sa.Column("cinema_id", sa.String(length=64), nullable=False),
        sa.Column("staff_no", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("showing_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("hold_expires_at", sa.DateTime(), nullable=True),
        sa.Column("debit_card_counter", sa.Integer(), nullable=True),
        sa.Column("debit_terminal_id", sa.String(length=12), nullable=True),
        sa.Column("debit_terminal_seq", sa.BigInteger(), nullable=True),
        sa.Column("debit_at", sa.DateTime(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("claim_id", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["card_number"], ["cards.card_number"]),
        sa.ForeignKeyConstraint(["cinema_id"], ["cinemas.id"]),
        sa.ForeignKeyConstraint(["kiosk_id"], ["kiosks.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.ForeignKeyConstraint(["showing_id"], ["showings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kiosk_id", "idempotency_key", name="uq_redemption_idempotency"),
    )
    op.create_index("ix_redemptions_card_state", "redemptions", ["card_number", "state"], unique=False)
    op.create_index("ix_redemptions_state_hold", "redemptions", ["state", "hold_expires_at"], unique=False)
    op.create_index("ix_redemptions_kiosk_id", "redemptions", ["kiosk_id"], unique=False)
    op.create_table(
        "card_blacklist",
        sa.Column("card_number", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("card_number"),
    )
    op.create_table(
        "card_blacklist_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("card_number", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "card_taps",
        sa.Column("kiosk_id", sa.String(length=64), nullable=False),
        sa.Column("card_number", sa.String(length=16), nullable=False),
        sa.Column("tapped_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["kiosk_id"], ["kiosks.id"]),
        sa.PrimaryKeyConstraint("kiosk_id"),
    )
    op.create_table(
        "psams",
        sa.Column("terminal_id", sa.String(length=12), nullable=False),
        sa.Column("cinema_id", sa.String(length=64), nullable=False),
        sa.Column("kiosk_id", sa.String(length=64), nullable=True),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cinema_id"], ["cinemas.id"]),
        sa.ForeignKeyConstraint(["kiosk_id"], ["kiosks.id"]),
        sa.PrimaryKeyConstraint("terminal_id"),
    )
    op.create_index("ix_psams_cinema_id", "psams", ["cinema_id"], unique=False)
    op.create_table(
        "hall_seats",
        sa.Column("hall_id", sa.String(length=64), nullable=False),
        sa.Column("row", sa.String(length=8), nullable=False),
        sa.Column("seat", sa.String(length=8), nullable=False),
        sa.Column("x", sa.Integer(), nullable=False),
        sa.Column("y", sa.Integer(), nullable=False),
        sa.Column("accessible", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["hall_id"], ["halls.id"]),
        sa.PrimaryKeyConstraint("hall_id", "row", "seat"),
    )
    op.create_table(
        "staff_users",
        sa.Column("staff_no", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("cinema_id", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cinema_id"], ["cinemas.id"]),
        sa.PrimaryKeyConstraint("staff_no"),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_no", sa.String(length=32), nullable=False),
        sa.Column("kiosk_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["staff_no"], ["staff_users.staff_no"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_staff_sessions_staff_no", "staff_sessions", ["staff_no"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_staff_sessions_staff_no", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("staff_users")
    op.drop_table("hall_seats")
    op.drop_index("ix_psams_cinema_id", table_name="psams")
    op.drop_table("psams")
    op.drop_table("card_taps")
    op.drop_table("card_blacklist_changes")
    op.drop_table("card_blacklist")
    op.drop_index("ix_redemptions_kiosk_id", table_name="redemptions")
    op.drop_index("ix_redemptions_state_hold", table_name="redemptions")
    op.drop_index("ix_redemptions_card_state", table_name="redemptions")
    op.drop_table("redemptions")
    op.drop_index("ix_card_transactions_redemption_id", table_name="card_transactions")
    op.drop_index("ix_card_transactions_cinema_time", table_name="card_transactions")
    op.drop_index("ix_card_transactions_kiosk", table_name="card_transactions")
    op.drop_index("ix_card_transactions_card_number", table_name="card_transactions")
    op.drop_table("card_transactions")
    op.drop_table("card_issues")
    op.drop_index("ix_cards_status", table_name="cards")
    op.drop_index("ix_cards_card_type", table_name="cards")
    op.drop_table("cards")
    op.drop_table("card_type_prices")
    op.drop_table("card_types")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("source")
    with op.batch_alter_table("showings", schema=None) as batch_op:
        batch_op.drop_column("format")
