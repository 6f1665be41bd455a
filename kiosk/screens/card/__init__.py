"""The year-card journey's screens: one per step but idle (which is the home screen).

Screens are named ``card.<step>`` (see :data:`SCREENS`); :func:`screen_detail` says what a
technician compares on each besides its name (the recorder stores it with every screen).
The steps where the kiosk works with the card on the reader share one layout
(:mod:`kiosk.screens.card.waiting`).
"""

from __future__ import annotations

from typing import Any

from kiosk.flows.card import CardState, Step
from kiosk.screens.card.base import CardScreen
from kiosk.screens.card.card import CardViewScreen
from kiosk.screens.card.confirm import ConfirmScreen
from kiosk.screens.card.done import CardDoneScreen
from kiosk.screens.card.insert_card import InsertCardScreen
from kiosk.screens.card.people import PeopleScreen
from kiosk.screens.card.printing import CardPrintingScreen
from kiosk.screens.card.put_card_back import PutCardBackScreen
from kiosk.screens.card.refused import CardRefusedScreen
from kiosk.screens.card.seats import SeatsScreen
from kiosk.screens.card.showings import ShowingsScreen
from kiosk.screens.card.waiting import DebitingScreen, HoldingScreen, ReadingScreen, RecoveringScreen

SCREENS: dict[Step, type[CardScreen]] = {
    Step.INSERT_CARD: InsertCardScreen,
    Step.READING: ReadingScreen,
    Step.CARD: CardViewScreen,
    Step.SHOWINGS: ShowingsScreen,
    Step.PEOPLE: PeopleScreen,
    Step.SEATS: SeatsScreen,
    Step.CONFIRM: ConfirmScreen,
    Step.HOLDING: HoldingScreen,
    Step.DEBITING: DebitingScreen,
    Step.PUT_CARD_BACK: PutCardBackScreen,
    Step.RECOVERING: RecoveringScreen,
    Step.PRINTING: CardPrintingScreen,
    Step.DONE: CardDoneScreen,
    Step.REFUSED: CardRefusedScreen,
}


def screen_detail(state: CardState) -> dict[str, Any]:
    """What matters on a card screen besides its name (never the card number, not even masked)."""
    step = state.step
    detail: dict[str, Any] = {}
    if step is Step.CARD:
        detail.update(offline=state.card.offline if state.card is not None else None,
                      visits_left=state.card.visits_left if state.card is not None else None,
                      redeem_block=state.redeem_block.key if state.redeem_block else None, owed=len(state.owed))
    elif step is Step.SHOWINGS:
        detail["showings"] = len(state.showings)
    elif step is Step.PEOPLE:
        detail.update(people=state.people, max_people=state.max_people)
    elif step is Step.SEATS:
        detail.update(people=state.people, selected=[f"{row}-{seat}" for row, seat in state.selected])
    elif step is Step.CONFIRM:
        detail.update(visits=state.visits_to_deduct, card_present=state.card_present,
                      printer_problem=state.printer_problem.key if state.printer_problem else None)
    elif step is Step.PUT_CARD_BACK:
        detail["wrong_card"] = state.wrong_card
    elif step is Step.REFUSED:
        detail["refusal"] = state.refusal.key if state.refusal else None
    elif step is Step.DONE:
        detail.update(printed=state.printed, owed=state.tickets_owed, in_doubt=state.in_doubt,
                      visits_used=state.visits_used, note=state.result_note.key if state.result_note else None)
    return detail
