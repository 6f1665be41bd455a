"""The pickup journey as a plain state machine: code or QR -> order -> choose -> print -> done.

The flow holds no widgets.  Screens read :attr:`PickupFlow.state` (an immutable snapshot)
and call the event methods; every change is announced to the listeners.  Slow work (the
central, the printer) goes to the worker; results come back on the main loop.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from backend_client.errors import CentralRefused
from backend_client.masking import mask_code, mask_kiosk_name
from backend_client.tokens import KIND_TICKET, TokenClaims, TokenError, looks_like_token
from backend_client.wire import ClaimResponse, ErrorCode, OrderView, TicketStatus
from devices.camera_api import DecodedCode
from devices.health import Health
from devices.printer_api import PrinterStatus, TicketPrinter
from kiosk.claims import CLAIM_LOST, ClaimPrinter, ClaimResult, TicketProgress, ticket_contents
from kiosk.config import PickupSection
from kiosk.flows.journey import Journey, JourneyState, NavView
from kiosk.flows.runtime import Message, Worker
from kiosk.journal import TicketState

log = logging.getLogger(__name__)

CODE_LENGTH = 6


class Step(str, enum.Enum):
    IDLE = "idle"
    ENTER_CODE = "enter_code"
    LOOKING_UP = "looking_up"
    REVIEW = "review"
    PRINTING = "printing"
    DONE = "done"
    REFUSED = "refused"


class PickupClient(Protocol):
    def lookup_code(self, serial: str, verification: str) -> OrderView: ...

    def lookup_token(self, token: str) -> OrderView: ...

    def claim(
        self, order_id: str, ticket_ids: list[str], idempotency_key: str, claim_grant: str
    ) -> ClaimResponse: ...


class TokenVerifier(Protocol):
    def verify(self, token: str) -> TokenClaims: ...


@dataclass(frozen=True)
class TicketLine:
    ticket_id: str
    row: str
    seat: str
    price_fen: int
    collectable: bool
    selected: bool
    print_state: TicketState | None = None  # while and after printing


@dataclass(frozen=True)
class PickupState(JourneyState):
    step: Step = Step.IDLE
    serial: str = ""
    verification: str = ""
    source: str = ""  # "code" | "qr"
    order: OrderView | None = None
    lines: tuple[TicketLine, ...] = ()
    printer_problem: Message | None = None  # shown on review: confirming is disabled
    checking_printer: bool = False
    locked_seconds: int = 0  # wrong-code countdown shown on the keypad
    stop_requested: bool = False
    printed: int = 0
    owed: int = 0  # tickets of this order still collectable after this visit
    in_doubt: int = 0
    result_note: Message | None = None  # why printing ended early
    notices: tuple[Message, ...] = field(default=())

    @property
    def code_complete(self) -> bool:
        return len(self.serial) == CODE_LENGTH and len(self.verification) == CODE_LENGTH

    @property
    def selected_ids(self) -> list[str]:
        return [line.ticket_id for line in self.lines if line.selected]

    @property
    def can_confirm(self) -> bool:
        return (self.step is Step.REVIEW and bool(self.selected_ids) and self.printer_problem is None
                and not self.checking_printer)

    @property
    def printing_index(self) -> int:
        """How many of the selected tickets are settled (printed, released or in doubt)."""
        return sum(1 for line in self.lines if line.print_state in
                   (TicketState.PRINTED, TicketState.RELEASED, TicketState.IN_DOUBT))


_REFUSAL_HINTS = {
    ErrorCode.UNKNOWN_CODE: "hint.check_code",
    ErrorCode.ALREADY_COLLECTED: "hint.see_staff",
    ErrorCode.BEING_COLLECTED: "hint.wait_and_retry",
    ErrorCode.OUTSIDE_WINDOW: "hint.come_back_later",
    ErrorCode.SHOW_OVER: "hint.see_staff",
    ErrorCode.REFUNDED: "hint.see_staff",
    ErrorCode.REVOKED: "hint.use_new_code",
    ErrorCode.OTHER_CINEMA: "hint.other_cinema",
    ErrorCode.LOCKED_OUT: "hint.wait_and_retry",
    ErrorCode.INVALID_TOKEN: "hint.type_code",
    ErrorCode.TICKET_TOKEN: "hint.ticket_is_valid",
    ErrorCode.TICKET_NOT_AVAILABLE: "hint.see_staff",
    ErrorCode.CLAIM_NOT_ALLOWED: "hint.look_up_again",
}


class PickupFlow(Journey[PickupState]):
    name = "pickup"
    IDLE_STEP = Step.IDLE
    REFUSED_STEP = Step.REFUSED
    FINISHED_STEPS = frozenset({Step.DONE})
    BUSY_STEPS = frozenset({Step.PRINTING, Step.LOOKING_UP})
    REFUSAL_HINTS = _REFUSAL_HINTS

    def __init__(
        self,
        *,
        client: PickupClient,
        verifier: TokenVerifier,
        printer: TicketPrinter,
        claim_printer: ClaimPrinter,
        worker: Worker,
        settings: PickupSection,
        cinema_id: Callable[[], str | None],
        timezone: str,
        now: Callable[[], float],
        wall_now: Callable[[], datetime],
        kiosk_name: str = "",
    ) -> None:
        """``kiosk_name``: this kiosk's name as enrolled at the central (the central shows it masked)."""
        super().__init__(PickupState(), worker=worker, timeouts=settings, now=now)
        self._client = client
        self._verifier = verifier
        self._printer = printer
        self._claims = claim_printer
        self._settings = settings
        self._cinema_id = cinema_id
        self._timezone = timezone
        self._wall_now = wall_now
        self._masked_name = mask_kiosk_name(kiosk_name) if kiosk_name else None
        self._stop_printing = threading.Event()
        # The kiosk's own guessing brake belongs to one person's session: Cancel, a timeout or the
        # next person start afresh.  Guessing across sessions is the central's to stop (it locks a
        # serial, and slows a kiosk down, for everyone); its lockout of one serial never becomes
        # this kiosk's countdown.
        self._wrong_codes = 0
        self._last_wrong_code = 0.0
        self._locked_until = 0.0

    # -- code entry -------------------------------------------------------------------------

    def start(self) -> None:
        """"Collect tickets" on the home screen."""
        self.start_code_entry()

    def start_code_entry(self) -> None:
        self._touch()
        if self._state.step in (Step.IDLE, Step.REFUSED, Step.DONE, Step.REVIEW):
            self._set(step=Step.ENTER_CODE, serial="", verification="", refusal=None, refusal_hint=None,
                      still_there=False, order=None, lines=(), source="code")
            self._update_lock()

    def press_digit(self, digit: str) -> None:
        self._touch()
        if self._state.step is not Step.ENTER_CODE or digit not in "0123456789" or len(digit) != 1:
            return
        if len(self._state.serial) < CODE_LENGTH:
            self._set(serial=self._state.serial + digit, still_there=False)
        elif len(self._state.verification) < CODE_LENGTH:
            self._set(verification=self._state.verification + digit, still_there=False)

    def press_backspace(self) -> None:
        self._touch()
        if self._state.step is not Step.ENTER_CODE:
            return
        if self._state.verification:
            self._set(verification=self._state.verification[:-1])
        elif self._state.serial:
            self._set(serial=self._state.serial[:-1])

    def clear_code(self) -> None:
        self._touch()
        if self._state.step is Step.ENTER_CODE:
            self._set(serial="", verification="")

    def submit_code(self) -> None:
        self._touch()
        state = self._state
        if state.step is not Step.ENTER_CODE or not state.code_complete:
            return
        self._update_lock()
        if self._state.locked_seconds > 0:
            return
        serial, verification = state.serial, state.verification
        log.info("looking up pickup code %s", mask_code(serial))
        self._lookup(lambda: self._client.lookup_code(serial, verification), source="code")

    # -- QR ---------------------------------------------------------------------------------

    def handle_qr(self, code: DecodedCode) -> bool:
        """A decoded QR (from the host, on the main loop): taken unless mid-journey."""
        if self._state.step not in (Step.IDLE, Step.ENTER_CODE, Step.REFUSED, Step.DONE):
            return False  # mid-journey: a code held up by the next person waits its turn
        self.qr_scanned(code)
        return True

    def qr_scanned(self, code: DecodedCode) -> None:
        """A decoded QR from the camera (already on the main loop)."""
        if self._state.step not in (Step.IDLE, Step.ENTER_CODE, Step.REFUSED, Step.DONE):
            return  # mid-journey: a code held up by the next person waits its turn
        self._touch()
        text = code.text.strip()
        if not looks_like_token(text):
            self._refuse(Message.of("refusal.not_our_code"), Message.of("hint.type_code"))
            return
        try:
            claims = self._verifier.verify(text)
        except TokenError as exc:
            log.info("QR token refused before any call: %s", exc.reason)
            self._refuse(Message.of("refusal.invalid_token", reason=exc.reason), Message.of("hint.type_code"))
            return
        if claims.kind == KIND_TICKET:
            self._refuse(Message.of("refusal.ticket_token"), Message.of("hint.ticket_is_valid"))
            return
        cinema = self._cinema_id()
        if cinema is not None and claims.cinema_id != cinema:
            self._refuse(Message.of("refusal.other_cinema"), Message.of("hint.other_cinema"))
            return
        self._lookup(lambda: self._client.lookup_token(text), source="qr")

    # -- lookup -----------------------------------------------------------------------------

    def _lookup(self, call: Callable[[], OrderView], source: str) -> None:
        self._set(step=Step.LOOKING_UP, source=source, refusal=None, refusal_hint=None, still_there=False)

        def done(order: OrderView | None, error: BaseException | None) -> None:
            if error is not None:
                if source == "code" and isinstance(error, CentralRefused) and self._refuse_wrong_code(error):
                    return
                self._refuse_for(error)
                return
            assert order is not None
            if source == "code":
                self._wrong_codes = 0
            self._show_order(order)

        self._submit(call, done)

    def _show_order(self, order: OrderView) -> None:
        lines = tuple(
            TicketLine(t.ticket_id, t.row, t.seat, t.price_fen, collectable=t.status is TicketStatus.AVAILABLE,
                       selected=t.status is TicketStatus.AVAILABLE)
            for t in order.tickets
        )
        if not any(line.collectable for line in lines):
            printed = [t for t in order.tickets if t.status is TicketStatus.PRINTED]
            last = max(printed, key=lambda t: t.printed_at or self._wall_now(), default=None)
            self._refuse(
                self._already_collected(collected_at=last.printed_at.isoformat() if last and last.printed_at else "",
                                        kiosk=(last.printed_by or "") if last else ""),
                Message.of("hint.see_staff"),
            )
            return
        self._set(step=Step.REVIEW, order=order, lines=lines, printer_problem=None)
        self.check_printer()

    # -- review -----------------------------------------------------------------------------

    def toggle_ticket(self, ticket_id: str) -> None:
        self._touch()
        if self._state.step is not Step.REVIEW:
            return
        lines = tuple(
            replace(line, selected=not line.selected) if line.ticket_id == ticket_id and line.collectable else line
            for line in self._state.lines
        )
        self._set(lines=lines, still_there=False)

    def select_all(self) -> None:
        self._touch()
        if self._state.step is Step.REVIEW:
            self._set(lines=tuple(replace(line, selected=line.collectable) for line in self._state.lines))

    def check_printer(self) -> None:
        """Ask the printer before the person confirms: never start a job that cannot finish."""
        self._set(checking_printer=True)

        def done(status: PrinterStatus | None, error: BaseException | None) -> None:
            if self._state.step is not Step.REVIEW:
                return
            if error is not None:
                log.warning("the printer's status could not be read: %s", error)
            problem = _printer_problem(status) if error is None and status is not None else \
                Message.of("printer.unknown")
            self._set(checking_printer=False, printer_problem=problem)

        self._submit(self._printer.status, done)

    def printer_health_changed(self, health: Health) -> None:
        """A cover closed, paper refilled (or a new fault): the review screen asks the printer again."""
        if self._state.step is Step.REVIEW and not self._state.checking_printer:
            self.check_printer()

    def confirm(self) -> None:
        self._touch()
        state = self._state
        if not state.can_confirm or state.order is None:
            return
        order = state.order
        ticket_ids = state.selected_ids
        session = self._session
        self._stop_printing.clear()
        lines = tuple(replace(line, print_state=TicketState.CLAIMED if line.selected else None)
                      for line in state.lines)
        self._set(step=Step.PRINTING, lines=lines, stop_requested=False, still_there=False, printed=0,
                  in_doubt=0, result_note=None)
        idempotency_key = uuid.uuid4().hex

        def claim_and_print() -> ClaimResult:
            status = self._printer.status()  # last check right before the claim
            problem = _printer_problem(status)
            if problem is not None:
                raise _PrinterNotReady(problem)
            claim = self._client.claim(order.order_id, ticket_ids, idempotency_key, order.claim_grant)
            self._claims.record(claim, ticket_contents(order, claim, self._timezone))
            return self._claims.print_claim(claim.claim_id, self._stop_printing.is_set, progress)

        def progress(update: TicketProgress) -> None:
            self._post_guarded(session, lambda: self._on_progress(update))

        def done(result: ClaimResult | None, error: BaseException | None) -> None:
            if isinstance(error, _PrinterNotReady):
                self._set(step=Step.REVIEW, printer_problem=error.problem,
                          lines=tuple(replace(line, print_state=None) for line in self._state.lines))
                return
            if error is not None:
                self._refuse_for(error)
                return
            assert result is not None
            self._finish_printing(result)

        self._submit(claim_and_print, done)

    def _on_progress(self, update: TicketProgress) -> None:
        lines = tuple(replace(line, print_state=update.state) if line.ticket_id == update.ticket_id else line
                      for line in self._state.lines)
        printed = sum(1 for line in lines if line.print_state is TicketState.PRINTED)
        self._set(lines=lines, printed=printed)

    def _finish_printing(self, result: ClaimResult) -> None:
        not_selected = sum(1 for line in self._state.lines if line.collectable and not line.selected)
        note = None
        if result.stopped_by_central:  # the claim was lost or the central went silent: nothing more printed
            note = Message.of("done.claim_lost" if result.stopped_by_central == CLAIM_LOST
                              else "done.central_unreachable")
        elif result.printer_detail:
            note = Message.of(f"printer.{result.printer_detail}")
        elif result.stopped_by_person:
            note = Message.of("done.stopped")
        self._touch()
        self._set(step=Step.DONE, printed=result.printed, in_doubt=result.in_doubt,
                  owed=result.released + not_selected, result_note=note, still_there=False)

    # -- navigation and time ----------------------------------------------------------------

    def back(self) -> None:
        self._touch()
        step = self._state.step
        if step in (Step.ENTER_CODE, Step.DONE):
            self.reset()
        elif step in (Step.REVIEW, Step.REFUSED):
            if self._state.source == "code":
                self._end_session()
                self._set(step=Step.ENTER_CODE, refusal=None, refusal_hint=None, order=None, lines=(),
                          verification="", still_there=False)
                self._update_lock()
            else:
                self.reset()

    def cancel(self) -> None:
        """Cancel: back to idle; while printing it means "stop after this ticket"."""
        self._touch()
        if self._state.step is Step.PRINTING:
            self._stop_printing.set()
            self._set(stop_requested=True)
            return
        if self._state.step is Step.LOOKING_UP:
            self._end_session()  # the answer, when it comes, is dropped
        self.reset()

    def reset(self) -> None:
        if self._state.step is Step.PRINTING:
            return  # never abandon a running job: it ends on its own and reaches DONE
        self._reset_state()
        self._wrong_codes = 0
        self._last_wrong_code = 0.0
        self._locked_until = 0.0
        self._update_lock()

    @property
    def nav(self) -> NavView:
        if self._state.step is Step.PRINTING:  # a running job is never abandoned; Cancel stops after a ticket
            stopping = self._state.stop_requested
            return NavView(back_enabled=False, cancel_key="print.stopping" if stopping else "print.stop",
                           cancel_enabled=not stopping)
        if self._state.step is Step.DONE:  # nothing to go back to: Finish (or Cancel) ends the visit
            return NavView(back_enabled=False)
        return NavView()

    def tick(self) -> None:
        """Called about once a second by the host: timeouts, prompts, countdowns."""
        if self._state.locked_seconds or (self._state.step is Step.ENTER_CODE and self._locked_until):
            self._update_lock()
        super().tick()

    # -- the guessing brake -----------------------------------------------------------------

    def _refusal_message(self, error: CentralRefused, params: dict[str, str | int | float]) -> Message:
        if error.code is ErrorCode.ALREADY_COLLECTED:
            return self._already_collected(**params)
        return super()._refusal_message(error, params)

    def _already_collected(self, **params: str | int | float) -> Message:
        """"Collected at kiosk Lobby-**-03" reads oddly when it was this very kiosk: say so instead."""
        kiosk = params.get("kiosk")
        if self._masked_name is not None and kiosk == self._masked_name:
            return Message.of("refusal.already_collected_here",
                              **{k: v for k, v in params.items() if k != "kiosk"})
        return Message.of("refusal.already_collected", **params)

    def _refuse_wrong_code(self, error: CentralRefused) -> bool:
        """A typed code the central refused as unknown or locked: True when handled here."""
        if error.code is ErrorCode.UNKNOWN_CODE:
            log.info("pickup refused by the central: unknown_code")
            self._note_wrong_code()
            minutes = _minutes(self._locked_until - self._now())
            # The refusal that starts the keypad's pause says so, instead of "type it again".
            hint = Message.of("hint.check_code_after_wait", minutes=minutes, count=minutes) \
                if self._locked_until > self._now() else Message.of("hint.check_code")
            self._refuse(Message.of("refusal.unknown_code"), hint)
            return True
        if error.code is ErrorCode.LOCKED_OUT:
            retry_after = error.details.get("retry_after_s")
            seconds = float(retry_after) if isinstance(retry_after, int | float) and \
                not isinstance(retry_after, bool) and math.isfinite(retry_after) and retry_after > 0 else 0.0
            scope = error.details.get("scope")
            log.info("pickup refused by the central: locked_out (%s)", scope if scope == "kiosk" else "serial")
            if scope == "kiosk":  # this kiosk is slowed down: this person's keypad pauses (within the config)
                self._lock_for(min(seconds, self._settings.wrong_code_delay_max_s))
                hint = Message.of("hint.kiosk_paused", minutes=_minutes(seconds), count=_minutes(seconds))
            else:  # one order's code is locked: nobody else's
                hint = Message.of("hint.code_locked")
            self._refuse(Message.of("refusal.locked_out", retry_after_min=_minutes(seconds)), hint)
            return True
        return False

    def _note_wrong_code(self) -> None:
        now = self._now()
        if now - self._last_wrong_code > self._settings.wrong_code_forget_s:
            self._wrong_codes = 0
        self._wrong_codes += 1
        self._last_wrong_code = now
        extra = self._wrong_codes - self._settings.wrong_code_free_tries
        if extra > 0:
            self._lock_for(min(self._settings.wrong_code_delay_s * 2 ** (extra - 1),
                               self._settings.wrong_code_delay_max_s))

    def _lock_for(self, seconds: float) -> None:
        self._locked_until = max(self._locked_until, self._now() + max(0.0, seconds))
        self._update_lock()

    def _update_lock(self) -> None:
        remaining = max(0.0, self._locked_until - self._now())
        seconds = int(remaining + 0.999)
        if seconds != self._state.locked_seconds:
            self._set(locked_seconds=seconds)


def _minutes(seconds: float) -> int:
    """A wait as people read it: whole minutes, rounded up, at least one."""
    return max(1, math.ceil(seconds / 60))


class _PrinterNotReady(Exception):
    def __init__(self, problem: Message) -> None:
        super().__init__(problem.key)
        self.problem = problem


def _printer_problem(status: PrinterStatus) -> Message | None:
    health = status.health()
    if health.critical:
        return Message.of(f"printer.{health.reason}")
    if not status.known:
        return Message.of("printer.unknown")
    return None
