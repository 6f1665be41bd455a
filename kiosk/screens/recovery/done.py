"""Done: the tickets printed (or some owed or in doubt), or a new pickup code sent to the phone;
either way the old code no longer works."""

from __future__ import annotations

from backend_client.wire import RecoveryDelivery
from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.recovery.base import RecoveryScreen, shown_phone
from kiosk.widgets import common  # noqa: F401  (registers the shared widgets)
from kiosk.widgets.style import load_kv


def sent_by_sms(state: RecoveryState) -> bool:
    return (state.delivery or (state.result.delivery if state.result else None)) is RecoveryDelivery.SMS


class RecoveryDoneScreen(RecoveryScreen):
    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        if sent_by_sms(state):
            phone = (state.result.new_code_sent_to if state.result else None) or shown_phone(state)
            ids.title.text = tr.text("recovery.done.sms_title")
            ids.printed.text = tr.text("recovery.new_code_sent", phone=phone)
            ids.take.text = ""
            ids.owed.text = ids.in_doubt.text = ""
        else:
            ids.title.text = tr.text("recovery.done.title") if state.printed else tr.text("done.none_printed")
            ids.printed.text = tr.text("done.printed", count=state.printed) if state.printed else ""
            ids.take.text = tr.text("done.take") if state.printed else ""
            owed = tr.text("done.owed", count=state.owed) if state.owed else ""
            ids.owed.text = tr.join(owed, tr.message(state.result_note))
            ids.in_doubt.text = tr.text("done.in_doubt", count=state.in_doubt) if state.in_doubt else ""
        ids.revoked.text = tr.text("recovery.done.revoked") if state.result is not None else ""
        ids.finish.text = tr.text("done.finish")


load_kv(__file__)
