"""The counter (kiosk.mode = "counter"): sales staff serve year-card holders at the front desk.

Plain Python, no Kivy.  Nothing shows until a staff member logs in (:mod:`kiosk.flows.staff_login`);
then the counter waits for a card.  A tap reads the card through the PSAM (its public file and
chip checked), asks the central what it knows (the tap reconciles pending redemptions) and shows
the card: number (masked), visits left, type, expiry, the holder's history since the current issue,
and the actions the staff member's role allows on a card in that state.

* Concessions (卖品): hold (kind concessions, N visits) -> debit through the PSAM with kind 07,
  the debit announced to the central before DEBIT FOR PURCHASE -> confirm with the TAC.  A card
  pulled during the debit is asked back and recovered (terminal.recover): the proof confirms it,
  "not debited" cancels it, and the central settles the rest at the card's next tap.
* Sale (发卡) and renewal (续期): GET CHALLENGE -> the central's CardUpdate -> the secure UPDATE BINARY
  with the issuer's data -> read back and show.  The terminal holds no key.  A write that fails
  leaves the card as it was, and the counter says so.
* Recycling (回收) and the blacklist (manager): the central records them.

Every call carries the staff session; the central audits each action with the staff member.  The
session ends on logout, after ``idle_logout_s`` without a touch or a tap, and when the central
says it has expired.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from backend_client.errors import CentralBadAnswer, CentralRefused, CentralUnreachable, KioskUnauthorized
from backend_client.wire import (
    CardRecordView,
    CardShowings,
    CardStatus,
    CardTap,
    CardUpdate,
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
    StaffRole,
)
from devices.card_api import CardEvent
from devices.printer_api import TicketContent
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.terminal import (
    BlankCard,
    CardIntegrityError,
    CardReading,
    CardUnavailable,
    DebitedWithoutProof,
    DebitInterrupted,
    DebitProof,
    NotAYearCard,
    NotDebited,
    NotEnoughVisits,
    PendingDebit,
    PsamError,
    WrongCard,
    YearCardError,
)
from kiosk.claims import ClaimPrinter, ClaimResult, order_reference
from kiosk.flows.card_seats import best_available
from kiosk.flows.runtime import Message, Worker
from kiosk.flows.staff_login import LoginStep, StaffClient, StaffLogin
from kiosk.journal import CardDebitState, Journal
from kiosk.observers import Observers, Unsubscribe

log = logging.getLogger(__name__)

KIND_OF_RECORD = {crypto.TRANSACTION_TICKET: CardUseKind.TICKETS,
                  crypto.TRANSACTION_CONCESSION: CardUseKind.CONCESSIONS, crypto.TRANSACTION_LOAD: CardUseKind.LOAD}


class Action(str, enum.Enum):
    TICKETS = "tickets"
    CONCESSIONS = "concessions"
    SELL = "sell"
    RENEW = "renew"
    RECYCLE = "recycle"
    BLACKLIST = "blacklist"
    UNBLACKLIST = "unblacklist"


# What each role may do at the counter (the central enforces the same on every route).
SALES_ACTIONS = frozenset({Action.TICKETS, Action.CONCESSIONS, Action.SELL, Action.RENEW, Action.RECYCLE})
ROLE_ACTIONS: dict[StaffRole, frozenset[Action]] = {
    StaffRole.SALES: SALES_ACTIONS,
    StaffRole.MANAGER: frozenset(Action),
    StaffRole.ADMIN: frozenset(Action),
}

BLACKLIST_REASONS = ("lost", "stolen", "misuse", "damaged")  # keys; the central keeps the English word


class Step(str, enum.Enum):
    LOGIN = "login"
    WAITING = "waiting"  # logged in, no card: "tap a card"
    READING = "reading"
    CARD = "card"  # the card's popup, with the actions allowed
    CONCESSIONS = "concessions"  # how many visits
    TICKETS = "tickets"  # which showing, how many people
    BLACKLIST = "blacklist"  # why
    WORKING = "working"  # an action in progress: keep the card on the reader
    CARD_BACK = "card_back"  # pulled during a debit: put it back
    REFUSED = "refused"  # the card could not be shown


BUSY_STEPS = frozenset({Step.READING, Step.WORKING})


class CardSide(Protocol):
    """The year-card terminal (devices.yearcard.terminal.YearCardTerminal): keyless card operations."""

    def read(self) -> CardReading: ...

    def debit(self, visits: int, kind: int = ..., expect_card: str | None = None,
              on_pending: Callable[[PendingDebit], None] | None = None) -> DebitProof: ...

    def recover(self, pending: PendingDebit) -> DebitProof | NotDebited | DebitedWithoutProof: ...

    def challenge(self) -> str: ...

    def write_public(self, update_data: str, expect_card: str | None = None) -> None: ...


class CounterCentral(StaffClient, Protocol):
    def card_tap(self, tap: CardTap, idempotency_key: str, staff_token: str | None = None) -> CardView: ...

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

    def sell_card(self, card_number: str, challenge: str, staff_token: str, idempotency_key: str,
                  valid_days: int | None = None) -> CardUpdate: ...

    def renew_card(self, card_number: str, challenge: str, staff_token: str, idempotency_key: str,
                   valid_days: int | None = None) -> CardUpdate: ...

    def recycle_card(self, card_number: str, staff_token: str, idempotency_key: str) -> CardView: ...

    def blacklist_card(self, card_number: str, reason: str, staff_token: str, idempotency_key: str) -> CardView: ...

    def unblacklist_card(self, card_number: str, staff_token: str) -> CardView: ...


@dataclass(frozen=True)
class CardOnCounter:
    """What the popup shows of the card: the central's view and the card's own data."""

    view: CardView
    card_number: str
    card_sold: bool  # the card's own public file
    card_expires: dt.date | None
    card_balance: int

    @property
    def masked_number(self) -> str:
        return p.mask_card_number(self.card_number)

    @property
    def unwritten_sale(self) -> bool:
        """The central recorded a sale the card never got (its write failed): write it now."""
        return not self.card_sold and self.view.status is not CardStatus.MADE

    @property
    def expiry_differs(self) -> bool:
        return self.card_sold and self.view.expires_on is not None and self.card_expires != self.view.expires_on


@dataclass(frozen=True)
class CounterState:
    step: Step = Step.LOGIN
    staff_no: str = ""
    staff_name: str = ""
    role: StaffRole | None = None
    card: CardOnCounter | None = None
    actions: frozenset[Action] = frozenset()
    visits: int = 1  # the concession deduction being set up
    max_visits: int = 1
    result: Message | None = None  # what the last action did (a banner on the card)
    problem: Message | None = None  # what the last action could not do (a banner on the card)
    refusal: Message | None = None
    refusal_hint: Message | None = None
    notes: tuple[Message, ...] = field(default_factory=tuple)  # facts about the card worth a look
    showings: tuple[ShowingOffer, ...] = ()  # today's showings the card's type covers (tickets)
    showing: int = 0  # the chosen one's index
    people: int = 1


def tap_of(reading: CardReading) -> CardTap:
    public = reading.public
    return CardTap(
        card_number=public.card_number, card_type=public.card_type, sold=public.sold,
        activated_on=public.activated, expires_on=public.expires, balance=reading.balance,
        records=[CardRecordView(card_counter=r.card_counter, visits=r.amount, kind=KIND_OF_RECORD[r.kind],
                                terminal_id=r.terminal_id.hex().upper(), at=r.when, balance_after=r.balance_after)
                 for r in reading.records],
    )


def notice_of(pending: PendingDebit) -> DebitNotice:
    return DebitNotice(card_counter=pending.card_counter, terminal_id=pending.terminal_id,
                       terminal_seq=pending.terminal_seq, at=pending.when)


def proof_body(proof: DebitProof) -> DebitProofBody:
    pending = proof.pending
    return DebitProofBody(
        card_number=pending.card_number, card_counter=pending.card_counter, visits=pending.amount,
        kind=KIND_OF_RECORD[pending.kind], terminal_id=pending.terminal_id, terminal_seq=pending.terminal_seq,
        at=pending.when, balance_after=pending.balance_after, tac=proof.tac,
    )


def allowed_actions(role: StaffRole | None, card: CardOnCounter, can_print: bool = True) -> frozenset[Action]:
    """The buttons the popup shows: what this role may do to a card in this state (tickets: with a printer)."""
    may = ROLE_ACTIONS.get(role, frozenset()) if role is not None else frozenset()
    view = card.view
    status = view.status
    possible: set[Action] = set()
    if status is CardStatus.BLACKLISTED:
        possible.add(Action.UNBLACKLIST)
    else:
        possible.add(Action.BLACKLIST)
        if status is CardStatus.MADE or card.unwritten_sale:
            possible.add(Action.SELL)
        elif status is CardStatus.ACTIVE and card.card_sold and view.visits_left > 0 and card.card_balance > 0:
            possible.update({Action.CONCESSIONS, Action.RENEW})
            if can_print:
                possible.add(Action.TICKETS)
        elif status is CardStatus.EXPIRED and view.visits_left > 0 and not card.unwritten_sale:
            possible.add(Action.RENEW)
        if view.visits_left == 0 and status in (CardStatus.ACTIVE, CardStatus.EXPIRED):
            possible.add(Action.RECYCLE)
    return frozenset(possible & may)


def _key() -> str:
    return uuid.uuid4().hex


class CounterFlow:
    """The counter's state machine.  ``tick()`` about once a second; ``handle_card`` for reader events."""

    def __init__(
        self,
        central: CounterCentral,
        terminal: CardSide,
        worker: Worker,
        *,
        now: Callable[[], float],
        idle_logout_s: float = 300.0,
        max_concession_visits: int = 20,
        journal: Journal,
        claim_printer: ClaimPrinter | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        """``claim_printer``: the counter's ticket printer (the claim printing path); without it no
        tickets are redeemed here, only concessions and the card's lifecycle."""
        self._central = central
        self._terminal = terminal
        self._worker = worker
        self._now = now
        self._idle_logout_s = idle_logout_s
        self._max_concession_visits = max_concession_visits
        self._journal = journal
        self._claims = claim_printer
        self._zone = ZoneInfo(timezone)
        self._state = CounterState()
        self._listeners: Observers[[CounterState]] = Observers("counter listener", isolate=False)
        self._session = 0  # bumps when the staff session ends: late results are dropped
        self._last_activity = now()
        self._torn: tuple[str, PendingDebit] | None = None  # (redemption id, debit) awaiting the card
        self.login = StaffLogin(central, worker, on_change=self._login_changed)

    # -- observation ------------------------------------------------------------------------

    @property
    def state(self) -> CounterState:
        return self._state

    @property
    def step(self) -> Step:
        return self._state.step

    def subscribe(self, listener: Callable[[CounterState], None]) -> Unsubscribe:
        return self._listeners.subscribe(listener)

    def _set(self, **changes: Any) -> None:
        self._state = replace(self._state, **changes)
        self._listeners.notify(self._state)

    def touch(self) -> None:
        """A touch or a key on the counter's screen: the session stays open."""
        self._last_activity = self._now()

    @property
    def _token(self) -> str:
        session = self.login.session
        if session is None:
            raise RuntimeError("no staff session")
        return session.token

    def _submit(self, job: Callable[[], Any], done: Callable[[Any, BaseException | None], None]) -> None:
        session = self._session

        def guarded(result: Any, error: BaseException | None) -> None:
            if session == self._session:
                done(result, error)

        self._worker.submit(job, guarded)

    # -- the staff session ------------------------------------------------------------------

    def _login_changed(self) -> None:
        self.touch()
        session = self.login.session
        if self.login.state.step is LoginStep.LOGGED_IN and session is not None and self._state.step is Step.LOGIN:
            self._set(step=Step.WAITING, staff_no=session.staff_no, staff_name=session.name, role=session.role)
        else:
            self._listeners.notify(self._state)  # the login screen shows the login's own state

    def logout(self, note: str = "staff.session.logged_out") -> None:
        self._session += 1
        self._torn = None
        self.login.logout(Message.of(note))
        self._set(**{f: getattr(CounterState(), f) for f in CounterState.__dataclass_fields__})

    def _session_expired(self) -> None:
        self._session += 1
        self._torn = None
        self.login.session_ended(Message.of("refusal.staff_session_expired"))
        self._set(**{f: getattr(CounterState(), f) for f in CounterState.__dataclass_fields__})

    def tick(self) -> None:
        step = self._state.step
        if step is Step.LOGIN or step in BUSY_STEPS:
            return
        if self._now() - self._last_activity >= self._idle_logout_s:
            log.info("counter: staff %s logged out after %.0f s idle", self._state.staff_no, self._idle_logout_s)
            self.logout("staff.session.timed_out")

    # -- the card ---------------------------------------------------------------------------

    def handle_card(self, event: CardEvent) -> bool:
        """A card on the reader: show it (or, after a tear, recover the debit).  Taken only when logged in."""
        step = self._state.step
        if step is Step.LOGIN:
            return False  # a card tapped before a login is ignored: nothing shows to a patron
        if not event.inserted:
            return True
        self.touch()
        if step is Step.CARD_BACK:
            self._recover()
        elif step not in BUSY_STEPS:
            self._read()
        return True

    def tap_again(self) -> None:
        """Read the card on the reader again (the staff's "read card" button)."""
        self.touch()
        if self._state.step not in BUSY_STEPS and self._state.step is not Step.LOGIN:
            if self._state.step is Step.CARD_BACK:
                self._recover()
            else:
                self._read()

    def close_card(self) -> None:
        self.touch()
        if self._state.step in (Step.CARD, Step.REFUSED, Step.CONCESSIONS, Step.BLACKLIST, Step.TICKETS):
            self._set(step=Step.WAITING, card=None, actions=frozenset(), result=None, problem=None,
                      refusal=None, refusal_hint=None, notes=())

    def _read(self, result: Message | None = None, problem: Message | None = None) -> None:
        self._set(step=Step.READING, result=None, problem=None, refusal=None, refusal_hint=None)
        token = self._token
        terminal, central = self._terminal, self._central

        def job() -> tuple[CardReading, CardView]:
            reading = terminal.read()
            return reading, central.card_tap(tap_of(reading), _key(), staff_token=token)

        def done(answer: Any, error: BaseException | None) -> None:
            if error is not None:
                self._refuse_read(error)
                return
            reading, view = answer
            self._show(reading, view, result=result, problem=problem)

        self._submit(job, done)

    def _show(self, reading: CardReading, view: CardView, *, result: Message | None = None,
              problem: Message | None = None) -> None:
        public = reading.public
        card = CardOnCounter(view=view, card_number=public.card_number, card_sold=public.sold,
                             card_expires=public.expires, card_balance=reading.balance)
        notes: list[Message] = []
        if card.unwritten_sale:
            notes.append(Message.of("counter.note.sale_not_written"))
        elif card.expiry_differs:
            notes.append(Message.of("counter.note.expiry_differs", card=card.card_expires, ledger=view.expires_on))
        if view.reconciled:
            notes.append(Message.of("counter.note.reconciled", count=len(view.reconciled)))
        if view.owed:
            notes.append(Message.of("counter.note.owed", count=len(view.owed)))
        if view.blacklist_reason:
            notes.append(Message.of("refusal.card_blacklisted.detail", reason=view.blacklist_reason))
        log.info("counter: card %s shown (%s, %d visit(s)) to staff %s", card.masked_number, view.status.value,
                 view.visits_left, self._state.staff_no)
        self._set(step=Step.CARD, card=card, actions=self._actions(card), result=result,
                  problem=problem, notes=tuple(notes), refusal=None, refusal_hint=None)

    def _actions(self, card: CardOnCounter) -> frozenset[Action]:
        return allowed_actions(self._state.role, card, can_print=self._claims is not None)

    def _refuse_read(self, error: BaseException) -> None:
        if self._expired(error):
            return
        message, hint = _card_refusal(error)
        self._set(step=Step.REFUSED, card=None, actions=frozenset(), refusal=message, refusal_hint=hint, notes=())

    def _expired(self, error: BaseException) -> bool:
        if isinstance(error, CentralRefused) and error.code is ErrorCode.STAFF_SESSION_EXPIRED:
            log.info("counter: the central ended staff %s's session", self._state.staff_no)
            self._session_expired()
            return True
        return False

    # -- concessions ------------------------------------------------------------------------

    def start_concessions(self) -> None:
        self.touch()
        card = self._state.card
        if self._state.step is not Step.CARD or card is None or Action.CONCESSIONS not in self._state.actions:
            return
        most = max(1, min(self._max_concession_visits, card.view.visits_left, card.card_balance))
        self._set(step=Step.CONCESSIONS, visits=1, max_visits=most, result=None, problem=None)

    def set_visits(self, visits: int) -> None:
        self.touch()
        if self._state.step is Step.CONCESSIONS:
            self._set(visits=max(1, min(visits, self._state.max_visits)))

    def back_to_card(self) -> None:
        self.touch()
        if self._state.step in (Step.CONCESSIONS, Step.BLACKLIST, Step.TICKETS):
            self._set(step=Step.CARD)

    def confirm_concessions(self) -> None:
        self.touch()
        card = self._state.card
        if self._state.step is not Step.CONCESSIONS or card is None:
            return
        visits, number, token = self._state.visits, card.card_number, self._token
        central, terminal, journal = self._central, self._terminal, self._journal
        held: list[RedemptionView] = []
        self._set(step=Step.WORKING)

        def announce(pending: PendingDebit) -> None:
            redemption = held[0]
            journal.card_debit_pending(redemption.redemption_id, pending.to_dict())  # before the card may change
            central.announce_debit(redemption.redemption_id, notice_of(pending), _key(), staff_token=token)

        def job() -> tuple[RedemptionView, RedemptionResult | None]:
            request = RedemptionRequest(card_number=number, kind=CardUseKind.CONCESSIONS, visits=visits)
            held.append(central.hold_redemption(request, _key(), staff_token=token))
            try:
                proof = terminal.debit(visits, kind=crypto.TRANSACTION_CONCESSION, expect_card=number,
                                       on_pending=announce)
            except DebitInterrupted:
                raise
            except Exception:
                self._not_debited(held[0].redemption_id, token)
                raise
            try:
                return held[0], self._confirm(held[0].redemption_id, proof, token)
            except (CentralUnreachable, CentralBadAnswer) as exc:
                # Debited on the card, the proof kept: the central reads it from the card's log at its next tap.
                log.info("counter: redemption %s debited, confirmation not delivered (%s)",
                         held[0].redemption_id, type(exc).__name__)
                return held[0], None

        def done(answer: Any, error: BaseException | None) -> None:
            if isinstance(error, DebitInterrupted):
                redemption_id = held[0].redemption_id
                log.info("counter: card %s pulled during the debit of redemption %s", p.mask_card_number(number),
                         redemption_id)
                self._torn = (redemption_id, error.pending)
                self._set(step=Step.CARD_BACK, problem=None)
                self._recover(first_try=True)  # a card still on the reader is settled at once
                return
            if error is not None:
                self._action_failed(error, "concessions")
                return
            _redemption, result = answer
            self._debit_done(result, visits)

        self._submit(job, done)

    def _confirm(self, redemption_id: str, proof: DebitProof, token: str) -> RedemptionResult:
        """The proof is journaled first: a confirmation that never arrives is still owed to the central."""
        self._journal.card_debit_proven(redemption_id, proof.to_dict())
        body = proof_body(proof)
        try:
            result = self._central.confirm_redemption(redemption_id, body, _key(), staff_token=token)
        except CentralRefused as exc:
            self._journal.card_debit_settle(redemption_id, CardDebitState.REFUSED, exc.code.value)
            raise
        self._journal.card_debit_settle(redemption_id, CardDebitState.CONFIRMED)
        self._journal.record_card_transaction(body.model_dump(mode="json"), redemption_id)
        return result

    def _not_debited(self, redemption_id: str, token: str) -> None:
        """The card was not debited: release the redemption (journaled if the journal knows it)."""
        if self._journal.card_debit(redemption_id) is not None:
            self._journal.card_debit_settle(redemption_id, CardDebitState.NOT_DEBITED, "not_debited")
        if _cancel_quietly(self._central, redemption_id, "not_debited", token) and \
                self._journal.card_debit(redemption_id) is not None:
            self._journal.card_debit_cancelled(redemption_id)

    def _debit_done(self, result: RedemptionResult | None, visits: int) -> None:
        if result is None:  # debited on the card; the central settles it at the card's next tap
            self._set(step=Step.CARD, result=Message.of("counter.result.concessions_card_only", visits=visits),
                      actions=frozenset(), problem=None)
        else:
            self._read(result=Message.of("counter.result.concessions", visits=visits))

    def _recover(self, first_try: bool = False) -> None:
        """``first_try``: right after the tear, in case the card never left (it stays asked for if it did)."""
        torn = self._torn
        if torn is None:
            self._read()
            return
        redemption_id, pending = torn
        token, terminal = self._token, self._terminal
        self._set(step=Step.WORKING, problem=None)

        def job() -> tuple[str, RedemptionResult | None, ClaimResult | None]:
            outcome = terminal.recover(pending)
            if isinstance(outcome, DebitProof):
                try:
                    result = self._confirm(redemption_id, outcome, token)
                except (CentralUnreachable, CentralBadAnswer):
                    return "debited", None, None  # the card's next tap settles it (the central reads its log)
                return "debited", result, self._print_recovered(redemption_id, result)
            if isinstance(outcome, NotDebited):
                self._not_debited(redemption_id, token)
                return "not_debited", None, None
            # debited, its proof gone: the central reconciles at the card's next tap (the read below)
            self._journal.card_debit_settle(redemption_id, CardDebitState.UNKNOWN, "debited without proof")
            return "debited", None, None

        def done(answer: Any, error: BaseException | None) -> None:
            if isinstance(error, WrongCard):
                self._set(step=Step.CARD_BACK, problem=Message.of("counter.card_back.wrong_card"))
                return
            if isinstance(error, YearCardError):
                log.info("counter: recovery of redemption %s not possible now: %s", redemption_id, error)
                self._set(step=Step.CARD_BACK, problem=None if first_try else Message.of("counter.card_back.again"))
                return
            self._torn = None
            if error is not None:
                self._action_failed(error, "recovery")
                return
            outcome, result, printed = answer
            if outcome == "not_debited":
                self._read(problem=Message.of("counter.result.not_debited"))
            elif printed is not None:
                self._tickets_done(printed, len(result.claim.tickets) if result and result.claim else 0,
                                   pending.amount)
            else:
                self._debit_done(result, pending.amount)

        self._submit(job, done)

    def _print_recovered(self, redemption_id: str, result: RedemptionResult) -> ClaimResult | None:
        """A recovered ticket debit: its claim prints now, with the showing journaled before the debit."""
        debit = self._journal.card_debit(redemption_id)
        if result.claim is None or self._claims is None or debit is None or debit.showing is None:
            return None
        showing = ShowingOffer.model_validate(debit.showing)
        self._claims.record(result.claim, self._ticket_contents(result.claim, showing))
        return self._claims.print_claim(result.claim.claim_id, lambda: False, lambda _update: None)

    def _tickets_done(self, printed: ClaimResult, count: int, visits: int) -> None:
        note = None if printed.printed == count else Message.of(
            "counter.problem.tickets_not_all_printed", printed=printed.printed, count=count)
        self._read(result=Message.of("counter.result.tickets", count=printed.printed, visits=visits), problem=note)

    # -- tickets ----------------------------------------------------------------------------

    def start_tickets(self) -> None:
        """Today's showings the card's type covers, at this cinema."""
        self.touch()
        card = self._state.card
        if self._state.step is not Step.CARD or card is None or Action.TICKETS not in self._state.actions:
            return
        number = card.card_number
        self._set(step=Step.READING, result=None, problem=None)

        def done(answer: Any, error: BaseException | None) -> None:
            if error is not None:
                self._action_failed(error, "tickets")
                return
            showings = tuple(answer.showings)
            if not showings:
                self._set(step=Step.CARD, problem=Message.of("counter.tickets.none"))
                return
            self._set(step=Step.TICKETS, showings=showings, showing=0, people=1)

        self._submit(lambda: self._central.card_showings(number), done)

    def max_people(self) -> int:
        state, card = self._state, self._state.card
        if card is None or not state.showings:
            return 1
        per_person = state.showings[state.showing].visits_per_person
        return max(1, min(card.view.max_people, card.card_balance // per_person, card.view.visits_left // per_person))

    def choose_showing(self, index: int) -> None:
        self.touch()
        if self._state.step is Step.TICKETS and 0 <= index < len(self._state.showings):
            self._set(showing=index)
            self._set(people=min(self._state.people, self.max_people()))

    def set_people(self, people: int) -> None:
        self.touch()
        if self._state.step is Step.TICKETS:
            self._set(people=max(1, min(people, self.max_people())))

    def confirm_tickets(self) -> None:
        """Best seats together -> hold -> debit (kind 06) -> confirm -> print through the claim path."""
        self.touch()
        card, state, claims = self._state.card, self._state, self._claims
        if state.step is not Step.TICKETS or card is None or claims is None or not state.showings:
            return
        showing, people, number, token = state.showings[state.showing], state.people, card.card_number, self._token
        central, terminal, journal = self._central, self._terminal, self._journal
        held: list[RedemptionView] = []
        self._set(step=Step.WORKING)

        def announce(pending: PendingDebit) -> None:
            journal.card_debit_pending(held[0].redemption_id, pending.to_dict(), showing.model_dump(mode="json"))
            central.announce_debit(held[0].redemption_id, notice_of(pending), _key(), staff_token=token)

        def job() -> tuple[str, ClaimResult | None, int]:
            seats = best_available(central.seat_map(showing.showing_id), people)
            if not seats:
                return "no_seats", None, 0
            request = RedemptionRequest(card_number=number, kind=CardUseKind.TICKETS, showing_id=showing.showing_id,
                                        seats=[SeatRef(row=row, seat=seat) for row, seat in seats])
            held.append(central.hold_redemption(request, _key(), staff_token=token))
            visits = held[0].visits
            try:
                proof = terminal.debit(visits, kind=crypto.TRANSACTION_TICKET, expect_card=number, on_pending=announce)
            except DebitInterrupted:
                raise
            except Exception:
                self._not_debited(held[0].redemption_id, token)
                raise
            try:
                result = self._confirm(held[0].redemption_id, proof, token)
            except (CentralUnreachable, CentralBadAnswer):
                return "confirm_later", None, visits
            if result.claim is None:
                return "no_claim", None, visits
            claims.record(result.claim, self._ticket_contents(result.claim, showing))
            return "printed", claims.print_claim(result.claim.claim_id, lambda: False, lambda _update: None), visits

        def done(answer: Any, error: BaseException | None) -> None:
            if isinstance(error, DebitInterrupted):
                self._torn = (held[0].redemption_id, error.pending)
                self._set(step=Step.CARD_BACK, problem=None)
                self._recover(first_try=True)  # a card still on the reader is settled at once
                return
            if error is not None:
                self._action_failed(error, "tickets")
                return
            outcome, printed, visits = answer
            if outcome == "no_seats":
                self._set(step=Step.CARD, problem=Message.of("refusal.seats_taken"))
            elif outcome == "printed" and printed is not None:
                self._tickets_done(printed, people, visits)
            else:  # debited; the central settles it at the card's next tap, the tickets are owed there
                self._set(step=Step.CARD, actions=frozenset(), problem=None,
                          result=Message.of("counter.result.concessions_card_only", visits=visits))

        self._submit(job, done)

    def _ticket_contents(self, claim: ClaimResponse, showing: ShowingOffer) -> list[TicketContent]:
        total = len(claim.tickets)
        return [
            TicketContent(
                ticket_id=ticket.ticket_id, cinema_name=showing.cinema_name or "", film_title=showing.film_title,
                film_original_title=showing.film_original_title
                if showing.film_original_title != showing.film_title else None,
                hall_name=showing.hall_name, show_start=showing.starts_at.astimezone(self._zone), row=ticket.row,
                seat=ticket.seat, price_fen=ticket.price_fen, entrance_token=ticket.entrance_token,
                order_ref=order_reference(claim.order_id), sequence=f"{index}/{total}",
            )
            for index, ticket in enumerate(claim.tickets, start=1)
        ]

    # -- sale and renewal -------------------------------------------------------------------

    def sell(self) -> None:
        self._update(Action.SELL)

    def renew(self) -> None:
        self._update(Action.RENEW)

    def _update(self, action: Action) -> None:
        self.touch()
        card = self._state.card
        if self._state.step is not Step.CARD or card is None or action not in self._state.actions:
            return
        number, token = card.card_number, self._token
        central, terminal = self._central, self._terminal
        recorded: list[CardUpdate] = []
        self._set(step=Step.WORKING, result=None, problem=None)

        def job() -> CardReading:
            challenge = terminal.challenge()
            ask = central.sell_card if action is Action.SELL else central.renew_card
            update = ask(number, challenge, token, _key())
            recorded.append(update)
            terminal.write_public(update.update_data, expect_card=number)
            return terminal.read()

        def done(reading: Any, error: BaseException | None) -> None:
            if error is None:
                log.info("counter: card %s %s by staff %s", p.mask_card_number(number),
                         "sold" if action is Action.SELL else "renewed", self._state.staff_no)
                key = "counter.result.sold" if action is Action.SELL else "counter.result.renewed"
                self._show(reading, recorded[0].card, result=Message.of(key, expires_on=reading.public.expires))
                return
            if recorded and isinstance(error, YearCardError | ValueError):
                # The central recorded it; the card is as it was (a secure write is whole or nothing).
                log.info("counter: card %s: %s recorded, not written (%s)", p.mask_card_number(number),
                         action.value, error)
                key = "counter.problem.sale_not_written" if action is Action.SELL \
                    else "counter.problem.renewal_not_written"
                self._set(step=Step.CARD, problem=Message.of(key), result=None)
                return
            self._action_failed(error, action.value)

        self._submit(job, done)

    # -- recycling and the blacklist --------------------------------------------------------

    def recycle(self) -> None:
        self._ledger_action(Action.RECYCLE, lambda number, token: self._central.recycle_card(number, token, _key()),
                            "counter.result.recycled")

    def start_blacklist(self) -> None:
        self.touch()
        if self._state.step is Step.CARD and Action.BLACKLIST in self._state.actions:
            self._set(step=Step.BLACKLIST, result=None, problem=None)

    def blacklist(self, reason: str) -> None:
        if self._state.step is not Step.BLACKLIST or reason not in BLACKLIST_REASONS:
            return
        self._set(step=Step.CARD)
        self._ledger_action(
            Action.BLACKLIST,
            lambda number, token: self._central.blacklist_card(number, reason, token, _key()),
            "counter.result.blacklisted",
        )

    def unblacklist(self) -> None:
        self._ledger_action(Action.UNBLACKLIST, lambda number, token: self._central.unblacklist_card(number, token),
                            "counter.result.unblacklisted")

    def _ledger_action(self, action: Action, call: Callable[[str, str], CardView], result_key: str) -> None:
        self.touch()
        card = self._state.card
        if self._state.step is not Step.CARD or card is None or action not in self._state.actions:
            return
        number, token = card.card_number, self._token
        self._set(step=Step.WORKING, result=None, problem=None)

        def done(view: Any, error: BaseException | None) -> None:
            if error is not None:
                self._action_failed(error, action.value)
                return
            log.info("counter: card %s %s by staff %s", p.mask_card_number(number), action.value,
                     self._state.staff_no)
            shown = replace(card, view=view)
            self._set(step=Step.CARD, card=shown, actions=self._actions(shown),
                      result=Message.of(result_key))

        self._submit(lambda: call(number, token), done)

    # -- failures ---------------------------------------------------------------------------

    def _action_failed(self, error: BaseException, what: str) -> None:
        """An action refused or failed: the card's popup stays, with the reason as a banner."""
        if self._expired(error):
            return
        message, _hint = _card_refusal(error)
        if isinstance(error, CentralRefused) and error.code is ErrorCode.FORBIDDEN:
            message = Message.of("refusal.forbidden")
        self._set(step=Step.CARD if self._state.card is not None else Step.REFUSED, problem=message,
                  refusal=message if self._state.card is None else None)
        log.info("counter: %s not done: %s", what, _describe(error))


def _describe(error: BaseException) -> str:
    if isinstance(error, CentralRefused):
        return error.code.value
    return f"{type(error).__name__}: {error}"


def _cancel_quietly(central: CounterCentral, redemption_id: str, reason: str, token: str) -> bool:
    """Release a redemption whose card was never debited; if the central cannot hear it now, the
    hold runs out there by itself (and a debiting one is settled at the card's next tap)."""
    try:
        central.cancel_redemption(redemption_id, reason, _key(), staff_token=token)
    except Exception as exc:  # a failed release is not the person's problem
        log.info("counter: redemption %s not cancelled now (%s); its hold runs out", redemption_id,
                 type(exc).__name__)
        return False
    return True


def _card_refusal(error: BaseException) -> tuple[Message, Message | None]:
    """The staff's message for a card that cannot be read or an action that failed."""
    if isinstance(error, KioskUnauthorized):
        return Message.of("refusal.kiosk_unauthorized"), Message.of("hint.see_staff")
    if isinstance(error, CentralRefused):
        params = {k: v for k, v in error.details.items() if isinstance(v, str | int | float)}
        return Message.of(f"refusal.{error.code.value}", **params), None
    if isinstance(error, CentralUnreachable):
        return Message.of("refusal.offline"), Message.of("counter.hint.offline")
    if isinstance(error, CentralBadAnswer):
        return Message.of("refusal.central_error"), None
    if isinstance(error, NotEnoughVisits):
        return Message.of("refusal.not_enough_visits"), None
    if isinstance(error, CardUnavailable):
        return Message.of("counter.card.unavailable"), Message.of("counter.hint.tap_again")
    if isinstance(error, NotAYearCard):
        return Message.of("refusal.card_unknown"), None
    if isinstance(error, BlankCard):
        return Message.of("counter.card.blank"), None
    if isinstance(error, CardIntegrityError):
        return Message.of("refusal.card_mismatch"), None
    if isinstance(error, PsamError):
        return Message.of("counter.card.psam"), Message.of("hint.see_staff")
    if isinstance(error, WrongCard):
        return Message.of("counter.card.wrong_card"), Message.of("counter.hint.tap_again")
    if isinstance(error, YearCardError):
        return Message.of("counter.card.unreadable"), Message.of("counter.hint.tap_again")
    log.error("unexpected failure at the counter", exc_info=error)
    return Message.of("refusal.kiosk_error"), None
