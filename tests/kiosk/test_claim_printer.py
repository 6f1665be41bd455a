"""ClaimPrinter and Outbox (kiosk/claims.py): leave to print before each ticket, reports as each settles.

Unit tests with a scripted central and an in-memory printer; the same rules on the real central
over HTTP are proven in tests/integration/test_lease_runs_out.py.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from backend_client.errors import CentralRefused, CentralUnreachable
from backend_client.wire import ClaimStatus, ErrorCode, PrintPermit, TicketOutcome
from kiosk.claims import CENTRAL_UNREACHABLE, CLAIM_LOST, ClaimPrinter, Outbox, order_reference, ticket_contents
from kiosk.journal import Journal, TicketState
from tests.support.fakes import NOW, FakeCentral, FakePrinter

TIMEZONE = "Asia/Shanghai"


@dataclass
class ScriptedCentral:
    """Answers "about to print" until ``refuse_from`` tickets were allowed; records every call in order."""

    refuse_from: int | None = None
    refusal: Exception = field(default_factory=lambda: CentralRefused(ErrorCode.CLAIM_EXPIRED, "lease gone"))
    report_refusal: Exception | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    proofs: dict[str, str] = field(default_factory=dict)

    def start_printing(self, claim_id: str, ticket_id: str, idempotency_key: str) -> PrintPermit:
        allowed = sum(1 for kind, _ in self.calls if kind == "printing")
        if self.refuse_from is not None and allowed >= self.refuse_from:
            raise self.refusal
        self.calls.append(("printing", ticket_id))
        return PrintPermit(claim_id=claim_id, ticket_id=ticket_id, lease_expires_at=NOW + timedelta(minutes=2))

    def report(self, claim_id: str, outcomes: dict[str, TicketOutcome], idempotency_key: str,
               entrance_tokens: dict[str, str] | None = None) -> ClaimStatus:
        if self.report_refusal is not None:
            raise self.report_refusal
        self.proofs.update(entrance_tokens or {})
        for ticket_id, outcome in outcomes.items():
            self.calls.append((outcome.value, ticket_id))
        return ClaimStatus(claim_id=claim_id, open=True, tickets={})


def claim_four(tmp_path: Path, central: ScriptedCentral) -> tuple[ClaimPrinter, FakePrinter, Journal, str]:
    """A journaled claim of four tickets, ready to print."""
    journal = Journal(tmp_path / "journal.sqlite3")
    printer = FakePrinter()
    granting = FakeCentral()
    claim = granting.claim("order-1", ["t0", "t1", "t2", "t3"], "k", granting.order.claim_grant)
    claim_printer = ClaimPrinter(journal, printer, Outbox(journal, central))
    claim_printer.record(claim, ticket_contents(granting.order, claim, TIMEZONE))
    return claim_printer, printer, journal, claim.claim_id


def test_each_ticket_is_announced_before_it_prints_and_reported_before_the_next(tmp_path: Path) -> None:
    central = ScriptedCentral()
    claim_printer, printer, _, claim_id = claim_four(tmp_path, central)
    result = claim_printer.print_claim(claim_id, lambda: False, lambda _: None)
    assert (result.printed, result.stopped_by_central) == (4, "")
    assert central.calls == [(kind, f"t{i}") for i in range(4) for kind in ("printing", "printed")]
    assert len(printer.printed) == 4


def test_a_refused_announcement_stops_the_claim_and_releases_the_rest(tmp_path: Path) -> None:
    central = ScriptedCentral(refuse_from=2)
    claim_printer, printer, journal, claim_id = claim_four(tmp_path, central)
    result = claim_printer.print_claim(claim_id, lambda: False, lambda _: None)
    assert (result.printed, result.released, result.in_doubt) == (2, 2, 0)
    assert result.stopped_by_central == CLAIM_LOST and not result.stopped_by_person
    assert [ticket.ticket_id for ticket in printer.printed] == ["t0", "t1"]
    assert [t.state for t in journal.tickets(claim_id)] == [TicketState.PRINTED] * 2 + [TicketState.RELEASED] * 2
    assert ("released", "t2") in central.calls and ("released", "t3") in central.calls
    assert journal.open_claim_ids() == []


def test_without_the_central_nothing_more_prints(tmp_path: Path) -> None:
    central = ScriptedCentral(refuse_from=1, refusal=CentralUnreachable("connection refused"))
    claim_printer, printer, journal, claim_id = claim_four(tmp_path, central)
    result = claim_printer.print_claim(claim_id, lambda: False, lambda _: None)
    assert (result.printed, result.released, result.stopped_by_central) == (1, 3, CENTRAL_UNREACHABLE)
    assert [ticket.ticket_id for ticket in printer.printed] == ["t0"]
    assert journal.open_claim_ids() == []


@pytest.mark.parametrize("outcome", [TicketOutcome.PRINTED, TicketOutcome.IN_DOUBT])
def test_a_report_of_a_ticket_on_paper_for_an_unknown_claim_is_kept_for_staff(
    tmp_path: Path, outcome: TicketOutcome, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    central = ScriptedCentral(report_refusal=CentralRefused(ErrorCode.CLAIM_NOT_FOUND, "no such claim"))
    outbox = Outbox(journal, central)
    outbox.report("clm-1", "t0", outcome)
    with caplog.at_level(logging.WARNING, logger="kiosk.claims"):
        assert outbox.flush() == 0
        assert outbox.flush() == 0  # not retried: once refused for good, it waits for staff
    assert outbox.pending_count() == 0
    held = outbox.undeliverable()
    assert [(item.payload["ticket_id"], item.payload["outcome"]) for item in held] == [("t0", outcome.value)]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert "report_undeliverable" in [event for _, event, _ in journal.audit_entries()]


def test_a_refused_release_report_is_only_audited(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    outbox = Outbox(journal, ScriptedCentral(report_refusal=CentralRefused(ErrorCode.CLAIM_NOT_FOUND, "gone")))
    outbox.report("clm-1", "t0", TicketOutcome.RELEASED)
    outbox.flush()
    assert outbox.pending_count() == 0 and outbox.undeliverable() == []
    assert "report_rejected" in [event for _, event, _ in journal.audit_entries()]


def test_a_journal_written_before_held_reports_existed_opens_and_keeps_its_outbox(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE outbox (item_id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, "
                   "idempotency_key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL, created_at REAL NOT NULL, "
                   "attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '', delivered_at REAL)")
        db.execute("INSERT INTO outbox (kind, idempotency_key, payload, created_at) VALUES "
                   "('claim_report', 'c:t:printed', '{\"claim_id\": \"c\", \"ticket_id\": \"t\", "
                   "\"outcome\": \"printed\"}', 0)")
    journal = Journal(path)
    assert [item.idempotency_key for item in journal.pending()] == ["c:t:printed"]
    journal.hold_undeliverable(journal.pending()[0].item_id, "refused")
    assert journal.pending() == [] and len(journal.held()) == 1


def test_reports_of_tickets_on_paper_carry_their_entrance_token_as_proof(tmp_path: Path) -> None:
    central = ScriptedCentral(refuse_from=1)
    claim_printer, _, journal, claim_id = claim_four(tmp_path, central)
    claim_printer.print_claim(claim_id, lambda: False, lambda _: None)
    tokens = {t.ticket_id: t.content["entrance_token"] for t in journal.tickets(claim_id)}
    assert central.proofs == {"t0": tokens["t0"]}  # printed: proof sent; released ones: none needed


@pytest.mark.parametrize(("order_id", "printed"), [("order-000123", "000123"), ("ord-1-GROUP", "GROUP"),
                                                   ("o--_/.X9", "X9"), ("abc", "ABC")])
def test_the_printed_order_reference_never_starts_with_a_separator(order_id: str, printed: str) -> None:
    assert order_reference(order_id) == printed


def test_tickets_carry_the_order_reference_without_a_leading_dash() -> None:
    central = FakeCentral()
    order = central.order.model_copy(update={"order_id": "group-17-GROUP"})
    claim = central.claim(order.order_id, ["t0", "t1"], "k", order.claim_grant)
    assert {content.order_ref for content in ticket_contents(order, claim, TIMEZONE)} == {"GROUP"}
