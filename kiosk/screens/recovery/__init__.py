"""The lost-ticket journey's screens (挂失找回): one per step but idle (which is the home screen).

Screens are named ``recovery.<step>`` (see :data:`SCREENS`); :func:`screen_detail` says what a
technician compares on each besides its name (the recorder stores it with every screen): never
the phone number, an ID digit, a code, a frame or an encoding; the verification's outcome, yes.
The steps where the kiosk waits for the central share one layout (:mod:`.waiting`).
"""

from __future__ import annotations

from typing import Any

from kiosk.flows.recovery import RecoveryState, Step
from kiosk.screens.recovery.base import RecoveryScreen
from kiosk.screens.recovery.consent import ConsentScreen
from kiosk.screens.recovery.delivery import DeliveryScreen
from kiosk.screens.recovery.done import RecoveryDoneScreen
from kiosk.screens.recovery.face import FaceScreen
from kiosk.screens.recovery.id_digits import IdDigitsScreen
from kiosk.screens.recovery.orders import OrdersScreen
from kiosk.screens.recovery.phone import PhoneScreen
from kiosk.screens.recovery.printing import RecoveryPrintingScreen
from kiosk.screens.recovery.refused import RecoveryRefusedScreen
from kiosk.screens.recovery.sms_code import SmsCodeScreen
from kiosk.screens.recovery.waiting import (
    CompletingScreen,
    MatchingScreen,
    RecoveryLookingUpScreen,
    SmsCheckingScreen,
    SmsSendingScreen,
)

SCREENS: dict[Step, type[RecoveryScreen]] = {
    Step.CONSENT: ConsentScreen,
    Step.PHONE: PhoneScreen,
    Step.ID_DIGITS: IdDigitsScreen,
    Step.LOOKING_UP: RecoveryLookingUpScreen,
    Step.ORDERS: OrdersScreen,
    Step.FACE: FaceScreen,
    Step.MATCHING: MatchingScreen,
    Step.SMS_SENDING: SmsSendingScreen,
    Step.SMS_CODE: SmsCodeScreen,
    Step.SMS_CHECKING: SmsCheckingScreen,
    Step.DELIVERY: DeliveryScreen,
    Step.COMPLETING: CompletingScreen,
    Step.PRINTING: RecoveryPrintingScreen,
    Step.DONE: RecoveryDoneScreen,
    Step.REFUSED: RecoveryRefusedScreen,
}


def screen_detail(state: RecoveryState) -> dict[str, Any]:
    """What matters on a recovery screen besides its name (no personal data, masked or not)."""
    step = state.step
    detail: dict[str, Any] = {}
    if step is Step.CONSENT:
        detail["face_consent"] = state.face_consent
    elif step in (Step.PHONE, Step.ID_DIGITS):
        detail["typed"] = len(state.phone if step is Step.PHONE else state.id_digits)
    elif step is Step.ORDERS:
        detail.update(orders=len(state.orders), open=sum(1 for order in state.orders if order.open))
    elif step is Step.FACE:
        detail.update(attempts_left=state.face_attempts_left,
                      challenge=state.challenge.text if state.challenge is not None else None,
                      note=state.face_note.key if state.face_note else None)
    elif step is Step.SMS_CODE:
        detail.update(codes_left=state.sms_codes_left, note=state.code_note.key if state.code_note else None)
    elif step is Step.DELIVERY:
        detail["verified_by"] = state.verified_by.value if state.verified_by else None
    elif step is Step.REFUSED:
        detail["refusal"] = state.refusal.key if state.refusal else None
    elif step is Step.DONE:
        detail.update(delivery=state.delivery.value if state.delivery else None, printed=state.printed,
                      owed=state.owed, in_doubt=state.in_doubt,
                      note=state.result_note.key if state.result_note else None)
    return detail
