"""The pickup journey's screens: one per step but idle (which is the home screen).

Screens are named ``pickup.<step>`` (see :data:`SCREENS`); :func:`screen_detail` says what a
technician compares on each besides its name (the recorder stores it with every screen).
"""

from __future__ import annotations

from typing import Any

from kiosk.flows.pickup import PickupState, Step
from kiosk.screens.pickup.base import PickupScreen
from kiosk.screens.pickup.done import DoneScreen
from kiosk.screens.pickup.enter_code import EnterCodeScreen
from kiosk.screens.pickup.looking_up import LookingUpScreen
from kiosk.screens.pickup.printing import PrintingScreen
from kiosk.screens.pickup.refused import RefusedScreen
from kiosk.screens.pickup.review import ReviewScreen

SCREENS: dict[Step, type[PickupScreen]] = {
    Step.ENTER_CODE: EnterCodeScreen,
    Step.LOOKING_UP: LookingUpScreen,
    Step.REVIEW: ReviewScreen,
    Step.PRINTING: PrintingScreen,
    Step.DONE: DoneScreen,
    Step.REFUSED: RefusedScreen,
}


def screen_detail(state: PickupState) -> dict[str, Any]:
    """What matters on a pickup screen besides its name: why, how many, which problem."""
    step = state.step
    detail: dict[str, Any] = {}
    if step is Step.ENTER_CODE:
        detail["locked"] = state.locked_seconds > 0
    elif step is Step.REVIEW:
        detail["printer_problem"] = state.printer_problem.key if state.printer_problem else None
    elif step is Step.REFUSED:
        detail["refusal"] = state.refusal.key if state.refusal else None
    elif step is Step.DONE:
        detail.update(printed=state.printed, owed=state.owed, in_doubt=state.in_doubt,
                      note=state.result_note.key if state.result_note else None)
    return detail
