"""A year-card kiosk on real parts, for the card benchmarks (bench.card_redemption, bench.card_tears).

* the real central (`python -m central serve`, demo data) on a fresh SQLite or PostgreSQL database;
* cards made as head office makes them: registered with the ledger's own function and personalised
  (the real APDU sequence, devices.sim.yearcard_os.personalised_image) with the central's issuer
  keys; the demo kiosk's PSAM (terminal 000000010001) with the same keys;
* the card OS emulator in "Virtual PCD 00 00" and the PSAM in "Virtual PCD 00 01", behind a real
  pcscd (a running one, or one started here as root and stopped after), pyscard on both readers;
* the kiosk's own services (journal, client, claim printer) and its card flow, on an inline
  worker, with the reader's events handed to the kiosk host as its main loop does;
* the virtual printer over TCP.

pcscd's virtual readers are machine-wide: run these benchmarks one at a time.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import queue
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bench.databases import fresh_database
from central.card_ledger import CHAIN_TIMEZONE, ISSUER_CODE, made_on, register_made_card
from central.config import Settings
from central.demo import CINEMA_ID, DEMO_TERMINAL_ID
from central.models import Card, CardTransaction, Showing
from central.process import CentralProcess
from central.service import Central
from devices.card_api import CardError, CardEvent, CardEventKind
from devices.card_reader import list_readers
from devices.sim.card_emulator import VIRTUAL_READER, PcscdError, PcscdProcess
from devices.sim.printer import VirtualPrinter
from devices.sim.psam import psam_image
from devices.sim.yearcard import PSAM_READER, YearCardRig
from devices.sim.yearcard_os import ImageStore, YearCardOS, personalised_image
from kiosk.config import load_config
from kiosk.flows.card import CardFlow, Step
from kiosk.flows.runtime import InlineWorker
from kiosk.host import KioskHost
from kiosk.services import KioskServices

WAIT_S = 15.0
SOON = "show-demo-soon"  # today, 2D (one visit a person for type 1), at the demo kiosk's cinema
SEATS_PER_SHOWING = 120  # of the demo hall's 132, leaving room for the demo orders


class BenchError(RuntimeError):
    """The rig could not be set up or a step never came (one line for stderr)."""


def card_present(reader: str) -> bool:
    """What pcscd believes now about ``reader`` (it looks at vpcd's socket about every 0.4 s)."""
    from smartcard import scard

    hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return False
    try:
        hr, states = scard.SCardGetStatusChange(context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        return hr == scard.SCARD_S_SUCCESS and bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(context)


def wait_until(condition: Callable[[], bool], timeout_s: float = WAIT_S, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise BenchError(f"waited {timeout_s:.0f} s: {what}")
        time.sleep(0.02)


@contextmanager
def pcscd_running() -> Iterator[None]:
    """A pcscd with both virtual readers: the running one, or one started here and stopped after."""
    pcscd = PcscdProcess()
    if PcscdProcess.running_pid() is None:
        pcscd.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not {VIRTUAL_READER, PSAM_READER} <= set(list_readers()):
            if time.monotonic() > deadline:
                raise PcscdError("pcscd shows no virtual readers: is vsmartcard-vpcd installed?")
            time.sleep(0.1)
        if card_present(VIRTUAL_READER) or card_present(PSAM_READER):
            raise BenchError("a card is already in a virtual reader: another test or bench is using vpcd")
        yield
    finally:
        pcscd.stop()  # only stops a pcscd started here


@dataclass
class BenchCentral:
    """The running central and its ledger opened in-process (card making and checks, never timed)."""

    process: CentralProcess
    ledger: Central
    folder: Path
    db_kind: str

    @property
    def keys(self) -> Any:
        return self.ledger.issuer_keys

    def local_now(self) -> dt.datetime:
        return self.ledger.clock.now().astimezone(ZoneInfo(CHAIN_TIMEZONE)).replace(tzinfo=None)

    def make_card(self, visits: int) -> tuple[str, Path]:
        """A card made and sold today at the demo cinema: ledger row and personalised image."""
        number = f"77{uuid.uuid4().int % 10**14:014d}"
        today = self.local_now().date()
        with self.ledger.sessions.begin() as session:
            now = self.ledger.clock.now()
            card = register_made_card(session, now, number, 1, visits, actor="bench")
            card.status, card.sold_at, card.sold_cinema_id = "active", now, CINEMA_ID
            card.activated_on, card.expires_on = today, today + dt.timedelta(days=365)
            made = made_on(card)
        path = self.folder / f"card-{number}.json"
        personalised_image(path, self.keys, number, card_type=1, visits=visits, issuer=ISSUER_CODE, made=made,
                           activated=today, valid_days=365)
        return number, path

    def make_psam(self) -> Path:
        path = self.folder / "psam.json"
        psam_image(path, self.keys, bytes.fromhex(DEMO_TERMINAL_ID))
        return path

    def showings_for(self, seats: int) -> list[str]:
        """Enough showings like the demo's "soon" one for ``seats`` seats (copies added when needed)."""
        ids = [SOON]
        with self.ledger.sessions.begin() as session:
            soon = session.get_one(Showing, SOON)
            for n in range(1, -(-seats // SEATS_PER_SHOWING)):
                ids.append(f"show-bench-{n}")
                session.add(Showing(id=ids[-1], film_id=soon.film_id, hall_id=soon.hall_id,
                                    starts_at=soon.starts_at, ends_at=soon.ends_at, format=soon.format))
        return ids

    def ledger_card(self, number: str) -> tuple[int, int]:
        """The ledger's visits left for the card and its transactions' visits."""
        with self.ledger.sessions() as session:
            left = session.get_one(Card, number).visits_left
            used = session.scalar(select(func.coalesce(func.sum(CardTransaction.visits), 0))
                                  .where(CardTransaction.card_number == number))
        return int(left), int(used or 0)


@contextmanager
def bench_central(kind: str, folder: Path, postgres_url: str | None = None) -> Iterator[BenchCentral]:
    with fresh_database(kind, folder, postgres_url) as db_url:
        process = CentralProcess(db_url, folder / "central")
        process.init_secrets()
        process.load_demo_data()
        process.start()
        ledger = Central.open(Settings(db_url=db_url, secrets_dir=process.workdir / "secrets"))
        try:
            yield BenchCentral(process, ledger, folder, kind)
        finally:
            process.stop()
            ledger.engine.dispose()


class Stages:
    """Where the measuring thread's time goes: each wrapped call's own time (nested calls subtracted)."""

    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._children: list[float] = []

    def wrap(self, target: object, stage: str, names: list[str] | None = None) -> None:
        """Time ``names`` (default: every public method) of the object ``target``, in place."""
        if names is None:
            names = [name for name, _ in inspect.getmembers(type(target), inspect.isfunction)
                     if not name.startswith("_")]
        for name in names:
            setattr(target, name, self._timed(getattr(target, name), stage))

    def _timed(self, call: Callable[..., Any], stage: str) -> Callable[..., Any]:
        @functools.wraps(call)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != self.owner:  # the kiosk's monitor thread: not this journey's time
                return call(*args, **kwargs)
            self._children.append(0.0)
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.seconds[stage] += elapsed - self._children.pop()
                self.calls[stage] += 1
                if self._children:
                    self._children[-1] += elapsed

        return timed

    def take(self) -> tuple[dict[str, float], dict[str, int]]:
        """Seconds and calls per stage since the last take."""
        taken = dict(self.seconds), dict(self.calls)
        self.seconds.clear()
        self.calls.clear()
        return taken


class BenchKiosk:
    """The patron's side: a kiosk whose card reader and PSAM reader are pcscd's two virtual readers."""

    def __init__(self, central: BenchCentral, card_path: Path, folder: Path, stages: Stages | None = None) -> None:
        self.central = central
        self.printer = VirtualPrinter(out_dir=folder / "printed").start()
        self.rig = YearCardRig.from_images(card_path, central.make_psam(), auto_reconnect=False)
        self.rig.psam.insert()
        wait_until(lambda: card_present(PSAM_READER), what="the PSAM never showed up")
        process = central.process
        overrides = {
            "central.url": process.base_url, "central.credential_file": str(process.kiosk_credential_file),
            "kiosk.data_dir": str(folder / "kiosk"), "printer.kind": "network", "printer.host": "127.0.0.1",
            "printer.port": self.printer.port, "printer.simulate": False, "camera.source": "injected",
            "card.reader": "pcsc", "card.reader_name_pattern": VIRTUAL_READER,
            "card.psam_reader_name_pattern": PSAM_READER,
        }
        self.services = KioskServices(load_config(None, overrides))
        self.events: queue.Queue[tuple[float, CardEvent]] = queue.Queue()
        self.services.start(lambda _code: None, lambda event: self.events.put((time.perf_counter(), event)))
        flow = self.services.build_card_flow(InlineWorker())
        if flow is None:
            raise BenchError("the kiosk has no year-card journey (no PSAM?)")
        self.flow: CardFlow = flow
        self.host = KioskHost(self.services.availability, now=time.monotonic)
        self.host.register(flow, lambda availability: not availability.card.critical)
        self.host.set_card_handler(flow.handle_card)
        if stages is not None:
            assert self.services.year_cards is not None
            stages.wrap(self.services.client, "central")
            stages.wrap(self.services.year_cards, "read", ["read"])
            stages.wrap(self.services.year_cards, "debit", ["debit", "recover"])
            stages.wrap(self.services.printer, "printer")

    # -- the patron's hands ------------------------------------------------------------------

    def pump(self, until: Callable[[], bool], timeout_s: float = WAIT_S) -> float | None:
        """Hand the reader's events to the host until ``until`` holds; when the first insertion arrived."""
        deadline = time.monotonic() + timeout_s
        inserted_at = None
        while not until():
            try:
                at, event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                state = self.flow.state
                raise BenchError(f"waited {timeout_s:.0f} s on {state.step.value} ({state.refusal})") from None
            if event.kind is CardEventKind.INSERTED and inserted_at is None:
                inserted_at = at
            self.host.card(event)
        return inserted_at

    def take_card_away(self) -> None:
        """The card leaves (untimed); the flow hears it; a pause so the next tap is a new one to pcscd."""
        self.rig.card.remove()
        wait_until(lambda: not card_present(VIRTUAL_READER), what="pcscd never saw the card leave")
        self.pump(lambda: not self.flow.state.card_present or self.flow.state.step is Step.IDLE)
        # a patron's tap comes at any moment of pcscd's polling cycle, not in step with it
        time.sleep(0.5 + random.uniform(0.0, 0.5))

    def put_card(self) -> tuple[float, float]:
        """The card on the reader; waits until the flow has dealt with it.  When it was put there, and
        when the reader's inserted event reached the kiosk's main loop."""
        step = self.flow.state.step
        start = time.perf_counter()
        self.rig.card.insert()
        inserted = self.pump(lambda: self.flow.state.step not in (step, Step.READING, Step.RECOVERING))
        return start, inserted if inserted is not None else start

    def replug_psam(self) -> None:
        """The PSAM back in its slot after it was pulled (untimed)."""
        self.rig.psam.remove()
        wait_until(lambda: not card_present(PSAM_READER), what="pcscd never saw the PSAM leave")
        time.sleep(0.5)
        self.rig.psam.insert()
        wait_until(lambda: card_present(PSAM_READER), what="the PSAM never came back")

    def use_card(self, card_path: Path) -> None:
        """Another card for the next tap (the card is off the reader)."""
        self.rig.card_os = YearCardOS(ImageStore(card_path))
        self.rig.card.set_handler(self.rig.card_os)

    def choose(self, showing_id: str, people: int) -> None:
        """From the card screen to confirm: the showing, the people, the best seats."""
        flow = self.flow
        if flow.state.step is not Step.CARD:
            raise BenchError(f"the card was not read: {flow.state.step.value} ({flow.state.refusal})")
        flow.redeem()
        flow.choose_showing(showing_id)
        flow.set_people(people)
        flow.choose_seats()
        flow.best_available()
        flow.seats_chosen()
        if not flow.state.can_confirm:
            raise BenchError(f"cannot confirm: {flow.state.printer_problem} {flow.state.notice}")

    def stop(self) -> None:
        try:
            self.services.stop()
        finally:
            self.rig.card.remove()
            self.rig.psam.remove()
            self.printer.stop()


def card_balance(path: Path) -> int:
    state, intact = ImageStore(path).load()
    if not intact:
        raise CardError(f"{path.name}: the card image failed its integrity check")
    return int(state.balance)
