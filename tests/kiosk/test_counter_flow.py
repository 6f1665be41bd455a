"""The counter's flow with the real card and PSAM emulators in-process and a small fake central.

The card side is the real card operating system and PSAM (devices.sim, test master keys made here);
only the central is a stand-in (tests/support/fakes.FakeCounterCentral, which is also the issuer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend_client.errors import CentralRefused
from backend_client.wire import CardStatus, ErrorCode, ShowingOffer, StaffRole
from devices.card_api import ApduResponse, CardEvent, CardEventKind, CardRemoved
from devices.sim.psam import PsamOS, psam_image
from devices.sim.yearcard_os import ImageStore, YearCardOS, personalised_image
from devices.yearcard import crypto
from devices.yearcard.terminal import YearCardTerminal
from kiosk.claims import ClaimPrinter, Outbox
from kiosk.flows.counter import Action, CounterFlow, Step
from kiosk.flows.runtime import InlineWorker
from kiosk.journal import CardDebitState, Journal
from tests.support.clocks import ManualClock
from tests.support.fakes import FakeCounterCentral, FakePrinter

NUMBER = "8800000000000042"
MADE = "8800000000000077"
TERMINAL_ID = bytes.fromhex("310100010007")
TODAY = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 11, 30, 14, 5, 9)
INSERTED = CardEvent(CardEventKind.INSERTED, "Virtual PCD 00 00", b"\x3b")
REMOVED = CardEvent(CardEventKind.REMOVED, "Virtual PCD 00 00", b"")
STAFF = {"S1001": ("sales-pw", StaffRole.SALES), "M1001": ("manager-pw", StaffRole.MANAGER),
         "Q1001": ("query-pw", StaffRole.CUSTOMER_QUERY)}


class Slot:
    """The card reader's slot: whichever card image is in it; ``pull_after`` loses one answer."""

    def __init__(self) -> None:
        self.card: YearCardOS | None = None
        self.pull_after: int | None = None  # an INS byte: that command runs, its answer is lost
        self.fail_ins: int | None = None  # an INS byte: the card is gone before that command
        self.lose_answer_ins: int | None = None  # an INS byte: that command runs, its answer is lost, the card stays

    def __call__(self, apdu: bytes) -> ApduResponse:
        if self.card is None:
            raise CardRemoved("no card (test)")
        ins = apdu[1]
        if ins == self.fail_ins:
            self.fail_ins = None
            self.card = None
            raise CardRemoved("pulled before the command (test)")
        answer = self.card(apdu)
        if ins == self.lose_answer_ins:
            self.lose_answer_ins = None
            raise CardRemoved("answer lost (test)")
        if ins == self.pull_after:
            self.pull_after = None
            self.card = None
            raise CardRemoved("pulled (test)")
        return ApduResponse.from_bytes(answer)


@dataclass
class Counter:
    flow: CounterFlow
    central: FakeCounterCentral
    slot: Slot
    clock: ManualClock
    cards: dict[str, Path]
    master: crypto.MasterKeys
    journal: Journal

    def insert(self, number: str) -> None:
        self.slot.card = YearCardOS(ImageStore(self.cards[number]))
        self.flow.handle_card(INSERTED)

    def balance(self, number: str) -> int:
        return YearCardOS(ImageStore(self.cards[number])).state.balance

    def login(self, staff_no: str = "S1001") -> None:
        login = self.flow.login
        login.type(staff_no)
        login.next_field()
        login.type(STAFF[staff_no][0])
        login.next_field()
        assert self.flow.step is Step.WAITING, login.state


def build_counter(tmp_path: Path, printer: bool = False, **kwargs: object) -> Counter:
    """``printer``: the counter has a ticket printer (a fake one behind the real claim printing path)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    master = crypto.MasterKeys.generate()
    cards = {
        NUMBER: personalised_image(tmp_path / "card.json", master, NUMBER, card_type=3, visits=10, made=TODAY,
                                   activated=TODAY).path,
        MADE: personalised_image(tmp_path / "made.json", master, MADE, card_type=3, visits=10, made=TODAY).path,
    }
    psam = PsamOS(psam_image(tmp_path / "psam.json", master, TERMINAL_ID))
    central = FakeCounterCentral(master=master, staff=dict(STAFF), today=TODAY)
    for number, path in cards.items():
        reading = YearCardTerminal(_channel(YearCardOS(ImageStore(path))), _channel(psam)).read()
        central.publics[number] = reading.public
        central.visits[number] = reading.balance
        central.statuses[number] = CardStatus.ACTIVE if reading.public.sold else CardStatus.MADE
    slot = Slot()
    clock = ManualClock()
    journal = Journal(tmp_path / "journal.sqlite3")
    terminal = YearCardTerminal(slot, _channel(psam), clock=lambda: NOW)
    claims = ClaimPrinter(journal, FakePrinter(), Outbox(journal, central)) if printer else None  # type: ignore[arg-type]
    flow = CounterFlow(central, terminal, InlineWorker(), now=clock, idle_logout_s=300, journal=journal,
                       claim_printer=claims, **kwargs)  # type: ignore[arg-type]
    return Counter(flow, central, slot, clock, cards, master, journal)


def _sale_byte(counter: Counter) -> int:
    """The sale status byte of the made card's public file, on its image."""
    public = YearCardOS(ImageStore(counter.cards[MADE])).state.public
    assert public is not None
    return public[15]


def _channel(handler: Callable[[bytes], bytes]) -> Callable[[bytes], ApduResponse]:
    return lambda apdu: ApduResponse.from_bytes(handler(apdu))


@pytest.fixture
def counter(tmp_path: Path) -> Counter:
    return build_counter(tmp_path)


def test_nothing_shows_and_no_card_is_read_before_a_staff_login(counter: Counter) -> None:
    assert counter.flow.step is Step.LOGIN
    counter.slot.card = YearCardOS(ImageStore(counter.cards[NUMBER]))
    assert counter.flow.handle_card(INSERTED) is False
    assert counter.flow.step is Step.LOGIN and counter.flow.state.card is None
    assert counter.central.calls == []


def test_a_tap_shows_the_card_with_the_staff_session_on_the_call(counter: Counter) -> None:
    counter.login("S1001")
    counter.insert(NUMBER)
    state = counter.flow.state
    assert state.step is Step.CARD and state.card is not None
    assert state.card.masked_number == "8800********0042"
    assert (state.card.view.visits_left, state.card.view.expires_on) == (10, TODAY + dt.timedelta(days=365))
    assert state.actions == {Action.CONCESSIONS, Action.RENEW}  # sales: no blacklist button
    assert counter.central.calls[-1] == ("card_tap", counter.flow.login.session.token)  # type: ignore[union-attr]


def test_the_manager_sees_the_blacklist_and_a_query_role_sees_no_action(tmp_path: Path) -> None:
    manager = build_counter(tmp_path / "m")
    manager.login("M1001")
    manager.insert(NUMBER)
    assert Action.BLACKLIST in manager.flow.state.actions
    query = build_counter(tmp_path / "q")
    query.login("Q1001")
    query.insert(NUMBER)
    assert query.flow.state.step is Step.CARD and query.flow.state.actions == frozenset()
    query.flow.start_concessions()  # no button, and no way round it
    assert query.flow.step is Step.CARD


def test_a_concession_deduction_is_held_debited_with_kind_07_and_confirmed(counter: Counter) -> None:
    counter.login()
    counter.insert(NUMBER)
    counter.flow.start_concessions()
    counter.flow.set_visits(99)
    assert counter.flow.state.visits == 10  # never more than the card holds
    counter.flow.set_visits(3)
    counter.flow.confirm_concessions()
    assert counter.balance(NUMBER) == 7
    state = counter.flow.state
    assert state.step is Step.CARD and state.result is not None and state.result.key == "counter.result.concessions"
    assert state.card is not None and state.card.view.visits_left == 7
    names = [name for name, _ in counter.central.calls]
    assert names[-4:] == ["hold_redemption", "announce_debit", "confirm_redemption", "card_tap"]
    token = counter.flow.login.session.token  # type: ignore[union-attr]
    assert {t for _, t in counter.central.calls} == {None, token}  # every call but the login carries it
    record = YearCardOS(ImageStore(counter.cards[NUMBER])).state
    assert record.balance == 7
    assert counter.central.redemptions["r1"].state.value == "confirmed"
    debit = counter.journal.card_debit("r1")
    assert debit is not None and debit.state is CardDebitState.CONFIRMED
    assert [t["visits"] for t in counter.journal.card_transactions(NUMBER)] == [3]  # for the counter's queries


def test_a_card_pulled_during_the_debit_is_asked_back_and_the_debit_completed(counter: Counter) -> None:
    counter.login()
    counter.insert(NUMBER)
    counter.flow.start_concessions()
    counter.flow.set_visits(2)
    counter.slot.pull_after = 0x54  # DEBIT FOR PURCHASE runs on the card, its answer is lost
    counter.flow.confirm_concessions()
    assert counter.flow.step is Step.CARD_BACK
    debit = counter.journal.card_debit("r1")  # journaled before the card could change
    assert debit is not None and debit.state is CardDebitState.PENDING
    counter.insert(NUMBER)  # put back: GET TRANSACTION PROVE finds the debit
    assert counter.balance(NUMBER) == 8  # once, not twice
    assert counter.central.redemptions["r1"].state.value == "confirmed"
    assert counter.flow.state.result is not None and counter.flow.state.result.key == "counter.result.concessions"


def test_a_debit_whose_answer_is_lost_with_the_card_still_there_is_settled_at_once(counter: Counter) -> None:
    counter.login()
    counter.insert(NUMBER)
    counter.flow.start_concessions()
    counter.slot.lose_answer_ins = 0x54
    counter.flow.confirm_concessions()
    state = counter.flow.state
    assert state.step is Step.CARD and state.result is not None and state.result.key == "counter.result.concessions"
    assert counter.balance(NUMBER) == 9 and counter.central.redemptions["r1"].state.value == "confirmed"


def test_a_card_pulled_before_the_debit_reached_it_is_recovered_as_not_debited(counter: Counter) -> None:
    counter.login()
    counter.insert(NUMBER)
    counter.flow.start_concessions()
    counter.slot.fail_ins = 0x54
    counter.flow.confirm_concessions()
    assert counter.flow.step is Step.CARD_BACK
    counter.insert(NUMBER)
    assert counter.balance(NUMBER) == 10
    assert counter.central.redemptions["r1"].state.value == "cancelled"
    debit = counter.journal.card_debit("r1")
    assert debit is not None and debit.state is CardDebitState.NOT_DEBITED and debit.cancelled
    assert counter.flow.state.problem is not None and counter.flow.state.problem.key == "counter.result.not_debited"


def test_another_card_put_back_after_a_tear_is_refused_and_the_right_one_still_awaited(counter: Counter) -> None:
    counter.login()
    counter.insert(NUMBER)
    counter.flow.start_concessions()
    counter.slot.pull_after = 0x54
    counter.flow.confirm_concessions()
    counter.insert(MADE)
    assert counter.flow.step is Step.CARD_BACK
    assert counter.flow.state.problem is not None and counter.flow.state.problem.key == "counter.card_back.wrong_card"
    counter.insert(NUMBER)
    assert counter.balance(NUMBER) == 9 and counter.central.redemptions["r1"].state.value == "confirmed"


def test_a_debit_refused_by_the_central_before_the_card_changes_cancels_the_hold(counter: Counter) -> None:
    counter.login()
    counter.insert(NUMBER)
    counter.central.refuse["announce_debit"] = CentralRefused(ErrorCode.REDEMPTION_EXPIRED, "too late")
    counter.flow.start_concessions()
    counter.flow.confirm_concessions()
    assert counter.balance(NUMBER) == 10
    assert counter.central.redemptions["r1"].state.value == "cancelled"
    state = counter.flow.state
    assert state.step is Step.CARD and state.problem is not None and state.problem.key == "refusal.redemption_expired"


def test_a_confirmation_the_central_never_gets_says_the_card_was_debited(counter: Counter) -> None:
    counter.login()
    counter.insert(NUMBER)
    counter.central.unreachable.add("confirm_redemption")
    counter.flow.start_concessions()
    counter.flow.confirm_concessions()
    assert counter.balance(NUMBER) == 9
    state = counter.flow.state
    assert state.result is not None and state.result.key == "counter.result.concessions_card_only"
    debit = counter.journal.card_debit("r1")  # the proof kept for the central (and its next tap settles it)
    assert debit is not None and debit.state is CardDebitState.PROVEN


def test_a_made_card_is_sold_written_and_read_back(counter: Counter) -> None:
    counter.login()
    counter.insert(MADE)
    assert counter.flow.state.actions == {Action.SELL}
    counter.flow.sell()
    state = counter.flow.state
    assert state.step is Step.CARD and state.result is not None and state.result.key == "counter.result.sold"
    assert _sale_byte(counter) == 1  # the sale status byte on the card itself
    assert state.card is not None and state.card.card_sold and state.card.card_expires == TODAY + dt.timedelta(365)
    assert Action.CONCESSIONS in state.actions


def test_a_sale_whose_write_fails_leaves_the_card_unsold_and_says_so_then_writes_at_the_next_tap(
    counter: Counter,
) -> None:
    counter.login()
    counter.insert(MADE)
    counter.slot.fail_ins = 0xD6  # the card leaves before the UPDATE BINARY
    counter.flow.sell()
    state = counter.flow.state
    assert state.step is Step.CARD and state.problem is not None
    assert state.problem.key == "counter.problem.sale_not_written"
    assert _sale_byte(counter) == 0  # as it was
    counter.insert(MADE)  # the ledger says sold, the card does not: offered again
    state = counter.flow.state
    assert state.card is not None and state.card.unwritten_sale and state.actions == {Action.SELL}
    assert [n.key for n in state.notes] == ["counter.note.sale_not_written"]
    counter.flow.sell()
    assert _sale_byte(counter) == 1


def test_a_renewal_writes_the_new_expiry(counter: Counter) -> None:
    counter.login()
    counter.insert(NUMBER)
    counter.flow.renew()
    state = counter.flow.state
    assert state.result is not None and state.result.key == "counter.result.renewed"
    assert state.card is not None and state.card.card_expires == TODAY + dt.timedelta(days=730)


def test_recycle_and_blacklist_by_role_and_forbidden_is_shown_if_it_happens(tmp_path: Path) -> None:
    counter = build_counter(tmp_path)
    counter.central.visits[NUMBER] = 0  # its last visit used (the ledger's word)
    counter.login("M1001")
    counter.insert(NUMBER)
    assert Action.RECYCLE in counter.flow.state.actions and Action.CONCESSIONS not in counter.flow.state.actions
    counter.flow.recycle()
    assert counter.flow.state.card is not None and counter.flow.state.card.view.status is CardStatus.RECYCLED
    counter.central.statuses[NUMBER] = CardStatus.ACTIVE
    counter.insert(NUMBER)
    counter.central.refuse["blacklist_card"] = CentralRefused(ErrorCode.FORBIDDEN, "role", {"role": "sales"})
    counter.flow.start_blacklist()
    counter.flow.blacklist("lost")
    state = counter.flow.state
    assert state.step is Step.CARD and state.problem is not None and state.problem.key == "refusal.forbidden"
    del counter.central.refuse["blacklist_card"]
    counter.flow.start_blacklist()
    counter.flow.blacklist("lost")
    assert counter.central.blacklist_reasons[NUMBER] == "lost"
    assert counter.flow.state.actions == {Action.UNBLACKLIST}
    counter.flow.unblacklist()
    assert NUMBER not in counter.central.blacklist_reasons


def test_the_session_ends_after_the_idle_timeout_and_on_logout(counter: Counter) -> None:
    counter.login()
    counter.insert(NUMBER)
    token = counter.flow.login.session.token  # type: ignore[union-attr]
    counter.clock.advance(299)
    counter.flow.tick()
    assert counter.flow.step is Step.CARD
    counter.clock.advance(1)
    counter.flow.tick()
    assert counter.flow.step is Step.LOGIN and counter.flow.state.card is None
    assert counter.flow.login.state.note is not None and counter.flow.login.state.note.key == "staff.session.timed_out"
    assert ("staff_logout", token) in counter.central.calls
    counter.login()
    counter.flow.logout()
    assert counter.flow.step is Step.LOGIN and counter.flow.login.session is None


def test_a_session_the_central_ended_goes_back_to_the_login(counter: Counter) -> None:
    counter.login()
    counter.central.refuse["card_tap"] = CentralRefused(ErrorCode.STAFF_SESSION_EXPIRED, "again")
    counter.insert(NUMBER)
    assert counter.flow.step is Step.LOGIN
    assert counter.flow.login.state.note is not None
    assert counter.flow.login.state.note.key == "refusal.staff_session_expired"


def test_an_unknown_card_and_a_card_pulled_while_read_are_refused_with_what_to_do(counter: Counter) -> None:
    counter.login()
    del counter.central.publics[NUMBER]
    counter.insert(NUMBER)
    assert counter.flow.step is Step.REFUSED
    assert counter.flow.state.refusal is not None and counter.flow.state.refusal.key == "refusal.card_unknown"
    counter.slot.fail_ins = 0xB0
    counter.insert(MADE)
    assert counter.flow.state.refusal is not None and counter.flow.state.refusal.key == "counter.card.unavailable"
    counter.flow.close_card()
    assert counter.flow.step is Step.WAITING
    counter.flow.handle_card(REMOVED)
    assert counter.flow.step is Step.WAITING


def showing(visits_per_person: int = 1) -> ShowingOffer:
    start = dt.datetime(2026, 11, 30, 11, 30, tzinfo=dt.UTC)
    return ShowingOffer(showing_id="show-1", film_title="流浪地球", hall_name="3号厅", format="IMAX",
                        starts_at=start, ends_at=start + dt.timedelta(hours=2), visits_per_person=visits_per_person,
                        seats_free=40, cinema_name="星光影城")


def test_tickets_are_offered_only_with_a_printer_and_list_todays_showings(tmp_path: Path) -> None:
    without = build_counter(tmp_path / "without")
    without.login()
    without.insert(NUMBER)
    assert Action.TICKETS not in without.flow.state.actions
    counter = build_counter(tmp_path / "with", printer=True)
    counter.central.showings = [showing(), showing(visits_per_person=3)]
    counter.login()
    counter.insert(NUMBER)
    assert Action.TICKETS in counter.flow.state.actions
    counter.flow.start_tickets()
    assert counter.flow.step is Step.TICKETS and len(counter.flow.state.showings) == 2
    counter.flow.set_people(9)
    assert counter.flow.state.people == 4  # the card type's limit per redemption (the central's max_people)
    counter.flow.choose_showing(1)
    assert counter.flow.state.people == 3  # 3 visits each: 10 visits take 3 people at most


def test_tickets_without_enough_free_seats_hold_nothing_and_take_no_visit(tmp_path: Path) -> None:
    counter = build_counter(tmp_path, printer=True)
    counter.central.showings = [showing()]
    counter.central.free_seats = 1
    counter.login()
    counter.insert(NUMBER)
    counter.flow.start_tickets()
    counter.flow.set_people(2)
    counter.flow.confirm_tickets()
    state = counter.flow.state
    assert state.step is Step.CARD and state.problem is not None and state.problem.key == "refusal.seats_taken"
    assert counter.central.redemptions == {} and counter.balance(NUMBER) == 10


def test_no_showing_left_today_is_said_on_the_card(tmp_path: Path) -> None:
    counter = build_counter(tmp_path, printer=True)
    counter.login()
    counter.insert(NUMBER)
    counter.flow.start_tickets()
    state = counter.flow.state
    assert state.step is Step.CARD and state.problem is not None and state.problem.key == "counter.tickets.none"
