"""Kiosk journeys through scripted faults: the journey fixtures of tests/integration, reused.

``sqlite_central`` comes from tests/conftest.py.
"""

from tests.integration.conftest import start_kiosk, start_printer

__all__ = ["start_kiosk", "start_printer"]
