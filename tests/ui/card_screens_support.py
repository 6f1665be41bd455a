"""The year-card journey on the real Kivy app offscreen: the real flow, journal and claim
printing; only the card terminal (card + PSAM) and the central's card calls are scripted here.

The journeys against the real central, pcscd and the emulated card live in tests/integration;
these tests are about what a patron sees and touches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backend_client.errors import CentralRefused, CentralUnreachable
from backend_client.wire import (
    CardHistoryEntry,
    CardShowings,
    CardStatus,
    CardTap,
    CardUseKind,
    CardView,
    ClaimedTicket,
    ClaimResponse,
    DebitNotice,
    DebitProofBody,
    RedemptionRequest,
    RedemptionResult,
    RedemptionState,
    RedemptionView,
    SeatMap,
    SeatRef,
    SeatState,
    SeatView,
    ShowingOffer,
)
from devices.card_api import CardEvent, CardEventKind
from devices.yearcard import crypto
from devices.yearcard.profile import PublicInfo, TransactionRecord
from devices.yearcard.terminal import (
    CardReading,
    DebitedWithoutProof,
    DebitInterrupted,
    DebitProof,
    NotDebited,
    PendingDebit,
)
from kiosk.app import KioskApp
from kiosk.availability import Availability
from kiosk.claims import ClaimPrinter, Outbox
from kiosk.config import YearCardSection
from kiosk.flows.card import CardFlow
from kiosk.flows.runtime import InlineWorker
from kiosk.ui_driver import UiDriver
from tests.support.fakes import Rig, build_rig

CARD_NUMBER = "6200123456780001"
MASKED = "6200********0001"
TODAY = dt.date(2026, 11, 22)
CINEMA_NAME = "星光影城 人民广场店"
TERMINAL_ID = "31000001AA01"


def card_reading(balance: int = 12, sold: bool = True, expires: dt.date | None = dt.date(2027, 11, 30),
                 records: int = 3) -> CardReading:
    public = PublicInfo(issuer=b"\x01\x02\x03\x04", card_number=CARD_NUMBER, card_type=2, sold=sold,
                        made=dt.date(2026, 1, 5), activated=dt.date(2025, 12, 1) if sold else None,
                        expires=expires if sold else None, mac=b"\x00" * 4, raw=b"\x00" * 36)
    log = tuple(TransactionRecord(card_counter=10 - i, amount=1 + i % 2, kind=crypto.TRANSACTION_TICKET,
                                  terminal_id=bytes.fromhex(TERMINAL_ID),
                                  when=dt.datetime(2026, 11, 20 - i, 19, 5), balance_after=balance + i)
                for i in range(records))
    return CardReading(public=public, balance=balance, records=log)


def card_view(status: CardStatus = CardStatus.ACTIVE, visits_left: int = 12, history: int = 3,
              owed: int = 0, blacklist_reason: str | None = None) -> CardView:
    entries = [CardHistoryEntry(at=datetime(2026, 11, 20 - i, 11, 5, tzinfo=UTC), cinema_name=CINEMA_NAME,
                                visits=1 + i % 2, kind=CardUseKind.TICKETS if i % 3 else CardUseKind.CONCESSIONS,
                                balance_after=visits_left + i) for i in range(history)]
    owed_list = [RedemptionView(redemption_id=f"owed-{i}", card_number=CARD_NUMBER, kind=CardUseKind.TICKETS,
                                state=RedemptionState.CONFIRMED, visits=2, showing_id="s1930",
                                seats=[SeatRef(row="6", seat=str(8 + j)) for j in range(2)])
                 for i in range(owed)]
    return CardView(card_number=CARD_NUMBER, card_type=2, type_name="银卡 12次 年票", status=status,
                    visits_left=visits_left, expires_on=dt.date(2027, 11, 30), max_people=4,
                    blacklist_reason=blacklist_reason, history=entries, owed=owed_list)


def showings() -> list[ShowingOffer]:
    def offer(sid: str, title: str, original: str | None, hall: str, fmt: str, hour: int, visits: int,
              free: int) -> ShowingOffer:
        start = datetime(2026, 11, 22, hour - 8, 30, tzinfo=UTC)  # Shanghai is UTC+8
        return ShowingOffer(showing_id=sid, film_title=title, film_original_title=original, hall_name=hall,
                            format=fmt, starts_at=start, ends_at=start + timedelta(minutes=130),
                            visits_per_person=visits, seats_free=free)

    return [offer("s1930", "流浪地球", "The Wandering Earth", "3号厅", "2D", 19, 1, 86),
            offer("s2010", "长津湖之水门桥", None, "5号厅", "IMAX", 20, 2, 12),
            offer("s2200", "深海", "Deep Sea", "1号厅", "3D", 22, 1, 0)]


def seat_map(showing_id: str = "s1930", rows: int = 10, columns: int = 18) -> SeatMap:
    """A hall with two aisles (grid columns 4 and 13 have no seats), some seats sold or held, and
    accessible seats at both ends of the last row."""
    seats = []
    for y in range(rows):
        number = 0
        for x in range(columns):
            if x in (4, 13):
                continue
            number += 1
            state = SeatState.FREE
            if (x * 7 + y * 3) % 5 == 0:
                state = SeatState.TAKEN
            elif (x + y) % 11 == 0:
                state = SeatState.HELD
            seats.append(SeatView(row=str(y + 1), seat=str(number), x=x, y=y, state=state,
                                  accessible=y == rows - 1 and x in (0, 1, columns - 2, columns - 1)))
    return SeatMap(showing_id=showing_id, hall_name="3号厅", columns=columns, rows=rows, seats=seats)


@dataclass
class FakeCardCentral:
    """The central's year-card calls, scripted.  ``unreachable`` / ``refuse_with`` fail every call."""

    view: CardView = field(default_factory=card_view)
    offers: list[ShowingOffer] = field(default_factory=showings)
    hall: SeatMap = field(default_factory=seat_map)
    unreachable: bool = False
    refuse_with: CentralRefused | None = None
    taps: list[CardTap] = field(default_factory=list)
    holds: list[RedemptionRequest] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)
    confirmed: list[DebitProofBody] = field(default_factory=list)
    cancelled: list[tuple[str, str]] = field(default_factory=list)
    owed_claims: list[str] = field(default_factory=list)

    def _check(self) -> None:
        if self.unreachable:
            raise CentralUnreachable("connection refused")
        if self.refuse_with is not None:
            raise self.refuse_with

    def card_tap(self, tap: CardTap, idempotency_key: str) -> CardView:
        self.taps.append(tap)
        self._check()
        return self.view

    def card_showings(self, card_number: str) -> CardShowings:
        self._check()
        return CardShowings(card_number=card_number, showings=self.offers)

    def seat_map(self, showing_id: str) -> SeatMap:
        self._check()
        return self.hall.model_copy(update={"showing_id": showing_id})

    def hold_redemption(self, request: RedemptionRequest, idempotency_key: str,
                        staff_token: str | None = None) -> RedemptionView:
        self._check()
        self.holds.append(request)
        offer = next(o for o in self.offers if o.showing_id == request.showing_id)
        return RedemptionView(redemption_id=f"r{len(self.holds)}", card_number=request.card_number,
                              kind=request.kind, state=RedemptionState.HELD,
                              visits=len(request.seats) * offer.visits_per_person, showing_id=request.showing_id,
                              seats=request.seats, hold_expires_at=datetime.now(UTC) + timedelta(minutes=5))

    def announce_debit(self, redemption_id: str, notice: DebitNotice, idempotency_key: str,
                       staff_token: str | None = None) -> RedemptionView:
        self._check()
        self.announced.append(redemption_id)
        return self._redemption(redemption_id, RedemptionState.DEBITING)

    def confirm_redemption(self, redemption_id: str, proof: DebitProofBody, idempotency_key: str,
                           staff_token: str | None = None) -> RedemptionResult:
        self._check()
        self.confirmed.append(proof)
        return RedemptionResult(redemption=self._redemption(redemption_id, RedemptionState.CONFIRMED),
                                claim=self._claim(redemption_id))

    def cancel_redemption(self, redemption_id: str, reason: str, idempotency_key: str,
                          staff_token: str | None = None) -> RedemptionView:
        self.cancelled.append((redemption_id, reason))
        self._check()
        return self._redemption(redemption_id, RedemptionState.CANCELLED)

    def claim_owed(self, redemption_id: str, card_number: str, idempotency_key: str) -> ClaimResponse:
        self._check()
        self.owed_claims.append(redemption_id)
        return self._claim(redemption_id, seats=[("6", "8"), ("6", "9")])

    def _redemption(self, redemption_id: str, state: RedemptionState) -> RedemptionView:
        hold = self.holds[int(redemption_id[1:]) - 1]
        return RedemptionView(redemption_id=redemption_id, card_number=hold.card_number, kind=hold.kind, state=state,
                              visits=len(hold.seats), showing_id=hold.showing_id, seats=hold.seats)

    def _claim(self, redemption_id: str, seats: list[tuple[str, str]] | None = None) -> ClaimResponse:
        if seats is None:
            seats = [(s.row, s.seat) for s in self.holds[int(redemption_id[1:]) - 1].seats]
        return ClaimResponse(claim_id=f"claim-{redemption_id}", order_id=f"order-{redemption_id}",
                             lease_expires_at=datetime.now(UTC) + timedelta(minutes=2),
                             tickets=[ClaimedTicket(ticket_id=f"{redemption_id}-t{i}", row=row, seat=seat,
                                                    price_fen=0, entrance_token=f"TK1.{redemption_id}-{i}")
                                      for i, (row, seat) in enumerate(seats)])


@dataclass
class FakeTerminal:
    """The card on the reader and the PSAM.  ``read_error`` fails the reading; ``pull_during_debit``
    makes the debit's answer lost (the card left); ``recovered_debited`` says what the card shows after."""

    reading: CardReading = field(default_factory=card_reading)
    read_error: Exception | None = None
    pull_during_debit: bool = False
    recovered_debited: bool = False  # after a pull: the debit reached the card (else it never did)
    debits: list[PendingDebit] = field(default_factory=list)

    def read(self) -> CardReading:
        if self.read_error is not None:
            raise self.read_error
        return self.reading

    def debit(self, visits: int, kind: int = crypto.TRANSACTION_TICKET, expect_card: str | None = None,
              on_pending: Callable[[PendingDebit], None] | None = None) -> DebitProof:
        pending = PendingDebit(card_number=self.reading.card_number, card_counter=11, amount=visits, kind=kind,
                               terminal_id=TERMINAL_ID, terminal_seq=7, when=dt.datetime(2026, 11, 22, 19, 0),
                               balance_before=self.reading.balance)
        if on_pending is not None:
            on_pending(pending)
        self.debits.append(pending)
        if self.pull_during_debit:
            raise DebitInterrupted("the card left the reader", pending)
        return DebitProof(pending, "0A1B2C3D")

    def recover(self, pending: PendingDebit) -> DebitProof | NotDebited | DebitedWithoutProof:
        return DebitProof(pending, "0A1B2C3D") if self.recovered_debited else NotDebited(pending)


class CardKiosk:
    """A started app with the year-card journey registered, its driver and its fakes."""

    def __init__(self, rig: Rig, flow: CardFlow, central: FakeCardCentral, terminal: FakeTerminal,
                 app: KioskApp) -> None:
        self.rig, self.flow, self.central, self.terminal, self.app = rig, flow, central, terminal, app
        self.ui = UiDriver(app)

    def tap_card(self) -> None:
        """A card put on the reader (the reader thread's event, on the main loop)."""
        self.app.kiosk.card(CardEvent(CardEventKind.INSERTED, "Virtual PCD 00 00", b"\x3b\x00"))
        self.ui.pump()

    def pull_card(self) -> None:
        self.app.kiosk.card(CardEvent(CardEventKind.REMOVED, "Virtual PCD 00 00", b""))
        self.ui.pump()

    def set_state(self, **changes: Any) -> None:
        """Put the flow in a state directly (the screens show whatever state they are given)."""
        self.flow._set(**changes)
        self.ui.pump(3)


StartCardKiosk = Callable[..., CardKiosk]


@pytest.fixture(name="start_card_kiosk")
def card_kiosk_fixture(tmp_path: Path) -> Iterator[StartCardKiosk]:
    """``start_card_kiosk(language="zh_CN", availability=None)``: the app with the pickup and card journeys."""
    started: list[CardKiosk] = []

    def start(language: str = "zh_CN", availability: Availability | None = None) -> CardKiosk:
        rig = build_rig(tmp_path / f"kiosk-{len(started)}", availability=availability)
        central, terminal = FakeCardCentral(), FakeTerminal()
        claim_printer = ClaimPrinter(rig.journal, rig.printer, Outbox(rig.journal, rig.central))
        flow = CardFlow(client=central, terminal=terminal, journal=rig.journal, printer=rig.printer,
                        claim_printer=claim_printer, worker=InlineWorker(), settings=YearCardSection(),
                        timezone="Asia/Shanghai", now=rig.clock, cinema_name=lambda: CINEMA_NAME,
                        local_today=lambda: TODAY)
        rig.host.register(flow, lambda _availability: True)
        rig.host.set_card_handler(flow.handle_card)
        app = KioskApp(rig.host, lambda: rig.availability, language=language)
        app.start_headless()
        kiosk = CardKiosk(rig, flow, central, terminal, app)
        started.append(kiosk)
        return kiosk

    yield start
    for kiosk in started:
        kiosk.app.stop_headless()
        kiosk.rig.journal.close()
