"""Status policy for connections that cannot report status, and status decoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.printer import EscposTicketPrinter, PrinterConfig, decode_status
from devices.printer_api import UNKNOWN_STATUS, PaperLevel, PrintOutcome
from devices.ticket_layout import build_ticket_job
from tests.printer.conftest import make_ticket


@pytest.mark.parametrize(("policy", "outcome", "detail", "written"), [
    ("trust", PrintOutcome.PRINTED, "trusted_without_status", build_ticket_job(make_ticket())),
    ("require", PrintOutcome.NOT_SENT, "status_unknown", b""),
], ids=["trust_writes_the_ticket", "require_refuses"])
def test_file_printer_follows_the_status_policy(
    tmp_path: Path, policy: str, outcome: PrintOutcome, detail: str, written: bytes
) -> None:
    """A file cannot report status: only the policy decides whether the ticket goes out."""
    out = tmp_path / "printer.bin"
    printer = EscposTicketPrinter(PrinterConfig(kind="file", file_path=str(out), status_policy=policy))
    result = printer.print_ticket(make_ticket())
    printer.close()
    assert (result.outcome, result.detail) == (outcome, detail)
    assert result.status == UNKNOWN_STATUS
    assert (out.read_bytes() if out.exists() else b"") == written


def test_unopenable_file_is_not_sent(tmp_path: Path) -> None:
    printer = EscposTicketPrinter(
        PrinterConfig(kind="file", file_path=str(tmp_path / "missing" / "x.bin"), status_policy="trust")
    )
    assert printer.print_ticket(make_ticket()).outcome is PrintOutcome.NOT_SENT


@pytest.mark.parametrize(("field", "value"), [("kind", "bluetooth"), ("status_policy", "maybe"), ("timeout_s", 0.0)])
def test_bad_config_is_refused_clearly(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field.split("_")[0]):
        PrinterConfig(**{field: value})  # type: ignore[arg-type]


def test_decode_status_names_the_cause() -> None:
    assert decode_status(0x12, 0x12, 0x12) == decode_status(0x12, 0x12, 0x12)
    ready = decode_status(0x12, 0x12, 0x12)
    assert (ready.online, ready.paper, ready.cover_open) == (True, PaperLevel.OK, False)
    paper_out = decode_status(0x1A, 0x32, 0x7E)
    assert (paper_out.online, paper_out.paper) == (True, PaperLevel.OUT)
    error = decode_status(0x1A, 0x52, 0x12)
    assert error.online is False and error.health().reason == "printer_offline"


def test_layout_avoids_yen_and_switches_to_chinese_mode() -> None:
    job = build_ticket_job(make_ticket())
    assert job.startswith(b"\x1b@\x1c&")
    assert "元".encode("gb18030") in job
    assert "¥".encode("gb18030") not in job
    assert b"\x1d(k" in job and job.endswith(b"\x1dV\x00")
