"""Refused: why the tickets cannot be recovered here and what to do next; where the face failed
and the session may still send an SMS code, that way out is one touch away."""

from __future__ import annotations

from backend_client.wire import RecoveryMethod
from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.recovery.base import RecoveryScreen
from kiosk.widgets import common  # noqa: F401  (registers the shared widgets)
from kiosk.widgets.style import load_kv


def sms_still_possible(state: RecoveryState) -> bool:
    """The face path ended, but this session can still verify by an SMS code."""
    session = state.session
    return (session is not None and state.verified_by is None and RecoveryMethod.SMS in session.methods
            and session.sms_codes_left > 0 and state.refusal is not None and state.refusal.key in SMS_WAY_OUT)


# Refusals after which an SMS code is the next step (not: no order, too late, too many tries).
SMS_WAY_OUT = frozenset({"refusal.recovery_no_template", "refusal.recovery_face_not_matched",
                         "refusal.recovery_liveness_failed"})


class RecoveryRefusedScreen(RecoveryScreen):
    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("recovery.refused.title")
        ids.message.text = tr.message(state.refusal)
        ids.hint.text = tr.message(state.refusal_hint)
        offer = sms_still_possible(state)
        ids.use_sms.text = tr.text("recovery.refused.sms")
        ids.use_sms.opacity = 1 if offer else 0
        ids.use_sms.disabled = not offer


load_kv(__file__)
