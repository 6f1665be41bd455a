"""The lost-ticket journey (挂失找回) as a plain state machine (no Kivy).

    "Lost your ticket?" -> CONSENT (face check consent; the SMS code offered on the same screen)
      -> PHONE (the account's phone on the keypad) [-> ID_DIGITS (last 4 of the ID, by config or
         when the central asks)] -> LOOKING_UP -> ORDERS (this cinema's collectable orders today,
         masked) -> FACE (the live check with its challenge) -> MATCHING
                  \\-> SMS_SENDING -> SMS_CODE -> SMS_CHECKING
      -> DELIVERY (print here, or a new code to the phone) -> COMPLETING -> PRINTING -> DONE

Every refusal lands on REFUSED with its message and what to do next.

SKELETON: the public surface the screens code against.  Bodies to be written.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from backend_client.wire import RecoverableOrder, RecoveryDelivery, RecoveryMethod, RecoveryResult, RecoverySession
from devices.face_api import Challenge, FaceProgress
from kiosk.flows.journey import JourneyState
from kiosk.flows.runtime import Message
from kiosk.journal import TicketState

PHONE_LENGTH = 11
ID_DIGITS_LENGTH = 4
SMS_CODE_LENGTH = 6


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
    session: RecoverySession | None = None
    order_id: str | None = None  # the order chosen on ORDERS
    challenge: Challenge | None = None
    face: FaceProgress | None = None  # the overlay's latest news
    face_note: Message | None = None  # why the last attempt failed ("not matched, 2 attempts left")
    face_attempts_left: int = 0
    sms_sent_to: str = ""  # masked phone
    sms_codes_left: int = 0
    code: str = ""  # SMS code digits typed so far
    code_attempts_left: int = 0
    code_note: Message | None = None  # "wrong code, 2 tries left"
    verified_by: RecoveryMethod | None = None
    delivery: RecoveryDelivery | None = None
    result: RecoveryResult | None = None
    lines: tuple[RecoveryTicketLine, ...] = ()
    printed: int = 0
    owed: int = 0
    in_doubt: int = 0
    result_note: Message | None = None
    notices: tuple[Message, ...] = field(default=())

    @property
    def orders(self) -> tuple[RecoverableOrder, ...]:
        return tuple(self.session.orders) if self.session is not None else ()

    @property
    def face_offered(self) -> bool:
        return self.session is not None and RecoveryMethod.FACE in self.session.methods and self.face_consent


# Events the screens call on RecoveryFlow (bodies to be written):
#   start(); agree_to_face(); use_sms_only()             -- CONSENT
#   press_digit(d); press_backspace(); clear(); submit()  -- PHONE, ID_DIGITS, SMS_CODE keypads
#   choose_order(order_id)                                -- ORDERS
#   retry_face(); switch_to_sms()                         -- FACE (after a failed attempt)
#   resend_code()                                         -- SMS_CODE
#   choose_delivery(RecoveryDelivery)                     -- DELIVERY
#   back(); cancel(); keep_going()                        -- every step (Journey base)
