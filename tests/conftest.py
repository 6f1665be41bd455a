"""Shared fixtures: a fresh database per test (SQLite and PostgreSQL) and a running central."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.central_server import RunningCentral, running_central

POSTGRES_ENV = "KIOSK_TEST_POSTGRES_URL"
DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(f"{POSTGRES_ENV} is not set: PostgreSQL tests must run in CI", pytrace=False)
    pytest.skip(f"{POSTGRES_ENV} not set (PostgreSQL tests run in CI)")


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A new empty database URL: a SQLite file, or a uniquely named PostgreSQL database dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'central.db'}"
        return
    server = make_url(_postgres_server_url())
    name = f"kiosk_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=DB_KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=DB_KINDS)
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def central(db_url: str, tmp_path: Path) -> Iterator[RunningCentral]:
    """A central with demo data and test hooks, on a fresh database, for one test."""
    with running_central(db_url, tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def module_central(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    """One central shared by a module's tests (they must not disturb each other)."""
    with running_central(module_db_url, tmp_path_factory.mktemp("central")) as running:
        yield running


@pytest.fixture(scope="module")
def sqlite_central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    """One SQLite central shared by a module's tests, for journeys where the database does not matter."""
    workdir = tmp_path_factory.mktemp("sqlite-central")
    with fresh_database("sqlite", workdir) as url, running_central(url, workdir) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_stray_log_handlers() -> Iterator[None]:
    """A command's main() run in-process (logging.basicConfig) may leave a handler on the root logger
    bound to the test's captured stderr; once that is closed, any later log line (a device thread's)
    would print "--- Logging error ---" into another test's output.  Such handlers go with the test."""
    import logging

    before = set(logging.root.handlers)
    yield
    for handler in list(logging.root.handlers):
        if handler not in before and type(handler) is logging.StreamHandler:
            logging.root.removeHandler(handler)
