"""The patron's year-card journey as a plain state machine (no Kivy).

    card on the reader -> READING -> CARD (number, type, visits, expiry, history; owed tickets)
      -> SHOWINGS -> PEOPLE -> SEATS -> CONFIRM -> HOLDING -> DEBITING -> PRINTING -> DONE
                                                         \\-> PUT_CARD_BACK -> RECOVERING -/

Every refusal lands on REFUSED with its own message key and what to do next.

The order of a redemption, each step journaled before the next acts (kiosk/journal.py):

1. the central holds the seats and records a pending redemption (REDEMPTIONS);
2. the terminal reads the card again (the same card must still be there), asks the card and the
   PSAM for the debit's session, and hands the pending debit to ``on_pending``: the flow journals
   it and announces it to the central (DEBITING) *before* DEBIT FOR PURCHASE goes to the card;
3. the card debits and answers its TAC; the proof is journaled, then sent (CONFIRM);
4. the central answers the claim; its tickets print through the shared claim printing path
   (:class:`kiosk.claims.ClaimPrinter`: leave to print, exactly once, owed after paper out,
   in doubt to staff).

A card pulled during the debit: the patron is asked to put it back; the terminal recovers the
debit (GET TRANSACTION PROVE, the card's log) and the flow completes it (a proof) or voids it
(not debited: the seats are released and no visit was used).  A different card is refused.
When even that cannot settle it, the central reconciles at the card's next tap and offers
any tickets owed for printing then (:meth:`CardFlow.print_owed`).

Offline (the central unreachable) the card is still read and shown with its own data and
history, and the cached blacklist applies; redemption is refused (Chinese cinema rules).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from backend_client.errors import CentralError, CentralRefused, CentralUnreachable
from backend_client.wire import (
    CardRecordView,
    CardShowings,
    CardStatus,
    CardTap,
    CardUseKind,
    CardView,
    ClaimResponse,
    DebitNotice,
    DebitProofBody,
    ErrorCode,
    RedemptionRequest,
    RedemptionResult,
    RedemptionView,
    SeatMap,
    SeatRef,
    ShowingOffer,
)
from devices.card_api import CardEvent, CardEventKind
from devices.health import Health
from devices.printer_api import PrinterStatus, TicketContent, TicketPrinter
from devices.yearcard import crypto
from devices.yearcard.profile import CardLife, TransactionRecord, mask_card_number
from devices.yearcard.terminal import (
    BlankCard,
    CardIntegrityError,
    CardReading,
    CardUnavailable,
    DebitedWithoutProof,
    DebitInterrupted,
    DebitProof,
    Mac2Refused,
    NotAYearCard,
    NotDebited,
    NotEnoughVisits,
    PendingDebit,
    PsamError,
    RecoveryUnknown,
    WrongCard,
    YearCardError,
)
from kiosk.claims import ClaimPrinter, ClaimResult, TicketProgress, order_reference
from kiosk.flows import card_seats
from kiosk.flows.card_seats import SeatKey
from kiosk.flows.journey import IdleTimeouts, Journey, JourneyState, NavView
from kiosk.flows.runtime import Message, Worker
from kiosk.journal import CardDebitState, Journal
from kiosk.yearcard import proof_body

log = logging.getLogger(__name__)


class Step(str, enum.Enum):
    IDLE = "idle"
    INSERT_CARD = "insert_card"  # "Year-card" chosen on the home screen: put your card on the reader
    READING = "reading"  # the card is being read and checked (PSAM, then the central)
    CARD = "card"  # the card's facts; Redeem, and tickets owed
    SHOWINGS = "showings"  # today's showings the card covers
    PEOPLE = "people"
    SEATS = "seats"
    CONFIRM = "confirm"  # showing, seats, visits to be deducted
    HOLDING = "holding"  # the central holds the seats
    DEBITING = "debiting"  # the card is being debited: keep it on the reader
    PUT_CARD_BACK = "put_card_back"  # the card left during the debit
    RECOVERING = "recovering"  # the card is back: did the debit happen?
    PRINTING = "printing"
    DONE = "done"
    REFUSED = "refused"


class CardClient(Protocol):
    """The central's year-card calls the journey makes (backend_client.client.CentralClient has them)."""

    def card_tap(self, tap: CardTap, idempotency_key: str) -> CardView: ...

    def card_showings(self, card_number: str) -> CardShowings: ...

    def seat_map(self, showing_id: str) -> SeatMap: ...

    def hold_redemption(self, request: RedemptionRequest, idempotency_key: str,
                        staff_token: str | None = None) -> RedemptionView: ...

    def announce_debit(self, redemption_id: str, notice: DebitNotice, idempotency_key: str,
                       staff_token: str | None = None) -> RedemptionView: ...

    def confirm_redemption(self, redemption_id: str, proof: DebitProofBody, idempotency_key: str,
                           staff_token: str | None = None) -> RedemptionResult: ...

    def cancel_redemption(self, redemption_id: str, reason: str, idempotency_key: str,
                          staff_token: str | None = None) -> RedemptionView: ...

    def claim_owed(self, redemption_id: str, card_number: str, idempotency_key: str) -> ClaimResponse: ...


class CardTerminal(Protocol):
    """The card and its PSAM (kiosk.yearcard.YearCardService; devices.yearcard.terminal.YearCardTerminal)."""

    def read(self) -> CardReading: ...

    def debit(self, visits: int, kind: int = crypto.TRANSACTION_TICKET, expect_card: str | None = None,
              on_pending: Callable[[PendingDebit], None] | None = None) -> DebitProof: ...

    def recover(self, pending: PendingDebit) -> DebitProof | NotDebited | DebitedWithoutProof: ...


class CardTimeouts(IdleTimeouts, Protocol):
    """How long the journey waits for a person (config [yearcard]): every journey's, and for a card
    pulled during its debit."""

    @property
    def put_back_timeout_s(self) -> float: ...


# ---- what the screens show ----------------------------------------------------------------


@dataclass(frozen=True)
class CardRecordLine:
    """One of the card's own last transactions (read from the chip), newest first."""

    at: dt.datetime  # the card's wall-clock time (the cinema's local time, naive)
    visits: int
    kind: str  # "tickets" | "concessions" | "load"
    cinema_code: str  # the terminal's cinema (8 hex digits)
    balance_after: int


@dataclass(frozen=True)
class CardSummary:
    """The card on the reader, as the card screen shows it."""

    masked_number: str
    card_type: int
    type_name: str  # "" when offline (the type's name is the central's)
    visits_left: int
    expires_on: dt.date | None
    max_people: int  # per redemption (the type's limit and the visits left)
    offline: bool  # read from the card alone: the central could not be reached


@dataclass(frozen=True)
class HistoryLine:
    """One use of the card since its current issue, from the central (online only)."""

    at: dt.datetime
    cinema_name: str
    visits: int
    kind: str
    balance_after: int


@dataclass(frozen=True)
class OwedLine:
    """A redemption debited from this card whose tickets were never printed."""

    redemption_id: str
    visits: int
    seats: int
    showing_id: str | None
    showing: ShowingOffer | None = None  # film, hall and time, when the central gave them


@dataclass(frozen=True)
class CardState(JourneyState):
    step: Step = Step.IDLE
    card: CardSummary | None = None
    records: tuple[CardRecordLine, ...] = ()  # the card's own log, newest first
    history: tuple[HistoryLine, ...] = ()  # the central's history since the current issue
    owed: tuple[OwedLine, ...] = ()  # tickets debited earlier and never printed: print_owed()
    redeem_block: Message | None = None  # why Redeem is off (offline, no visits left); None: allowed
    card_present: bool = False  # the card is on the reader now
    loading: bool = False  # showings or the seat map are on their way
    showings: tuple[ShowingOffer, ...] = ()
    showing: ShowingOffer | None = None
    people: int = 1
    max_people: int = 0  # for the chosen showing: the type's limit and the visits left
    seat_map: SeatMap | None = None
    selected: tuple[SeatKey, ...] = ()  # (row, seat), in the order chosen
    notice: Message | None = None  # a passing remark: seats just taken, party full, card removed
    printer_problem: Message | None = None  # shown on confirm: confirming is off
    redemption_id: str | None = None
    wrong_card: bool = False  # on PUT_CARD_BACK: the card put back is not the one being debited
    printed: int = 0
    total_tickets: int = 0
    in_doubt: int = 0
    tickets_owed: int = 0  # debited tickets not printed this time: offered again at the card's next tap
    visits_used: int = 0  # deducted by this visit (shown on DONE)
    result_note: Message | None = None  # why printing ended early, or what happens to tickets owed
    notices: tuple[Message, ...] = field(default=())

    @property
    def visits_per_person(self) -> int:
        return self.showing.visits_per_person if self.showing is not None else 1

    @property
    def visits_to_deduct(self) -> int:
        """What the confirm screen says will be taken off the card."""
        return self.people * self.visits_per_person

    @property
    def seats_complete(self) -> bool:
        return len(self.selected) == self.people

    @property
    def seats_together(self) -> bool:
        return self.seat_map is None or card_seats.together(self.seat_map, self.selected)

    @property
    def can_redeem(self) -> bool:
        return self.step is Step.CARD and self.redeem_block is None and self.card is not None

    @property
    def can_confirm(self) -> bool:
        return (self.step is Step.CONFIRM and self.seats_complete and self.card_present
                and self.printer_problem is None)


# ---- refusals -------------------------------------------------------------------------------

_REFUSAL_HINTS: Mapping[ErrorCode, str] = {
    ErrorCode.CARD_UNKNOWN: "hint.card_unknown",
    ErrorCode.CARD_NOT_SOLD: "hint.card_activate_at_counter",
    ErrorCode.CARD_EXPIRED: "hint.card_renew_at_counter",
    ErrorCode.CARD_RECYCLED: "hint.card_return_at_counter",
    ErrorCode.CARD_BLACKLISTED: "hint.see_staff",
    ErrorCode.CARD_MISMATCH: "hint.see_staff",
    ErrorCode.NOT_ENOUGH_VISITS: "hint.card_fewer_people",
    ErrorCode.NOT_COVERED: "hint.card_other_showing",
    ErrorCode.TOO_MANY_PEOPLE: "hint.card_fewer_people",
    ErrorCode.SEATS_TAKEN: "hint.card_other_seats",
    ErrorCode.SHOWING_NOT_FOUND: "hint.card_other_showing",
    ErrorCode.REDEMPTION_NOT_FOUND: "hint.try_again",
    ErrorCode.REDEMPTION_EXPIRED: "hint.try_again",
    ErrorCode.TAC_INVALID: "hint.see_staff",
}

# The card's own life, when the central cannot be asked (offline), or before it is.
_LIFE_REFUSALS: Mapping[CardLife, tuple[str, str]] = {
    CardLife.NOT_SOLD: ("refusal.card_not_sold", "hint.card_activate_at_counter"),
    CardLife.NOT_YET_VALID: ("refusal.card_not_yet_valid", "hint.see_staff"),
    CardLife.EXPIRED: ("refusal.card_expired", "hint.card_renew_at_counter"),
}

_STATUS_REFUSALS: Mapping[CardStatus, ErrorCode] = {
    CardStatus.MADE: ErrorCode.CARD_NOT_SOLD,
    CardStatus.EXPIRED: ErrorCode.CARD_EXPIRED,
    CardStatus.RECYCLED: ErrorCode.CARD_RECYCLED,
    CardStatus.BLACKLISTED: ErrorCode.CARD_BLACKLISTED,
}

_KINDS = {crypto.TRANSACTION_TICKET: CardUseKind.TICKETS, crypto.TRANSACTION_CONCESSION: CardUseKind.CONCESSIONS}

# Steps where a card on the reader starts (or restarts) a reading.
_READ_ON_INSERT = frozenset({Step.IDLE, Step.INSERT_CARD, Step.CARD, Step.REFUSED, Step.DONE})
# Steps of a redemption being chosen: the card may leave and come back (the debit checks it is the same).
_CHOOSING = frozenset({Step.SHOWINGS, Step.PEOPLE, Step.SEATS, Step.CONFIRM})


class CardFlow(Journey[CardState]):
    name = "card"
    IDLE_STEP = Step.IDLE
    REFUSED_STEP = Step.REFUSED
    FINISHED_STEPS = frozenset({Step.DONE})
    BUSY_STEPS = frozenset({Step.READING, Step.HOLDING, Step.DEBITING, Step.RECOVERING, Step.PRINTING,
                            Step.PUT_CARD_BACK})
    REFUSAL_HINTS = _REFUSAL_HINTS

    def __init__(
        self,
        *,
        client: CardClient,
        terminal: CardTerminal,
        journal: Journal,
        printer: TicketPrinter,
        claim_printer: ClaimPrinter,
        worker: Worker,
        settings: CardTimeouts,
        timezone: str,
        now: Callable[[], float],
        cinema_name: Callable[[], str] = lambda: "",
        local_today: Callable[[], dt.date] | None = None,
    ) -> None:
        """``timezone``: the cinema's (the card keeps local wall-clock time); ``now``: monotonic seconds."""
        super().__init__(CardState(), worker=worker, timeouts=settings, now=now)
        self._client = client
        self._terminal = terminal
        self._journal = journal
        self._printer = printer
        self._claims = claim_printer
        self._settings = settings
        self._zone = ZoneInfo(timezone)
        self._cinema_name = cinema_name
        self._local_today = local_today or (lambda: dt.datetime.now(self._zone).date())
        self._card_number: str | None = None  # never in the state: screens show it masked
        self._reading: CardReading | None = None
        self._view: CardView | None = None
        self._pending: PendingDebit | None = None  # the torn debit to recover
        self._put_back_since = 0.0
        self._inserts = 0  # cards put on the reader so far: a recovery that missed the card tries again
        self._stop_printing = threading.Event()

    # -- starting ----------------------------------------------------------------------------

    def start(self) -> None:
        """"Year-card" on the home screen: ask for the card (a card already on the reader is read)."""
        self._touch()
        if self._state.step is Step.IDLE:
            self._set(step=Step.INSERT_CARD)

    def handle_card(self, event: CardEvent) -> bool:
        """A card inserted or removed (from the host, on the main loop).  True: taken."""
        step = self._state.step
        if event.kind is CardEventKind.REMOVED:
            return self._card_removed(step)
        self._inserts += 1
        if step is Step.PUT_CARD_BACK:
            self._touch()
            self._set(card_present=True)
            self._recover()
            return True
        if step in _READ_ON_INSERT:
            self._touch()
            self._read()
            return True
        if step in _CHOOSING or step in (Step.HOLDING, Step.DEBITING, Step.PRINTING, Step.RECOVERING):
            self._set(card_present=True, notice=None)
            return True
        return False

    def _card_removed(self, step: Step) -> bool:
        if step is Step.IDLE:
            return False
        if step is Step.READING:
            log.info("year-card removed while it was read: back home")
            self.reset()
            return True
        if step is Step.INSERT_CARD:
            return True
        notice = Message.of("card.put_card_back_to_confirm") if step in _CHOOSING else self._state.notice
        self._set(card_present=False, notice=notice)
        return True

    # -- reading -----------------------------------------------------------------------------

    def _read(self) -> None:
        self._end_session()  # a reading in flight for another card is dropped
        self._reset_card()
        self._set(step=Step.READING, card_present=True, refusal=None, refusal_hint=None, still_there=False,
                  card=None, records=(), history=(), owed=(), redeem_block=None, notice=None)
        self._submit(self._read_job, self._read_done)

    def _read_job(self) -> tuple[CardReading, CardView | None, CentralError | None]:
        reading = self._terminal.read()
        tap = _tap_of(reading)
        try:
            view = self._client.card_tap(tap, uuid.uuid4().hex)
        except CentralError as exc:
            return reading, None, exc
        if view.reconciled:
            self._journal.settle_reconciled(view.reconciled)
        return reading, view, None

    def _read_done(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            self._refuse_card_error(error)
            return
        reading, view, central_error = result
        self._reading = reading
        self._card_number = reading.card_number
        masked = mask_card_number(reading.card_number)
        records = tuple(_record_line(r) for r in reading.records)
        if central_error is None:
            assert view is not None
            self._show_online(reading, view, records, masked)
        elif isinstance(central_error, CentralUnreachable):
            self._show_offline(reading, records, masked)
        else:
            log.info("year-card %s refused at the tap", masked)
            self._refuse_for(central_error)
            self._set(records=records)

    def _show_online(self, reading: CardReading, view: CardView, records: tuple[CardRecordLine, ...],
                     masked: str) -> None:
        self._view = view
        code = _STATUS_REFUSALS.get(view.status)
        summary = CardSummary(masked_number=masked, card_type=view.card_type, type_name=view.type_name,
                              visits_left=view.visits_left, expires_on=view.expires_on,
                              max_people=view.max_people, offline=False)
        history = tuple(HistoryLine(h.at, h.cinema_name, h.visits, h.kind.value, h.balance_after)
                        for h in view.history)
        owed = tuple(OwedLine(r.redemption_id, r.visits, len(r.seats), r.showing_id, r.showing) for r in view.owed)
        if code is not None and not owed:
            log.info("year-card %s refused: %s", masked, code.value)
            params: dict[str, str | int | float] = {}
            if code is ErrorCode.CARD_EXPIRED and view.expires_on is not None:
                params["expires_on"] = view.expires_on.isoformat()
            if code is ErrorCode.CARD_BLACKLISTED and view.blacklist_reason:
                params["reason"] = view.blacklist_reason
            self._refuse(Message.of(f"refusal.{code.value}", **params),
                         Message.of(_REFUSAL_HINTS.get(code, "hint.see_staff")),
                         card=summary, records=records, history=history)
            return
        block = None
        if code is not None:
            block = Message.of(f"refusal.{code.value}")
        elif view.visits_left < 1:
            block = Message.of("card.no_visits_left")
        log.info("year-card %s read: %d visit(s) left", masked, view.visits_left)
        self._touch()
        self._set(step=Step.CARD, card=summary, records=records, history=history, owed=owed, redeem_block=block)

    def _show_offline(self, reading: CardReading, records: tuple[CardRecordLine, ...], masked: str) -> None:
        public = reading.public
        if self._journal.card_blacklisted(reading.card_number):
            log.info("year-card %s refused offline: on the cached blacklist", masked)
            self._refuse(Message.of("refusal.card_blacklisted"), Message.of("hint.see_staff"), records=records)
            return
        life = public.life_on(self._local_today())
        summary = CardSummary(masked_number=masked, card_type=public.card_type, type_name="",
                              visits_left=reading.balance, expires_on=public.expires, max_people=0, offline=True)
        if life is not CardLife.ACTIVE:
            key, hint = _LIFE_REFUSALS[life]
            params = {"expires_on": public.expires.isoformat()} if life is CardLife.EXPIRED and public.expires else {}
            log.info("year-card %s refused offline: %s", masked, life.value)
            self._refuse(Message.of(key, **params), Message.of(hint), card=summary, records=records)
            return
        log.info("year-card %s read offline: %d visit(s) left", masked, reading.balance)
        self._touch()
        self._set(step=Step.CARD, card=summary, records=records, history=(), owed=(),
                  redeem_block=Message.of("card.offline_no_redemption"))

    def _refuse_card_error(self, error: BaseException) -> None:
        """A card or PSAM that could not be read: each its own refusal and next step."""
        if isinstance(error, CardUnavailable):
            if not self._state.card_present:
                self.reset()
                return
            log.info("year-card could not be read: %s", error)
            self._refuse(Message.of("refusal.card_unreadable"), Message.of("hint.card_try_again"))
        elif isinstance(error, NotAYearCard | BlankCard):
            log.info("a card that is not one of this chain's year-cards: %s", error)
            self._refuse(Message.of("refusal.card_unknown"), Message.of("hint.card_unknown"))
        elif isinstance(error, CardIntegrityError):
            log.warning("year-card failed its integrity check: %s", error)
            self._refuse(Message.of("refusal.card_mismatch"), Message.of("hint.see_staff"))
        elif isinstance(error, PsamError):
            log.warning("year-card service out of order: %s", error)
            self._refuse(Message.of("refusal.card_service_down"), Message.of("hint.see_staff"))
        elif isinstance(error, YearCardError):
            log.info("year-card could not be read: %s", error)
            self._refuse(Message.of("refusal.card_unreadable"), Message.of("hint.card_try_again"))
        else:
            self._refuse_for(error)

    # -- choosing a showing, people and seats -----------------------------------------------

    def redeem(self) -> None:
        """Redeem on the card screen: today's showings the card covers."""
        self._touch()
        if not self._state.can_redeem or self._card_number is None:
            return
        number = self._card_number
        self._set(step=Step.SHOWINGS, loading=True, showings=(), showing=None, notice=None, still_there=False)

        def done(result: CardShowings | None, error: BaseException | None) -> None:
            if error is not None:
                self._refuse_for(error)
                return
            assert result is not None
            self._set(loading=False, showings=tuple(result.showings),
                      notice=None if result.showings else Message.of("card.no_showings_today"))

        self._submit(lambda: self._client.card_showings(number), done)

    def choose_showing(self, showing_id: str) -> None:
        """A showing tapped: on to the number of people (at most the type's limit and the visits left)."""
        self._touch()
        if self._state.step is not Step.SHOWINGS or self._state.card is None:
            return
        showing = next((s for s in self._state.showings if s.showing_id == showing_id), None)
        if showing is None:
            return
        card = self._state.card
        most = min(card.max_people, card.visits_left // showing.visits_per_person, showing.seats_free)
        if most < 1:
            reason = "card.showing_full" if showing.seats_free < 1 else "card.not_enough_visits_for_showing"
            self._set(notice=Message.of(reason))
            return
        self._set(step=Step.PEOPLE, showing=showing, max_people=most, people=1, selected=(), seat_map=None,
                  notice=None, still_there=False)

    def set_people(self, people: int) -> None:
        """The number of people (1 .. max_people); a larger party keeps its first seats."""
        self._touch()
        if self._state.step not in (Step.PEOPLE, Step.SEATS):
            return
        people = max(1, min(int(people), self._state.max_people))
        self._set(people=people, selected=self._state.selected[:people], notice=None, still_there=False)

    def add_person(self) -> None:
        self.set_people(self._state.people + 1)

    def remove_person(self) -> None:
        self.set_people(self._state.people - 1)

    def choose_seats(self) -> None:
        """People chosen: load the showing's seat map."""
        self._touch()
        state = self._state
        if state.step is not Step.PEOPLE or state.showing is None:
            return
        self._set(step=Step.SEATS, loading=True, notice=None, still_there=False)
        self._load_seat_map(state.showing.showing_id)

    def _load_seat_map(self, showing_id: str, notice: Message | None = None) -> None:
        def done(seat_map: SeatMap | None, error: BaseException | None) -> None:
            if error is not None:
                self._refuse_for(error)
                return
            assert seat_map is not None
            self._set(loading=False, seat_map=seat_map,
                      selected=card_seats.still_free(seat_map, self._state.selected), notice=notice)

        self._submit(lambda: self._client.seat_map(showing_id), done)

    def toggle_seat(self, row: str, seat: str) -> None:
        """A seat tapped: chosen or no longer chosen (taken seats and a full party change nothing)."""
        self._touch()
        state = self._state
        if state.step is not Step.SEATS or state.seat_map is None:
            return
        selected = card_seats.toggle(state.seat_map, state.selected, (row, seat), state.people)
        if selected is None:
            full = len(state.selected) >= state.people
            self._set(notice=Message.of("card.party_full", people=state.people) if full else None)
            return
        self._set(selected=selected, notice=None, still_there=False)

    def best_available(self) -> None:
        """One tap: the best seats for the whole party, together where possible."""
        self._touch()
        state = self._state
        if state.step is not Step.SEATS or state.seat_map is None:
            return
        chosen = card_seats.best_available(state.seat_map, state.people)
        if not chosen:
            self._set(notice=Message.of("card.not_enough_seats"))
            return
        self._set(selected=chosen, notice=None, still_there=False)

    def clear_seats(self) -> None:
        self._touch()
        if self._state.step is Step.SEATS:
            self._set(selected=(), notice=None)

    def seats_chosen(self) -> None:
        """Seats for every person chosen: on to confirm (which checks the printer)."""
        self._touch()
        if self._state.step is not Step.SEATS or not self._state.seats_complete:
            return
        self._set(step=Step.CONFIRM, printer_problem=None, notice=None if self._state.card_present
                  else Message.of("card.put_card_back_to_confirm"), still_there=False)
        self.check_printer()

    def check_printer(self) -> None:
        """Never deduct a visit for a ticket the printer cannot print now."""

        def done(status: PrinterStatus | None, error: BaseException | None) -> None:
            if self._state.step is not Step.CONFIRM:
                return
            if error is not None:
                log.warning("the printer's status could not be read: %s", error)
            problem = _printer_problem(status) if error is None and status is not None \
                else Message.of("printer.unknown")
            self._set(printer_problem=problem)

        self._submit(self._printer.status, done)

    def printer_health_changed(self, health: Health) -> None:
        if self._state.step is Step.CONFIRM:
            self.check_printer()

    # -- the redemption ---------------------------------------------------------------------

    def confirm(self) -> None:
        """Confirm: hold the seats, debit the card through the PSAM, confirm with the TAC, print."""
        self._touch()
        state = self._state
        if not state.can_confirm or state.showing is None or self._card_number is None:
            return
        number = self._card_number
        showing = state.showing
        seats = [SeatRef(row=row, seat=seat) for row, seat in state.selected]
        session = self._session
        self._stop_printing.clear()
        self._set(step=Step.HOLDING, notice=None, still_there=False, printed=0, in_doubt=0, tickets_owed=0,
                  total_tickets=len(seats), visits_used=0, result_note=None, redemption_id=None)

        def post(**changes: object) -> None:
            self._post_guarded(session, lambda: self._set(**changes))

        def job() -> _Outcome:
            status = self._printer.status()  # the last look right before the seats are held
            problem = _printer_problem(status)
            if problem is not None:
                return _Outcome("printer", problem=problem)
            request = RedemptionRequest(card_number=number, kind=CardUseKind.TICKETS,
                                        showing_id=showing.showing_id, seats=seats)
            redemption = self._client.hold_redemption(request, uuid.uuid4().hex)
            post(step=Step.DEBITING, redemption_id=redemption.redemption_id)
            return self._debit_and_complete(number, redemption, showing, session)

        self._submit(job, self._redemption_done)

    def _debit_and_complete(self, number: str, redemption: RedemptionView, showing: ShowingOffer | None,
                            session: int) -> _Outcome:
        """On the worker: the debit (journaled and announced first), then the confirmation and the print."""
        rid = redemption.redemption_id

        def on_pending(pending: PendingDebit) -> None:
            self._journal.card_debit_pending(rid, pending.to_dict(), showing.model_dump(mode="json")
                                             if showing is not None else None)
            notice = DebitNotice(card_counter=pending.card_counter, terminal_id=pending.terminal_id,
                                 terminal_seq=pending.terminal_seq, at=pending.when)
            self._client.announce_debit(rid, notice, f"{rid}:debiting")  # raises: DEBIT is never sent

        try:
            proof = self._terminal.debit(redemption.visits, crypto.TRANSACTION_TICKET,
                                         expect_card=number, on_pending=on_pending)
        except Mac2Refused as exc:
            proof = exc.proof  # debited: the central checks the TAC as issuer
        except DebitInterrupted as exc:
            log.warning("year-card %s: the debit was interrupted (%s)", mask_card_number(number), exc)
            return _Outcome("interrupted", pending=exc.pending, redemption_id=rid)
        except (YearCardError, CentralError) as exc:
            self._void(rid, "not_debited")
            return _Outcome("not_debited", error=exc, redemption_id=rid)
        return self._complete(rid, proof, showing, session)

    def _complete(self, rid: str, proof: DebitProof, showing: ShowingOffer | None, session: int) -> _Outcome:
        """The card was debited: journal the proof, confirm it with the central, print the claim."""
        self._journal.card_debit_proven(rid, proof.to_dict())
        pending = proof.pending
        body = proof_body(proof)
        try:
            result = self._client.confirm_redemption(rid, body, f"{rid}:confirm")
        except CentralRefused as exc:
            log.warning("year-card %s: the central refused the debit's proof (%s)",
                        mask_card_number(pending.card_number), exc.code.value)
            self._journal.card_debit_settle(rid, CardDebitState.REFUSED, exc.code.value)
            return _Outcome("proof_refused", error=exc, redemption_id=rid, visits=pending.amount)
        except CentralError as exc:
            log.warning("year-card %s debited; the confirmation waits for the central (%s)",
                        mask_card_number(pending.card_number), exc)
            return _Outcome("confirm_later", redemption_id=rid, visits=pending.amount)
        self._journal.card_debit_settle(rid, CardDebitState.CONFIRMED)
        self._journal.record_card_transaction(body.model_dump(mode="json"), rid)
        if result.claim is None:
            return _Outcome("no_claim", redemption_id=rid, visits=pending.amount)
        printed = self._print_claim(result.claim, showing, session)
        return _Outcome("printed", redemption_id=rid, visits=pending.amount, printed=printed)

    def _print_claim(self, claim: ClaimResponse, showing: ShowingOffer | None, session: int) -> ClaimResult:
        self._post_guarded(session, lambda: self._set(step=Step.PRINTING, total_tickets=len(claim.tickets),
                                                      printed=0))
        self._claims.record(claim, self.ticket_contents(claim, showing))

        def progress(update: TicketProgress) -> None:
            self._post_guarded(session, lambda: self._on_progress(update))

        return self._claims.print_claim(claim.claim_id, self._stop_printing.is_set, progress)

    def ticket_contents(self, claim: ClaimResponse, showing: ShowingOffer | None) -> list[TicketContent]:
        """What each ticket of a redemption's claim prints (the showing as the card's offer named it)."""
        total = len(claim.tickets)
        start = showing.starts_at.astimezone(self._zone) if showing is not None else dt.datetime.now(self._zone)
        return [
            TicketContent(
                ticket_id=ticket.ticket_id,
                cinema_name=(showing.cinema_name if showing is not None and showing.cinema_name
                             else self._cinema_name()),
                film_title=showing.film_title if showing is not None else "",
                film_original_title=(showing.film_original_title if showing is not None
                                     and showing.film_original_title != showing.film_title else None),
                hall_name=showing.hall_name if showing is not None else "",
                show_start=start,
                row=ticket.row,
                seat=ticket.seat,
                price_fen=ticket.price_fen,
                entrance_token=ticket.entrance_token,
                order_ref=order_reference(claim.order_id),
                sequence=f"{index}/{total}",
            )
            for index, ticket in enumerate(claim.tickets, start=1)
        ]

    def _on_progress(self, update: TicketProgress) -> None:
        if update.state.value == "printed":
            self._set(printed=self._state.printed + 1)

    def _void(self, rid: str, reason: str) -> None:
        """The card was not debited: the journal says so first, then the central releases the seats."""
        self._journal.card_debit_settle(rid, CardDebitState.NOT_DEBITED, reason)
        try:
            self._client.cancel_redemption(rid, reason, f"{rid}:cancel")
            self._journal.card_debit_cancelled(rid)
        except CentralError as exc:  # the hold runs out or the flush cancels it when the central is back
            log.info("redemption %s: the cancellation waits for the central (%s)", rid, exc)

    def _redemption_done(self, outcome: _Outcome | None, error: BaseException | None) -> None:
        if error is not None:  # the hold itself failed: nothing was debited
            if isinstance(error, CentralRefused) and error.code is ErrorCode.SEATS_TAKEN:
                self._seats_taken()
                return
            self._refuse_for(error)
            return
        assert outcome is not None
        self._touch()
        kind = outcome.kind
        if kind == "printer":
            self._set(step=Step.CONFIRM, printer_problem=outcome.problem)
        elif kind == "interrupted":
            assert outcome.pending is not None
            self._pending = outcome.pending
            self._put_back_since = self._now()
            self._recover()  # the card may still be there (a mute moment) or already back: asked first
        elif kind == "not_debited":
            self._refuse_not_debited(outcome.error)
        elif kind == "proof_refused":
            assert isinstance(outcome.error, BaseException)
            self._refuse_for(outcome.error)
        elif kind in ("confirm_later", "no_claim"):
            self._set(step=Step.DONE, visits_used=outcome.visits, tickets_owed=self._state.total_tickets,
                      printed=0, result_note=Message.of("card.tickets_at_next_tap"))
        else:
            self._finish_printing(outcome)

    def _refuse_not_debited(self, error: BaseException | None) -> None:
        """Nothing taken off the card: say why, and that no visit was used."""
        hint = Message.of("hint.card_no_visit_used")
        if isinstance(error, WrongCard):
            self._refuse(Message.of("refusal.card_wrong_card"), hint)
        elif isinstance(error, NotEnoughVisits):
            self._refuse(Message.of("refusal.not_enough_visits"), hint)
        elif isinstance(error, CardUnavailable):
            self._refuse(Message.of("refusal.card_removed_before_debit"), hint)
        elif isinstance(error, CardIntegrityError):
            self._refuse(Message.of("refusal.card_mismatch"), hint)
        elif isinstance(error, PsamError):
            log.warning("year-card service out of order: %s", error)
            self._refuse(Message.of("refusal.card_service_down"), hint)
        elif isinstance(error, CentralError):
            self._refuse_for(error)
            self._set(refusal_hint=hint)
        else:
            self._refuse(Message.of("refusal.card_unreadable"), hint)

    def _seats_taken(self) -> None:
        """Someone took a chosen seat first: back to the map, fresh, keeping the seats still free."""
        showing = self._state.showing
        if showing is None:
            self.reset()
            return
        self._set(step=Step.SEATS, loading=True)
        self._load_seat_map(showing.showing_id, notice=Message.of("refusal.seats_taken"))

    def _finish_printing(self, outcome: _Outcome) -> None:
        result = outcome.printed
        assert result is not None
        note = None
        owed = result.released
        if result.stopped_by_central:  # the visits are used: what did not print is owed at the next tap
            log.info("year-card tickets stopped by the central (%s)", result.stopped_by_central)
            note = Message.of("card.tickets_at_next_tap")
        elif result.printer_detail:
            note = Message.of(f"printer.{result.printer_detail}")
        if owed and note is None:
            note = Message.of("card.tickets_at_next_tap")
        log.info("year-card redemption %s: %d printed, %d owed, %d in doubt", outcome.redemption_id,
                 result.printed, owed, result.in_doubt)
        self._set(step=Step.DONE, printed=result.printed, in_doubt=result.in_doubt, tickets_owed=owed,
                  visits_used=outcome.visits, result_note=note, still_there=False)

    # -- a card pulled during the debit -------------------------------------------------------

    def _recover(self) -> None:
        pending = self._pending
        rid = self._state.redemption_id
        if pending is None or rid is None:
            return
        showing = self._state.showing
        session = self._session
        inserts = self._inserts
        self._set(step=Step.RECOVERING, wrong_card=False, still_there=False)

        def job() -> _Outcome:
            try:
                outcome = self._terminal.recover(pending)
            except Mac2Refused as exc:
                return self._complete(rid, exc.proof, showing, session)
            except WrongCard:
                return _Outcome("wrong_card", redemption_id=rid)
            except CardUnavailable:
                return _Outcome("interrupted", pending=pending, redemption_id=rid)
            except (RecoveryUnknown, YearCardError) as exc:
                log.warning("year-card %s: the torn debit cannot be settled now (%s)",
                            mask_card_number(pending.card_number), exc)
                self._journal.card_debit_settle(rid, CardDebitState.UNKNOWN, str(exc))
                return _Outcome("unknown", redemption_id=rid)
            if isinstance(outcome, DebitProof):
                return self._complete(rid, outcome, showing, session)
            if isinstance(outcome, NotDebited):
                self._void(rid, "not_debited")
                return _Outcome("voided", redemption_id=rid)
            self._journal.card_debit_settle(rid, CardDebitState.UNKNOWN, "debited without proof")
            return _Outcome("unknown", redemption_id=rid)

        def done(outcome: _Outcome | None, error: BaseException | None) -> None:
            if error is not None:
                self._refuse_for(error)
                return
            assert outcome is not None
            self._touch()
            if outcome.kind == "wrong_card":
                log.info("a different card was put back for the torn debit: refused")
                self._set(step=Step.PUT_CARD_BACK, wrong_card=True, card_present=True)
            elif outcome.kind == "interrupted":
                if self._inserts != inserts:  # a card came while this attempt found none: ask it
                    self._recover()
                    return
                self._set(step=Step.PUT_CARD_BACK, wrong_card=False, card_present=False)
            elif outcome.kind == "voided":
                self._pending = None
                log.info("redemption %s: the card was not debited; seats released", rid)
                self._refuse(Message.of("refusal.card_not_debited"), Message.of("hint.card_no_visit_used"))
            elif outcome.kind == "unknown":
                self._pending = None
                self._refuse(Message.of("refusal.card_debit_unknown"), Message.of("hint.card_debit_unknown"))
            else:
                self._pending = None
                self._redemption_done(outcome, None)

        self._submit(job, done)

    # -- tickets owed from an earlier visit -------------------------------------------------

    def print_owed(self) -> None:
        """Print the tickets of this card's earlier redemptions that were debited and never printed."""
        self._touch()
        state = self._state
        if state.step is not Step.CARD or not state.owed or self._card_number is None:
            return
        number = self._card_number
        owed = list(state.owed)
        session = self._session
        self._stop_printing.clear()
        self._set(step=Step.PRINTING, printed=0, in_doubt=0, tickets_owed=0, visits_used=0, result_note=None,
                  total_tickets=sum(o.seats for o in owed), still_there=False)

        def job() -> _Outcome:
            showings: dict[str, ShowingOffer] = {}
            if any(line.showing is None for line in owed):
                with contextlib.suppress(CentralError):  # without them the tickets print what the claim says
                    showings = {s.showing_id: s for s in self._client.card_showings(number).showings}
            printed = released = in_doubt = 0
            detail = central = ""
            for line in owed:
                claim = self._client.claim_owed(line.redemption_id, number, f"{line.redemption_id}:owed")
                showing = line.showing or showings.get(line.showing_id or "")
                if showing is None:
                    log.warning("redemption %s: its showing is unknown here; its tickets print without it",
                                line.redemption_id)
                result = self._print_claim(claim, showing, session)
                printed, released, in_doubt = (printed + result.printed, released + result.released,
                                               in_doubt + result.in_doubt)
                detail, central = result.printer_detail, result.stopped_by_central
                if detail or central:
                    break
            total = ClaimResult(printed, released, in_doubt, False, detail, central)
            return _Outcome("printed", printed=total)

        def done(outcome: _Outcome | None, error: BaseException | None) -> None:
            if error is not None:
                self._refuse_for(error)
                return
            assert outcome is not None
            self._finish_printing(outcome)

        self._submit(job, done)

    # -- navigation and time ----------------------------------------------------------------

    def finish(self) -> None:
        """Finish on the done (or card) screen: home."""
        self._touch()
        self.reset()

    def back(self) -> None:
        """One step back while choosing; home from the card screen, a refusal or the end."""
        self._touch()
        step = self._state.step
        if step is Step.SHOWINGS:
            self._end_session()
            self._set(step=Step.CARD, showings=(), loading=False, notice=None)
        elif step is Step.PEOPLE:
            self._set(step=Step.SHOWINGS, showing=None, notice=None)
        elif step is Step.SEATS:
            self._end_session()
            self._set(step=Step.PEOPLE, seat_map=None, loading=False, notice=None)
        elif step is Step.CONFIRM:
            self._set(step=Step.SEATS, printer_problem=None, notice=None)
        elif step in (Step.CARD, Step.REFUSED, Step.DONE, Step.INSERT_CARD):
            self.reset()

    def cancel(self) -> None:
        """Cancel: home; while printing it means "stop after this ticket" (the rest are owed)."""
        self._touch()
        if self._state.step is Step.PRINTING:
            self._stop_printing.set()
            return
        self.reset()

    def reset(self) -> None:
        if self._state.step in (Step.HOLDING, Step.DEBITING, Step.RECOVERING, Step.PRINTING, Step.PUT_CARD_BACK):
            return  # the card may be being written: the redemption ends on its own
        self._reset_state()
        self._reset_card()

    def _reset_card(self) -> None:
        self._card_number = None
        self._reading = None
        self._view = None

    @property
    def nav(self) -> NavView:
        step = self._state.step
        if step in (Step.HOLDING, Step.DEBITING, Step.RECOVERING, Step.PUT_CARD_BACK, Step.READING):
            return NavView(back_enabled=False, cancel_enabled=False)
        if step is Step.PRINTING:
            return NavView(back_enabled=False, cancel_key="print.stop")
        if step is Step.DONE:
            return NavView(back_enabled=False)
        return NavView()

    def tick(self) -> None:
        """The host's tick: idle timeouts; a torn debit nobody brings the card back for goes to staff."""
        if self._state.step is Step.PUT_CARD_BACK and self._pending is not None:
            if self._now() - self._put_back_since >= self._settings.put_back_timeout_s:
                rid = self._state.redemption_id
                log.warning("redemption %s: the card was not put back; the central settles it at its next tap", rid)
                if rid is not None:
                    self._journal.card_debit_settle(rid, CardDebitState.UNKNOWN, "card not put back")
                self._pending = None
                self._end_session()
                self._refuse(Message.of("refusal.card_debit_unknown"), Message.of("hint.card_debit_unknown"))
            return
        super().tick()


@dataclass(frozen=True)
class _Outcome:
    """What a redemption's worker job came to (the flow turns it into a step on the main loop)."""

    kind: str
    redemption_id: str | None = None
    pending: PendingDebit | None = None
    error: BaseException | None = None
    problem: Message | None = None
    visits: int = 0
    printed: ClaimResult | None = None


def _tap_of(reading: CardReading) -> CardTap:
    public = reading.public
    return CardTap(
        card_number=public.card_number, card_type=public.card_type, sold=public.sold,
        activated_on=public.activated, expires_on=public.expires, balance=reading.balance,
        records=[CardRecordView(card_counter=r.card_counter, visits=r.amount, kind=_record_kind(r),
                                terminal_id=r.terminal_id.hex().upper(), at=r.when, balance_after=r.balance_after)
                 for r in reading.records[:16]],
    )


def _record_kind(record: TransactionRecord) -> CardUseKind:
    return _KINDS.get(record.kind, CardUseKind.LOAD)


def _record_line(record: TransactionRecord) -> CardRecordLine:
    return CardRecordLine(at=record.when, visits=record.amount, kind=_record_kind(record).value,
                          cinema_code=record.cinema, balance_after=record.balance_after)


def _printer_problem(status: PrinterStatus) -> Message | None:
    health = status.health()
    if health.critical:
        return Message.of(f"printer.{health.reason}")
    if not status.known:
        return Message.of("printer.unknown")
    return None
