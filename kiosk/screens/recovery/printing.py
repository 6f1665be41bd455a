"""Printing: the recovered order's tickets with the pickup journey's progress per ticket, and the
reassurance that the old code no longer works."""

from __future__ import annotations

from typing import Any, cast

from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryState
from kiosk.i18n import Translator
from kiosk.journal import TicketState
from kiosk.screens.recovery.base import RecoveryScreen
from kiosk.widgets import progress  # noqa: F401  (registers PrintProgress)
from kiosk.widgets.style import load_kv

SETTLED = frozenset({TicketState.PRINTED, TicketState.RELEASED, TicketState.IN_DOUBT})


class RecoveryPrintingScreen(RecoveryScreen):
    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("print.title")
        settled = sum(1 for line in state.lines if line.print_state in SETTLED)
        # PrintProgress reads a line's row, seat and print_state: a RecoveryTicketLine has them all.
        ids.progress.show(cast(Any, state.lines), settled, tr)
        ids.revoked.text = tr.text("recovery.printing.revoked")
        ids.note.text = tr.text("print.stopping") if state.stop_requested else tr.text("print.keep_waiting")


load_kv(__file__)
