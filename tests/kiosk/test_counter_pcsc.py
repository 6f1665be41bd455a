"""The counter end to end on real parts: the real central over HTTP (SQLite and PostgreSQL), the
kiosk's client, pyscard through a real pcscd with the project's card emulator in "Virtual PCD 00 00"
and the PSAM in "Virtual PCD 00 01", the virtual ticket printer over TCP.  Run under the shared lock:

    flock /work/vpcd.lock python -m pytest -q tests/kiosk/test_counter_pcsc.py
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from backend_client.client import CentralClient
from backend_client.wire import CardStatus
from central.models import AuditEntry, CardTransaction
from devices.card_api import CardEventKind
from devices.card_reader import PcscCardReader
from devices.printer import EscposTicketPrinter, PrinterConfig
from devices.sim.card_emulator import VIRTUAL_READER
from devices.sim.printer import VirtualPrinter
from devices.sim.yearcard import PSAM_READER, YearCardRig
from devices.sim.yearcard_os import ImageStore, YearCardOS
from devices.yearcard.terminal import YearCardTerminal
from kiosk.claims import ClaimPrinter, Outbox
from kiosk.flows.counter import Action, CounterFlow, Step
from kiosk.flows.runtime import InlineWorker
from kiosk.journal import CardDebitState, Journal
from tests.card.conftest import EVENT_TIMEOUT_S, POLL_S, EventLog, Pcsc, card_in_virtual_reader, pcsc, wait_until
from tests.central.cards_support import CardKit, KitCard
from tests.support.central_server import RunningCentral

__all__ = ["pcsc"]  # the session's pcscd fixture, from tests/card



@dataclass
class Desk:
    """A counter on real parts: the flow, its card reader and PSAM reader through pcscd."""

    flow: CounterFlow
    rig: YearCardRig
    card_reader: PcscCardReader
    psam_reader: PcscCardReader
    events: EventLog
    journal: Journal
    printer: VirtualPrinter

    def tap(self) -> None:
        """The card comes onto the reader: pcscd sees it, the reader's event goes to the flow."""
        seen = len(self.events)
        self.rig.card.insert()
        self.flow.handle_card(self.events.wait_for(CardEventKind.INSERTED, after=seen))

    def take_away(self) -> None:
        self.rig.card.remove()
        assert wait_until(lambda: not card_in_virtual_reader(VIRTUAL_READER), EVENT_TIMEOUT_S)

    def swap(self, card: KitCard) -> None:
        """Another card on the reader."""
        self.take_away()
        self.rig.card.set_handler(YearCardOS(ImageStore(card.path)))
        self.tap()


def _readers_empty() -> bool:
    return not card_in_virtual_reader(VIRTUAL_READER) and not card_in_virtual_reader(PSAM_READER)


@pytest.fixture
def kit(module_central: RunningCentral, tmp_path: Path) -> CardKit:
    return CardKit(module_central, tmp_path / "cards")


@pytest.fixture
def desk(pcsc: Pcsc, module_central: RunningCentral, kit: CardKit, tmp_path: Path) -> Iterator[Desk]:
    first = kit.make_card(visits=10)
    assert wait_until(_readers_empty, EVENT_TIMEOUT_S), "a card is still in a virtual reader"
    rig = YearCardRig.from_images(first.path, kit.psam.store.path, auto_reconnect=False)
    events, psam_events = EventLog(), EventLog()
    card_reader = PcscCardReader(VIRTUAL_READER, poll_s=POLL_S)
    psam_reader = PcscCardReader(PSAM_READER, poll_s=POLL_S)
    card_reader.start(events)
    psam_reader.start(psam_events)
    rig.psam.insert()
    psam_events.wait_for(CardEventKind.INSERTED)
    client = CentralClient(module_central.base_url, module_central.kiosk_credential, timeout_s=10.0)
    journal = Journal(tmp_path / "journal.sqlite3")
    printer = VirtualPrinter(out_dir=tmp_path / "printed").start()
    ticket_printer = EscposTicketPrinter(PrinterConfig(host="127.0.0.1", port=printer.port))
    claims = ClaimPrinter(journal, ticket_printer, Outbox(journal, client))
    terminal = YearCardTerminal(card_reader, psam_reader, clock=kit.local_now)  # the cinema's wall clock
    flow = CounterFlow(client, terminal, InlineWorker(), now=time.monotonic, journal=journal,
                       claim_printer=claims)
    desk = Desk(flow, rig, card_reader, psam_reader, events, journal, printer)
    desk.card = first  # type: ignore[attr-defined]
    yield desk
    if flow.login.session is not None:
        flow.logout()
    card_reader.stop()
    psam_reader.stop()
    rig.card.remove()
    rig.psam.remove()
    wait_until(_readers_empty, EVENT_TIMEOUT_S)
    client.close()
    ticket_printer.close()
    printer.stop()
    journal.close()


def log_in(flow: CounterFlow, staff_no: str) -> None:
    flow.login.type(staff_no)
    flow.login.next_field()
    flow.login.type(f"demo-{staff_no.lower()}")
    flow.login.next_field()
    assert flow.step is Step.WAITING, flow.login.state


def test_concessions_at_the_counter_are_debited_confirmed_and_audited_with_the_staff_member(
    desk: Desk, kit: CardKit
) -> None:
    card: KitCard = desk.card  # type: ignore[attr-defined]
    log_in(desk.flow, "S1001")
    desk.tap()
    state = desk.flow.state
    assert state.step is Step.CARD and state.card is not None
    assert (state.card.view.visits_left, state.card.view.status) == (10, CardStatus.ACTIVE)
    assert state.actions == {Action.TICKETS, Action.CONCESSIONS, Action.RENEW}

    desk.flow.start_concessions()
    desk.flow.set_visits(2)
    desk.flow.confirm_concessions()
    state = desk.flow.state
    assert state.result is not None and state.result.key == "counter.result.concessions", state
    assert state.card is not None and state.card.view.visits_left == 8 and state.card.card_balance == 8
    assert state.card.view.history[0].kind.value == "concessions" and state.card.view.history[0].visits == 2
    assert desk.rig.card_os.state.balance == 8
    assert kit.card_row(card.number).visits_left == 8
    with kit.ledger.sessions() as session:
        tx = session.scalars(select(CardTransaction).where(CardTransaction.card_number == card.number)).one()
        assert (tx.staff_no, tx.visits, tx.kind) == ("S1001", 2, "concessions")
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "redemption_confirmed")).all()
        assert any('"S1001"' in entry.details for entry in audited)


def test_a_card_pulled_during_the_debit_is_completed_when_put_back(desk: Desk, kit: CardKit) -> None:
    card: KitCard = desk.card  # type: ignore[attr-defined]
    log_in(desk.flow, "S1001")
    desk.tap()
    desk.flow.start_concessions()
    # the debit's card commands: SELECT, READ BINARY, INTERNAL AUTHENTICATE, INITIALIZE, DEBIT
    desk.rig.card.pull_at_command(4, executed=True)
    desk.flow.confirm_concessions()
    assert desk.flow.step is Step.CARD_BACK
    redemption_id = desk.journal.card_debits(CardDebitState.PENDING)[0].redemption_id
    assert wait_until(lambda: not card_in_virtual_reader(VIRTUAL_READER), EVENT_TIMEOUT_S)
    desk.tap()
    assert desk.flow.step is Step.CARD
    assert desk.rig.card_os.state.balance == 9 and kit.card_row(card.number).visits_left == 9  # once
    debit = desk.journal.card_debit(redemption_id)
    assert debit is not None and debit.state is CardDebitState.CONFIRMED


def test_a_made_card_is_sold_and_a_failed_write_is_written_at_the_next_tap(desk: Desk, kit: CardKit) -> None:
    made = kit.make_card(visits=10, sold=False)
    log_in(desk.flow, "S1001")
    desk.swap(made)
    state = desk.flow.state
    assert state.card is not None and state.card.view.status is CardStatus.MADE and state.actions == {Action.SELL}

    desk.rig.card.pull_at_command(2)  # SELECT, GET CHALLENGE, then the card leaves before the write
    desk.flow.sell()
    state = desk.flow.state
    assert state.problem is not None and state.problem.key == "counter.problem.sale_not_written"
    assert made.read().public.sold is False  # the card as it was
    assert kit.card_row(made.number).status == "active"  # the central recorded the sale

    assert wait_until(lambda: not card_in_virtual_reader(VIRTUAL_READER), EVENT_TIMEOUT_S)
    desk.tap()
    state = desk.flow.state
    assert state.card is not None and state.card.unwritten_sale and state.actions == {Action.SELL}
    desk.flow.sell()  # the central answers today's sale again for the card's new challenge
    state = desk.flow.state
    assert state.result is not None and state.result.key == "counter.result.sold", state
    public = made.read().public
    assert public.sold and public.expires == kit.card_row(made.number).expires_on
    assert state.card is not None and Action.CONCESSIONS in state.actions


def test_the_manager_blacklists_and_the_sales_role_sees_no_blacklist_button(desk: Desk, kit: CardKit) -> None:
    card: KitCard = desk.card  # type: ignore[attr-defined]
    log_in(desk.flow, "S1001")
    desk.tap()
    assert Action.BLACKLIST not in desk.flow.state.actions
    desk.flow.logout()
    log_in(desk.flow, "M1001")
    desk.take_away()
    desk.tap()
    desk.flow.start_blacklist()
    desk.flow.blacklist("lost")
    state = desk.flow.state
    assert state.card is not None and state.card.view.status is CardStatus.BLACKLISTED
    assert state.card.view.blacklist_reason == "lost" and state.actions == {Action.UNBLACKLIST}
    with kit.ledger.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "card_blacklisted")
                                .order_by(AuditEntry.id.desc())).first()
        assert entry is not None and '"M1001"' in entry.details
    desk.flow.unblacklist()
    assert kit.card_row(card.number).status == "active"


def test_tickets_at_the_counter_hold_the_best_seats_debit_and_print_once(desk: Desk, kit: CardKit) -> None:
    card: KitCard = desk.card  # type: ignore[attr-defined]
    log_in(desk.flow, "S1001")
    desk.tap()
    desk.flow.start_tickets()
    state = desk.flow.state
    assert state.step is Step.TICKETS and state.showings, state
    soon = next(i for i, offer in enumerate(state.showings) if offer.showing_id == "show-demo-soon")
    desk.flow.choose_showing(soon)
    desk.flow.set_people(2)
    desk.flow.confirm_tickets()
    state = desk.flow.state
    assert state.result is not None and state.result.key == "counter.result.tickets", state
    assert state.result.param_dict()["count"] == 2
    jobs = desk.printer.wait_for_jobs(2)
    assert len(jobs) == 2
    visits = state.result.param_dict()["visits"]
    assert desk.rig.card_os.state.balance == 10 - visits and kit.card_row(card.number).visits_left == 10 - visits
    assert state.card is not None and state.card.view.history[0].kind.value == "tickets"
    with kit.ledger.sessions() as session:
        tx = session.scalars(select(CardTransaction).where(CardTransaction.card_number == card.number)).one()
        assert (tx.staff_no, tx.kind) == ("S1001", "tickets")


def test_a_ticket_debit_torn_at_the_counter_prints_its_tickets_once_when_the_card_is_back(
    desk: Desk, kit: CardKit
) -> None:
    card: KitCard = desk.card  # type: ignore[attr-defined]
    log_in(desk.flow, "S1001")
    desk.tap()
    desk.flow.start_tickets()
    soon = next(i for i, offer in enumerate(desk.flow.state.showings) if offer.showing_id == "show-demo-soon")
    desk.flow.choose_showing(soon)
    desk.rig.card.pull_at_command(4, executed=True)  # DEBIT FOR PURCHASE done, its answer lost
    desk.flow.confirm_tickets()
    assert desk.flow.step is Step.CARD_BACK
    assert desk.printer.jobs == []  # nothing printed while the debit is unknown
    assert wait_until(lambda: not card_in_virtual_reader(VIRTUAL_READER), EVENT_TIMEOUT_S)
    desk.tap()
    state = desk.flow.state
    assert state.result is not None and state.result.key == "counter.result.tickets", state
    assert len(desk.printer.wait_for_jobs(1)) == 1
    visits = state.result.param_dict()["visits"]
    assert desk.rig.card_os.state.balance == 10 - visits and kit.card_row(card.number).visits_left == 10 - visits
