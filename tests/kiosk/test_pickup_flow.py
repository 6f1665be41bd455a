"""The pickup state machine on its own: in-memory central and printer, a real journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend_client.errors import CentralRefused
from backend_client.tokens import KIND_TICKET, TokenError
from backend_client.wire import ErrorCode, TicketOutcome
from devices.camera_api import DecodedCode
from devices.health import Health, HealthLevel
from devices.printer_api import PrintResult, TicketContent
from kiosk.claims import ClaimPrinter, Outbox, ticket_contents
from kiosk.config import PickupSection
from kiosk.flows.pickup import PickupFlow, Step
from kiosk.flows.runtime import InlineWorker, Message
from kiosk.journal import Journal, TicketState
from tests.support.clocks import ManualClock
from tests.support.fakes import (
    GOOD_STATUS,
    NOW,
    PAPER_OUT,
    SERIAL,
    VERIFICATION,
    FakeCentral,
    FakePrinter,
    FakeVerifier,
    make_order,
)


class Kit:
    def __init__(self, tmp_path: Path, **settings: float) -> None:
        self.central = FakeCentral()
        self.verifier = FakeVerifier()
        self.printer = FakePrinter()
        self.journal = Journal(tmp_path / "journal.sqlite3")
        self.outbox = Outbox(self.journal, self.central)
        self.clock = ManualClock()
        self.flow = PickupFlow(
            client=self.central,
            verifier=self.verifier,
            printer=self.printer,
            claim_printer=ClaimPrinter(self.journal, self.printer, self.outbox),
            worker=InlineWorker(),
            settings=PickupSection(**settings),  # type: ignore[arg-type]
            cinema_id=lambda: "cinema-demo",
            timezone="Asia/Shanghai",
            now=self.clock,
            wall_now=lambda: NOW,
        )

    def type_code(self, serial: str = SERIAL, verification: str = VERIFICATION) -> None:
        self.flow.start_code_entry()
        for digit in serial + verification:
            self.flow.press_digit(digit)
        self.flow.submit_code()


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)


def test_code_pickup_prints_every_ticket_once_and_reports_each(kit: Kit) -> None:
    kit.type_code()
    assert kit.flow.state.step is Step.REVIEW
    assert kit.flow.state.can_confirm
    kit.flow.confirm()
    state = kit.flow.state
    assert state.step is Step.DONE
    assert (state.printed, state.owed, state.in_doubt) == (4, 0, 0)
    assert [t.ticket_id for t in kit.printer.printed] == ["t0", "t1", "t2", "t3"]
    assert [t.sequence for t in kit.printer.printed] == ["1/4", "2/4", "3/4", "4/4"]
    reported = {tid: outcome for _, outcomes, _ in kit.central.reports for tid, outcome in outcomes.items()}
    assert reported == {f"t{i}": TicketOutcome.PRINTED for i in range(4)}
    assert kit.journal.open_claim_ids() == []


def test_partial_pickup_leaves_the_rest_collectable(kit: Kit) -> None:
    kit.type_code()
    kit.flow.toggle_ticket("t2")
    kit.flow.toggle_ticket("t3")
    kit.flow.confirm()
    assert kit.central.claims[0][1] == ["t0", "t1"]
    assert (kit.flow.state.printed, kit.flow.state.owed) == (2, 2)


def test_paper_out_after_two_of_four_owes_two_and_prints_nothing_twice(kit: Kit) -> None:
    kit.printer.paper_after = 2
    kit.type_code()
    kit.flow.confirm()
    state = kit.flow.state
    assert state.step is Step.DONE
    assert (state.printed, state.owed) == (2, 2)
    assert state.result_note == Message.of("printer.paper_out")
    reported = {tid: outcome for _, outcomes, _ in kit.central.reports for tid, outcome in outcomes.items()}
    assert reported == {"t0": TicketOutcome.PRINTED, "t1": TicketOutcome.PRINTED,
                        "t2": TicketOutcome.RELEASED, "t3": TicketOutcome.RELEASED}
    assert len(kit.printer.printed) == 2


def test_printer_problem_blocks_confirm_before_anything_is_claimed(kit: Kit) -> None:
    kit.printer.status_now = PAPER_OUT
    kit.type_code()
    assert kit.flow.state.step is Step.REVIEW
    assert kit.flow.state.printer_problem == Message.of("printer.paper_out")
    kit.flow.confirm()
    assert kit.flow.state.step is Step.REVIEW
    assert kit.central.claims == []


def test_cancel_while_printing_stops_after_the_current_ticket(kit: Kit) -> None:
    kit.type_code()
    original = kit.printer.print_ticket

    def print_then_cancel(ticket: TicketContent) -> PrintResult:
        result = original(ticket)
        if len(kit.printer.printed) == 1:
            kit.flow.cancel()
        return result

    kit.printer.print_ticket = print_then_cancel  # type: ignore[method-assign]
    kit.flow.confirm()
    assert kit.flow.state.step is Step.DONE
    assert (kit.flow.state.printed, kit.flow.state.owed) == (1, 3)
    assert kit.flow.state.result_note == Message.of("done.stopped")


@pytest.mark.parametrize(
    "code, key",
    [
        (ErrorCode.ALREADY_COLLECTED, "refusal.already_collected"),
        (ErrorCode.REFUNDED, "refusal.refunded"),
        (ErrorCode.REVOKED, "refusal.revoked"),
        (ErrorCode.SHOW_OVER, "refusal.show_over"),
        (ErrorCode.OUTSIDE_WINDOW, "refusal.outside_window"),
        (ErrorCode.OTHER_CINEMA, "refusal.other_cinema"),
        (ErrorCode.BEING_COLLECTED, "refusal.being_collected"),
    ],
)
def test_central_refusals_reach_the_person_with_a_hint(kit: Kit, code: ErrorCode, key: str) -> None:
    kit.central.refuse_with = CentralRefused(code, "no", {"opens_at": "2026-11-23T08:00:00+00:00"})
    kit.type_code()
    assert kit.flow.state.step is Step.REFUSED
    assert kit.flow.state.refusal is not None and kit.flow.state.refusal.key == key
    assert kit.flow.state.refusal_hint is not None


def test_central_unreachable_refuses_clearly(kit: Kit) -> None:
    kit.central.unreachable = True
    kit.type_code()
    assert kit.flow.state.refusal == Message.of("refusal.offline")


def test_wrong_codes_slow_the_kiosk_down_with_a_countdown(tmp_path: Path) -> None:
    kit = Kit(tmp_path, wrong_code_free_tries=1, wrong_code_delay_s=4.0)
    kit.type_code(verification="000000")
    assert kit.flow.state.refusal == Message.of("refusal.unknown_code")
    assert kit.flow.state.locked_seconds == 0
    kit.flow.back()
    kit.type_code(verification="000001")
    kit.flow.back()
    assert kit.flow.state.step is Step.ENTER_CODE
    assert kit.flow.state.locked_seconds == 4
    for digit in "000002":
        kit.flow.press_digit(digit)
    kit.flow.submit_code()
    assert kit.flow.state.step is Step.ENTER_CODE  # refused locally while counting down
    kit.clock.now += 4.5
    kit.flow.tick()
    assert kit.flow.state.locked_seconds == 0


def test_a_serial_lockout_at_the_central_does_not_lock_the_keypad_for_anyone(kit: Kit) -> None:
    """Issue 6, section 2: one order's locked serial (15 minutes at the central) is that serial's only."""
    kit.central.refuse_with = CentralRefused(ErrorCode.LOCKED_OUT, "locked", {"retry_after_s": 873, "scope": "serial"})
    kit.type_code()
    state = kit.flow.state
    assert state.refusal == Message.of("refusal.locked_out", retry_after_min=15)  # minutes, not 873 s
    assert state.refusal_hint == Message.of("hint.code_locked")
    kit.flow.back()
    assert kit.flow.state.step is Step.ENTER_CODE and kit.flow.state.locked_seconds == 0
    kit.central.refuse_with = None  # another order's valid code, typed at once
    for digit in VERIFICATION:
        kit.flow.press_digit(digit)
    kit.flow.submit_code()
    assert kit.flow.state.step is Step.REVIEW


def test_a_central_kiosk_delay_follows_the_kiosks_config_cap(tmp_path: Path) -> None:
    kit = Kit(tmp_path, wrong_code_delay_max_s=120.0)
    kit.central.refuse_with = CentralRefused(ErrorCode.LOCKED_OUT, "slow", {"retry_after_s": 873, "scope": "kiosk"})
    kit.type_code()
    kit.flow.back()
    assert kit.flow.state.locked_seconds == 120


def test_the_kiosks_delay_belongs_to_the_session_that_earned_it(tmp_path: Path) -> None:
    kit = Kit(tmp_path, wrong_code_free_tries=1, wrong_code_delay_s=60.0)
    kit.type_code(verification="000000")
    kit.flow.back()
    kit.type_code(verification="000001")
    kit.flow.back()
    assert kit.flow.state.locked_seconds == 60
    kit.flow.cancel()  # this person gives up; the next one comes
    kit.flow.start_code_entry()
    assert kit.flow.state.locked_seconds == 0
    kit.type_code()
    assert kit.flow.state.step is Step.REVIEW


def test_the_kiosks_delay_is_gone_after_a_timeout(tmp_path: Path) -> None:
    kit = Kit(tmp_path, wrong_code_free_tries=0, wrong_code_delay_s=600.0, wrong_code_delay_max_s=600.0,
              idle_timeout_s=60.0)
    kit.type_code(verification="000000")
    kit.clock.now += 61  # nobody touches the refused screen
    kit.flow.tick()
    assert kit.flow.state.step is Step.IDLE
    kit.flow.start_code_entry()
    assert kit.flow.state.locked_seconds == 0


def test_the_refusal_that_starts_the_keypads_pause_does_not_say_type_it_again(tmp_path: Path) -> None:
    kit = Kit(tmp_path, wrong_code_free_tries=1, wrong_code_delay_s=90.0)
    kit.type_code(verification="000000")
    assert kit.flow.state.refusal_hint == Message.of("hint.check_code")  # free try: type it again
    kit.flow.back()
    kit.type_code(verification="000001")
    assert kit.flow.state.refusal_hint == Message.of("hint.check_code_after_wait", minutes=2, count=2)


def test_entrance_ticket_qr_is_recognised_without_calling_the_central(kit: Kit) -> None:
    kit.verifier.kind = KIND_TICKET
    kit.central.unreachable = True
    kit.flow.qr_scanned(DecodedCode(text="TK1.x.y", raw=b"TK1.x.y", decoder="zxing"))
    assert kit.flow.state.refusal == Message.of("refusal.ticket_token")


@pytest.mark.parametrize("payload", ["https://example.com/pay?id=1", "", "\x00\xff" * 10, "9" * 5000])
def test_foreign_qr_codes_are_refused_as_not_ours(kit: Kit, payload: str) -> None:
    kit.flow.qr_scanned(DecodedCode(text=payload, raw=payload.encode("utf-8", "replace"), decoder="zxing"))
    assert kit.flow.state.refusal == Message.of("refusal.not_our_code")


def test_forged_qr_token_is_refused_before_any_call(kit: Kit) -> None:
    kit.verifier.error = TokenError("bad_signature", "forged")
    kit.central.unreachable = True
    kit.flow.qr_scanned(DecodedCode(text="TK1.a.b", raw=b"TK1.a.b", decoder="zxing"))
    assert kit.flow.state.refusal == Message.of("refusal.invalid_token", reason="bad_signature")


def test_qr_pickup_goes_to_review(kit: Kit) -> None:
    kit.flow.qr_scanned(DecodedCode(text="TK1.a.b", raw=b"TK1.a.b", decoder="zxing"))
    assert kit.flow.state.step is Step.REVIEW
    assert kit.flow.state.source == "qr"


def test_order_with_everything_collected_is_refused(kit: Kit) -> None:
    kit.central.order = make_order(tickets=2, printed=2)
    kit.type_code()
    assert kit.flow.state.refusal is not None and kit.flow.state.refusal.key == "refusal.already_collected"


def test_still_there_prompt_then_timeout_back_to_idle(tmp_path: Path) -> None:
    kit = Kit(tmp_path, idle_timeout_s=60.0, still_there_s=15.0)
    kit.flow.start_code_entry()
    kit.clock.now += 46
    kit.flow.tick()
    assert kit.flow.state.still_there
    kit.flow.keep_going()
    assert not kit.flow.state.still_there
    kit.clock.now += 61
    kit.flow.tick()
    assert kit.flow.state.step is Step.IDLE


def test_back_and_cancel_from_every_step(kit: Kit) -> None:
    kit.flow.start_code_entry()
    kit.flow.back()
    assert kit.flow.state.step is Step.IDLE
    kit.type_code()
    kit.flow.back()
    assert kit.flow.state.step is Step.ENTER_CODE
    assert kit.flow.state.serial == SERIAL and kit.flow.state.verification == ""
    kit.flow.cancel()
    assert kit.flow.state.step is Step.IDLE
    assert kit.flow.state.serial == ""


def test_reports_wait_in_the_outbox_while_the_central_is_down(kit: Kit) -> None:
    kit.type_code()
    kit.central.reports_unreachable = True
    kit.flow.confirm()
    assert kit.flow.state.printed == 4
    assert kit.outbox.pending_count() == 4
    kit.central.reports_unreachable = False
    assert kit.outbox.flush() == 4
    assert kit.outbox.flush() == 0
    assert len(kit.central.reports) == 4


def test_recovery_after_a_crash_never_prints_twice(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    claim = kit.central.claim("order-1", ["t0", "t1", "t2"], "k", kit.central.order.claim_grant)
    printer = ClaimPrinter(kit.journal, kit.printer, kit.outbox)
    printer.record(claim, ticket_contents(kit.central.order, claim, "Asia/Shanghai"))
    # Crash image: t0 printed and confirmed, t1 sent but never confirmed, t2 never sent.
    kit.journal.set_ticket_state(claim.claim_id, "t0", TicketState.PRINTED)
    kit.journal.set_ticket_state(claim.claim_id, "t1", TicketState.SENT)
    report = printer.recover()
    assert (report.printed, report.released, report.in_doubt) == (1, 1, 1)
    assert kit.printer.printed == []
    assert [t.ticket_id for t in printer.in_doubt()] == ["t1"]
    reported = {tid: outcome for _, outcomes, _ in kit.central.reports for tid, outcome in outcomes.items()}
    assert reported == {"t0": TicketOutcome.PRINTED, "t1": TicketOutcome.IN_DOUBT, "t2": TicketOutcome.RELEASED}
    assert printer.recover().claims == 0  # resolved once


def test_tickets_are_numbered_within_the_order_not_within_the_print_run(kit: Kit) -> None:
    """Before: two tickets of a four-ticket order, printed later, both read "1/2"-style numbers of the run."""
    kit.central.order = make_order(tickets=4, printed=2)
    kit.type_code()
    kit.flow.confirm()
    assert [ticket.sequence for ticket in kit.printer.printed] == ["3/4", "4/4"]


def test_already_collected_at_this_very_kiosk_says_so(tmp_path: Path) -> None:
    kit = Kit(tmp_path)
    kit.flow = PickupFlow(client=kit.central, verifier=kit.verifier, printer=kit.printer,
                          claim_printer=ClaimPrinter(kit.journal, kit.printer, kit.outbox), worker=InlineWorker(),
                          settings=PickupSection(), cinema_id=lambda: "cinema-demo", timezone="Asia/Shanghai",
                          now=kit.clock, wall_now=lambda: NOW, kiosk_name="Lobby-01-03")
    kit.central.refuse_with = CentralRefused(ErrorCode.ALREADY_COLLECTED, "collected",
                                             {"collected_at": "2026-11-21T12:05:00+00:00", "kiosk": "Lobby-**-03"})
    kit.type_code()
    assert kit.flow.state.refusal == Message.of("refusal.already_collected_here",
                                                collected_at="2026-11-21T12:05:00+00:00")
    kit.central.refuse_with = CentralRefused(ErrorCode.ALREADY_COLLECTED, "collected", {"kiosk": "Foyer-**-01"})
    kit.flow.back()
    kit.type_code()
    assert kit.flow.state.refusal == Message.of("refusal.already_collected", kiosk="Foyer-**-01")


def test_the_review_asks_the_printer_again_when_its_health_changes(kit: Kit) -> None:
    kit.printer.status_now = PAPER_OUT
    kit.type_code()
    assert not kit.flow.state.can_confirm
    kit.printer.status_now = GOOD_STATUS
    kit.flow.printer_health_changed(Health(HealthLevel.OK, ""))
    assert kit.flow.state.can_confirm and kit.flow.state.printer_problem is None
