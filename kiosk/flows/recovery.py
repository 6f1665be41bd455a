"""The lost-ticket journey (挂失找回) as a plain state machine (no Kivy).

    "Lost your ticket?" -> CONSENT (face check consent; the SMS code offered on the same screen)
      -> PHONE (the account's phone on the keypad) [-> ID_DIGITS (last 4 of the ID, by config or
         when the central asks)] -> LOOKING_UP -> ORDERS (this cinema's collectable orders today,
         masked) -> FACE (the live check with its challenge) -> MATCHING
                  \\-> SMS_SENDING -> SMS_CODE -> SMS_CHECKING
      -> DELIVERY (print here, or a new code to the phone) -> COMPLETING -> PRINTING -> DONE

Every refusal lands on REFUSED with its message and what to do next.

The face check runs on its own thread (:class:`devices.face_api.FaceChecker`); its news reaches
the flow on the main loop through ``face_post`` and only for the check still current (a check
cancelled, or a session ended, reports to nobody).  Only a passed check's encoding goes to the
central; a failed liveness is reported too (no encoding): it counts as one of the session's
attempts.  A check that saw nobody, or a camera that failed, is not an attempt.

On success the central revokes the order's old codes (COMPLETING) and either hands a claim
grant for this kiosk (the tickets print through the shared claim printing path,
:class:`kiosk.claims.ClaimPrinter`) or sends a new pickup code to the bound phone.
"""

from __future__ import annotations

import enum
import logging
import math
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from backend_client.errors import CentralBadAnswer, CentralError, CentralRefused, CentralUnreachable
from backend_client.masking import mask_phone
from backend_client.wire import (
    PHONE_PATTERN,
    ClaimResponse,
    ErrorCode,
    FaceAttempt,
    FaceVerdict,
    LivenessReport,
    OrderView,
    RecoverableOrder,
    RecoveryDelivery,
    RecoveryMethod,
    RecoveryResult,
    RecoverySession,
    RecoveryStart,
    SmsSent,
    SmsVerdict,
    TicketStatus,
)
from devices.camera_api import DecodedCode
from devices.face_api import (
    Challenge,
    FaceChecker,
    FaceCheckResult,
    FaceEvent,
    FaceOutcome,
    FaceProgress,
    random_challenge,
)
from devices.health import Health
from devices.printer_api import PrinterStatus, TicketPrinter
from kiosk.claims import CLAIM_LOST, ClaimPrinter, ClaimResult, TicketProgress, ticket_contents
from kiosk.flows.journey import IdleTimeouts, Journey, JourneyState, NavView
from kiosk.flows.runtime import Message, Worker
from kiosk.journal import TicketState

log = logging.getLogger(__name__)

PHONE_LENGTH = 11
ID_DIGITS_LENGTH = 4
SMS_CODE_LENGTH = 6
# A check that has not ended this long after its own timeout is stuck: the flow gives up on it.
FACE_GRACE_S = 10.0

# Outcomes of a face check that are a failed liveness: reported to the central, one attempt used.
# Nobody in front of the camera, two faces, a camera fault or a cancel are not attempts.
LIVENESS_FAILURES = frozenset({FaceOutcome.STILL_IMAGE, FaceOutcome.FACE_CHANGED, FaceOutcome.TIMED_OUT})


class Step(str, enum.Enum):
    IDLE = "idle"
    CONSENT = "consent"  # the face-check consent text: Agree (face) / Use an SMS code instead
    PHONE = "phone"  # keypad: the phone number bound to the ticketing account
    ID_DIGITS = "id_digits"  # keypad: the last 4 characters of the ID number (0-9 and X)
    LOOKING_UP = "looking_up"
    ORDERS = "orders"  # choose one of the account's orders (film, time, tickets)
    FACE = "face"  # the camera check: overlay, prompt, live preview; "Use an SMS code" button
    MATCHING = "matching"  # the encoding is being compared at the central
    SMS_SENDING = "sms_sending"
    SMS_CODE = "sms_code"  # keypad: the 6-digit code from the SMS; "Send again"
    SMS_CHECKING = "sms_checking"
    DELIVERY = "delivery"  # verified: print the tickets here, or send a new pickup code to the phone
    COMPLETING = "completing"  # the old codes are being revoked
    PRINTING = "printing"
    DONE = "done"  # printed (or owed / in doubt), or "a new code was sent to 138****5678"
    REFUSED = "refused"


class RecoveryClient(Protocol):
    """The central's calls the journey makes (backend_client.client.CentralClient has them)."""

    def start_recovery(self, start: RecoveryStart, idempotency_key: str) -> RecoverySession: ...

    def face_attempt(self, session_id: str, attempt: FaceAttempt, idempotency_key: str) -> FaceVerdict: ...

    def send_recovery_sms(self, session_id: str, idempotency_key: str) -> SmsSent: ...

    def check_recovery_sms(self, session_id: str, code: str, idempotency_key: str) -> SmsVerdict: ...

    def complete_recovery(self, session_id: str, order_id: str, delivery: RecoveryDelivery,
                          idempotency_key: str) -> RecoveryResult: ...

    def claim(self, order_id: str, ticket_ids: list[str], idempotency_key: str, claim_grant: str) -> ClaimResponse:
        ...


class RecoverySettings(IdleTimeouts, Protocol):
    """Config [recovery] (kiosk.config.RecoverySection)."""

    @property
    def ask_id_digits(self) -> bool: ...

    @property
    def face(self) -> bool: ...

    @property
    def consent_version(self) -> str: ...

    @property
    def face_timeout_s(self) -> float: ...


@dataclass(frozen=True)
class RecoveryTicketLine:
    """A ticket of the recovered order as the printing screen shows it."""

    ticket_id: str
    row: str
    seat: str
    print_state: TicketState | None = None


@dataclass(frozen=True)
class RecoveryState(JourneyState):
    step: Step = Step.IDLE
    face_consent: bool = False  # the person agreed to the face check on this visit
    phone: str = ""  # digits typed so far (shown masked after the 3rd digit except the last 4)
    id_digits: str = ""
    ask_id_digits: bool = False
    entry_note: Message | None = None  # on a keypad: "not a mobile number", "the last 4 of your ID, please"
    session: RecoverySession | None = None
    order_id: str | None = None  # the order chosen on ORDERS (pre-selected when it is the only one open)
    order_note: Message | None = None  # on ORDERS: why the tapped order cannot be recovered here
    challenge: Challenge | None = None
    face: FaceProgress | None = None  # the overlay's latest news
    face_running: bool = False  # a check is running now (the camera looks at the person)
    face_note: Message | None = None  # why the last attempt failed ("not matched, 2 attempts left")
    face_attempts_left: int = 0
    distance: float | None = None  # the central's last face distance (not shown to the person)
    sms_sent_to: str = ""  # masked phone
    sms_codes_left: int = 0
    code: str = ""  # SMS code digits typed so far
    code_attempts_left: int = 0
    code_note: Message | None = None  # "wrong code, 2 tries left"
    verified_by: RecoveryMethod | None = None
    printer_problem: Message | None = None  # on DELIVERY: printing here is off (the SMS code still works)
    delivery: RecoveryDelivery | None = None
    result: RecoveryResult | None = None
    revoked_codes: int = 0
    lines: tuple[RecoveryTicketLine, ...] = ()
    stop_requested: bool = False
    printed: int = 0
    owed: int = 0
    in_doubt: int = 0
    result_note: Message | None = None
    notices: tuple[Message, ...] = field(default=())

    @property
    def orders(self) -> tuple[RecoverableOrder, ...]:
        return tuple(self.session.orders) if self.session is not None else ()

    @property
    def order(self) -> RecoverableOrder | None:
        return next((o for o in self.orders if o.order_id == self.order_id), None)

    @property
    def face_offered(self) -> bool:
        return self.session is not None and RecoveryMethod.FACE in self.session.methods and self.face_consent

    @property
    def sms_offered(self) -> bool:
        """An SMS code can still be sent (or one sent can still be typed)."""
        if self.session is None or RecoveryMethod.SMS not in self.session.methods:
            return False
        return self.sms_codes_left > 0 or (bool(self.sms_sent_to) and self.code_attempts_left > 0)

    @property
    def can_retry_face(self) -> bool:
        return (self.step is Step.FACE and not self.face_running and self.face_offered
                and self.face_attempts_left > 0)

    @property
    def can_resend(self) -> bool:
        return self.step is Step.SMS_CODE and self.sms_codes_left > 0

    @property
    def phone_complete(self) -> bool:
        return len(self.phone) == PHONE_LENGTH

    @property
    def masked_phone(self) -> str:
        """The phone as typed, for the keypad's display: 138****5678 (digits 4-7 hidden once typed)."""
        return "".join("*" if 3 <= i < 7 else d for i, d in enumerate(self.phone))

    @property
    def can_print(self) -> bool:
        return self.step is Step.DELIVERY and self.printer_problem is None


_REFUSAL_HINTS: Mapping[ErrorCode, str] = {
    ErrorCode.RECOVERY_NO_ORDERS: "hint.recovery_check_phone",
    ErrorCode.RECOVERY_ID_REQUIRED: "hint.recovery_id_digits",
    ErrorCode.RECOVERY_SESSION_EXPIRED: "hint.recovery_start_again",
    ErrorCode.RECOVERY_NOT_VERIFIED: "hint.recovery_start_again",
    ErrorCode.RECOVERY_NO_TEMPLATE: "hint.recovery_use_sms",
    ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED: "hint.recovery_counter",
    ErrorCode.RECOVERY_RATE_LIMITED: "hint.recovery_wait",
    ErrorCode.RECOVERY_DEADLINE_PASSED: "hint.recovery_counter",
    ErrorCode.SMS_UNAVAILABLE: "hint.try_again_later",
    ErrorCode.CLAIM_NOT_ALLOWED: "hint.see_staff",
    ErrorCode.TICKET_NOT_AVAILABLE: "hint.see_staff",
    ErrorCode.ALREADY_COLLECTED: "hint.see_staff",
}

# Refusal texts under refusal.recovery_* (the central's own code names, where they are not already).
_REFUSAL_KEYS: Mapping[ErrorCode, str] = {
    ErrorCode.SMS_UNAVAILABLE: "refusal.recovery_sms_unavailable",
}

_BUSY = frozenset({Step.LOOKING_UP, Step.MATCHING, Step.SMS_SENDING, Step.SMS_CHECKING, Step.COMPLETING,
                   Step.PRINTING})


class RecoveryFlow(Journey[RecoveryState]):
    name = "recovery"
    IDLE_STEP = Step.IDLE
    REFUSED_STEP = Step.REFUSED
    FINISHED_STEPS = frozenset({Step.DONE})
    BUSY_STEPS = _BUSY
    REFUSAL_HINTS = _REFUSAL_HINTS

    def __init__(
        self,
        *,
        client: RecoveryClient,
        face: FaceChecker | None,
        printer: TicketPrinter,
        claim_printer: ClaimPrinter,
        worker: Worker,
        settings: RecoverySettings,
        timezone: str,
        now: Callable[[], float],
        language: Callable[[], str] = lambda: "zh_CN",
        challenge: Callable[[], Challenge] = random_challenge,
        face_post: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """``face``: the camera's face check (None: the SMS code only); ``language``: the kiosk's
        (the SMS's language); ``challenge``: the liveness challenge of the next check;
        ``face_post``: runs a callback on the main loop (default: the worker's post)."""
        super().__init__(RecoveryState(), worker=worker, timeouts=settings, now=now)
        self._client = client
        self._face = face
        self._printer = printer
        self._claims = claim_printer
        self._settings = settings
        self._timezone = timezone
        self._language = language
        self._challenge = challenge
        self._face_post = face_post or worker.post
        self._phone = ""  # never logged; the state holds it only while typed
        self._check = 0  # bumps with every check begun or cancelled: late news of an old one is dropped
        self._check_started = 0.0
        self._complete_key: tuple[tuple[str, RecoveryDelivery], str] | None = None
        self._stop_printing = threading.Event()

    @property
    def face_available(self) -> bool:
        """The face check can be offered on this kiosk now (config, and a camera to run it)."""
        return self._face is not None and self._settings.face

    def preview(self) -> np.ndarray | None:
        """The camera's latest frame, small, for the face screen's live preview (None: no check running)."""
        if self._face is None or not self._state.face_running:
            return None
        try:
            return self._face.preview()
        except Exception:  # a preview is decoration: never a reason to fail the screen
            log.exception("the face check's preview failed")
            return None

    # -- consent and the account ------------------------------------------------------------

    def start(self) -> None:
        """"Lost your ticket?" on the home screen: the consent screen (or the phone when there is no face check)."""
        self._touch()
        if self._state.step is not Step.IDLE:
            return
        if self.face_available:
            self._set(step=Step.CONSENT)
        else:
            self._set(step=Step.PHONE, face_consent=False, ask_id_digits=self._settings.ask_id_digits)

    def agree_to_face(self) -> None:
        self._touch()
        if self._state.step is Step.CONSENT:
            self._set(step=Step.PHONE, face_consent=True, ask_id_digits=self._settings.ask_id_digits,
                      still_there=False)

    def use_sms_only(self) -> None:
        """Declined the face check: the SMS code only; nothing else changes."""
        self._touch()
        if self._state.step is Step.CONSENT:
            self._set(step=Step.PHONE, face_consent=False, ask_id_digits=self._settings.ask_id_digits,
                      still_there=False)

    def press_digit(self, digit: str) -> None:
        self._touch()
        step = self._state.step
        if len(digit) != 1:
            return
        if step is Step.PHONE and digit.isdigit() and digit.isascii() and len(self._state.phone) < PHONE_LENGTH:
            self._set(phone=self._state.phone + digit, entry_note=None, still_there=False)
        elif step is Step.ID_DIGITS and len(self._state.id_digits) < ID_DIGITS_LENGTH:
            last = len(self._state.id_digits) == ID_DIGITS_LENGTH - 1
            if (digit.isdigit() and digit.isascii()) or (digit.upper() == "X" and last):
                self._set(id_digits=self._state.id_digits + digit.upper(), entry_note=None, still_there=False)
        elif step is Step.SMS_CODE and digit.isdigit() and digit.isascii() and len(self._state.code) < SMS_CODE_LENGTH:
            self._set(code=self._state.code + digit, still_there=False)

    def press_backspace(self) -> None:
        self._touch()
        name = _KEYPAD_FIELD.get(self._state.step)
        if name is not None:
            self._set(**{name: getattr(self._state, name)[:-1]})

    def clear(self) -> None:
        self._touch()
        name = _KEYPAD_FIELD.get(self._state.step)
        if name is not None:
            self._set(**{name: ""})

    def submit(self) -> None:
        """OK on a keypad: the phone, the ID digits or the SMS code."""
        self._touch()
        state = self._state
        if state.step is Step.PHONE:
            if not state.phone_complete:
                return
            if not _is_mobile(state.phone):
                self._set(entry_note=Message.of("recovery.phone_invalid"))
                return
            self._phone = state.phone
            if state.ask_id_digits:
                self._set(step=Step.ID_DIGITS, entry_note=None, still_there=False)
            else:
                self._look_up()
        elif state.step is Step.ID_DIGITS and len(state.id_digits) == ID_DIGITS_LENGTH:
            self._look_up()
        elif state.step is Step.SMS_CODE and len(state.code) == SMS_CODE_LENGTH:
            self._check_code()

    def _look_up(self) -> None:
        state = self._state
        phone = self._phone
        id_last4 = state.id_digits if state.ask_id_digits and state.id_digits else None
        consent = self._settings.consent_version if state.face_consent and self.face_available else None
        language = "en" if self._language().startswith("en") else "zh"
        start = RecoveryStart(phone=phone, id_last4=id_last4, face_consent=consent, language=language)
        key = uuid.uuid4().hex
        log.info("recovery: looking up the orders of %s", mask_phone(phone))
        # The phone leaves the state: from here the screens show the central's masked form.
        self._set(step=Step.LOOKING_UP, phone="", refusal=None, refusal_hint=None, entry_note=None,
                  still_there=False)

        def done(session: RecoverySession | None, error: BaseException | None) -> None:
            if isinstance(error, CentralRefused) and error.code is ErrorCode.RECOVERY_ID_REQUIRED:
                log.info("recovery: the central asks for the ID number's last 4 characters")
                self._touch()
                self._set(step=Step.ID_DIGITS, ask_id_digits=True, id_digits="",
                          entry_note=Message.of("recovery.id_digits_required"))
                return
            if error is not None:
                self._refuse_for(error)
                return
            assert session is not None
            self._show_orders(session)

        self._submit(lambda: self._client.start_recovery(start, key), done)

    def _show_orders(self, session: RecoverySession) -> None:
        self._touch()
        open_orders = [o for o in session.orders if o.open]
        log.info("recovery session %s: %d order(s), %d open, methods %s", session.session_id,
                 len(session.orders), len(open_orders), ",".join(m.value for m in session.methods) or "none")
        self._take_session(session, step=Step.ORDERS, id_digits="",
                           order_id=open_orders[0].order_id if len(open_orders) == 1 else None,
                           sms_codes_left=session.sms_codes_left)
        if not session.orders:
            self._refuse(Message.of("refusal.recovery_no_orders"), Message.of("hint.recovery_check_phone"))
        elif not open_orders:
            self._set(order_note=Message.of("recovery.all_past_deadline"))

    def _take_session(self, session: RecoverySession, **changes: object) -> None:
        self._set(session=session, face_attempts_left=session.face_attempts_left, still_there=False, **changes)

    # -- the order ----------------------------------------------------------------------------

    def choose_order(self, order_id: str) -> None:
        """An order tapped (or the pre-selected one confirmed): on to the verification."""
        self._touch()
        state = self._state
        if state.step is not Step.ORDERS:
            return
        order = next((o for o in state.orders if o.order_id == order_id), None)
        if order is None:
            return
        if not order.open:
            self._set(order_id=None, order_note=Message.of(
                "recovery.order_past_deadline", deadline=order.report_deadline.isoformat()))
            return
        self._set(order_id=order_id, order_note=None, still_there=False)
        self._verify()

    def _verify(self) -> None:
        """The first way of proving who one is that is still open: the face (when agreed), else the SMS code."""
        state = self._state
        if state.face_offered and self.face_available and state.face_attempts_left > 0:
            self._set(step=Step.FACE, face_note=None)
            self._begin_face()
        elif state.sms_offered:
            self._send_code()
        else:  # no face enrolled (or declined) and no SMS gateway at the central: only the counter can help
            log.info("recovery: this session offers no way of verifying here")
            self._refuse(Message.of("refusal.recovery_no_method"), Message.of("hint.recovery_counter"))

    def _no_way_left(self) -> None:
        log.info("recovery: no way of verifying is left in this session")
        self._end_face()
        self._refuse(Message.of("refusal.recovery_attempts_exhausted"), Message.of("hint.recovery_counter"))

    # -- the face ------------------------------------------------------------------------------

    def retry_face(self) -> None:
        self._touch()
        if self._state.can_retry_face and self.face_available:
            self._set(face_note=None, still_there=False)
            self._begin_face()

    def switch_to_sms(self) -> None:
        """"Use an SMS code" on the face screen."""
        self._touch()
        if self._state.step is not Step.FACE or not self._state.sms_offered:
            return
        self._end_face()
        if self._state.sms_sent_to and self._state.code_attempts_left > 0 and self._state.sms_codes_left == 0:
            self._set(step=Step.SMS_CODE, code="", still_there=False)  # the code sent earlier is still good
            return
        self._send_code()

    def _begin_face(self) -> None:
        face = self._face
        assert face is not None
        self._end_face()
        self._check += 1
        check = self._check
        session = self._session
        challenge = self._challenge()
        self._check_started = self._now()
        self._set(step=Step.FACE, challenge=challenge, face=None, face_running=True, still_there=False)

        def listener(event: FaceEvent) -> None:  # on the check's thread
            self._face_post(lambda: self._face_news(session, check, event))

        try:
            face.begin(challenge, listener)
        except Exception as exc:  # a camera that cannot start: the SMS code remains
            log.warning("the face check could not start: %s", exc)
            self._check += 1
            self._face_failed(Message.of("recovery.face_camera_unavailable"))

    def _end_face(self) -> None:
        """Stop the running check (its late news is dropped)."""
        if self._state.face_running and self._face is not None:
            self._check += 1
            try:
                self._face.cancel()
            except Exception:  # cancelling must never take the journey down
                log.exception("the face check did not cancel cleanly")
        if self._state.face_running:
            self._set(face_running=False, face=None)

    def _face_news(self, session: int, check: int, event: FaceEvent) -> None:
        """On the main loop: the running check's progress or result."""
        if session != self._session or check != self._check or self._state.step is not Step.FACE:
            return
        if isinstance(event, FaceProgress):
            self._set(face=event)
            return
        self._check += 1  # ended: nothing more from it
        self._touch()
        result = event
        log.info("face check: %s after %d frame(s)", result.outcome.value, result.frames)
        if (result.outcome is FaceOutcome.LIVE and result.encoding is not None) or \
                result.outcome in LIVENESS_FAILURES:
            self._set(face_running=False, face=None)
            self._send_face(result)
        elif result.outcome in (FaceOutcome.CAMERA_UNAVAILABLE, FaceOutcome.LIVE):  # LIVE without an encoding: a fault
            self._face_failed(Message.of("recovery.face_camera_unavailable"))
        elif result.outcome is FaceOutcome.CANCELLED:
            self._set(face_running=False, face=None)
        else:  # nobody there, or several faces: not an attempt; try again
            self._face_failed(Message.of(f"recovery.face_{result.outcome.value}"))

    def _face_failed(self, note: Message) -> None:
        self._set(step=Step.FACE, face_running=False, face=None, face_note=note, still_there=False)

    def _send_face(self, result: FaceCheckResult) -> None:
        session_id = self._session_id()
        if session_id is None:
            return
        live = result.outcome is FaceOutcome.LIVE
        attempt = FaceAttempt(
            encoding=list(result.encoding) if live and result.encoding is not None else None,
            liveness=LivenessReport(challenge=result.challenge.text or "none", passed=live,
                                    reason=None if live else result.outcome.value))
        key = uuid.uuid4().hex  # one attempt: the client's retries of it reuse the key
        self._set(step=Step.MATCHING, still_there=False)
        if not live:
            log.info("face check failed its liveness (%s): reported as an attempt", result.outcome.value)

        def done(verdict: FaceVerdict | None, error: BaseException | None) -> None:
            if error is not None:
                self._face_refused(error)
                return
            assert verdict is not None
            self._face_verdict(verdict, live, result.outcome)

        self._submit(lambda: self._client.face_attempt(session_id, attempt, key), done)

    def _face_verdict(self, verdict: FaceVerdict, live: bool, outcome: FaceOutcome) -> None:
        self._touch()
        session = verdict.session
        self._take_session(session, distance=verdict.distance)
        left = verdict.attempts_left
        self._set(face_attempts_left=left)
        if live and verdict.matched:
            log.info("recovery session %s: face matched (distance %s, threshold %.3f)", session.session_id,
                     "?" if verdict.distance is None else f"{verdict.distance:.3f}", verdict.threshold)
            self._verified(RecoveryMethod.FACE)
            return
        if live:
            log.info("recovery session %s: face not matched (%d attempt(s) left)", session.session_id, left)
            note = Message.of("recovery.face_not_matched", attempts_left=left, count=left)
        else:
            note = Message.of(f"recovery.face_{outcome.value}", attempts_left=left, count=left)
        if left <= 0:
            self._face_used_up(note)
            return
        self._set(step=Step.FACE, face_note=note, still_there=False)

    def _face_used_up(self, note: Message | None = None) -> None:
        """No face attempt left (or no template): the SMS code when there is one, else the counter."""
        self._end_face()
        self._set(face_attempts_left=0)
        if self._state.sms_offered:
            self._set(step=Step.FACE, face_note=note or Message.of("recovery.face_no_attempts_left"),
                      still_there=False)
            return
        self._no_way_left()

    def _face_refused(self, error: BaseException) -> None:
        if isinstance(error, CentralRefused) and error.code in (ErrorCode.RECOVERY_NO_TEMPLATE,
                                                                  ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED):
            log.info("recovery: the face path is closed (%s)", error.code.value)
            key = ("recovery.face_no_template" if error.code is ErrorCode.RECOVERY_NO_TEMPLATE
                   else "recovery.face_no_attempts_left")
            session = self._state.session
            if session is not None and error.code is ErrorCode.RECOVERY_NO_TEMPLATE:
                self._set(session=session.model_copy(
                    update={"methods": [m for m in session.methods if m is not RecoveryMethod.FACE]}))
            self._face_used_up(Message.of(key))
            return
        self._refuse_for(error)

    # -- the SMS code --------------------------------------------------------------------------

    def resend_code(self) -> None:
        self._touch()
        if self._state.can_resend:
            self._send_code()

    def _send_code(self) -> None:
        session_id = self._session_id()
        if session_id is None:
            return
        key = uuid.uuid4().hex
        came_from = self._state.step
        self._set(step=Step.SMS_SENDING, code="", code_note=None, still_there=False)

        def done(sent: SmsSent | None, error: BaseException | None) -> None:
            if error is not None:
                self._sms_refused(error, came_from)
                return
            assert sent is not None
            self._touch()
            log.info("recovery: a code was sent to %s (%d more may be sent)", sent.sent_to, sent.codes_left)
            self._set(step=Step.SMS_CODE, sms_sent_to=sent.sent_to, sms_codes_left=sent.codes_left, code="",
                      code_attempts_left=max(self._state.code_attempts_left, 1), code_note=None,
                      still_there=False)

        self._submit(lambda: self._client.send_recovery_sms(session_id, key), done)

    def _sms_refused(self, error: BaseException, came_from: Step) -> None:
        if isinstance(error, CentralRefused) and error.code is ErrorCode.SMS_UNAVAILABLE:
            log.info("recovery: the SMS gateway did not take the code")
            state = self._state
            if state.face_offered and self.face_available and state.face_attempts_left > 0:
                self._set(step=Step.FACE, face_note=Message.of("recovery.sms_unavailable_use_face"),
                          still_there=False)
                return
            if came_from is Step.SMS_CODE and state.code_attempts_left > 0:  # the code sent before still works
                self._set(step=Step.SMS_CODE, code_note=Message.of("recovery.sms_unavailable_use_last"))
                return
        if isinstance(error, CentralRefused) and error.code is ErrorCode.RECOVERY_RATE_LIMITED \
                and self._state.sms_sent_to and self._state.code_attempts_left > 0:
            # "Send again" pressed too soon: the code already sent is on its way and still good.
            retry = error.details.get("retry_after_s")
            seconds = int(retry) if isinstance(retry, int | float) and not isinstance(retry, bool) \
                and math.isfinite(retry) and retry > 0 else 0
            self._set(step=Step.SMS_CODE, code_note=Message.of("recovery.code_resend_wait", seconds=seconds,
                                                                 count=seconds))
            return
        if isinstance(error, CentralRefused) and error.code is ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED:
            self._set(sms_codes_left=0)
            if came_from is Step.SMS_CODE and self._state.code_attempts_left > 0:
                self._set(step=Step.SMS_CODE, code_note=Message.of("recovery.no_more_codes"))
                return
        self._refuse_for(error)

    def _check_code(self) -> None:
        session_id = self._session_id()
        if session_id is None:
            return
        code = self._state.code
        key = uuid.uuid4().hex
        self._set(step=Step.SMS_CHECKING, code_note=None, still_there=False)

        def done(verdict: SmsVerdict | None, error: BaseException | None) -> None:
            if error is not None:
                if isinstance(error, CentralRefused) and error.code is ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED:
                    self._set(code_attempts_left=0, sms_codes_left=0, code="")
                    self._code_used_up()
                    return
                self._refuse_for(error)
                return
            assert verdict is not None
            self._touch()
            self._take_session(verdict.session, code_attempts_left=verdict.attempts_left, code="")
            if verdict.matched:
                log.info("recovery session %s: SMS code matched", verdict.session.session_id)
                self._verified(RecoveryMethod.SMS)
                return
            left = verdict.attempts_left
            log.info("recovery session %s: wrong SMS code (%d tries left)", verdict.session.session_id, left)
            if left <= 0:
                self._code_used_up()
                return
            self._set(step=Step.SMS_CODE, code_note=Message.of("recovery.code_wrong", attempts_left=left,
                                                                 count=left))

        self._submit(lambda: self._client.check_recovery_sms(session_id, code, key), done)

    def _code_used_up(self) -> None:
        """This code can no longer be typed: a new one, the face, or the counter."""
        state = self._state
        if state.sms_codes_left > 0:
            self._set(step=Step.SMS_CODE, code="", code_note=Message.of("recovery.code_used_up_resend"))
        elif state.face_offered and self.face_available and state.face_attempts_left > 0:
            self._set(step=Step.FACE, face_note=Message.of("recovery.code_used_up_use_face"), still_there=False)
        else:
            self._no_way_left()

    # -- delivery ------------------------------------------------------------------------------

    def _verified(self, method: RecoveryMethod) -> None:
        self._end_face()
        self._set(step=Step.DELIVERY, verified_by=method, face_note=None, code_note=None, printer_problem=None,
                  result_note=None, still_there=False)
        self.check_printer()

    def check_printer(self) -> None:
        """Printing here is offered only when the printer can print now."""

        def done(status: PrinterStatus | None, error: BaseException | None) -> None:
            if self._state.step is not Step.DELIVERY:
                return
            if error is not None:
                log.warning("the printer's status could not be read: %s", error)
            problem = _printer_problem(status) if error is None and status is not None \
                else Message.of("printer.unknown")
            self._set(printer_problem=problem)

        self._submit(self._printer.status, done)

    def printer_health_changed(self, health: Health) -> None:
        if self._state.step is Step.DELIVERY:
            self.check_printer()

    def choose_delivery(self, delivery: RecoveryDelivery) -> None:
        """Print the tickets here, or send a new pickup code to the bound phone."""
        self._touch()
        state = self._state
        session_id = self._session_id()
        order_id = state.order_id
        if state.step is not Step.DELIVERY or session_id is None or order_id is None:
            return
        if delivery is RecoveryDelivery.PRINT and not state.can_print:
            return
        # The same completion keeps its key across the person's retries (offline, then again).
        if self._complete_key is None or self._complete_key[0] != (order_id, delivery):
            self._complete_key = ((order_id, delivery), uuid.uuid4().hex)
        key = self._complete_key[1]
        session = self._session
        self._stop_printing.clear()
        self._set(step=Step.COMPLETING, delivery=delivery, stop_requested=False, printed=0, owed=0, in_doubt=0,
                  result_note=None, lines=(), still_there=False)

        def job() -> _Completion:
            if delivery is RecoveryDelivery.PRINT:
                problem = _printer_problem(self._printer.status())  # the last look before the codes go
                if problem is not None:
                    return _Completion(problem=problem)
            result = self._client.complete_recovery(session_id, order_id, delivery, key)
            if delivery is not RecoveryDelivery.PRINT:
                return _Completion(result=result)
            return self._print(result, session)

        def done(outcome: _Completion | None, error: BaseException | None) -> None:
            if isinstance(error, CentralUnreachable | CentralBadAnswer):
                # Still verified: the same completion (its key) is asked again when the person retries.
                log.warning("recovery: the completion did not get through (%s)", error)
                self._touch()
                self._set(step=Step.DELIVERY, result_note=Message.of("recovery.completion_failed_try_again"),
                          still_there=False)
                return
            if error is not None:
                self._refuse_for(error)
                return
            assert outcome is not None
            self._completed(outcome)

        self._submit(job, done)

    def _print(self, result: RecoveryResult, session: int) -> _Completion:
        """On the worker: claim every collectable ticket of the order with the result's grant, print them."""
        order = result.order
        if order is None:
            log.warning("recovery of order %s: the central sent no order to print", result.order_id)
            return _Completion(result=result, missing_order=True)
        ticket_ids = [t.ticket_id for t in order.tickets if t.status is TicketStatus.AVAILABLE]
        if not ticket_ids:
            return _Completion(result=result)
        try:
            claim = self._client.claim(order.order_id, ticket_ids, uuid.uuid4().hex, order.claim_grant)
        except CentralError as exc:  # the codes are revoked: the same completion is asked again on a retry
            log.warning("recovery of order %s: completed, but the claim failed (%s)", result.order_id, exc)
            return _Completion(result=result, claim_error=exc)
        lines = tuple(RecoveryTicketLine(t.ticket_id, t.row, t.seat, TicketState.CLAIMED) for t in claim.tickets)
        self._post_guarded(session, lambda: self._set(step=Step.PRINTING, result=result,
                                                      revoked_codes=result.revoked_codes, lines=lines))
        self._claims.record(claim, ticket_contents(order, claim, self._timezone))

        def progress(update: TicketProgress) -> None:
            self._post_guarded(session, lambda: self._on_progress(update))

        printed = self._claims.print_claim(claim.claim_id, self._stop_printing.is_set, progress)
        return _Completion(result=result, printed=printed, order=order)

    def _on_progress(self, update: TicketProgress) -> None:
        lines = tuple(replace(line, print_state=update.state) if line.ticket_id == update.ticket_id else line
                      for line in self._state.lines)
        self._set(lines=lines, printed=sum(1 for line in lines if line.print_state is TicketState.PRINTED))

    def _completed(self, outcome: _Completion) -> None:
        self._touch()
        if outcome.problem is not None:  # nothing was revoked: choose again (the SMS code still works)
            self._set(step=Step.DELIVERY, printer_problem=outcome.problem)
            return
        result = outcome.result
        assert result is not None
        if outcome.claim_error is not None:  # print again (the same completion), or the new code by SMS
            self._set(step=Step.DELIVERY, result_note=Message.of("recovery.print_failed_try_again"),
                      revoked_codes=result.revoked_codes, still_there=False)
            return
        self._complete_key = None
        log.info("recovery of order %s: %d old code(s) revoked, delivery %s", result.order_id,
                 result.revoked_codes, result.delivery.value)
        if result.delivery is RecoveryDelivery.SMS:
            self._set(step=Step.DONE, result=result, revoked_codes=result.revoked_codes,
                      sms_sent_to=result.new_code_sent_to or self._state.sms_sent_to, still_there=False,
                      result_note=Message.of("recovery.new_code_sent", phone=result.new_code_sent_to or ""))
            return
        printed = outcome.printed
        if printed is None:
            owed_note = Message.of("recovery.tickets_owed_see_staff") if outcome.missing_order else \
                Message.of("recovery.nothing_to_print")
            self._set(step=Step.DONE, result=result, revoked_codes=result.revoked_codes, result_note=owed_note,
                      still_there=False)
            return
        note: Message | None = None
        if printed.stopped_by_central:
            note = Message.of("done.claim_lost" if printed.stopped_by_central == CLAIM_LOST
                              else "done.central_unreachable")
        elif printed.printer_detail:
            note = Message.of(f"printer.{printed.printer_detail}")
        elif printed.stopped_by_person:
            note = Message.of("done.stopped")
        if (printed.released or printed.in_doubt) and note is None:
            note = Message.of("recovery.tickets_owed_see_staff")
        log.info("recovery of order %s: %d printed, %d owed, %d in doubt", result.order_id, printed.printed,
                 printed.released, printed.in_doubt)
        self._set(step=Step.DONE, result=result, revoked_codes=result.revoked_codes, printed=printed.printed,
                  owed=printed.released, in_doubt=printed.in_doubt, result_note=note, still_there=False)

    # -- refusals -----------------------------------------------------------------------------

    def _refusal_message(self, error: CentralRefused, params: dict[str, str | int | float]) -> Message:
        retry = params.pop("retry_after_s", None)
        if isinstance(retry, int | float) and not isinstance(retry, bool) and math.isfinite(retry):
            minutes = max(1, math.ceil(retry / 60))
            params.update(retry_after_min=minutes, count=minutes)
        key = _REFUSAL_KEYS.get(error.code, f"refusal.{error.code.value}")
        return Message.of(key, **params)

    def _refuse_for(self, error: BaseException) -> None:
        self._end_face()
        super()._refuse_for(error)
        if isinstance(error, CentralRefused) and error.code is ErrorCode.RECOVERY_RATE_LIMITED:
            hint = self._state.refusal
            minutes = hint.param_dict().get("retry_after_min") if hint is not None else None
            if isinstance(minutes, int):
                self._set(refusal_hint=Message.of("hint.recovery_wait", minutes=minutes, count=minutes))

    def _session_id(self) -> str | None:
        session = self._state.session
        return session.session_id if session is not None else None

    # -- device events --------------------------------------------------------------------------

    def handle_qr(self, code: DecodedCode) -> bool:
        """A QR held up during a recovery (perhaps the lost ticket's own code) starts nothing."""
        if self._state.step is Step.IDLE:
            return False
        log.info("a QR code during a recovery: ignored")
        return True

    # -- navigation and time ------------------------------------------------------------------

    def back(self) -> None:
        self._touch()
        step = self._state.step
        if step is Step.PHONE:
            if self.face_available:
                self._set(step=Step.CONSENT, phone="", entry_note=None)
            else:
                self.reset()
        elif step is Step.ID_DIGITS:
            self._set(step=Step.PHONE, id_digits="", entry_note=None, phone=self._phone)
        elif step in (Step.ORDERS, Step.REFUSED) and self._state.session is None:
            self._end_session()
            self._set(step=Step.PHONE, phone=self._phone, refusal=None, refusal_hint=None, session=None,
                      entry_note=None, still_there=False)
        elif step in (Step.FACE, Step.SMS_CODE) and len(self._state.orders) > 1:
            self._end_face()
            self._set(step=Step.ORDERS, order_note=None, face_note=None, code="", still_there=False)
        elif step in (Step.CONSENT, Step.ORDERS, Step.FACE, Step.SMS_CODE, Step.DELIVERY, Step.REFUSED,
                      Step.DONE):
            self.reset()

    def cancel(self) -> None:
        """Cancel: home (a running face check stops); while printing, "stop after this ticket"."""
        self._touch()
        step = self._state.step
        if step is Step.PRINTING:
            self._stop_printing.set()
            self._set(stop_requested=True)
            return
        if step is Step.COMPLETING:
            return  # the codes are being revoked: the result must reach the person
        self.reset()

    def finish(self) -> None:
        """Finish on the done screen."""
        self._touch()
        if self._state.step in (Step.DONE, Step.REFUSED):
            self.reset()

    def reset(self) -> None:
        if self._state.step in (Step.COMPLETING, Step.PRINTING):
            return  # never abandon a completion or a print job: it ends on its own and reaches DONE
        self._end_face()
        self._reset_state()
        self._phone = ""
        self._complete_key = None

    @property
    def nav(self) -> NavView:
        step = self._state.step
        if step is Step.PRINTING:
            stopping = self._state.stop_requested
            return NavView(back_enabled=False, cancel_key="print.stopping" if stopping else "print.stop",
                           cancel_enabled=not stopping)
        if step is Step.COMPLETING:
            return NavView(back_enabled=False, cancel_enabled=False)
        if step is Step.DONE:
            return NavView(back_enabled=False)
        return NavView()

    def tick(self) -> None:
        """A person standing still in front of the camera is not away; a check that never ends is."""
        if self._state.step is Step.FACE and self._state.face_running:
            if self._now() - self._check_started >= self._settings.face_timeout_s + FACE_GRACE_S:
                log.warning("the face check did not end in time: stopped")
                self._end_face()
                self._face_failed(Message.of("recovery.face_timed_out"))
            else:
                self._touch()
            return
        super().tick()


@dataclass(frozen=True)
class _Completion:
    """What a completion's worker job came to (the flow turns it into a step on the main loop)."""

    result: RecoveryResult | None = None
    problem: Message | None = None  # the printer cannot print: nothing was completed
    printed: ClaimResult | None = None
    order: OrderView | None = None
    missing_order: bool = False
    claim_error: BaseException | None = None


_KEYPAD_FIELD = {Step.PHONE: "phone", Step.ID_DIGITS: "id_digits", Step.SMS_CODE: "code"}


def _is_mobile(phone: str) -> bool:
    return re.fullmatch(PHONE_PATTERN, phone) is not None


def _printer_problem(status: PrinterStatus) -> Message | None:
    health = status.health()
    if health.critical:
        return Message.of(f"printer.{health.reason}")
    if not status.known:
        return Message.of("printer.unknown")
    return None


# Events the screens call on RecoveryFlow:
#   start(); agree_to_face(); use_sms_only()             -- CONSENT
#   press_digit(d); press_backspace(); clear(); submit()  -- PHONE, ID_DIGITS, SMS_CODE keypads
#   choose_order(order_id)                                -- ORDERS
#   retry_face(); switch_to_sms()                         -- FACE (after a failed attempt)
#   resend_code()                                         -- SMS_CODE
#   choose_delivery(RecoveryDelivery)                     -- DELIVERY
#   finish()                                              -- DONE, REFUSED
#   back(); cancel(); keep_going()                        -- every step (Journey base)
