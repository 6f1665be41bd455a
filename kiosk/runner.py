"""The kiosk as one running thing: services, the pickup flow, its worker and the Kivy app."""

from __future__ import annotations

import logging
from pathlib import Path

from devices.camera_api import DecodedCode
from devices.sim.printer import VirtualPrinter
from kiosk.config import KioskConfig
from kiosk.flows.pickup import PickupFlow
from kiosk.flows.runtime import ThreadWorker
from kiosk.services import KioskServices, StartupError

log = logging.getLogger(__name__)


def start_virtual_printer(config: KioskConfig) -> VirtualPrinter:
    printer = VirtualPrinter(host=config.printer.host, port=config.printer.port,
                             out_dir=Path(config.printer.simulator_out_dir))
    try:
        printer.start()
    except OSError as exc:
        raise StartupError(
            f"the virtual printer cannot listen on {config.printer.host}:{config.printer.port} ({exc.strerror}); "
            "another printer simulator may be running: stop it or set printer.simulate = false"
        ) from None
    return printer


class KioskRuntime:
    """Builds and owns everything; ``start`` resolves leftovers of a crash before people come."""

    def __init__(self, config: KioskConfig, *, injected_camera: bool = False) -> None:
        # Kivy is imported here, not at module level, so that config errors need no window.
        from kiosk.app import KioskApp

        self.config = config
        self.virtual_printer = start_virtual_printer(config) if config.printer.simulate else None
        try:
            self.services = KioskServices(config, injected_camera=injected_camera)
        except BaseException:
            self._stop_virtual_printer()
            raise
        self.worker = ThreadWorker(self._post_to_main, name="pickup-worker")
        self.flow: PickupFlow = self.services.build_flow(self.worker)
        self.app = KioskApp(self.flow, self.services.availability, language=config.kiosk.language,
                            timezone=config.kiosk.cinema_timezone)

    def _post_to_main(self, callback: object) -> None:
        self.app.post_to_main(callback)  # type: ignore[arg-type]

    def _on_code(self, code: DecodedCode) -> None:
        # Called on the scanner's thread: the flow only runs on the main loop.
        self.app.post_to_main(lambda: self.flow.qr_scanned(code))

    def start(self) -> None:
        self.services.start(self._on_code)

    def stop(self) -> None:
        self.worker.stop()
        self.services.stop()
        self._stop_virtual_printer()

    def _stop_virtual_printer(self) -> None:
        if self.virtual_printer is not None:
            self.virtual_printer.stop()
            self.virtual_printer = None


def run_kiosk(config: KioskConfig, headless: bool = False) -> int:
    """Run until the window closes (or, headless, until interrupted)."""
    runtime = KioskRuntime(config)
    try:
        runtime.start()
        runtime.app.run()
    finally:
        runtime.stop()
    return 0
