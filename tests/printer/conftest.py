"""Fixtures for the ticket printer tests: a virtual printer on a free port, sample tickets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from devices.printer import EscposTicketPrinter, PrinterConfig
from devices.printer_api import TicketContent
from devices.sim.printer import VirtualPrinter

# the shape of a real entrance token (TK1.<payload>.<signature>), long enough for a dense QR
SAMPLE_TOKEN = "TK1." + "eyJrIjoidGlja2V0IiwidCI6IlQtMDAwMSIsInMiOiIyMDI2LTExLTIyVDE5OjMwIn0" * 3 + "." + "Q" * 86


def make_ticket(number: int = 1, total: int = 4, token: str = SAMPLE_TOKEN) -> TicketContent:
    return TicketContent(
        ticket_id=f"T-{number:04d}",
        cinema_name="星光影城 万达广场店",
        film_title="流浪地球2",
        film_original_title="The Wandering Earth II",
        hall_name="3号厅 IMAX",
        show_start=datetime(2026, 11, 22, 19, 30),
        row="7",
        seat=str(10 + number),
        price_fen=4550,
        entrance_token=token,
        order_ref="A1B2C3",
        sequence=f"{number}/{total}",
    )


@pytest.fixture
def virtual_printer(tmp_path: Path) -> Iterator[VirtualPrinter]:
    printer = VirtualPrinter(out_dir=tmp_path / "printed")
    printer.start()
    yield printer
    printer.stop()


@pytest.fixture
def ticket_printer(virtual_printer: VirtualPrinter) -> Iterator[EscposTicketPrinter]:
    printer = EscposTicketPrinter(
        PrinterConfig(kind="network", host="127.0.0.1", port=virtual_printer.port, timeout_s=1.0, print_timeout_s=2.0)
    )
    yield printer
    printer.close()
