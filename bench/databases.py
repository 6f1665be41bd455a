"""Fresh central databases for the benchmarks: a SQLite file, or a PostgreSQL database made and dropped.

    with fresh_database("postgres", folder) as url: ...

PostgreSQL needs a server URL (a role allowed to CREATE DATABASE): ``--postgres-url`` or
KIOSK_TEST_POSTGRES_URL, the same variable the tests use.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

POSTGRES_ENV = "KIOSK_TEST_POSTGRES_URL"
DB_KINDS = ("sqlite", "postgres")


class DatabaseError(RuntimeError):
    """No database to run on (one line for stderr)."""


def postgres_server(url: str | None) -> str:
    server = url or os.environ.get(POSTGRES_ENV)
    if not server:
        raise DatabaseError(f"PostgreSQL needs --postgres-url or {POSTGRES_ENV} (a server URL)")
    return server


@contextmanager
def fresh_database(kind: str, folder: Path, postgres_url: str | None = None) -> Iterator[str]:
    """A new empty database URL, dropped (PostgreSQL) when the block ends."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'central-{uuid.uuid4().hex[:6]}.db'}"
        return
    if kind != "postgres":
        raise DatabaseError(f"unknown database kind {kind!r} (sqlite or postgres)")
    server = make_url(postgres_server(postgres_url))
    name = f"kiosk_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})
    try:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # any driver error: one line, not a traceback
            raise DatabaseError(f"PostgreSQL at {server.render_as_string()}: {str(exc).splitlines()[0]}") from None
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception:  # never created, or the server went away: nothing to drop
            pass
        admin.dispose()


def db_kinds(value: str) -> list[str]:
    """``--db sqlite,postgres`` (argparse type)."""
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in DB_KINDS]
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(f"takes {' and/or '.join(DB_KINDS)}, comma-separated")
    return kinds
