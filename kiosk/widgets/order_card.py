"""What an order is: film, cinema, hall, show time, and its tickets as a list to choose from."""

from __future__ import annotations

from typing import Any

from kivy.properties import NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from backend_client.wire import OrderView
from kiosk.flows.pickup import TicketLine
from kiosk.i18n import Translator
from kiosk.widgets.common import KioskButton, Panel
from kiosk.widgets.style import load_kv


class OrderCard(Panel):
    """Film title (and the original title where it differs), cinema, hall and show time."""

    title = StringProperty("")
    original_title = StringProperty("")
    cinema_line = StringProperty("")
    hall_line = StringProperty("")
    time_line = StringProperty("")
    count_line = StringProperty("")

    def show(self, order: OrderView | None, tr: Translator) -> None:
        if order is None:
            self.title = self.original_title = self.cinema_line = self.hall_line = self.time_line = ""
            self.count_line = ""
            return
        self.title = order.film_title
        original = order.film_original_title or ""
        self.original_title = original if original != order.film_title else ""
        self.cinema_line = tr.text("review.cinema", value=order.cinema_name)
        self.hall_line = tr.text("review.hall", value=order.hall_name)
        self.time_line = tr.text("review.show_time", value=order.show_start)
        self.count_line = tr.text("review.ticket_count", count=len(order.tickets))


def seat_text(line: TicketLine, tr: Translator) -> str:
    return tr.text("review.seat", row=line.row, seat=line.seat)


class TicketToggle(KioskButton):
    """One ticket of the order; a collectable one toggles between "print" and "not now"."""

    ticket_id = StringProperty("")

    @property
    def driver_id(self) -> str:
        return f"ticket_{self.ticket_id}"


class TicketList(BoxLayout):
    """Rows of :class:`TicketToggle`, updated in place so a tapped row survives its own refresh."""

    row_height = NumericProperty(84)  # each row's height (the review screen fits the rows it has)

    __events__ = ("on_toggle",)

    def on_toggle(self, ticket_id: str) -> None:
        pass

    def show(self, lines: tuple[TicketLine, ...], tr: Translator) -> None:
        ids = [line.ticket_id for line in lines]
        rows: list[TicketToggle] = list(reversed(self.children))
        if [row.ticket_id for row in rows] != ids:
            self.clear_widgets()
            rows = []
            for line in lines:
                row = TicketToggle(ticket_id=line.ticket_id, size_hint_y=None, font_pt=28)
                row.bind(on_release=self._tapped)
                self.add_widget(row)
                rows.append(row)
        for row, line in zip(rows, lines, strict=True):
            if not line.collectable:
                status = tr.text("review.collected")
            else:
                status = tr.text("review.selected" if line.selected else "review.not_selected")
            row.text = f"{seat_text(line, tr)}    {tr.money(line.price_fen)}    ·  {status}"
            row.disabled = not line.collectable
            row.role = "selected" if line.collectable and line.selected else "secondary"

    def _tapped(self, row: Any) -> None:
        self.dispatch("on_toggle", row.ticket_id)


load_kv(__file__)
