"""Fixtures for the kiosk's journeys: a central per module, kiosks with their own virtual printer.

``module_central`` (from tests/conftest.py) runs a module's tests on SQLite and on PostgreSQL:
only for journeys where the database matters (claims racing, crash recovery, reports).
``sqlite_central`` (also from tests/conftest.py) is one SQLite central shared by a module's
other journeys; every test collects its own order so that they do not disturb each other.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.sim.printer import VirtualPrinter
from tests.integration.kiosk_rig import KioskRig, kiosk_overrides, write_credential
from tests.support.central_server import RunningCentral

StartKiosk = Callable[..., KioskRig]


@pytest.fixture
def start_printer(tmp_path: Path) -> Iterator[Callable[[], VirtualPrinter]]:
    """``start_printer()``: a virtual printer on a free port, stopped after the test."""
    printers: list[VirtualPrinter] = []
    numbers = itertools.count(1)

    def start() -> VirtualPrinter:
        printer = VirtualPrinter(out_dir=tmp_path / f"printer-{next(numbers)}").start()
        printers.append(printer)
        return printer

    yield start
    for printer in printers:
        printer.stop()


@pytest.fixture
def start_kiosk(tmp_path: Path, start_printer: Callable[[], VirtualPrinter]) -> Iterator[StartKiosk]:
    """``start_kiosk(central, credential=None, central_url=None, printer=None, now=time.monotonic, settings=None)``.

    A started kiosk (recovery done, trust data fetched) with its own data folder and, unless
    one is given, its own virtual printer; ``settings`` are extra "section.key" overrides.
    """
    rigs: list[KioskRig] = []
    numbers = itertools.count(1)

    def start(central: RunningCentral, *, credential: str | None = None, central_url: str | None = None,
              printer: VirtualPrinter | None = None, now: Callable[[], float] = time.monotonic,
              settings: dict[str, Any] | None = None) -> KioskRig:
        workdir = tmp_path / f"kiosk-{next(numbers)}"
        printer = printer or start_printer()
        credential_file = write_credential(workdir / "kiosk.credential", credential or central.kiosk_credential)
        overrides = kiosk_overrides(central_url or central.base_url, credential_file, workdir / "data", printer.port,
                                    **(settings or {}))
        rig = KioskRig(overrides, printer, now=now)
        rigs.append(rig)
        return rig

    yield start
    for rig in rigs:
        rig.stop()
