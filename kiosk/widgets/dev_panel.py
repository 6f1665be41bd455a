"""The developer side panel (dev mode only): buttons that act on the simulators.

Labels are for developers and stay in English; the panel is never built unless
``kiosk.dev_mode`` is on (see kiosk.runner).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.uix.boxlayout import BoxLayout

from kiosk.dev_mode import DevControls
from kiosk.widgets import common  # noqa: F401  (registers KioskButton and KioskLabel)
from kiosk.widgets.style import load_kv


class DevPanel(BoxLayout):
    def __init__(self, controls: DevControls, **kwargs: Any) -> None:
        self.controls = controls
        super().__init__(**kwargs)
        self.refresh()

    def press(self, action: str) -> None:
        {
            "qr": self.controls.show_qr,
            "card": self.controls.toggle_card,
            "cover": self.controls.toggle_cover,
            "paper": self.controls.toggle_paper,
            "network": self.controls.toggle_network,
        }[action]()
        self.refresh()

    def refresh(self) -> None:
        controls, ids = self.controls, self.ids
        ids.dev_qr.disabled = not controls.can_show_qr
        ids.dev_card.text = "Take card off" if controls.card_on else "Put card on"
        ids.dev_card.disabled = not controls.can_use_card
        ids.dev_cover.text = "Close cover" if controls.cover_open else "Open cover"
        ids.dev_paper.text = "Refill paper" if controls.paper_out else "Paper out"
        ids.dev_cover.disabled = ids.dev_paper.disabled = not controls.can_use_printer
        ids.dev_network.text = "Restore network" if controls.network_cut else "Cut network"
        ids.dev_network.disabled = not controls.can_cut_network


def attach_dev_panel(controls: DevControls) -> Callable[[Any], None]:
    """An app start hook that puts the side panel over the kiosk's screens."""

    def attach(app: Any) -> None:
        if app.kiosk_root is not None:
            panel = DevPanel(controls)
            # Beside the kiosk's screens, never over them: the keypad and Print stay reachable.
            app.kiosk_root.reserved_right = panel.size_hint_x
            app.kiosk_root.add_widget(panel)

    return attach


load_kv(__file__)
