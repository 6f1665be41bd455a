"""The card's popup: number (masked), type, status, visits left, expiry, the holder's history since
the current issue, what the last action did, and one button per action the staff member's role
allows on a card in this state (a role that may not do an action does not see its button)."""

from __future__ import annotations

from backend_client.wire import CardStatus, CardUseKind
from kiosk.flows.counter import Action, CounterState
from kiosk.i18n import Translator
from kiosk.screens.counter.base import CounterScreen
from kiosk.widgets import common  # noqa: F401
from kiosk.widgets.common import KioskButton, KioskLabel
from kiosk.widgets.style import load_kv

# In the order the buttons show, with their texts.
ACTION_TEXTS = {
    Action.TICKETS: "counter.action.tickets",
    Action.CONCESSIONS: "counter.action.concessions",
    Action.SELL: "counter.action.sell",
    Action.RENEW: "counter.action.renew",
    Action.RECYCLE: "counter.action.recycle",
    Action.BLACKLIST: "counter.action.blacklist",
    Action.UNBLACKLIST: "counter.action.unblacklist",
}
STATUS_TEXTS = {
    CardStatus.MADE: "counter.status.made",
    CardStatus.ACTIVE: "counter.status.active",
    CardStatus.EXPIRED: "counter.status.expired",
    CardStatus.RECYCLED: "counter.status.recycled",
    CardStatus.BLACKLISTED: "counter.status.blacklisted",
}
HISTORY_TEXTS = {
    CardUseKind.TICKETS: "counter.history.tickets",
    CardUseKind.CONCESSIONS: "counter.history.concessions",
    CardUseKind.LOAD: "counter.history.load",
}
HISTORY_SHOWN = 6


class CounterCardScreen(CounterScreen):
    def show(self, state: CounterState, tr: Translator) -> None:
        ids = self.ids
        card = state.card
        ids.close.text = tr.text("counter.close")
        if card is None:
            return
        view = card.view
        ids.number.text = card.masked_number
        ids.type_name.text = tr.text("counter.card.type", type_name=view.type_name)
        ids.status.text = tr.text(STATUS_TEXTS[view.status])
        ids.visits.text = tr.text("counter.card.visits", count=view.visits_left)
        ids.expiry.text = tr.text("counter.card.expires", expires_on=view.expires_on) if view.expires_on \
            else tr.text("counter.card.no_expiry")
        ids.notes.text = "\n".join(tr.message(note) for note in state.notes)
        ids.result.text = tr.message(state.result)
        ids.problem.text = tr.message(state.problem)
        ids.history_title.text = tr.text("counter.history.title")
        history = ids.history
        history.clear_widgets()
        if not view.history:
            history.add_widget(KioskLabel(text=tr.text("counter.history.none"), font_pt=22))
        for entry in view.history[:HISTORY_SHOWN]:
            history.add_widget(KioskLabel(
                text=tr.text(HISTORY_TEXTS[entry.kind], at=entry.at, cinema=entry.cinema_name,
                             visits=entry.visits, balance=entry.balance_after),
                font_pt=20, halign="left"))
        actions = ids.actions
        actions.clear_widgets()
        for action, text in ACTION_TEXTS.items():
            if action not in state.actions:
                continue  # not this role's, or not for a card in this state: no button at all
            button = KioskButton(text=tr.text(text), font_pt=26,
                                 role="primary" if action in (Action.TICKETS, Action.CONCESSIONS) else "secondary")
            button.driver_id = f"action_{action.value}"
            button.bind(on_release=lambda _b, a=action: self.act(a))
            actions.add_widget(button)

    def act(self, action: Action) -> None:
        flow = self.counter()
        {
            Action.TICKETS: flow.start_tickets,
            Action.CONCESSIONS: flow.start_concessions,
            Action.SELL: flow.sell,
            Action.RENEW: flow.renew,
            Action.RECYCLE: flow.recycle,
            Action.BLACKLIST: flow.start_blacklist,
            Action.UNBLACKLIST: flow.unblacklist,
        }[action]()


load_kv(__file__)
