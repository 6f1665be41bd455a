"""What the lost-ticket journey's screens share: the flow they forward touches to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryFlow, RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.base import KioskScreen

JOURNEY = "recovery"  # the journey's name at the host; its screens are "recovery.<step>"


class RecoveryScreen(KioskScreen):
    @property
    def flow(self) -> RecoveryFlow:
        """The recovery journey (its events: see the end of kiosk/flows/recovery.py)."""
        journey = self.host.kiosk.journey(JOURNEY)
        assert isinstance(journey, RecoveryFlow)
        return journey

    def refresh(self, state: Any, tr: Translator, availability: Availability) -> None:
        self.show(state, tr, availability)

    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        raise NotImplementedError


def shown_phone(state: RecoveryState) -> str:
    """The account's phone, masked: as the central masked it, else as typed (138****5678)."""
    if state.sms_sent_to:
        return state.sms_sent_to
    if state.session is not None:
        return state.session.phone_masked
    return state.masked_phone


def face_preview(flow: Any) -> Callable[[], np.ndarray | None] | None:
    """Where the face screen's live preview comes from: the flow's face check (``FaceChecker.preview``)."""
    preview = getattr(flow, "preview", None)
    if preview is None:  # the flow does not offer it itself: its face check does
        preview = getattr(getattr(flow, "_face", None), "preview", None)
    return preview if callable(preview) else None
