"""The steps where the kiosk waits for the central: looking the orders up, comparing the face,
sending the SMS, checking its code, revoking the old codes.

One layout (a spinner, what is happening, a line of reassurance), one screen class per step so that
each keeps its own name (``recovery.looking_up``, ``recovery.matching`` ...).
"""

from __future__ import annotations

from typing import ClassVar

from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.recovery.base import RecoveryScreen, shown_phone
from kiosk.widgets import progress  # noqa: F401  (registers BusySpinner)
from kiosk.widgets.style import load_kv


class RecoveryWaitingScreen(RecoveryScreen):
    title_key: ClassVar[str]
    body_key: ClassVar[str] = ""

    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        self.ids.title.text = tr.text(self.title_key, phone=shown_phone(state))
        self.ids.body.text = tr.text(self.body_key) if self.body_key else ""

    def on_shown(self) -> None:
        self.ids.spinner.start()

    def on_hidden(self) -> None:
        self.ids.spinner.stop()


class RecoveryLookingUpScreen(RecoveryWaitingScreen):
    title_key = "recovery.looking_up.title"
    body_key = "recovery.looking_up.wait"


class MatchingScreen(RecoveryWaitingScreen):
    title_key = "recovery.matching.title"
    body_key = "recovery.matching.wait"


class SmsSendingScreen(RecoveryWaitingScreen):
    title_key = "recovery.sms_sending.title"


class SmsCheckingScreen(RecoveryWaitingScreen):
    title_key = "recovery.sms_checking.title"


class CompletingScreen(RecoveryWaitingScreen):
    title_key = "recovery.completing.title"
    body_key = "recovery.completing.body"


load_kv(__file__)
