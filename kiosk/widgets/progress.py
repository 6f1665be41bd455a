"""Printing progress per ticket, and a spinner for waits with no measurable progress."""

from __future__ import annotations

from typing import Any

from kivy.animation import Animation
from kivy.properties import NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from kiosk.flows.pickup import TicketLine
from kiosk.i18n import Translator
from kiosk.journal import TicketState
from kiosk.widgets import style
from kiosk.widgets.order_card import seat_text  # also registers KioskLabel and KioskButton
from kiosk.widgets.style import load_kv

# What a person is told about each ticket while printing runs.
STATE_TEXT = {
    TicketState.CLAIMED: ("print.waiting", style.MUTED_TEXT),
    TicketState.SENT: ("print.printing", style.PRIMARY),
    TicketState.PRINTED: ("print.printed", style.GOOD_TEXT),
    TicketState.RELEASED: ("print.not_printed", style.PROBLEM_TEXT),
    TicketState.IN_DOUBT: ("print.in_doubt", style.PROBLEM_TEXT),
}


class TicketProgressRow(BoxLayout):
    pass


class PrintProgress(BoxLayout):
    """A bar and one row per ticket being printed: waiting, printing, printed, not printed."""

    done = NumericProperty(0)
    total = NumericProperty(0)

    def show(self, lines: tuple[TicketLine, ...], settled: int, tr: Translator) -> None:
        printing = [line for line in lines if line.print_state is not None]
        self.done, self.total = settled, len(printing)
        rows = self.ids.rows
        if len(rows.children) != len(printing):
            rows.clear_widgets()
            for _ in printing:
                rows.add_widget(TicketProgressRow())
        for row, line in zip(reversed(rows.children), printing, strict=True):
            assert line.print_state is not None
            key, colour = STATE_TEXT[line.print_state]
            row.ids.seat.text = seat_text(line, tr)
            row.ids.state.text = tr.text(key)
            row.ids.state.color = colour
        self.ids.count.text = tr.text("print.progress", done=settled, total=len(printing))


class BusySpinner(Widget):
    """An arc that turns while the kiosk waits for an answer."""

    angle = NumericProperty(0)

    def start(self) -> None:
        self.stop()
        self.angle = 0
        self._spin = Animation(angle=360, duration=1.2)
        self._spin.repeat = True
        self._spin.start(self)

    def stop(self, *_args: Any) -> None:
        Animation.cancel_all(self, "angle")


load_kv(__file__)
