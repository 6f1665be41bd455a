"""Everything the kiosk app runs on, built from the configuration.

The central's client, the QR trust store, the printer (and the virtual printer when
configured), the camera scanner, the journal, the claim printer with its outbox, and a
monitor that keeps the kiosk's availability current.  The app only sees the flow and
:meth:`KioskServices.availability`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from backend_client.client import CentralClient
from backend_client.errors import CentralError
from backend_client.trust import TrustStore
from devices.camera import CameraConfig, CameraQrScanner, InjectedFrameSource
from devices.camera_api import CodeListener
from devices.health import Health, HealthLevel
from devices.printer import EscposTicketPrinter, PrinterConfig
from kiosk.availability import Availability
from kiosk.claims import ClaimPrinter, Outbox, RecoveryReport
from kiosk.config import ConfigError, KioskConfig
from kiosk.flows.pickup import PickupFlow
from kiosk.flows.runtime import Worker
from kiosk.journal import Journal

log = logging.getLogger(__name__)

MONITOR_INTERVAL_S = 5.0


class StartupError(Exception):
    """The kiosk cannot start: the message says what to fix."""


def read_credential(config: KioskConfig) -> str:
    path = Path(config.central.credential_file)
    try:
        credential = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise StartupError(
            f"{path}: the kiosk credential file is missing; enrol this kiosk with "
            "`central kiosk enrol NAME --cinema ID` and save what it prints there"
        ) from None
    except OSError as exc:
        raise StartupError(f"{path}: cannot read the kiosk credential: {exc.strerror}") from None
    if "." not in credential or len(credential) < 8:
        raise StartupError(f"{path}: not a kiosk credential (expected <kiosk_id>.<secret>)")
    return credential


def printer_config(config: KioskConfig) -> PrinterConfig:
    section = config.printer
    return PrinterConfig(
        kind=section.kind,
        host=section.host,
        port=section.port,
        usb_vendor_id=section.usb_vendor_id,
        usb_product_id=section.usb_product_id,
        serial_device=section.serial_device,
        serial_baudrate=section.serial_baudrate,
        file_path=section.file_path,
        timeout_s=section.timeout_s,
        status_policy=section.status_policy,
    )


class KioskServices:
    def __init__(self, config: KioskConfig, *, injected_camera: bool = False) -> None:
        self.config = config
        credential = read_credential(config)
        self.journal = Journal(config.data_path("journal.sqlite3"))
        try:
            self.client = CentralClient(config.central.url, credential, timeout_s=config.central.timeout_s,
                                        retries=config.central.retries)
        except ValueError as exc:
            raise StartupError(f"{config.central.credential_file}: {exc}") from None
        self.trust = TrustStore(self.client, config.data_path("trust.json"), clock=lambda: datetime.now(UTC))
        self.printer = EscposTicketPrinter(printer_config(config))
        self.outbox = Outbox(self.journal, self.client)
        self.claim_printer = ClaimPrinter(self.journal, self.printer, self.outbox)
        self.camera_frames: InjectedFrameSource | None = None
        self.scanner = self._build_scanner(config, injected_camera)
        self._cinema_id: str | None = None
        self._central_reachable = False
        self._availability = Availability(central_reachable=False)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.recovery: RecoveryReport | None = None

    def _build_scanner(self, config: KioskConfig, injected: bool) -> CameraQrScanner | None:
        camera = config.camera
        if injected or not camera.source:
            # No camera configured: frames come only from the demo or a technician's tools.
            self.camera_frames = InjectedFrameSource()
            return CameraQrScanner(CameraConfig(source="injected", fps=camera.fps, dedupe_seconds=camera.dedupe_s),
                                   source=self.camera_frames)
        source: str | int = int(camera.source) if camera.source.isdigit() else camera.source
        try:
            scanner_config = CameraConfig(source=source, fps=camera.fps, loop=camera.loop,
                                          dedupe_seconds=camera.dedupe_s)
        except ValueError as exc:
            raise ConfigError("configuration", "camera.source", str(exc)) from None
        return CameraQrScanner(scanner_config)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, on_code: CodeListener) -> None:
        """Resolve what a crash left, fetch trust data, start the devices and the monitor."""
        self.recovery = self.claim_printer.recover()
        if self.recovery.claims:
            log.warning("recovered %d claim(s) after restart: %d printed, %d released, %d in doubt",
                        self.recovery.claims, self.recovery.printed, self.recovery.released, self.recovery.in_doubt)
        self.check_central()
        self.trust.refresh()
        self.trust.start_periodic(self.config.central.trust_refresh_s)
        if self.scanner is not None:
            self.scanner.start(on_code)
        self._refresh_availability()
        self._spawn(self._monitor, "kiosk-monitor")

    def stop(self) -> None:
        self._stop.set()
        self.trust.stop()
        if self.scanner is not None:
            self.scanner.stop()
        for thread in self._threads:
            thread.join(timeout=5.0)
        self.printer.close()
        self.client.close()
        self.journal.close()

    def build_flow(self, worker: Worker, now: Callable[[], float] = time.monotonic) -> PickupFlow:
        return PickupFlow(
            client=self.client,
            verifier=self.trust,
            printer=self.printer,
            claim_printer=self.claim_printer,
            worker=worker,
            settings=self.config.pickup,
            cinema_id=lambda: self._cinema_id,
            timezone=self.config.kiosk.cinema_timezone,
            now=now,
            wall_now=lambda: datetime.now(UTC),
        )

    # -- availability -----------------------------------------------------------------------

    def availability(self) -> Availability:
        return self._availability

    def check_central(self) -> bool:
        try:
            hello = self.client.hello()
        except CentralError as exc:
            if self._central_reachable:
                log.warning("central unreachable: %s", exc)
            self._central_reachable = False
            return False
        self._cinema_id = hello.cinema_id
        self._central_reachable = True
        return True

    def _refresh_availability(self) -> None:
        printer_health = self.printer.status().health()
        camera_health = self.scanner.health() if self.scanner is not None else \
            Health(HealthLevel.CRITICAL, "camera_missing")
        self._availability = Availability(printer=printer_health, camera=camera_health,
                                          central_reachable=self._central_reachable)

    def _monitor(self) -> None:
        last_flush = 0.0
        while not self._stop.wait(MONITOR_INTERVAL_S):
            try:
                self.check_central()
                self._refresh_availability()
                if time.monotonic() - last_flush >= self.config.central.outbox_retry_s and self._central_reachable:
                    last_flush = time.monotonic()
                    self.outbox.flush()
            except Exception:  # the monitor must outlive any one failure
                log.exception("device monitor round failed")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
