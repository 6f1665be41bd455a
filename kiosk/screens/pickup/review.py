"""Review: the order, its tickets to choose from, and Confirm (disabled while the printer cannot print)."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.pickup import PickupState
from kiosk.i18n import Translator
from kiosk.screens.pickup.base import PickupScreen
from kiosk.widgets import order_card  # noqa: F401  (registers OrderCard and TicketList)
from kiosk.widgets.style import load_kv


class ReviewScreen(PickupScreen):
    def show(self, state: PickupState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.order_card.show(state.order, tr)
        ids.tickets.show(state.lines, tr)
        collectable = sum(1 for line in state.lines if line.collectable)
        selected = len(state.selected_ids)
        if collectable == 1:  # not "1 of 1 tickets selected"
            ids.selected_count.text = tr.text("review.selected_single" if selected else "review.selected_none")
        else:
            ids.selected_count.text = tr.text("review.selected_count", selected=selected, collectable=collectable)
        ids.scroll_cue.text = tr.text("review.scroll_cue")
        ids.tap_hint.text = tr.text("review.tap_hint") if collectable > 1 else ""
        ids.select_all.text = tr.text("review.select_all")
        ids.select_all.disabled = selected == collectable
        if state.checking_printer:
            ids.printer_problem.text = tr.text("review.checking_printer")
        else:
            # What went wrong and what to do: the tickets are not lost, staff or another kiosk can help.
            ids.printer_problem.text = tr.join(tr.message(state.printer_problem), tr.text("review.printer_help")) \
                if state.printer_problem is not None else ""
        ids.confirm.text = tr.text("review.confirm", count=selected)
        ids.confirm.disabled = not state.can_confirm


load_kv(__file__)
