"""Engine, sessions and migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseUrlError(ValueError):
    """The database URL names no database the central can use."""


def make_engine(db_url: str) -> Engine:
    try:
        url = make_url(db_url)
    except ArgumentError as exc:
        raise DatabaseUrlError(f"not a database URL: {db_url!r}") from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(db_url, url.database)
    if backend == "postgresql":
        try:
            # connect_timeout: a wrong host must not hang the CLI or the server's start.
            return create_engine(db_url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        except (NoSuchModuleError, ArgumentError) as exc:
            raise DatabaseUrlError(f"unsupported PostgreSQL driver in {url.drivername!r}") from exc
    raise DatabaseUrlError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def _sqlite_engine(db_url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(db_url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads then writes can fail
        # with "database is locked" without waiting when another writer got in between.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
