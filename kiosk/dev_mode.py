"""Dev mode (``kiosk.dev_mode = true``): what the developer side panel does to the simulators.

Plain Python, no Kivy: the panel (kiosk.widgets.dev_panel) only calls these and shows the
result. Every action goes through a simulator at its transport, as a fault script would:

* show a QR: a camera frame with the QR code is pushed into the injected camera (the next
  demo order's token when the host knows them; else a code that is not ours, which the kiosk
  refuses: the camera path still shows);
* card on / off: the in-process card reader (``card.reader = "sim"``); the year-card of
  ``card.sim_card_image`` when one is set (the windowed demo sets the demo card);
* printer cover and paper: the virtual printer (``printer.simulate = true``);
* network: the kiosk reaches its central through a CentralProxy started for dev mode, and
  "cut" takes the proxy down (connections refused, as with an unplugged cable).

An action whose simulator is not in use is unavailable (its button is disabled).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import replace

from devices.camera import InjectedFrameSource
from devices.card_api import CardReader
from devices.sim.card_reader_sim import SimCardReader
from devices.sim.central_proxy import CentralProxy
from devices.sim.printer import EOT2_COVER_OPEN, EOT4_PAPER_END, VirtualPrinter
from kiosk.config import KioskConfig
from kiosk.services import StartupError

log = logging.getLogger(__name__)

NOT_OUR_CODE = "DEV-MODE: not a ticket code"


class DevControls:
    def __init__(
        self,
        *,
        camera: InjectedFrameSource | None,
        card: CardReader | None,
        printer: VirtualPrinter | None,
        network: CentralProxy | None,
        qr_payloads: Sequence[str] = (),
        year_card_image: str = "",
    ) -> None:
        self.camera = camera
        self.card = card if isinstance(card, SimCardReader) else None  # a real reader is not ours to script
        self.printer = printer
        self.network = network
        self._payloads = itertools.cycle(list(qr_payloads) or [NOT_OUR_CODE])
        self.year_card_image = year_card_image  # card.sim_card_image: the card switch puts this year-card on

    # -- what can be done ---------------------------------------------------------------------

    @property
    def can_show_qr(self) -> bool:
        return self.camera is not None

    @property
    def can_use_card(self) -> bool:
        return self.card is not None

    @property
    def can_use_printer(self) -> bool:
        return self.printer is not None

    @property
    def can_cut_network(self) -> bool:
        return self.network is not None

    # -- state, for the panel's labels ----------------------------------------------------------

    @property
    def card_on(self) -> bool:
        return self.card is not None and self.card.card_present

    @property
    def cover_open(self) -> bool:
        return self.printer is not None and bool(self.printer.status_byte(2) & EOT2_COVER_OPEN)

    @property
    def paper_out(self) -> bool:
        return self.printer is not None and bool(self.printer.status_byte(4) & EOT4_PAPER_END == EOT4_PAPER_END)

    @property
    def network_cut(self) -> bool:
        return self.network is not None and self.network.is_down

    # -- actions ---------------------------------------------------------------------------------

    def show_qr(self) -> None:
        if self.camera is None:
            return
        from devices.sim.qr_frames import qr_frame  # qrcode and PIL only when a developer asks

        self.camera.push(qr_frame(next(self._payloads)))
        log.info("dev mode: a QR code was shown to the camera")

    def toggle_card(self) -> None:
        if self.card is None:
            return
        if self.card.card_present:
            self.card.remove()
        elif self.year_card_image:
            from kiosk.yearcard import insert_sim_year_card

            insert_sim_year_card(self.card, self.year_card_image)
        else:
            self.card.insert()

    def toggle_cover(self) -> None:
        if self.printer is not None:
            self.printer.set_cover_open(not self.cover_open)

    def toggle_paper(self) -> None:
        if self.printer is not None:
            self.printer.set_paper("ok" if self.paper_out else "out")

    def toggle_network(self) -> None:
        if self.network is not None:
            self.network.set_down(not self.network.is_down)
            log.warning("dev mode: network %s", "cut" if self.network.is_down else "restored")


def start_dev_network(config: KioskConfig) -> tuple[CentralProxy, KioskConfig]:
    """A proxy in front of the configured central, and the config that points the kiosk at it."""
    try:
        proxy = CentralProxy(config.central.url).start()
    except ValueError as exc:
        raise StartupError(f"dev mode: cannot put its network switch in front of the central: {exc}") from None
    except OSError as exc:
        raise StartupError(f"dev mode: the network switch cannot listen: {exc.strerror}") from None
    log.warning("dev mode: the kiosk reaches %s through %s (the panel can cut it)", config.central.url, proxy.url)
    return proxy, replace(config, central=replace(config.central, url=proxy.url))
