"""Delivery: verified; the chosen order, and two ways to get its tickets: print them here now, or
a new pickup code sent to the account's phone.  Either way the old code stops working."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.recovery.base import RecoveryScreen, shown_phone
from kiosk.screens.recovery.orders import OrderTile
from kiosk.widgets.style import load_kv


class DeliveryScreen(RecoveryScreen):
    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        order = state.order
        ids.title.text = tr.text("recovery.delivery.title")
        tile: OrderTile = ids.order
        if order is not None:
            tile.show(order, tr)
        tile.opacity = 1 if order is not None else 0  # shown only: a touch on it does nothing here
        ids.revoke_note.text = tr.text("recovery.delivery.revoke_note")
        ids.print_here.text = tr.text("recovery.delivery.print")
        ids.print_hint.text = tr.text("recovery.delivery.print_hint", count=order.tickets if order else 0)
        ids.print_here.disabled = not state.can_print
        # Why printing here is off now (the new code by SMS still works), or why the last try failed.
        ids.problem.text = tr.join(tr.message(state.printer_problem), tr.message(state.result_note))
        ids.send_code.text = tr.text("recovery.delivery.sms")
        ids.sms_hint.text = tr.text("recovery.delivery.sms_hint", phone=shown_phone(state))


load_kv(__file__)
