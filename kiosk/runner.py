"""The kiosk as one running thing: services, the host and its journeys, their worker and the Kivy app.

Device events reach the host (:mod:`kiosk.host`) on Kivy's main loop: decoded QR codes and card
events from their threads are posted there; camera frames stay on the camera's thread and go to
whoever subscribed to :attr:`KioskRuntime.frames` (the recorder, a face check later).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from devices.camera_api import DecodedCode
from devices.card_api import CardEvent
from devices.sim.central_proxy import CentralProxy
from devices.sim.printer import VirtualPrinter
from kiosk.config import KioskConfig
from kiosk.dev_mode import DevControls, start_dev_network
from kiosk.flows.card import CardFlow
from kiosk.flows.pickup import PickupFlow
from kiosk.flows.recovery import RecoveryFlow
from kiosk.flows.runtime import InlineWorker, ThreadWorker, Worker
from kiosk.host import KioskHost
from kiosk.observers import Observers
from kiosk.services import KioskServices, ServiceHooks, StartupError

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

    def __init__(self, config: KioskConfig, *, injected_camera: bool = False, hooks: ServiceHooks | None = None,
                 worker: Callable[[Callable[[Callable[[], None]], None]], Worker] | None = None,
                 self_ticking: bool = True,
                 dev_qr_payloads: Sequence[str] = (), resume_from: dict[str, Any] | None = None) -> None:
        """``hooks``, ``worker`` (built from the delivery hook) and ``self_ticking``: see a replay.

        ``resume_from``: a snapshot of a kiosk in service (:meth:`snapshot`); the services take
        that state before the app is built, so the first screen already shows it (a replay of a
        session begun mid-service calls this instead of :meth:`start`).

        ``dev_qr_payloads``: the QR codes dev mode's "Show a QR" cycles through (the demo's orders).
        """
        # Kivy is imported here, not at module level, so that config errors need no window.
        from kiosk.app import KioskApp
        from kiosk.recording.recorder import Recorder
        from kiosk.widgets.dev_panel import attach_dev_panel

        self.config = config
        self.virtual_printer = start_virtual_printer(config) if config.printer.simulate else None
        # Dev mode reaches the central through a proxy its panel can cut (kiosk.dev_mode).
        self.dev_network: CentralProxy | None = None
        services_config = config
        try:
            if config.kiosk.dev_mode:
                self.dev_network, services_config = start_dev_network(config)
            self.services = KioskServices(services_config, injected_camera=injected_camera, hooks=hooks)
            if resume_from is not None:
                self.services.restore(resume_from)
        except BaseException:
            self._stop_virtual_printer()
            self._stop_dev_network()
            raise
        self.dev_controls = DevControls(
            camera=self.services.camera_frames, card=self.services.card_reader, printer=self.virtual_printer,
            network=self.dev_network, qr_payloads=dev_qr_payloads,
            year_card_image=config.card.sim_card_image) if config.kiosk.dev_mode else None
        self.worker: Worker = worker(self._deliver) if worker is not None else \
            ThreadWorker(self._post_to_main, name="pickup-worker")
        self.flow: PickupFlow = self.services.build_flow(self.worker)
        self.host = KioskHost(self.services.availability, now=self.services.clock.monotonic)
        self.host.register(self.flow, lambda availability: availability.can_pick_up, starts_on_qr=True)
        # The year-card journey (when a PSAM is configured): a card at home starts it; it reads offline too.
        self.card_flow: CardFlow | None = self.services.build_card_flow(self.worker)
        if self.card_flow is not None:
            self.host.register(self.card_flow, lambda availability: not availability.card.critical)
            self.host.set_card_handler(self.card_flow.handle_card)
        # The lost-ticket journey: "Lost your ticket?" at home while the central is reachable.  Its face
        # check's news goes straight to the main loop (not through the worker: a replay feeds the
        # recorded results on the timeline itself).
        face_post: Callable[[Callable[[], None]], None] = (lambda callback: self.app.post_to_main(callback)) \
            if self.services.hooks.background_threads else (lambda callback: callback())
        self.recovery_flow: RecoveryFlow | None = self.services.build_recovery_flow(
            self.worker, language=lambda: str(self.app.language), face_post=face_post)
        if self.recovery_flow is not None and _has_screens(RecoveryFlow.name):
            self.host.register(self.recovery_flow, lambda availability: availability.central_reachable)
        # Camera frames, on the camera's thread: the recorder keeps failed decodes, a face check looks.
        self.frames: Observers[[Any, list[DecodedCode]]] = Observers("frame observer")
        self.frames.subscribe(lambda gray, _codes: self.host.frame(gray))
        if self.services.scanner is not None:
            self.services.scanner.frame_observer = self.frames.notify
        self.app = KioskApp(self.host, self.services.availability, language=config.kiosk.language,
                            timezone=config.kiosk.cinema_timezone, self_ticking=self_ticking,
                            on_start_hooks=[attach_dev_panel(self.dev_controls)] if self.dev_controls else [])
        # Off until staff, `kiosk record` or recording.enabled switch it on.
        self.recorder = Recorder(self, config)

    @property
    def worker_kind(self) -> str:
        """How the flow's callbacks are ordered: "inline" (at once) or "recorded" (deliver events)."""
        return "inline" if isinstance(self.worker, InlineWorker) else "recorded"

    def _post_to_main(self, callback: Callable[[], None]) -> None:
        self.app.post_to_main(lambda: self._deliver(callback))

    def _deliver(self, callback: Callable[[], None]) -> None:
        """A worker's callback on the main loop: recorded first, so a replay delivers it at the same point."""
        self.recorder.delivered()
        callback()

    def _on_code(self, code: DecodedCode) -> None:
        # Called on the scanner's thread: the flow only runs on the main loop.
        self.app.post_to_main(lambda: self.deliver_code(code))

    def deliver_code(self, code: DecodedCode) -> None:
        """A decoded QR reaching the host (on the main loop)."""
        self.recorder.code(code)
        self.host.qr(code)

    def on_card(self, event: CardEvent) -> None:
        """A card inserted or removed (the recorder's card reader wrapper has recorded it already)."""
        if threading.current_thread() is threading.main_thread():
            self.host.card(event)  # a replay feeds cards on the main loop: at once, as recorded
        else:
            self.app.post_to_main(lambda: self.host.card(event))

    def start(self) -> None:
        if self.config.recording.enabled and not self.recorder.active:
            self.recorder.start(from_start=True)
        self.services.start(self._on_code, self.on_card)

    def stop(self) -> None:
        self.recorder.stop()
        stop_worker = getattr(self.worker, "stop", None)
        if stop_worker is not None:
            stop_worker()
        self.services.stop()
        self._stop_virtual_printer()
        self._stop_dev_network()

    def snapshot(self) -> dict[str, Any]:
        """What a session begun in service needs to replay: see :meth:`KioskServices.snapshot`."""
        return self.services.snapshot()

    def _stop_dev_network(self) -> None:
        if self.dev_network is not None:
            self.dev_network.stop()
            self.dev_network = None

    def _stop_virtual_printer(self) -> None:
        if self.virtual_printer is not None:
            self.virtual_printer.stop()
            self.virtual_printer = None


def _has_screens(journey: str) -> bool:
    """A journey is shown only with its screens (kiosk.screens.registry); without them it is not offered."""
    from kiosk.screens.registry import JOURNEY_SCREENS

    if journey in JOURNEY_SCREENS:
        return True
    log.warning("the %s journey has no screens in this build: not offered", journey)
    return False


def run_kiosk(config: KioskConfig, headless: bool = False, record_to: Path | None = None,
              dev_qr_payloads: Sequence[str] = ()) -> int:
    """Run until the window closes (or, headless, until interrupted); ``record_to``: `kiosk record`."""
    if config.kiosk.mode == "counter":  # the sales counter: a staff login, then year-cards (docs/counter.md)
        from kiosk.app import run_counter

        return run_counter(config, stop_on_signals)
    runtime = KioskRuntime(config, dev_qr_payloads=dev_qr_payloads)
    try:
        if record_to is not None:
            runtime.recorder.start(folder=record_to, from_start=True)
        runtime.start()
        restore = stop_on_signals(runtime.app)
        try:
            runtime.app.run()
        finally:
            restore()
    finally:
        runtime.stop()
    return 0


def stop_on_signals(app: Any) -> Callable[[], None]:
    """Ctrl+C (SIGINT) and SIGTERM close the window and stop the kiosk cleanly; returns the undo.

    Kivy's loop swallows a KeyboardInterrupt raised in the middle of a frame, so the signal only
    asks the app to stop at its next frame (and a second Ctrl+C still interrupts a hung stop).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    asked: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        if asked:
            raise KeyboardInterrupt
        asked.append(signum)
        log.warning("%s received: stopping the kiosk", signal.Signals(signum).name)
        app.post_to_main(app.stop)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
