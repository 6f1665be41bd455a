"""Consent: the face check's consent text (scrollable, with its version) and the two choices side
by side: agree and use the face, or use an SMS code instead (declining costs nothing else)."""

from __future__ import annotations

from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.recovery.base import RecoveryScreen
from kiosk.widgets import common  # noqa: F401  (registers the shared widgets)
from kiosk.widgets.style import load_kv


def consent_version(tr: Translator) -> str:
    """The version of the consent text shown (the same in every language: one text, translated)."""
    return tr.text("recovery.consent.version")


class ConsentScreen(RecoveryScreen):
    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        ids.title.text = tr.text("recovery.consent.title")
        ids.consent_text.text = tr.text("recovery.consent.text")
        ids.version.text = tr.text("recovery.consent.version_line", version=consent_version(tr))
        ids.agree.text = tr.text("recovery.consent.agree")
        ids.use_sms.text = tr.text("recovery.consent.sms")

    def on_shown(self) -> None:
        self.ids.consent_scroll.scroll_y = 1  # every visit reads from the top


load_kv(__file__)
