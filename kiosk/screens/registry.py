"""Which screens each journey has: the screen table per journey, not one global table.

A journey's screens are named ``<journey>.<step>``; the home screen is ``home``.  The next
journeys (year-cards, lost-ticket recovery, staff mode) add their entry here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.screens import card, pickup, recovery
from kiosk.screens.base import KioskScreen


@dataclass(frozen=True)
class JourneyScreens:
    screens: Mapping[Any, type[KioskScreen]]  # step -> screen class
    detail: Callable[[Any], dict[str, Any]]  # the journey's state -> what the recorder keeps with the screen


JOURNEY_SCREENS: dict[str, JourneyScreens] = {
    "pickup": JourneyScreens(pickup.SCREENS, pickup.screen_detail),
    "card": JourneyScreens(card.SCREENS, card.screen_detail),
    "recovery": JourneyScreens(recovery.SCREENS, recovery.screen_detail),
}


def screen_name(journey: str, step: enum.Enum) -> str:
    return f"{journey}.{step.value}"
