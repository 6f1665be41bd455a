"""The driver (python-escpos over real TCP) against the virtual printer."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zxingcpp
from escpos.printer import Network
from PIL import Image

from devices.health import HealthLevel
from devices.printer import EscposTicketPrinter, PrinterConfig
from devices.printer_api import UNKNOWN_STATUS, PaperLevel, PrintOutcome
from devices.sim.printer import Fault, VirtualPrinter
from tests.printer.conftest import SAMPLE_TOKEN, make_ticket


def test_ticket_with_chinese_text_prints_and_its_qr_scans(
    virtual_printer: VirtualPrinter, ticket_printer: EscposTicketPrinter
) -> None:
    result = ticket_printer.print_ticket(make_ticket(2))
    assert result.outcome is PrintOutcome.PRINTED
    assert result.status.health().ok
    (job,) = virtual_printer.wait_for_jobs(1)
    assert job.completed and job.cut == "full"
    assert "流浪地球2" in job.texts
    assert "7排 12座" in job.texts
    assert any("第 2/4 张" in line for line in job.texts)
    assert job.qr_payloads == [SAMPLE_TOKEN]
    assert job.png_path is not None
    decoded = zxingcpp.read_barcodes(
        Image.open(job.png_path), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    assert [code.text for code in decoded] == [SAMPLE_TOKEN]


def test_python_escpos_status_calls_see_the_virtual_printer(virtual_printer: VirtualPrinter) -> None:
    printer = Network("127.0.0.1", virtual_printer.port, timeout=2)
    try:
        assert printer.is_online() is True
        assert printer.paper_status() == 2
        virtual_printer.set_paper(PaperLevel.NEAR_END)
        assert printer.paper_status() == 1
        virtual_printer.set_paper(PaperLevel.OUT)
        assert printer.paper_status() == 0
        assert printer.is_online() is False
    finally:
        printer.close()


@pytest.mark.parametrize(
    ("arrange", "paper", "cover_open", "online", "level", "reason"),
    [
        (lambda p: None, PaperLevel.OK, False, True, HealthLevel.OK, ""),
        (lambda p: p.set_paper("out"), PaperLevel.OUT, False, True, HealthLevel.CRITICAL, "paper_out"),
        (lambda p: p.set_paper("near_end"), PaperLevel.NEAR_END, False, True, HealthLevel.WARNING, "paper_near_end"),
        (lambda p: p.set_cover_open(True), PaperLevel.OK, True, True, HealthLevel.CRITICAL, "cover_open"),
        (lambda p: p.set_offline(True), PaperLevel.OK, False, False, HealthLevel.CRITICAL, "printer_offline"),
    ],
    ids=["ready", "paper_out", "near_end", "cover_open", "offline"],
)
def test_status_and_health(
    virtual_printer: VirtualPrinter,
    ticket_printer: EscposTicketPrinter,
    arrange: Callable[[VirtualPrinter], object],
    paper: PaperLevel,
    cover_open: bool,
    online: bool,
    level: HealthLevel,
    reason: str,
) -> None:
    arrange(virtual_printer)
    status = ticket_printer.status()
    assert (status.online, status.paper, status.cover_open) == (online, paper, cover_open)
    assert status.health().level is level and status.health().reason == reason


def test_a_printer_that_cannot_print_gets_nothing(
    virtual_printer: VirtualPrinter, ticket_printer: EscposTicketPrinter
) -> None:
    virtual_printer.set_cover_open(True)
    result = ticket_printer.print_ticket(make_ticket())
    assert result.outcome is PrintOutcome.NOT_SENT and result.detail == "cover_open"
    virtual_printer.set_cover_open(False)
    assert ticket_printer.print_ticket(make_ticket()).outcome is PrintOutcome.PRINTED
    assert [job.completed for job in virtual_printer.wait_for_jobs(1)] == [True]


def test_paper_runs_out_after_ticket_two_of_four(
    virtual_printer: VirtualPrinter, ticket_printer: EscposTicketPrinter
) -> None:
    virtual_printer.fail_after_cuts(2, Fault.PAPER_OUT)
    results = [ticket_printer.print_ticket(make_ticket(n)) for n in (1, 2, 3, 4)]
    assert [r.outcome for r in results] == [
        PrintOutcome.PRINTED,
        PrintOutcome.PRINTED,
        PrintOutcome.NOT_SENT,
        PrintOutcome.NOT_SENT,
    ]
    # The status read after ticket 2 already says the next one cannot start.
    assert results[1].status.paper is PaperLevel.OUT
    assert results[2].detail == "paper_out"
    jobs = virtual_printer.wait_for_jobs(2)
    assert [job.completed for job in jobs] == [True, True]
    assert len(virtual_printer.jobs) == 2


def test_paper_running_out_inside_a_ticket_leaves_it_in_doubt(
    virtual_printer: VirtualPrinter, ticket_printer: EscposTicketPrinter
) -> None:
    virtual_printer.fail_after_cuts(2, Fault.PAPER_OUT, bytes_into_next_job=120)
    results = [ticket_printer.print_ticket(make_ticket(n)) for n in (1, 2, 3, 4)]
    assert [r.outcome for r in results] == [
        PrintOutcome.PRINTED,
        PrintOutcome.PRINTED,
        PrintOutcome.IN_DOUBT,
        PrintOutcome.NOT_SENT,
    ]
    jobs = virtual_printer.wait_for_jobs(3)
    assert [job.completed for job in jobs] == [True, True, False]
    assert jobs[2].fault is Fault.PAPER_OUT
    assert jobs[2].qr_payloads == []  # the paper ran out before the entrance code
    # Paper changed: the printer works again and nothing is printed twice.
    virtual_printer.set_paper(PaperLevel.OK)
    assert ticket_printer.print_ticket(make_ticket(5)).outcome is PrintOutcome.PRINTED


def test_a_slow_printer_leaves_the_ticket_in_doubt(virtual_printer: VirtualPrinter) -> None:
    virtual_printer.set_delay(1.5)
    printer = EscposTicketPrinter(
        PrinterConfig(host="127.0.0.1", port=virtual_printer.port, timeout_s=1.0, print_timeout_s=0.3)
    )
    try:
        result = printer.print_ticket(make_ticket())
        assert result.outcome is PrintOutcome.IN_DOUBT
        assert result.status == UNKNOWN_STATUS
        virtual_printer.set_delay(0)
        # the late answer to the first request must not be taken for the next one
        assert printer.status().health().ok
    finally:
        printer.close()


@pytest.fixture
def silent_printer() -> Iterator[int]:
    """A TCP peer that accepts and reads everything but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.1)
    stop = threading.Event()

    def swallow() -> None:
        conns = []
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conn.settimeout(0.1)
                conns.append(conn)
            except TimeoutError:
                pass
            for conn in conns:
                with contextlib.suppress(TimeoutError, OSError):
                    conn.recv(4096)
        for conn in conns:
            conn.close()

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_a_printer_that_never_answers_is_unknown_and_gets_nothing(silent_printer: int) -> None:
    printer = EscposTicketPrinter(PrinterConfig(host="127.0.0.1", port=silent_printer, timeout_s=0.3))
    try:
        status = printer.status()
        assert status == UNKNOWN_STATUS
        assert status.health().reason == "status_unknown"
        result = printer.print_ticket(make_ticket())
        assert result.outcome is PrintOutcome.NOT_SENT and result.detail == "status_unknown"
    finally:
        printer.close()


def test_nobody_listening_means_not_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    printer = EscposTicketPrinter(PrinterConfig(host="127.0.0.1", port=port, timeout_s=0.3))
    assert printer.status() == UNKNOWN_STATUS
    assert printer.print_ticket(make_ticket()).outcome is PrintOutcome.NOT_SENT


def test_reconnects_after_the_printer_restarts(tmp_path: Path) -> None:
    first = VirtualPrinter(out_dir=tmp_path / "a").start()
    port = first.port
    printer = EscposTicketPrinter(PrinterConfig(host="127.0.0.1", port=port, timeout_s=0.5))
    try:
        assert printer.print_ticket(make_ticket(1)).outcome is PrintOutcome.PRINTED
        first.stop()
        assert printer.status() == UNKNOWN_STATUS
        with VirtualPrinter(port=port, out_dir=tmp_path / "b") as second:
            assert printer.print_ticket(make_ticket(2)).outcome is PrintOutcome.PRINTED
            assert [job.qr_payloads for job in second.wait_for_jobs(1)] == [[SAMPLE_TOKEN]]
    finally:
        printer.close()


def test_a_printer_that_stays_unreachable_is_one_log_line_not_two_per_poll(caplog: pytest.LogCaptureFixture) -> None:
    """Before: every 5-second poll logged two INFO entries, each split over two lines by python-escpos."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    printer = EscposTicketPrinter(PrinterConfig(host="127.0.0.1", port=port, timeout_s=0.3))
    caplog.set_level(logging.INFO, logger="devices.printer")
    for _ in range(3):
        assert printer.status() == UNKNOWN_STATUS
    lines = [r.getMessage() for r in caplog.records if r.name == "devices.printer" and r.levelno >= logging.INFO]
    assert len(lines) == 1, lines
    assert "\n" not in lines[0] and "Connection refused" in lines[0]
