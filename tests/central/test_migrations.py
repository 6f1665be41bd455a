"""The schema's migrations: a database made by an older central upgrades in place, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from central.db import MIGRATIONS_DIR, make_engine, migrate
from central.models import Base


def _upgrade_to(db_url: str, revision: str) -> None:
    engine = make_engine(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def test_a_database_of_the_first_schema_upgrades_keeping_its_tickets(db_url: str) -> None:
    _upgrade_to(db_url, "0001")
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO cinemas (id, name, timezone) VALUES ('c1', 'Cinema', 'Asia/Shanghai');"))
        connection.execute(text("INSERT INTO films (id, title) VALUES ('f1', 'Film')"))
        connection.execute(text("INSERT INTO halls (id, cinema_id, name) VALUES ('h1', 'c1', 'Hall')"))
        connection.execute(text(
            "INSERT INTO showings (id, film_id, hall_id, starts_at, ends_at) "
            "VALUES ('s1', 'f1', 'h1', '2026-12-01 10:00:00', '2026-12-01 12:00:00')"))
        connection.execute(text(
            "INSERT INTO orders (id, cinema_id, showing_id, status, created_at) "
            "VALUES ('o1', 'c1', 's1', 'paid', '2026-11-30 10:00:00')"))
        connection.execute(text(
            "INSERT INTO tickets (id, order_id, showing_id, \"row\", seat, price_fen, status) "
            "VALUES ('t1', 'o1', 's1', 'A', '1', 4500, 'claimed')"))
    migrate(engine)
    columns = {column["name"] for column in inspect(engine).get_columns("tickets")}
    assert "print_started_at" in columns
    with engine.connect() as connection:
        row = connection.execute(text("SELECT status, print_started_at FROM tickets WHERE id = 't1'")).one()
        assert tuple(row) == ("claimed", None)  # a claim from before: never announced, so released if it lapses
        # The migrated schema is exactly what the models describe (nothing left for autogenerate).
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_a_database_of_the_second_schema_upgrades_to_year_cards_keeping_its_orders(db_url: str) -> None:
    _upgrade_to(db_url, "0002")
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO cinemas (id, name, timezone) VALUES ('c1', 'Cinema', 'Asia/Shanghai');"))
        connection.execute(text("INSERT INTO films (id, title) VALUES ('f1', 'Film')"))
        connection.execute(text("INSERT INTO halls (id, cinema_id, name) VALUES ('h1', 'c1', 'Hall')"))
        connection.execute(text(
            "INSERT INTO showings (id, film_id, hall_id, starts_at, ends_at) "
            "VALUES ('s1', 'f1', 'h1', '2026-12-01 10:00:00', '2026-12-01 12:00:00')"))
        connection.execute(text(
            "INSERT INTO orders (id, cinema_id, showing_id, status, created_at) "
            "VALUES ('o1', 'c1', 's1', 'paid', '2026-11-30 10:00:00')"))
        connection.execute(text(
            "INSERT INTO tickets (id, order_id, showing_id, \"row\", seat, price_fen, status) "
            "VALUES ('t1', 'o1', 's1', 'A', '1', 4500, 'printed')"))
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"card_types", "cards", "card_issues", "card_transactions", "redemptions", "card_blacklist",
            "psams", "hall_seats", "staff_users", "staff_sessions"} <= tables
    with engine.connect() as connection:
        # Existing showings are 2D and existing orders were sold online (collected with a code).
        assert connection.execute(text("SELECT format FROM showings WHERE id = 's1'")).scalar_one() == "2D"
        assert connection.execute(text("SELECT source, status FROM orders WHERE id = 'o1'")).one() == ("online", "paid")
        assert connection.execute(text("SELECT status FROM tickets WHERE id = 't1'")).scalar_one() == "printed"
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    with engine.begin() as connection:
        # A retried debit hits the ledger's unique key instead of deducting twice.
        connection.execute(text(
            "INSERT INTO card_types (code, name, default_visits, validity_days, max_people, formats, "
            "settlement_fen, created_at) VALUES (1, 'Year', 10, 365, 2, '{}', 3000, '2026-11-30 10:00:00')"))
        connection.execute(text(
            "INSERT INTO cards (card_number, card_type, status, issue_no, made_at, visits_left) "
            "VALUES ('8800000000000001', 1, 'active', 1, '2026-11-30 10:00:00', 10)"))
    insert = text(
        "INSERT INTO card_transactions (card_number, issue_no, card_counter, counter_kind, kind, visits, "
        "balance_after, terminal_id, cinema_id, card_local_time, recorded_at, proof, settlement_fen) "
        "VALUES ('8800000000000001', 1, 7, 'purchase', 'tickets', 1, 9, '000000000001', 'c1', "
        "'2026-12-01 09:00:00', '2026-12-01 01:00:00', 'tac', 3000)")
    with engine.begin() as connection:
        connection.execute(insert)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert)
    engine.dispose()
