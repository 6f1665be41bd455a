"""The schema's migrations: a database made by an older central upgrades in place, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

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
