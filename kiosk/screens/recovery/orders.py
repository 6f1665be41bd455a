"""Orders: the account's orders at this cinema today as big cards (film, hall, time, tickets); the
ones too close to the show are greyed out and say to go to the counter."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior

from backend_client.wire import RecoverableOrder
from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.recovery.base import RecoveryScreen
from kiosk.widgets.common import Panel
from kiosk.widgets.style import load_kv


class OrderTile(ButtonBehavior, Panel):
    """One order to choose; a closed one is disabled and says why."""

    order_id = StringProperty("")
    title = StringProperty("")
    original_title = StringProperty("")
    when = StringProperty("")
    tickets = StringProperty("")
    closed_text = StringProperty("")
    is_open = BooleanProperty(True)
    chosen = BooleanProperty(False)  # the order the kiosk suggests (the only one open)

    @property
    def driver_id(self) -> str:
        return f"order_{self.order_id}"

    def show(self, order: RecoverableOrder, tr: Translator) -> None:
        self.order_id = order.order_id
        self.title = order.film_title
        original = order.film_original_title or ""
        self.original_title = original if original != order.film_title else ""
        self.when = f"{order.hall_name}  ·  {tr.datetime(order.show_start)}"
        self.tickets = tr.text("recovery.orders.tickets", count=order.tickets)
        self.is_open = order.open
        self.disabled = not order.open
        self.closed_text = tr.text("recovery.orders.closed") if not order.open else ""


class OrdersScreen(RecoveryScreen):
    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("recovery.orders.title")
        phone = state.session.phone_masked if state.session is not None else ""
        ids.account.text = tr.text("recovery.orders.account", phone=phone)
        ids.note.text = tr.message(state.order_note)
        orders = state.orders
        box = ids.orders
        tiles: list[OrderTile] = list(reversed(box.children))
        if [tile.order_id for tile in tiles] != [order.order_id for order in orders]:
            box.clear_widgets()
            tiles = []
            for order in orders:
                tile = OrderTile(order_id=order.order_id)
                tile.bind(on_release=self._chosen)
                box.add_widget(tile)
                tiles.append(tile)
        for tile, order in zip(tiles, orders, strict=True):
            tile.show(order, tr)
            tile.chosen = order.order_id == state.order_id

    def _chosen(self, tile: Any) -> None:
        self.flow.choose_order(tile.order_id)


load_kv(__file__)
