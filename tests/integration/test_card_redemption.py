"""The patron's year-card journey on real parts: the real central over HTTP (SQLite and PostgreSQL),
the card and the PSAM emulators behind vpcd and a real pcscd (pyscard's driver on both readers),
the kiosk's services and journal, the virtual printer over TCP; the flow is driven headless.

Run under the shared lock: ``flock /work/vpcd.lock python -m pytest -q tests/integration/test_card_redemption.py``.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devices.card_api import CardEvent
from devices.sim.card_emulator import VIRTUAL_READER
from devices.sim.printer import VirtualPrinter
from devices.sim.yearcard import PSAM_READER, YearCardRig
from devices.sim.yearcard_os import ImageStore
from kiosk.config import load_config
from kiosk.flows.card import CardFlow, Step
from kiosk.flows.runtime import InlineWorker
from kiosk.host import KioskHost
from kiosk.journal import CardDebitState
from kiosk.services import KioskServices
from tests.card.conftest import EVENT_TIMEOUT_S, Pcsc, card_in_virtual_reader, pcsc, wait_until  # noqa: F401
from tests.central.cards_support import CardKit, KitCard
from tests.integration.kiosk_rig import kiosk_overrides, write_credential
from tests.support.central_server import RunningCentral

SOON = "show-demo-soon"  # today, 2D, at the demo kiosk's cinema
# The card's APDUs of a debit: SELECT, READ BINARY, INTERNAL AUTHENTICATE, INITIALIZE, DEBIT.
DEBIT_CARD_APDUS = 5


def readers_empty() -> bool:
    return not card_in_virtual_reader() and not card_in_virtual_reader(PSAM_READER)


class PatronKiosk:
    """A kiosk whose card reader and PSAM reader are pcscd's two virtual readers; events pumped by the test."""

    def __init__(self, central: RunningCentral, kit: CardKit, card: KitCard, printer: VirtualPrinter,
                 workdir: Path) -> None:
        assert wait_until(readers_empty, EVENT_TIMEOUT_S), "a card is still in a virtual reader"
        self.card = card
        self.printer = printer
        self.rig = YearCardRig.from_images(card.path, kit.psam.store.path, auto_reconnect=False)
        self.rig.psam.insert()
        assert wait_until(lambda: card_in_virtual_reader(PSAM_READER), EVENT_TIMEOUT_S)
        credential = write_credential(workdir / "kiosk.credential", central.kiosk_credential)
        overrides = kiosk_overrides(central.base_url, credential, workdir / "data", printer.port, **{
            "card.reader": "pcsc", "card.reader_name_pattern": VIRTUAL_READER,
            "card.psam_reader_name_pattern": PSAM_READER, "card.poll_s": 0.2})
        self.services = KioskServices(load_config(None, overrides))
        self.events: queue.Queue[CardEvent] = queue.Queue()
        self.services.start(lambda _code: None, self.events.put)
        flow = self.services.build_card_flow(InlineWorker())
        assert flow is not None, "the year-card journey is on with a PSAM"
        self.flow: CardFlow = flow
        self.host = KioskHost(self.services.availability, now=time.monotonic)
        self.host.register(flow, lambda availability: not availability.card.critical)
        self.host.set_card_handler(flow.handle_card)

    def pump(self, until: Callable[[], bool], timeout_s: float = EVENT_TIMEOUT_S) -> None:
        """Hand the reader's events to the host (the main loop's job) until ``until`` holds."""
        deadline = time.monotonic() + timeout_s
        while not until():
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"waited {timeout_s:.0f} s on {self.flow.state.step}: {self.flow.state.refusal}")
            self.host.card(event)

    def put_card(self) -> None:
        """The patron puts the card on the reader (again); waits until the journey has read it."""
        assert wait_until(lambda: not card_in_virtual_reader(), EVENT_TIMEOUT_S), "the card never left"
        step = self.flow.state.step
        self.rig.card.insert()
        self.pump(lambda: self.flow.state.step not in (step, Step.READING, Step.RECOVERING))

    def redeem_to_confirm(self, people: int) -> None:
        flow = self.flow
        self.put_card()
        assert flow.state.step is Step.CARD, flow.state.refusal
        flow.redeem()
        assert any(s.showing_id == SOON for s in flow.state.showings), flow.state.showings
        flow.choose_showing(SOON)
        flow.set_people(people)
        flow.choose_seats()
        flow.best_available()
        flow.seats_chosen()
        assert flow.state.can_confirm, (flow.state.printer_problem, flow.state.notice)

    def card_balance(self) -> int:
        state, intact = ImageStore(self.card.path).load()
        assert intact
        return int(state.balance)

    def stop(self) -> None:
        self.services.stop()
        self.rig.card.remove()
        self.rig.psam.remove()
        wait_until(readers_empty, EVENT_TIMEOUT_S)


@pytest.fixture(scope="module")
def cards(module_central: RunningCentral, tmp_path_factory: pytest.TempPathFactory) -> CardKit:
    return CardKit(module_central, tmp_path_factory.mktemp("cards"))


@pytest.fixture
def patron_kiosk(pcsc: Pcsc, module_central: RunningCentral, cards: CardKit,  # noqa: F811
                 tmp_path: Path) -> Iterator[Callable[[int], PatronKiosk]]:
    kiosks: list[PatronKiosk] = []
    printers: list[VirtualPrinter] = []

    def start(visits: int) -> PatronKiosk:
        card = cards.make_card(visits=visits)
        printer = VirtualPrinter(out_dir=tmp_path / "printed").start()
        printers.append(printer)
        kiosk = PatronKiosk(module_central, cards, card, printer, tmp_path / f"kiosk-{uuid.uuid4().hex[:6]}")
        kiosks.append(kiosk)
        return kiosk

    yield start
    for kiosk in kiosks:
        kiosk.stop()
    for printer in printers:
        printer.stop()


def test_a_two_person_redemption_prints_two_tickets_and_the_ledger_shows_two_visits(
        patron_kiosk: Callable[[int], PatronKiosk], cards: CardKit) -> None:
    kiosk = patron_kiosk(10)
    kiosk.redeem_to_confirm(people=2)
    seats = kiosk.flow.state.selected
    assert kiosk.flow.state.visits_to_deduct == 2
    kiosk.flow.confirm()
    state = kiosk.flow.state
    assert state.step is Step.DONE, state.refusal
    assert (state.printed, state.visits_used, state.tickets_owed) == (2, 2, 0)
    jobs = kiosk.printer.wait_for_jobs(2)
    assert len(jobs) == 2
    assert kiosk.card_balance() == 8
    assert cards.card_row(kiosk.card.number).visits_left == 8  # the central's ledger
    rid = state.redemption_id
    assert rid is not None
    debit = kiosk.services.journal.card_debit(rid)
    assert debit is not None and debit.state is CardDebitState.CONFIRMED
    # the next tap shows the card's own record of it, and the central's history
    kiosk.rig.card.remove()
    kiosk.pump(lambda: not kiosk.flow.state.card_present)
    kiosk.flow.finish()
    kiosk.put_card()
    after = kiosk.flow.state
    assert after.card is not None and after.card.visits_left == 8
    assert after.records[0].visits == 2 and after.records[0].balance_after == 8
    assert after.history and after.history[0].visits == 2
    assert len(seats) == 2


@pytest.mark.parametrize("executed", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("at", range(DEBIT_CARD_APDUS),
                         ids=["SELECT", "READ_BINARY", "INTERNAL_AUTH", "INITIALIZE", "DEBIT"])
def test_a_card_pulled_at_each_apdu_of_the_debit_leaves_card_and_ledger_consistent(
        patron_kiosk: Callable[[int], PatronKiosk], cards: CardKit, at: int, executed: bool) -> None:
    kiosk = patron_kiosk(10)
    kiosk.redeem_to_confirm(people=2)
    kiosk.rig.card.pull_at_command(at, executed=executed)
    kiosk.flow.confirm()
    if kiosk.flow.state.step is Step.PUT_CARD_BACK:
        kiosk.put_card()
    state = kiosk.flow.state
    debited = 10 - kiosk.card_balance()
    assert debited == (2 if (at, executed) == (DEBIT_CARD_APDUS - 1, True) else 0)
    assert cards.card_row(kiosk.card.number).visits_left == 10 - debited  # the ledger agrees with the card
    assert len(kiosk.printer.jobs) == debited  # a ticket for each visit, none without one
    if debited:
        assert state.step is Step.DONE and state.printed == 2
    else:
        assert state.step is Step.REFUSED
        assert state.refusal_hint is not None and state.refusal_hint.key == "hint.card_no_visit_used"
