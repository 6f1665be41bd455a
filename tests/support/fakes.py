"""The one set of in-test stand-ins for the central client, the token verifier and the printer.

Used by the flow's unit tests (tests/kiosk) and the UI tests (tests/ui, tests/devmode): the
journeys are real, the journal and claim printing are real (SQLite in a temp folder), and only
the far ends are small scripted fakes.  The journeys against the real central and the virtual
TCP printer live in tests/integration.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from backend_client.errors import CentralRefused, CentralUnreachable
from backend_client.tokens import KIND_ORDER, TokenClaims, TokenError
from backend_client.wire import (
    CardBlacklist,
    CardHistoryEntry,
    CardShowings,
    CardStatus,
    CardTap,
    CardUpdate,
    CardUseKind,
    CardView,
    ClaimedTicket,
    ClaimResponse,
    ClaimStatus,
    DebitNotice,
    DebitProofBody,
    ErrorCode,
    OrderView,
    PrintPermit,
    RedemptionRequest,
    RedemptionResult,
    RedemptionState,
    RedemptionView,
    SeatMap,
    SeatState,
    SeatView,
    ShowingOffer,
    StaffSession,
    TicketOutcome,
    TicketStatus,
    TicketView,
)
from devices.card_api import ApduResponse
from devices.printer_api import PaperLevel, PrinterStatus, PrintOutcome, PrintResult, TicketContent
from devices.sim.card_reader_sim import SimCardReader
from devices.sim.psam import PsamOS, psam_image
from devices.sim.yearcard import handler_channel
from devices.sim.yearcard_os import YearCardOS, personalised_image
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard import profile as yc_profile
from devices.yearcard.personalise import signed_public
from devices.yearcard.terminal import DebitProof, PendingDebit, Transmit
from kiosk.availability import Availability
from kiosk.claims import ClaimPrinter, Outbox
from kiosk.config import PickupSection, YearCardSection
from kiosk.flows.card import CardFlow
from kiosk.flows.pickup import PickupFlow
from kiosk.flows.runtime import InlineWorker, Worker
from kiosk.host import KioskHost
from kiosk.journal import Journal
from kiosk.yearcard import YearCardService
from tests.support.clocks import ManualClock

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SERIAL, VERIFICATION = "123456", "654321"
CINEMA_ID = "cinema-demo"
READY = GOOD_STATUS = PrinterStatus(online=True, paper=PaperLevel.OK, cover_open=False)
PAPER_OUT = PrinterStatus(online=True, paper=PaperLevel.OUT, cover_open=False)
COVER_OPEN = PrinterStatus(online=True, paper=PaperLevel.OK, cover_open=True)


def make_order(tickets: int = 4, printed: int = 0) -> OrderView:
    """``tickets`` seats in row 5, the first ``printed`` of them collected already."""
    return OrderView(
        order_id="order-1",
        cinema_id=CINEMA_ID,
        cinema_name="示范影城",
        film_title="流浪地球",
        film_original_title="The Wandering Earth",
        hall_name="3号厅",
        show_start=NOW + timedelta(hours=2),
        show_end=NOW + timedelta(hours=4),
        pickup_opens_at=NOW - timedelta(days=1),
        tickets=[
            TicketView(ticket_id=f"t{i}", row="5", seat=str(i + 1), price_fen=4500,
                       status=TicketStatus.PRINTED if i < printed else TicketStatus.AVAILABLE,
                       printed_at=NOW - timedelta(hours=1) if i < printed else None,
                       printed_by="Lobby-**-02" if i < printed else None)
            for i in range(tickets)
        ],
        claim_grant="grant-order-1",
    )


def sample_order(printed_first: bool = True) -> OrderView:
    """Three seats: 5-11 collected yesterday (if ``printed_first``), 5-12 and 5-13 to collect."""
    show = datetime(2026, 11, 22, 11, 30, tzinfo=UTC)  # 19:30 in Shanghai
    first = TicketView(ticket_id="t1", row="5", seat="11", price_fen=4500,
                       status=TicketStatus.PRINTED if printed_first else TicketStatus.AVAILABLE,
                       printed_at=show - timedelta(days=1) if printed_first else None,
                       printed_by="Lobby-**-02" if printed_first else None)
    return OrderView(
        order_id="order-000123", cinema_id=CINEMA_ID, cinema_name="星光影城 人民广场店",
        film_title="流浪地球", film_original_title="The Wandering Earth", hall_name="3号厅 IMAX",
        show_start=show, show_end=show + timedelta(hours=2), pickup_opens_at=show - timedelta(days=3),
        tickets=[first,
                 TicketView(ticket_id="t2", row="5", seat="12", price_fen=4500, status=TicketStatus.AVAILABLE),
                 TicketView(ticket_id="t3", row="5", seat="13", price_fen=4500, status=TicketStatus.AVAILABLE)],
        claim_grant="grant-order-000123",
    )


@dataclass
class FakeCentral:
    """Answers lookups of :data:`SERIAL`/:data:`VERIFICATION` (or any QR token) with one order.

    ``refuse_with`` refuses every call; ``unreachable`` fails every call; ``reports_unreachable``
    only the reports.  Claims need the lookup's own grant, as at the central.
    """

    order: OrderView = field(default_factory=make_order)
    refuse_with: CentralRefused | None = None
    unreachable: bool = False
    reports_unreachable: bool = False
    looked_up: list[tuple[str, str]] = field(default_factory=list)
    claims: list[tuple[str, list[str], str]] = field(default_factory=list)
    reports: list[tuple[str, dict[str, TicketOutcome], str]] = field(default_factory=list)

    def _check(self) -> None:
        if self.unreachable:
            raise CentralUnreachable("connection refused")
        if self.refuse_with is not None:
            raise self.refuse_with

    def lookup_code(self, serial: str, verification: str) -> OrderView:
        self.looked_up.append((serial, verification))
        self._check()
        if (serial, verification) != (SERIAL, VERIFICATION):
            raise CentralRefused(ErrorCode.UNKNOWN_CODE, "unknown code")
        return self.order

    def lookup_token(self, token: str) -> OrderView:
        self.looked_up.append(("qr", token))
        self._check()
        return self.order

    def claim(self, order_id: str, ticket_ids: list[str], idempotency_key: str, claim_grant: str) -> ClaimResponse:
        self._check()
        if claim_grant != self.order.claim_grant:  # as the central: only the lookup's own grant claims
            raise CentralRefused(ErrorCode.CLAIM_NOT_ALLOWED, "claim grant not from this lookup")
        self.claims.append((order_id, list(ticket_ids), idempotency_key))
        by_id = {t.ticket_id: t for t in self.order.tickets}
        return ClaimResponse(
            claim_id=f"claim-{len(self.claims)}",
            order_id=order_id,
            lease_expires_at=datetime.now(UTC) + timedelta(minutes=2),
            tickets=[ClaimedTicket(ticket_id=i, row=by_id[i].row, seat=by_id[i].seat, price_fen=by_id[i].price_fen,
                                   entrance_token=f"TK1.ticket-{i}") for i in ticket_ids],
        )

    def start_printing(self, claim_id: str, ticket_id: str, idempotency_key: str) -> PrintPermit:
        self._check()
        lease_expires_at = datetime.now(UTC) + timedelta(minutes=2)
        return PrintPermit(claim_id=claim_id, ticket_id=ticket_id, lease_expires_at=lease_expires_at)

    def report(
        self,
        claim_id: str,
        outcomes: dict[str, TicketOutcome],
        idempotency_key: str,
        entrance_tokens: dict[str, str] | None = None,
    ) -> ClaimStatus:
        if self.unreachable or self.reports_unreachable:
            raise CentralUnreachable("connection refused")
        self.reports.append((claim_id, outcomes, idempotency_key))
        return ClaimStatus(claim_id=claim_id, open=True, tickets={})


@dataclass
class FakeVerifier:
    """Accepts every token as an order token of ``cinema_id`` (or raises ``error``)."""

    kind: str = KIND_ORDER
    cinema_id: str = CINEMA_ID
    error: TokenError | None = None

    def verify(self, token: str) -> TokenClaims:
        if self.error is not None:
            raise self.error
        return TokenClaims(kind=self.kind, key_id="k1", token_id="j1", order_id="order-1",
                           cinema_id=self.cinema_id, expires_at=NOW + timedelta(days=1))


@dataclass
class FakePrinter:
    """Reports ``status_now``; prints while it can.

    ``paper_after``: paper runs out after that many tickets; ``status_after_print``: the status
    every print leaves; ``hold``: each print waits for ``go`` (and releases ``started`` first).
    """

    status_now: PrinterStatus = GOOD_STATUS
    paper_after: int | None = None
    status_after_print: PrinterStatus | None = None
    hold: bool = False
    printed: list[TicketContent] = field(default_factory=list)
    started: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    go: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def status(self) -> PrinterStatus:
        return self.status_now

    def print_ticket(self, ticket: TicketContent) -> PrintResult:
        if self.hold:
            self.started.release()
            if not self.go.acquire(timeout=10):
                return PrintResult(PrintOutcome.NOT_SENT, self.status_now, "test never let the printer go")
        if not self.status_now.can_print:
            return PrintResult(PrintOutcome.NOT_SENT, self.status_now, "printer not ready")
        self.printed.append(ticket)
        if self.paper_after is not None and len(self.printed) >= self.paper_after:
            self.status_now = PAPER_OUT
        if self.status_after_print is not None:
            self.status_now = self.status_after_print
        return PrintResult(PrintOutcome.PRINTED, self.status_now)

    def close(self) -> None:
        pass


@dataclass
class Rig:
    """A host with the real pickup journey on the fakes (what the app is built from)."""

    host: KioskHost
    flow: PickupFlow
    central: FakeCentral
    verifier: FakeVerifier
    printer: FakePrinter
    clock: ManualClock
    journal: Journal
    availability: Availability = field(default_factory=Availability)


def build_rig(data_dir: Path, worker: Worker | None = None, order: OrderView | None = None,
              availability: Availability | None = None, settings: PickupSection | None = None,
              kiosk_name: str = "") -> Rig:
    central = FakeCentral(order or sample_order())
    verifier = FakeVerifier()
    printer = FakePrinter()
    clock = ManualClock()
    journal = Journal(data_dir / "journal.sqlite3")
    claim_printer = ClaimPrinter(journal, printer, Outbox(journal, central))
    flow = PickupFlow(client=central, verifier=verifier, printer=printer, claim_printer=claim_printer,
                      worker=worker or InlineWorker(), settings=settings or PickupSection(),
                      cinema_id=lambda: CINEMA_ID, timezone="Asia/Shanghai", now=clock,
                      wall_now=lambda: datetime.now(UTC), kiosk_name=kiosk_name)
    rig = Rig(KioskHost(lambda: rig.availability, now=clock), flow, central, verifier, printer, clock, journal,
              availability or Availability())
    rig.host.register(flow, lambda current: current.can_pick_up, starts_on_qr=True)
    return rig


# ---- year-cards: the central's card ledger in memory, and a card + PSAM in-process ----------

CARD_NUMBER = "8800000000000042"
OTHER_CARD_NUMBER = "8800000000000043"
CARD_TERMINAL_ID = bytes.fromhex("310100010007")  # cinema 31010001, kiosk 0007
CARD_TODAY = date(2026, 11, 22)
CARD_LOCAL_NOW = datetime(2026, 11, 22, 18, 5, 9)  # the cinema's wall clock (naive), as the card keeps it


def card_showing(showing_id: str = "show-1", visits_per_person: int = 1, seats_free: int = 50,
                 film_format: str = "2D") -> ShowingOffer:
    start = datetime(2026, 11, 22, 11, 30, tzinfo=UTC)  # 19:30 in Shanghai
    return ShowingOffer(showing_id=showing_id, film_title="流浪地球", film_original_title="The Wandering Earth",
                        hall_name="3号厅", format=film_format, starts_at=start, ends_at=start + timedelta(hours=2),
                        visits_per_person=visits_per_person, seats_free=seats_free)


def small_hall(showing_id: str = "show-1", taken: tuple[tuple[str, str], ...] = (),
               accessible: tuple[tuple[str, str], ...] = (("1", "1"), ("1", "2"))) -> SeatMap:
    """Rows 1..5 (1 nearest the screen) of 8 seats with an aisle after seat 4 (grid column 4 is empty)."""
    seats = []
    for y in range(5):
        for number in range(1, 9):
            x = number - 1 if number <= 4 else number  # column 4 is the aisle
            key = (str(y + 1), str(number))
            seats.append(SeatView(row=key[0], seat=key[1], x=x, y=y,
                                  state=SeatState.TAKEN if key in taken else SeatState.FREE,
                                  accessible=key in accessible))
    return SeatMap(showing_id=showing_id, hall_name="3号厅", columns=9, rows=5, seats=seats)


@dataclass
class FakeCardCentral(FakeCentral):
    """The central's year-card side in memory: taps, showings, seat holds, debits checked by TAC.

    ``tac_key``: the issuer's TAC master key (None: every TAC is taken as valid).  ``fail``: call
    name -> the error that call raises ("tap", "showings", "seats", "hold", "debiting", "confirm",
    "cancel", "claim_owed", "blacklist").  ``status``/``view``: what a tap answers.
    """

    tac_key: bytes | None = None
    status: CardStatus = CardStatus.ACTIVE
    type_name: str = "年卡 10次"
    type_limit: int = 4
    blacklist_reason: str | None = None
    owed: list[RedemptionView] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    showings: list[ShowingOffer] = field(default_factory=lambda: [card_showing()])
    seat_maps: dict[str, SeatMap] = field(default_factory=dict)
    fail: dict[str, Exception] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    redemptions: dict[str, RedemptionView] = field(default_factory=dict)
    notices: dict[str, DebitNotice] = field(default_factory=dict)
    proofs: dict[str, DebitProofBody] = field(default_factory=dict)
    visits_recorded: int = 0
    taps: list[CardTap] = field(default_factory=list)
    blacklist: CardBlacklist = field(default_factory=lambda: CardBlacklist(version=1, card_numbers=[]))

    def _call(self, name: str) -> None:
        self.calls.append(name)
        error = self.fail.get(name)
        if error is not None:
            raise error

    def card_tap(self, tap: CardTap, idempotency_key: str) -> CardView:
        self._call("tap")
        self.taps.append(tap)
        return CardView(card_number=tap.card_number, card_type=tap.card_type, type_name=self.type_name,
                        status=self.status, visits_left=tap.balance, expires_on=tap.expires_on,
                        max_people=min(self.type_limit, tap.balance), blacklist_reason=self.blacklist_reason,
                        history=[CardHistoryEntry(at=r.at, cinema_name="示范影城", visits=r.visits, kind=r.kind,
                                                  balance_after=r.balance_after) for r in tap.records],
                        reconciled=list(self.reconciled), owed=list(self.owed))

    def card_showings(self, card_number: str) -> CardShowings:
        self._call("showings")
        return CardShowings(card_number=card_number, showings=list(self.showings))

    def seat_map(self, showing_id: str) -> SeatMap:
        self._call("seats")
        return self.seat_maps.setdefault(showing_id, small_hall(showing_id))

    def hold_redemption(self, request: RedemptionRequest, idempotency_key: str,
                        staff_token: str | None = None) -> RedemptionView:
        self._call("hold")
        hall = self.seat_map(request.showing_id or "")
        self.calls.pop()  # the seat map read above is the hold's own
        wanted = {(s.row, s.seat) for s in request.seats}
        taken = [f"{s.row}-{s.seat}" for s in hall.seats if (s.row, s.seat) in wanted and s.state is not SeatState.FREE]
        if taken:
            raise CentralRefused(ErrorCode.SEATS_TAKEN, "seats taken", {"seats": ",".join(taken)})
        self._set_seats(request.showing_id or "", wanted, SeatState.HELD)
        showing = next((s for s in self.showings if s.showing_id == request.showing_id), None)
        per_person = showing.visits_per_person if showing is not None else 1
        rid = f"red-{len(self.redemptions) + 1}"
        view = RedemptionView(redemption_id=rid, card_number=request.card_number, kind=request.kind,
                              state=RedemptionState.HELD, visits=len(request.seats) * per_person,
                              showing_id=request.showing_id, seats=list(request.seats),
                              hold_expires_at=datetime.now(UTC) + timedelta(minutes=5))
        self.redemptions[rid] = view
        return view

    def _set_seats(self, showing_id: str, keys: set[tuple[str, str]], state: SeatState) -> None:
        hall = self.seat_maps[showing_id]
        self.seat_maps[showing_id] = hall.model_copy(update={"seats": [
            s.model_copy(update={"state": state}) if (s.row, s.seat) in keys else s for s in hall.seats]})

    def announce_debit(self, redemption_id: str, notice: DebitNotice, idempotency_key: str,
                       staff_token: str | None = None) -> RedemptionView:
        self._call("debiting")
        self.notices[redemption_id] = notice
        view = self.redemptions[redemption_id].model_copy(update={"state": RedemptionState.DEBITING})
        self.redemptions[redemption_id] = view
        return view

    def confirm_redemption(self, redemption_id: str, proof: DebitProofBody, idempotency_key: str,
                           staff_token: str | None = None) -> RedemptionResult:
        self._call("confirm")
        view = self.redemptions[redemption_id]
        if view.state is RedemptionState.CONFIRMED:  # a repeat: the same answer, nothing deducted twice
            return RedemptionResult(redemption=view, claim=self._claim_for(view))
        if self.tac_key is not None and not _tac_valid(self.tac_key, proof):
            raise CentralRefused(ErrorCode.TAC_INVALID, "the TAC does not verify")
        self.proofs[redemption_id] = proof
        self.visits_recorded += proof.visits
        view = view.model_copy(update={"state": RedemptionState.CONFIRMED, "claim_id": f"claim-{redemption_id}"})
        self.redemptions[redemption_id] = view
        self._set_seats(view.showing_id or "", {(s.row, s.seat) for s in view.seats}, SeatState.TAKEN)
        return RedemptionResult(redemption=view, claim=self._claim_for(view))

    def _claim_for(self, view: RedemptionView) -> ClaimResponse:
        return ClaimResponse(
            claim_id=f"claim-{view.redemption_id}", order_id=f"card-{view.redemption_id}",
            lease_expires_at=datetime.now(UTC) + timedelta(minutes=2),
            tickets=[ClaimedTicket(ticket_id=f"{view.redemption_id}-t{i}", row=s.row, seat=s.seat, price_fen=0,
                                   entrance_token=f"TK1.{view.redemption_id}-{i}")
                     for i, s in enumerate(view.seats, start=1)])

    def cancel_redemption(self, redemption_id: str, reason: str, idempotency_key: str,
                          staff_token: str | None = None) -> RedemptionView:
        self._call("cancel")
        view = self.redemptions[redemption_id]
        if view.state is RedemptionState.CONFIRMED:
            raise CentralRefused(ErrorCode.BAD_REQUEST, "a confirmed redemption is not cancelled")
        view = view.model_copy(update={"state": RedemptionState.CANCELLED})
        self.redemptions[redemption_id] = view
        self._set_seats(view.showing_id or "", {(s.row, s.seat) for s in view.seats}, SeatState.FREE)
        return view

    def claim_owed(self, redemption_id: str, card_number: str, idempotency_key: str) -> ClaimResponse:
        self._call("claim_owed")
        view = next(r for r in self.owed if r.redemption_id == redemption_id)
        return self._claim_for(view)

    def card_blacklist(self) -> CardBlacklist:
        self._call("blacklist")
        return self.blacklist


def _tac_valid(tac_key: bytes, proof: DebitProofBody) -> bool:
    kinds = {CardUseKind.TICKETS: crypto.TRANSACTION_TICKET, CardUseKind.CONCESSIONS: crypto.TRANSACTION_CONCESSION}
    pending = PendingDebit(card_number=proof.card_number, card_counter=proof.card_counter, amount=proof.visits,
                           kind=kinds[proof.kind], terminal_id=proof.terminal_id, terminal_seq=proof.terminal_seq,
                           when=proof.at, balance_before=proof.balance_after + proof.visits)
    return DebitProof(pending, proof.tac).verify(tac_key)


@dataclass
class YearCardKit:
    """A personalised year-card on an in-process reader and the kiosk's PSAM, with test master keys.

    ``reader`` is a :class:`devices.sim.card_reader_sim.SimCardReader`: ``pull_at_command``,
    ``remove``, ``put_back`` script a patron.  ``terminal`` is the kiosk's service over both.
    """

    master: crypto.MasterKeys
    reader: SimCardReader
    card: YearCardOS
    psam: PsamOS
    service: YearCardService
    card_path: Path

    def insert(self) -> None:
        self.card.reset()
        self.reader.insert(yc_profile.CARD_ATR, self.card)

    def put_back(self) -> None:
        """The same card back on the reader, powered up afresh."""
        self.insert()

    def insert_other(self, data_dir: Path, number: str = OTHER_CARD_NUMBER, visits: int = 10) -> YearCardOS:
        other = YearCardOS(personalised_image(data_dir / f"card-{number}.json", self.master, number, card_type=3,
                                              visits=visits, made=CARD_TODAY, activated=CARD_TODAY))
        self.reader.insert(yc_profile.CARD_ATR, other)
        return other

    def balance(self) -> int:
        """The visits the card holds (its committed state, on or off the reader)."""
        return int(self.card.state.balance)


def year_card_kit(data_dir: Path, visits: int = 10, activated: date | None = CARD_TODAY,
                  valid_days: int = 365, master: crypto.MasterKeys | None = None,
                  psam_channel: Transmit | None = None) -> YearCardKit:
    """``psam_channel``: in place of the kiosk's PSAM (e.g. one that is not there)."""
    master = master or crypto.MasterKeys.generate()
    store = personalised_image(data_dir / "card.json", master, CARD_NUMBER, card_type=3, visits=visits,
                               made=CARD_TODAY - timedelta(days=30), activated=activated, valid_days=valid_days)
    psam = PsamOS(psam_image(data_dir / "psam.json", master, CARD_TERMINAL_ID))
    reader = SimCardReader()
    card = YearCardOS(store)
    service = YearCardService(reader, psam_channel or handler_channel(psam), timezone="Asia/Shanghai",
                              wall=lambda: CARD_LOCAL_NOW.replace(tzinfo=ZoneInfo("Asia/Shanghai")))
    return YearCardKit(master, reader, card, psam, service, store.path)


@dataclass
class CardRig:
    """A host with the real year-card journey on the fakes and an in-process card + PSAM."""

    host: KioskHost
    flow: CardFlow
    central: FakeCardCentral
    printer: FakePrinter
    clock: ManualClock
    journal: Journal
    kit: YearCardKit
    availability: Availability = field(default_factory=Availability)


def build_card_rig(data_dir: Path, worker: Worker | None = None, visits: int = 10,
                   settings: YearCardSection | None = None, activated: date | None = CARD_TODAY,
                   valid_days: int = 365, psam_channel: Transmit | None = None) -> CardRig:
    """The year-card journey as the app builds it; the reader's events go to the host."""
    kit = year_card_kit(data_dir, visits=visits, activated=activated, valid_days=valid_days,
                        psam_channel=psam_channel)
    central = FakeCardCentral(sample_order(), tac_key=kit.master.tac)
    printer = FakePrinter()
    clock = ManualClock()
    journal = Journal(data_dir / "journal.sqlite3")
    claim_printer = ClaimPrinter(journal, printer, Outbox(journal, central))
    flow = CardFlow(client=central, terminal=kit.service, journal=journal, printer=printer,
                    claim_printer=claim_printer, worker=worker or InlineWorker(),
                    settings=settings or YearCardSection(), timezone="Asia/Shanghai", now=clock,
                    cinema_name=lambda: "示范影城", local_today=lambda: CARD_TODAY)
    rig = CardRig(KioskHost(lambda: rig.availability, now=clock), flow, central, printer, clock, journal, kit)
    rig.host.register(flow, lambda current: not current.card.critical)
    rig.host.set_card_handler(flow.handle_card)
    kit.reader.start(rig.host.card)
    return rig


# ---- the counter (year-cards at the front desk) ------------------------------------------------


@dataclass
class FakeCounterCentral:
    """The central's card and staff routes for the counter's unit tests: a small ledger in memory.

    It is the issuer too (test master keys): sale and renewal answer real secure-update data for
    the card's challenge, and confirmations check the TAC.  ``refuse[name]`` refuses the call
    ``name``; ``unreachable`` holds the names of calls that fail as if the central were down.
    ``calls`` keeps (call, staff token) in order: what the central would have audited.
    """

    master: Any
    publics: dict[str, Any] = field(default_factory=dict)  # card number -> the card's PublicInfo
    visits: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, Any] = field(default_factory=dict)  # card number -> CardStatus
    blacklist_reasons: dict[str, str] = field(default_factory=dict)
    staff: dict[str, tuple[str, Any]] = field(default_factory=dict)  # staff_no -> (password, role)
    attempts_left: dict[str, int] = field(default_factory=dict)
    refuse: dict[str, CentralRefused] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    redemptions: dict[str, Any] = field(default_factory=dict)  # id -> RedemptionView
    today: Any = None  # the cinema's date (sale and renewal)
    showings: list[ShowingOffer] = field(default_factory=list)  # what card_showings answers
    free_seats: int = 10  # one row of free seats in every showing's seat map
    logged_out: list[str] = field(default_factory=list)

    def _enter(self, name: str, token: str | None) -> None:
        self.calls.append((name, token))
        if name in self.unreachable:
            raise CentralUnreachable("connection refused")
        if name in self.refuse:
            raise self.refuse[name]
        if name not in ("staff_login",) and token is not None and token in self.logged_out:
            raise CentralRefused(ErrorCode.STAFF_SESSION_EXPIRED, "log in again")

    def card_view(self, number: str) -> Any:

        public = self.publics[number]
        return CardView(card_number=number, card_type=public.card_type, type_name="Annual 10",
                        status=self.statuses[number], visits_left=self.visits[number], expires_on=public.expires,
                        max_people=min(4, self.visits[number]), blacklist_reason=self.blacklist_reasons.get(number))

    # -- staff --

    def staff_login(self, staff_no: str, password: str) -> Any:
        self._enter("staff_login", None)
        known = self.staff.get(staff_no)
        if self.attempts_left.get(staff_no, 5) <= 0:
            raise CentralRefused(ErrorCode.LOCKED_OUT, "locked", {"retry_after_s": 900})
        if known is None or known[0] != password:
            left = self.attempts_left.get(staff_no, 5) - 1
            self.attempts_left[staff_no] = left
            if left <= 0:
                raise CentralRefused(ErrorCode.LOCKED_OUT, "locked", {"retry_after_s": 900})
            raise CentralRefused(ErrorCode.STAFF_AUTH_FAILED, "wrong", {"attempts_left": left})
        return StaffSession(token=f"tok-{staff_no}-{len(self.calls)}", staff_no=staff_no, name=f"Staff {staff_no}",
                            role=known[1], cinema_id=CINEMA_ID, expires_at=NOW + timedelta(hours=8))

    def staff_logout(self, staff_token: str) -> None:
        self._enter("staff_logout", staff_token)
        self.logged_out.append(staff_token)

    # -- cards --

    def card_tap(self, tap: Any, idempotency_key: str, staff_token: str | None = None) -> Any:
        self._enter("card_tap", staff_token)
        if tap.card_number not in self.publics:
            raise CentralRefused(ErrorCode.CARD_UNKNOWN, "not ours")
        self.visits[tap.card_number] = min(self.visits[tap.card_number], tap.balance)
        return self.card_view(tap.card_number)

    def card_showings(self, card_number: str) -> CardShowings:
        self._enter("card_showings", None)
        return CardShowings(card_number=card_number, showings=list(self.showings))

    def seat_map(self, showing_id: str) -> SeatMap:
        self._enter("seat_map", None)
        seats = [SeatView(row="5", seat=str(n), x=n, y=5, state=SeatState.FREE) for n in range(1, self.free_seats + 1)]
        return SeatMap(showing_id=showing_id, hall_name="1号厅", columns=20, rows=10, seats=seats)

    def hold_redemption(self, request: Any, idempotency_key: str, staff_token: str | None = None) -> Any:
        self._enter("hold_redemption", staff_token)
        view = RedemptionView(redemption_id=f"r{len(self.redemptions) + 1}", card_number=request.card_number,
                              kind=request.kind, state=RedemptionState.HELD,
                              visits=request.visits or len(request.seats), showing_id=request.showing_id,
                              seats=list(request.seats))
        self.redemptions[view.redemption_id] = view
        return view

    def announce_debit(self, redemption_id: str, notice: Any, idempotency_key: str,
                       staff_token: str | None = None) -> Any:
        self._enter("announce_debit", staff_token)
        view = self.redemptions[redemption_id].model_copy(update={"state": RedemptionState.DEBITING})
        self.redemptions[redemption_id] = view
        return view

    def confirm_redemption(self, redemption_id: str, proof: Any, idempotency_key: str,
                           staff_token: str | None = None) -> Any:
        self._enter("confirm_redemption", staff_token)
        kind = crypto.TRANSACTION_CONCESSION if proof.kind.value == "concessions" else crypto.TRANSACTION_TICKET
        purchase = crypto.Purchase(amount=proof.visits, kind=kind, terminal_id=bytes.fromhex(proof.terminal_id),
                                   date=p.bcd_date(proof.at.date()), time=p.bcd_time(proof.at),
                                   terminal_seq=proof.terminal_seq, card_counter=proof.card_counter,
                                   balance_after=proof.balance_after)
        if not crypto.verify_tac(self.master.tac, proof.card_number, purchase, bytes.fromhex(proof.tac)):
            raise CentralRefused(ErrorCode.TAC_INVALID, "bad TAC")
        view = self.redemptions[redemption_id].model_copy(update={"state": RedemptionState.CONFIRMED})
        self.redemptions[redemption_id] = view
        self.visits[proof.card_number] = proof.balance_after
        return RedemptionResult(redemption=view)

    def cancel_redemption(self, redemption_id: str, reason: str, idempotency_key: str,
                          staff_token: str | None = None) -> Any:
        self._enter("cancel_redemption", staff_token)
        view = self.redemptions[redemption_id].model_copy(update={"state": RedemptionState.CANCELLED})
        self.redemptions[redemption_id] = view
        return view

    def _update(self, name: str, number: str, challenge: str, token: str, **changes: Any) -> Any:
        self._enter(name, token)
        public = signed_public(self.master, self.publics[number], **changes)
        mac = crypto.secure_update_mac(self.master.card_keys(number).maintenance, bytes.fromhex(challenge),
                                       p.SECURE_UPDATE_HEADER, public)
        self.publics[number] = p.parse_public(ApduResponse(public, 0x90, 0x00))
        self.statuses[number] = CardStatus.ACTIVE
        return CardUpdate(update_data=(public + mac).hex().upper(), card=self.card_view(number))

    def sell_card(self, card_number: str, challenge: str, staff_token: str, idempotency_key: str,
                  valid_days: int | None = None) -> Any:
        day = self.today
        return self._update("sell_card", card_number, challenge, staff_token, sold=True, activated=day,
                            expires=day + timedelta(days=valid_days or 365))

    def renew_card(self, card_number: str, challenge: str, staff_token: str, idempotency_key: str,
                   valid_days: int | None = None) -> Any:
        current = self.publics[card_number].expires
        base = max(self.today, current)
        return self._update("renew_card", card_number, challenge, staff_token,
                            expires=base + timedelta(days=valid_days or 365))

    def recycle_card(self, card_number: str, staff_token: str, idempotency_key: str) -> Any:
        self._enter("recycle_card", staff_token)
        self.statuses[card_number] = CardStatus.RECYCLED
        return self.card_view(card_number)

    def blacklist_card(self, card_number: str, reason: str, staff_token: str, idempotency_key: str) -> Any:
        self._enter("blacklist_card", staff_token)
        self.statuses[card_number] = CardStatus.BLACKLISTED
        self.blacklist_reasons[card_number] = reason
        return self.card_view(card_number)

    def unblacklist_card(self, card_number: str, staff_token: str) -> Any:
        self._enter("unblacklist_card", staff_token)
        self.statuses[card_number] = CardStatus.ACTIVE
        self.blacklist_reasons.pop(card_number, None)
        return self.card_view(card_number)
