"""Done: how many printed, where to take them, what is still owed and why."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.pickup import PickupState
from kiosk.i18n import Translator
from kiosk.screens.pickup.base import PickupScreen
from kiosk.widgets import common  # noqa: F401  (registers the shared widgets)
from kiosk.widgets.style import load_kv


class DoneScreen(PickupScreen):
    def show(self, state: PickupState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("done.title") if state.printed else tr.text("done.none_printed")
        ids.printed.text = tr.text("done.printed", count=state.printed) if state.printed else ""
        ids.take.text = tr.text("done.take") if state.printed else ""
        owed = ""
        if state.owed:
            owed = tr.join(tr.join(tr.text("done.owed", count=state.owed), tr.message(state.result_note)),
                           tr.text("done.later", count=state.owed))
        elif state.result_note is not None:
            owed = tr.message(state.result_note)
        ids.owed.text = owed
        ids.in_doubt.text = tr.text("done.in_doubt", count=state.in_doubt) if state.in_doubt else ""
        ids.finish.text = tr.text("done.finish")


load_kv(__file__)
