"""The year-card journey in a kiosk on the in-process card simulator (``card.reader = "sim"`` with a
card image and a PSAM image, as dev mode and the demo run it), the real central over HTTP behind
the fault proxy, the virtual printer over TCP: the central going away at each step of the journey.
(The same journey through pcscd: test_card_redemption.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from central.card_ledger import add_to_blacklist
from devices.sim.central_proxy import CentralProxy, Fault, FaultKind
from devices.sim.printer import VirtualPrinter
from devices.sim.yearcard_os import ImageStore
from kiosk.config import load_config
from kiosk.flows.card import CardFlow, Step
from kiosk.flows.runtime import InlineWorker, Message
from kiosk.host import KioskHost
from kiosk.journal import CardDebitState
from kiosk.services import KioskServices, ServiceHooks
from kiosk.yearcard import insert_sim_year_card
from tests.central.cards_support import CardKit, KitCard
from tests.integration.kiosk_rig import kiosk_overrides, write_credential
from tests.support.central_server import RunningCentral

SOON = "show-demo-soon"


@pytest.fixture(scope="module")
def cards(sqlite_central: RunningCentral, tmp_path_factory: pytest.TempPathFactory) -> CardKit:
    return CardKit(sqlite_central, tmp_path_factory.mktemp("cards"))


@dataclass
class SimKiosk:
    services: KioskServices
    flow: CardFlow
    host: KioskHost
    proxy: CentralProxy
    printer: VirtualPrinter
    card: KitCard

    def put_card(self, card: KitCard | None = None) -> None:
        if card is None:
            assert self.services.insert_sim_year_card()
        else:
            insert_sim_year_card(self.services.card_reader, card.path)

    def balance(self) -> int:
        return int(ImageStore(self.card.path).load()[0].balance)

    def to_confirm(self, people: int) -> None:
        self.put_card()
        assert self.flow.state.step is Step.CARD, self.flow.state.refusal
        self.flow.redeem()
        self.flow.choose_showing(SOON)
        self.flow.set_people(people)
        self.flow.choose_seats()
        self.flow.best_available()
        self.flow.seats_chosen()
        assert self.flow.state.can_confirm, (self.flow.state.printer_problem, self.flow.state.notice)


@pytest.fixture
def sim_kiosk(sqlite_central: RunningCentral, cards: CardKit, tmp_path: Path) -> Iterator[SimKiosk]:
    card = cards.make_card(visits=10)
    proxy = CentralProxy(sqlite_central.base_url).start()
    printer = VirtualPrinter(out_dir=tmp_path / "printed").start()
    credential = write_credential(tmp_path / "kiosk.credential", sqlite_central.kiosk_credential)
    config = load_config(None, kiosk_overrides(proxy.url, credential, tmp_path / "data", printer.port, **{
        "card.sim_psam_image": str(cards.psam.store.path), "card.sim_card_image": str(card.path),
        "central.retries": 0, "central.timeout_s": 5.0, "yearcard.blacklist_refresh_s": 0}))
    services = KioskServices(config, hooks=ServiceHooks(background_threads=False))
    host = KioskHost(services.availability, now=time.monotonic)
    try:
        services.start(lambda _code: None)
        flow = services.build_card_flow(InlineWorker())
        assert flow is not None
        host.register(flow, lambda availability: not availability.card.critical)
        host.set_card_handler(flow.handle_card)
        assert services.card_reader is not None
        services.card_reader.start(host.card)  # the simulator's events come on the inserting thread
        yield SimKiosk(services, flow, host, proxy, printer, card)
    finally:
        services.stop()
        printer.stop()
        proxy.stop()


def test_a_redemption_on_the_simulated_reader(sim_kiosk: SimKiosk, cards: CardKit) -> None:
    sim_kiosk.to_confirm(people=2)
    sim_kiosk.flow.confirm()
    assert sim_kiosk.flow.state.step is Step.DONE and sim_kiosk.flow.state.printed == 2
    assert len(sim_kiosk.printer.wait_for_jobs(2)) == 2
    assert sim_kiosk.balance() == 8 == cards.card_row(sim_kiosk.card.number).visits_left


def test_offline_the_card_is_read_with_its_own_data_and_the_cached_blacklist(
        sim_kiosk: SimKiosk, cards: CardKit, sqlite_central: RunningCentral) -> None:
    stolen = cards.make_card(visits=5)
    with cards.ledger.sessions.begin() as session:
        add_to_blacklist(session, sqlite_central.server_now(), stolen.number, "reported stolen", by="test")
    sim_kiosk.services.monitor_round()  # the status poll brings the newer blacklist
    journal = sim_kiosk.services.journal
    assert journal.card_blacklisted(stolen.number)
    sim_kiosk.proxy.set_down(True)
    sim_kiosk.put_card()
    state = sim_kiosk.flow.state
    assert state.step is Step.CARD and state.card is not None and state.card.offline
    assert state.card.visits_left == 10
    assert state.redeem_block == Message.of("card.offline_no_redemption")
    sim_kiosk.flow.finish()
    sim_kiosk.put_card(stolen)
    assert sim_kiosk.flow.state.step is Step.REFUSED
    assert sim_kiosk.flow.state.refusal == Message.of("refusal.card_blacklisted")


@pytest.mark.parametrize("kind", [FaultKind.DROP_BEFORE_UPSTREAM, FaultKind.DROP_AFTER_UPSTREAM],
                         ids=["confirm never arrived", "confirm's answer lost"])
def test_a_debit_whose_confirmation_was_lost_is_confirmed_later_and_its_tickets_print_at_the_next_tap(
        sim_kiosk: SimKiosk, cards: CardKit, kind: FaultKind) -> None:
    sim_kiosk.to_confirm(people=2)
    sim_kiosk.proxy.add_fault(Fault(kind, count=None, path=r"/confirm$"))
    sim_kiosk.flow.confirm()
    state = sim_kiosk.flow.state
    assert state.step is Step.DONE, state.refusal
    assert (state.printed, state.visits_used, state.tickets_owed) == (0, 2, 2)
    assert sim_kiosk.balance() == 8
    rid = state.redemption_id
    assert rid is not None
    journal = sim_kiosk.services.journal
    assert journal.card_debit(rid).state is CardDebitState.PROVEN  # type: ignore[union-attr]

    sim_kiosk.proxy.clear()
    sim_kiosk.services.monitor_round()  # the central is back: the journaled proof goes
    assert journal.card_debit(rid).state is CardDebitState.CONFIRMED  # type: ignore[union-attr]
    assert cards.card_row(sim_kiosk.card.number).visits_left == 8

    sim_kiosk.flow.finish()
    sim_kiosk.put_card()  # the next tap offers the tickets the visits paid for
    assert [o.redemption_id for o in sim_kiosk.flow.state.owed] == [rid]
    sim_kiosk.flow.print_owed()
    assert sim_kiosk.flow.state.step is Step.DONE and sim_kiosk.flow.state.printed == 2
    assert len(sim_kiosk.printer.wait_for_jobs(2)) == 2
    sim_kiosk.flow.finish()
    sim_kiosk.put_card()
    assert sim_kiosk.flow.state.owed == ()  # printed once


def test_redemption_is_refused_when_the_central_goes_away_before_the_debit(sim_kiosk: SimKiosk, cards: CardKit) -> None:
    sim_kiosk.to_confirm(people=2)
    sim_kiosk.proxy.add_fault(Fault(FaultKind.DROP_BEFORE_UPSTREAM, count=None, path=r"/debiting$"))
    sim_kiosk.flow.confirm()
    state = sim_kiosk.flow.state
    assert state.step is Step.REFUSED
    assert state.refusal_hint == Message.of("hint.card_no_visit_used")
    assert sim_kiosk.balance() == 10 == cards.card_row(sim_kiosk.card.number).visits_left
    assert sim_kiosk.printer.jobs == []
