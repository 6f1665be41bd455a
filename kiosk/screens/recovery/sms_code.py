"""SMS code: the 6 digits from the SMS on the large keypad; where it went (masked), why the last
code was refused, and "Send again" while the session may send more codes."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.recovery import SMS_CODE_LENGTH, RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.recovery.base import RecoveryScreen, shown_phone
from kiosk.widgets import keypad  # noqa: F401  (registers Keypad and CodeField)
from kiosk.widgets.style import load_kv


class SmsCodeScreen(RecoveryScreen):
    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("recovery.sms.title")
        ids.sent_to.text = tr.text("recovery.sms.sent_to", phone=shown_phone(state))
        ids.code.caption = tr.text("recovery.sms.caption")
        ids.code.digits = state.code
        ids.code.active = len(state.code) < SMS_CODE_LENGTH
        ids.note.text = tr.message(state.code_note)
        if state.sms_codes_left > 0:
            ids.codes_left.text = tr.text("recovery.sms.codes_left", count=state.sms_codes_left)
        else:
            ids.codes_left.text = tr.text("recovery.sms.no_more_codes")
        ids.resend.text = tr.text("recovery.sms.resend")
        ids.resend.disabled = state.sms_codes_left <= 0
        ids.keypad.clear_text = tr.text("code.clear")
        ids.keypad.backspace_text = tr.text("code.backspace")
        ids.submit.text = tr.text("recovery.sms.submit")
        ids.submit.disabled = len(state.code) < SMS_CODE_LENGTH


load_kv(__file__)
