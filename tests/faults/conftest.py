"""Kiosk journeys through scripted faults: the journey fixtures of tests/integration, reused."""

from tests.integration.conftest import sqlite_central, start_kiosk, start_printer

__all__ = ["sqlite_central", "start_kiosk", "start_printer"]
