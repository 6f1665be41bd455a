"""What a year-card is, on screen: its summary, its own history, today's showings it covers.

Also the card journey's small text helpers (dates, times, seats), shared by its screens.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from backend_client.wire import CardUseKind, SeatRef, ShowingOffer
from kiosk.flows.card import CardRecordLine, CardSummary, HistoryLine
from kiosk.i18n import Translator
from kiosk.widgets.common import Panel
from kiosk.widgets.style import load_kv

KIND_KEYS = {CardUseKind.TICKETS.value: "yearcard.kind.tickets",
             CardUseKind.CONCESSIONS.value: "yearcard.kind.concessions",
             CardUseKind.LOAD.value: "yearcard.kind.load"}


# -- texts --------------------------------------------------------------------------------------

def _parts(tr: Translator, local: datetime | date) -> dict[str, Any]:
    parts: dict[str, Any] = {"year": local.year, "month": local.month, "day": local.day,
                             "month_name": tr.lookup(f"month.{local.month}") or str(local.month),
                             "weekday": tr.lookup(f"weekday.{local.weekday()}") or ""}
    if isinstance(local, datetime):  # as text: a filled-in text shows numbers as they are given
        parts.update(hour=f"{local.hour:02d}", minute=f"{local.minute:02d}")
    return parts


def card_date(tr: Translator, day: date) -> str:
    """A calendar date ("2027年11月30日", "30 Nov 2027"): an expiry has no time of day."""
    return tr.text("yearcard.format.date", **_parts(tr, day))


def card_when(tr: Translator, at: datetime, *, card_clock: bool = False) -> str:
    """A moment of a card's use: the date, then the time of day.  ``card_clock``: a naive time
    written by a terminal on the card itself, already the cinema's local time; otherwise a wire
    time (UTC).  The two are joined by a plain space, where a narrow column may break the line
    (a Chinese text would drop a space between a character and a number)."""
    local = at if card_clock and at.tzinfo is None else tr.local(at)
    parts = _parts(tr, local)
    # The weekday is a word of its own: a narrow column breaks the line at a space, never inside "周五".
    return tr.text("yearcard.format.when", date_text=tr.text("yearcard.format.day", **parts),
                   day_name=parts["weekday"], time_text=tr.text("yearcard.format.clock", **parts))


def clock(tr: Translator, at: datetime) -> str:
    """The time of day of a wire time in the cinema's timezone ("19:30")."""
    return tr.text("yearcard.format.clock", **_parts(tr, tr.local(at)))


def seat_name(tr: Translator, row: str, seat: str) -> str:
    return tr.text("yearcard.seats.seat", row=row, seat=seat)


def seat_names(tr: Translator, seats: Iterable[SeatRef | tuple[str, str]]) -> str:
    names = [seat_name(tr, *(seat if isinstance(seat, tuple) else (seat.row, seat.seat))) for seat in seats]
    return (tr.lookup("yearcard.seats.separator") or ", ").join(names)


# -- the card -----------------------------------------------------------------------------------

class CardPanel(Panel):
    """Masked number, type, visits left (large), expiry."""

    number_line = StringProperty("")
    type_line = StringProperty("")
    visits_line = StringProperty("")
    expiry_line = StringProperty("")

    def show(self, card: CardSummary | None, tr: Translator, visits_left: int | None = None) -> None:
        """``visits_left``: what to show instead of the card's figure as read (after this visit's debit)."""
        if card is None:
            self.number_line = self.type_line = self.visits_line = self.expiry_line = ""
            return
        self.number_line = tr.text("yearcard.view.number", number=card.masked_number)  # masked by the flow
        self.type_line = tr.text("yearcard.view.type", name=card.type_name) if card.type_name else ""
        self.visits_line = tr.text("yearcard.view.visits_left",
                                   count=card.visits_left if visits_left is None else visits_left)
        self.expiry_line = tr.text("yearcard.view.expires", date=card_date(tr, card.expires_on)) \
            if card.expires_on else ""


@dataclass(frozen=True)
class HistoryItem:
    """One line of a card's history, whichever side it comes from (the central's ledger or the card)."""

    when: str
    place: str
    visits: str
    kind: str
    balance: str


def history_items(history: Sequence[HistoryLine], records: Sequence[CardRecordLine],
                  tr: Translator) -> list[HistoryItem]:
    """The central's history of the current issue when there is one (online), else the card's own log."""
    items = [HistoryItem(when=card_when(tr, line.at), place=line.cinema_name,
                         visits=tr.text("yearcard.history.visits", count=line.visits),
                         kind=tr.text(KIND_KEYS.get(line.kind, KIND_KEYS["tickets"])),
                         balance=tr.text("yearcard.history.balance", count=line.balance_after))
             for line in history]
    if items:
        return items
    # The card's own records: a terminal's local clock, and a cinema code rather than a name.
    return [HistoryItem(when=card_when(tr, record.at, card_clock=True),
                        place=tr.text("yearcard.history.terminal", terminal=record.cinema_code),
                        visits=tr.text("yearcard.history.visits", count=record.visits),
                        kind=tr.text(KIND_KEYS.get(record.kind, KIND_KEYS["tickets"])),
                        balance=tr.text("yearcard.history.balance", count=record.balance_after))
            for record in records]


class HistoryRow(BoxLayout):
    when = StringProperty("")
    place = StringProperty("")
    visits = StringProperty("")
    kind = StringProperty("")
    balance = StringProperty("")


class CardHistory(BoxLayout):
    """The card's last uses, newest first: time, cinema, visits, kind, balance after."""

    def show(self, items: Sequence[HistoryItem]) -> None:
        rows = self.ids.rows
        if len(rows.children) != len(items):
            rows.clear_widgets()
            for _ in items:
                rows.add_widget(HistoryRow())
        for row, item in zip(reversed(rows.children), items, strict=True):
            row.when, row.place, row.visits, row.kind, row.balance = (item.when, item.place, item.visits, item.kind,
                                                                      item.balance)


class CardOnReader(Widget):
    """A picture of a card lying on the reader: where the card goes, and that it stays there."""


# -- showings -----------------------------------------------------------------------------------

class ShowingRow(ButtonBehavior, BoxLayout):
    """One showing to choose: film, time, hall and format, visits per person, seats free."""

    showing_id = StringProperty("")
    title = StringProperty("")
    original_title = StringProperty("")
    time_line = StringProperty("")
    hall_line = StringProperty("")
    visits_line = StringProperty("")
    seats_line = StringProperty("")
    sold_out = BooleanProperty(False)

    @property
    def driver_id(self) -> str:
        return f"showing_{self.showing_id}"


class ShowingList(BoxLayout):
    __events__ = ("on_choose",)

    def on_choose(self, showing_id: str) -> None:
        pass

    def show(self, showings: Sequence[ShowingOffer], tr: Translator) -> None:
        ids = [offer.showing_id for offer in showings]
        rows: list[ShowingRow] = list(reversed(self.children))
        if [row.showing_id for row in rows] != ids:
            self.clear_widgets()
            rows = []
            for offer in showings:
                row = ShowingRow(showing_id=offer.showing_id)
                row.bind(on_release=lambda r: self.dispatch("on_choose", r.showing_id))
                self.add_widget(row)
                rows.append(row)
        for row, offer in zip(rows, showings, strict=True):
            row.title = offer.film_title
            original = offer.film_original_title or ""
            row.original_title = original if original != offer.film_title else ""
            row.time_line = tr.text("yearcard.showings.time", start=clock(tr, offer.starts_at),
                                    end=clock(tr, offer.ends_at))
            row.hall_line = tr.text("yearcard.showings.hall", hall=offer.hall_name, format=offer.format)
            row.visits_line = tr.text("yearcard.showings.visits", count=offer.visits_per_person)
            row.sold_out = offer.seats_free <= 0
            row.seats_line = tr.text("yearcard.showings.sold_out") if row.sold_out else \
                tr.text("yearcard.showings.seats_free", count=offer.seats_free)
            row.disabled = row.sold_out


load_kv(__file__)
