"""Staff login: staff number and password, checked by the central, which opens a staff session.

Plain Python, no Kivy.  The counter uses it before anything else; the maintenance mode can reuse it
(it needs only a client with ``staff_login``/``staff_logout`` and a worker).  The password lives in
this object only while it is typed; it is dropped as soon as it is sent, and never logged.  The
central counts wrong passwords per staff number and locks it for a while: its details
(``attempts_left``, ``retry_after_s``) are what the person is told.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from backend_client.errors import CentralBadAnswer, CentralRefused, CentralUnreachable
from backend_client.wire import ErrorCode, StaffRole, StaffSession
from kiosk.flows.runtime import Message, Worker
from kiosk.observers import Observers, Unsubscribe

log = logging.getLogger(__name__)

MAX_STAFF_NO = 32
MAX_PASSWORD = 128


class StaffClient(Protocol):
    def staff_login(self, staff_no: str, password: str) -> StaffSession: ...

    def staff_logout(self, staff_token: str) -> None: ...


class Field(str, enum.Enum):
    STAFF_NO = "staff_no"
    PASSWORD = "password"


class LoginStep(str, enum.Enum):
    ENTER = "enter"
    CHECKING = "checking"
    LOGGED_IN = "logged_in"


@dataclass(frozen=True)
class LoginState:
    step: LoginStep = LoginStep.ENTER
    staff_no: str = ""
    password_length: int = 0  # screens show dots; the password itself is not in the state
    focus: Field = Field.STAFF_NO
    refusal: Message | None = None
    detail: Message | None = None  # tries left, or how long the lock lasts
    note: Message | None = None  # why the last session ended (timed out, logged out, expired)


def _minutes(seconds: Any) -> int:
    try:
        return max(1, -(-int(float(seconds)) // 60))
    except (TypeError, ValueError):
        return 1


def refusal_of(error: BaseException) -> tuple[Message, Message | None]:
    """What a person is told when a login fails (one log line by the caller)."""
    if isinstance(error, CentralRefused):
        details = error.details
        if error.code is ErrorCode.STAFF_AUTH_FAILED:
            left = details.get("attempts_left")
            detail = Message.of("refusal.staff_auth_failed.detail", attempts_left=left) \
                if isinstance(left, int) else None
            return Message.of("refusal.staff_auth_failed"), detail
        if error.code is ErrorCode.LOCKED_OUT:
            return (Message.of("staff.login.locked"),
                    Message.of("staff.login.locked.detail", minutes=_minutes(details.get("retry_after_s"))))
        if error.code is ErrorCode.FORBIDDEN:
            return Message.of("staff.login.other_cinema"), None
        if error.code is ErrorCode.BAD_REQUEST:
            return Message.of("staff.login.missing"), None
        return Message.of("staff.login.refused"), None
    if isinstance(error, CentralUnreachable):
        return Message.of("refusal.offline"), Message.of("staff.login.offline.detail")
    if isinstance(error, CentralBadAnswer):
        return Message.of("refusal.central_error"), None
    return Message.of("refusal.kiosk_error"), None


class StaffLogin:
    """The login keypad's logic and the open staff session (``session``), if any."""

    def __init__(self, client: StaffClient, worker: Worker, on_change: Callable[[], None] | None = None) -> None:
        self._client = client
        self._worker = worker
        self._state = LoginState()
        self._password = ""
        self._session: StaffSession | None = None
        self._attempt = 0  # a login answer for an abandoned attempt is dropped (and its session closed)
        self._listeners: Observers[[LoginState]] = Observers("staff login listener", isolate=False)
        if on_change is not None:
            self._listeners.subscribe(lambda _state: on_change())

    @property
    def state(self) -> LoginState:
        return self._state

    @property
    def session(self) -> StaffSession | None:
        return self._session

    @property
    def role(self) -> StaffRole | None:
        return self._session.role if self._session else None

    def subscribe(self, listener: Callable[[LoginState], None]) -> Unsubscribe:
        return self._listeners.subscribe(listener)

    def _set(self, **changes: Any) -> None:
        self._state = replace(self._state, **changes)
        self._listeners.notify(self._state)

    # -- typing -----------------------------------------------------------------------------

    def focus(self, field: Field) -> None:
        if self._state.step is LoginStep.ENTER:
            self._set(focus=field)

    def type(self, text: str) -> None:
        """Characters typed on the keypad or keyboard into the focused field (printable only)."""
        if self._state.step is not LoginStep.ENTER:
            return
        text = "".join(ch for ch in text if ch.isprintable() and not ch.isspace())
        if not text:
            return
        if self._state.focus is Field.STAFF_NO:
            self._set(staff_no=(self._state.staff_no + text.upper())[:MAX_STAFF_NO], refusal=None, detail=None)
        else:
            self._password = (self._password + text)[:MAX_PASSWORD]
            self._set(password_length=len(self._password), refusal=None, detail=None)

    def backspace(self) -> None:
        if self._state.step is not LoginStep.ENTER:
            return
        if self._state.focus is Field.STAFF_NO:
            self._set(staff_no=self._state.staff_no[:-1])
        else:
            self._password = self._password[:-1]
            self._set(password_length=len(self._password))

    def clear(self) -> None:
        self._password = ""
        self._set(staff_no="", password_length=0, focus=Field.STAFF_NO, refusal=None, detail=None)

    def next_field(self) -> None:
        """Enter on the staff number moves to the password; on the password it logs in."""
        if self._state.focus is Field.STAFF_NO:
            self.focus(Field.PASSWORD)
        else:
            self.submit()

    # -- the central ------------------------------------------------------------------------

    def submit(self) -> None:
        state = self._state
        if state.step is not LoginStep.ENTER:
            return
        if not state.staff_no or not self._password:
            self._set(refusal=Message.of("staff.login.missing"), detail=None,
                      focus=Field.STAFF_NO if not state.staff_no else Field.PASSWORD)
            return
        staff_no, password = state.staff_no, self._password
        self._password = ""  # kept no longer than needed: a wrong one is typed again
        self._attempt += 1
        attempt = self._attempt
        self._set(step=LoginStep.CHECKING, password_length=0, refusal=None, detail=None, note=None)

        def done(result: Any, error: BaseException | None) -> None:
            if attempt != self._attempt:
                if isinstance(result, StaffSession):  # nobody waits for it any more
                    self._close_quietly(result.token)
                return
            if error is not None:
                message, detail = refusal_of(error)
                code = error.code.value if isinstance(error, CentralRefused) else type(error).__name__
                log.info("staff login refused for %s: %s", staff_no[:MAX_STAFF_NO], code)
                self._set(step=LoginStep.ENTER, focus=Field.PASSWORD, refusal=message, detail=detail)
                return
            self._session = result
            log.info("staff %s (%s) logged in", result.staff_no, result.role.value)
            self._set(step=LoginStep.LOGGED_IN, focus=Field.STAFF_NO)

        self._worker.submit(lambda: self._client.staff_login(staff_no, password), done)

    def cancel(self) -> None:
        """Abandon a login in progress (its session, if it comes, is closed at once)."""
        self._attempt += 1
        self._password = ""
        if self._state.step is LoginStep.CHECKING:
            self._set(step=LoginStep.ENTER, password_length=0)

    def logout(self, note: Message | None = None) -> None:
        """End the session here and at the central (best effort: it also expires there by itself)."""
        session, self._session = self._session, None
        self._attempt += 1
        self._password = ""
        if session is not None:
            log.info("staff %s logged out (%s)", session.staff_no, note.key if note else "logout")
            self._worker.submit(lambda: self._client.staff_logout(session.token), self._logout_done)
        self._state = LoginState(note=note)
        self._listeners.notify(self._state)

    def session_ended(self, note: Message) -> None:
        """The central says the session is over (expired there): back to the login, nothing to close."""
        self._session = None
        self._attempt += 1
        self._password = ""
        self._state = LoginState(note=note)
        self._listeners.notify(self._state)

    def _close_quietly(self, token: str) -> None:
        self._worker.submit(lambda: self._client.staff_logout(token), self._logout_done)

    @staticmethod
    def _logout_done(_result: Any, error: BaseException | None) -> None:
        if error is not None:  # the session runs out at the central by itself
            log.info("staff logout not confirmed by the central: %s", type(error).__name__)
