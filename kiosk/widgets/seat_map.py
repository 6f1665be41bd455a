"""A hall's seat map: free, taken, held, selected and accessible seats, the screen side, aisles.

The widget draws what :class:`backend_client.wire.SeatMap` says on the hall's own grid (row 0
nearest the screen, drawn at the top under the screen's bar; a missing column or row on the grid
is an aisle and stays a gap) and reports every seat tap as ``on_seat(row, seat)``: the flow
decides what a tap means (a taken seat does nothing, a free one is selected up to the party's
size).  Seats grow with the room they get so that a lobby screen's targets stay big; a seat is
named ``seat_<row>_<seat>`` for the UI driver and the recorder.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, OptionProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from backend_client.wire import SeatMap, SeatState, SeatView
from kiosk.i18n import Translator
from kiosk.widgets import common  # noqa: F401  (registers KioskLabel)
from kiosk.widgets.style import load_kv, metrics

# What a seat can look like; "selected" is the person's choice on top of the central's state.
LOOKS = ("free", "taken", "held", "selected")


LEGEND_KEYS = {"legend_free": "yearcard.seats.legend.free", "legend_taken": "yearcard.seats.legend.taken",
               "legend_held": "yearcard.seats.legend.held", "legend_selected": "yearcard.seats.legend.selected",
               "legend_accessible": "yearcard.seats.legend.accessible"}


def seat_look(state: SeatState, selected: bool) -> str:
    if selected:
        return "selected"
    return state.value


class SeatFace(Widget):
    """How a seat looks: a coloured square, a cross when taken, a ring when held, bright when chosen,
    a blue frame when accessible (shapes as well as colours, for people who do not tell them apart)."""

    look = OptionProperty("free", options=LOOKS)
    accessible = BooleanProperty(False)
    label = StringProperty("")  # the seat's number, drawn when the seat is big enough to read it


class SeatButton(ButtonBehavior, SeatFace):
    """One seat of the hall."""

    row = StringProperty("")
    seat = StringProperty("")

    @property
    def driver_id(self) -> str:
        return seat_driver_id(self.row, self.seat)


def seat_driver_id(row: str, seat: str) -> str:
    return f"seat_{row}_{seat}"


class RowLabel(Label):
    pass


class SeatGrid(Widget):
    """The seats on the hall's grid, with row names on both sides and the screen's bar on top.

    Laid out by hand (not a GridLayout): the grid has gaps for aisles, and every seat keeps one
    square size, the largest that fits the widget.
    """

    cell = NumericProperty(0)  # the side of one grid cell (a seat and its margin), in pixels
    screen_band = NumericProperty(0)  # the height of the screen's bar and its gap above the seats
    grid_left = NumericProperty(0)  # where the seats' columns start and how wide they are (the screen's bar)
    grid_width = NumericProperty(0)
    grid_top = NumericProperty(0)  # the top of the screen's bar

    __events__ = ("on_seat",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._columns = 0
        self._rows = 0
        self._seats: dict[tuple[str, str], SeatButton] = {}
        self._positions: dict[tuple[str, str], tuple[int, int]] = {}  # (row, seat) -> (x, y) on the grid
        self._row_labels: list[tuple[int, RowLabel, RowLabel]] = []
        self.bind(size=self._layout, pos=self._layout)
        metrics.bind(scale=self._layout)

    def on_seat(self, row: str, seat: str) -> None:
        pass

    @property
    def seat_buttons(self) -> list[SeatButton]:
        return list(self._seats.values())

    def show(self, seat_map: SeatMap | None, selected: Collection[tuple[str, str]]) -> None:
        seats = seat_map.seats if seat_map is not None else []
        keys = [(view.row, view.seat) for view in seats]
        if list(self._seats) != keys or (seat_map is not None and (seat_map.columns, seat_map.rows)
                                         != (self._columns, self._rows)):
            self._rebuild(seat_map, seats)
        self._positions = {(view.row, view.seat): (view.x, view.y) for view in seats}
        for view in seats:
            button = self._seats[(view.row, view.seat)]
            button.look = seat_look(view.state, (view.row, view.seat) in selected)
            button.accessible = view.accessible
        self._layout()

    def _rebuild(self, seat_map: SeatMap | None, seats: Iterable[SeatView]) -> None:
        self.clear_widgets()
        self._seats = {}
        self._row_labels = []
        self._columns = seat_map.columns if seat_map is not None else 0
        self._rows = seat_map.rows if seat_map is not None else 0
        row_names: dict[int, str] = {}
        for view in seats:
            button = SeatButton(row=view.row, seat=view.seat, label=view.seat, size_hint=(None, None))
            button.bind(on_release=self._tapped)
            self._seats[(view.row, view.seat)] = button
            self.add_widget(button)
            row_names.setdefault(view.y, view.row)
        for y, name in sorted(row_names.items()):
            left, right = RowLabel(text=name), RowLabel(text=name)
            self.add_widget(left)
            self.add_widget(right)
            self._row_labels.append((y, left, right))

    def _tapped(self, button: SeatButton) -> None:
        self.dispatch("on_seat", button.row, button.seat)

    def _layout(self, *_args: Any) -> None:
        if not self._columns or not self._rows:
            self.cell = 0
            return
        self.screen_band = metrics.scale * 56  # the word "screen" and the bar under it
        # The grid plus one label column on each side, under the screen's band.
        cell = min(self.width / (self._columns + 2), (self.height - self.screen_band) / self._rows)
        self.cell = max(cell, 1.0)
        grid_width = self.cell * (self._columns + 2)
        left = self.x + (self.width - grid_width) / 2
        # The seats (and the screen's bar above them) in the middle of the room they leave.
        spare = max(0.0, self.height - self.screen_band - self.cell * self._rows)
        self.grid_top = self.top - spare / 2
        top = self.grid_top - self.screen_band
        margin = self.cell * 0.08
        for button in self._seats.values():
            view_x, view_y = self._positions[(button.row, button.seat)]
            button.size = (self.cell - 2 * margin, self.cell - 2 * margin)
            button.pos = (left + self.cell * (view_x + 1) + margin, top - self.cell * (view_y + 1) + margin)
            button.label = button.seat if self.cell >= metrics.scale * 34 else ""
        for y, left_label, right_label in self._row_labels:
            for label, column in ((left_label, 0), (right_label, self._columns + 1)):
                label.size = (self.cell, self.cell)
                label.font_size = min(self.cell * 0.45, metrics.scale * 24)
                label.pos = (left + self.cell * column, top - self.cell * (y + 1))
        self.grid_left, self.grid_width = left + self.cell, self.cell * self._columns


class SeatMapView(BoxLayout):
    """The seat grid and its legend; ``on_seat(row, seat)`` for every seat tapped."""

    __events__ = ("on_seat",)

    def on_seat(self, row: str, seat: str) -> None:
        pass

    def show(self, seat_map: SeatMap | None, selected: Collection[tuple[str, str]], tr: Translator) -> None:
        grid: SeatGrid = self.ids.grid
        self.ids.screen_label.text = tr.text("yearcard.seats.screen")
        grid.show(seat_map, selected)
        legend = self.ids.legend
        for swatch, key in LEGEND_KEYS.items():
            legend.ids[swatch].text = tr.text(key)


class LegendSwatch(BoxLayout):
    look = OptionProperty("free", options=LOOKS)
    accessible = BooleanProperty(False)
    text = StringProperty("")


class SeatLegend(BoxLayout):
    pass


load_kv(__file__)
