"""Everything the kiosk app runs on, built from the configuration.

The central's client, the QR trust store, the printer (and the virtual printer when
configured), the camera scanner, the journal, the claim printer with its outbox, and a
monitor that keeps the kiosk's availability current.  The app only sees the flow and
:meth:`KioskServices.availability`.
"""

from __future__ import annotations

import importlib
import json
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from escpos.escpos import Escpos

from backend_client.client import CentralClient, normalise_fingerprint
from backend_client.errors import CentralError, CentralUntrusted
from backend_client.trust import TrustStore
from devices.camera import CameraQrScanner, InjectedFrameSource
from devices.camera_api import CodeListener
from devices.card_api import ApduResponse, CardEvent, CardListener, CardReader
from devices.face_api import Challenge, FaceChecker, FaceListener, random_challenge
from devices.health import HEALTH_OK, Health, HealthLevel
from devices.printer import EscposTicketPrinter, PrinterConfig
from devices.yearcard.terminal import Transmit
from kiosk.availability import Availability
from kiosk.claims import ClaimPrinter, Outbox, RecoveryReport
from kiosk.clock import SYSTEM_CLOCK, KioskClock
from kiosk.config import INJECTED_CAMERA, ConfigError, KioskConfig
from kiosk.flows.card import CardFlow
from kiosk.flows.pickup import PickupFlow
from kiosk.flows.recovery import RecoveryFlow
from kiosk.flows.runtime import Worker
from kiosk.hardware import build_card_reader, build_psam
from kiosk.journal import Journal
from kiosk.observers import Observers
from kiosk.recording.card import PSAM_SLOT, CardTrafficObserver, RecordingCardReader
from kiosk.recording.face import FaceObserver, RecordingFaceChecker
from kiosk.yearcard import (
    YearCardService,
    flush_card_work,
    insert_sim_year_card,
    refresh_blacklist,
    restore_card_transactions,
)

log = logging.getLogger(__name__)

MONITOR_INTERVAL_S = 5.0
NO_CAMERA = "no_camera"  # health reason: camera.source = "" (the QR path is off)
FACE_CHECK_MODULE = "devices.face_check"  # CameraFaceChecker(scanner, config=LivenessConfig(...)): the face check


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


def central_tls(config: KioskConfig) -> tuple[str | None, str | None]:
    """The client's TLS trust from ``central.ca_file`` / ``central.cert_sha256`` (ConfigError when unusable)."""
    section = config.central
    ca_file = section.ca_file or None
    if ca_file is not None and not Path(ca_file).is_file():
        raise ConfigError("configuration", "central.ca_file", f"{ca_file}: no such file (the CA's PEM certificate)")
    if ca_file is not None:
        try:  # loaded here as the client will: else every call fails as "central unreachable"
            ssl.create_default_context(cafile=ca_file)
        except ssl.SSLError as exc:
            raise ConfigError("configuration", "central.ca_file",
                              f"{ca_file}: not a PEM CA certificate ({exc.reason or exc})") from None
        except OSError as exc:
            raise ConfigError("configuration", "central.ca_file", f"{ca_file}: cannot read: {exc.strerror}") from None
    pin = section.cert_sha256 or None
    if pin is not None:
        try:
            normalise_fingerprint(pin)
        except ValueError as exc:
            raise ConfigError("configuration", "central.cert_sha256", str(exc)) from None
    return ca_file, pin


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def simulated_devices(config: KioskConfig) -> list[str]:
    """The settings that put a simulator (or a file) where a lobby kiosk has a device."""
    found = []
    if config.printer.simulate:
        found.append("printer.simulate = true (the virtual printer)")
    if config.printer.kind == "file":
        found.append('printer.kind = "file" (a file, not a printer)')
    if config.camera.source == INJECTED_CAMERA:
        found.append(f'camera.source = "{INJECTED_CAMERA}" (the simulated camera)')
    if config.card.reader == "sim":
        found.append('card.reader = "sim" (the card simulator)')
    return found


def refuse_unsafe_setup(config: KioskConfig, *, allow_simulators: bool = False,
                        allow_plain_http: bool = False) -> None:
    """Fail closed before `kiosk run` serves anyone: no simulator, no plain HTTP, unless told explicitly.

    A kiosk left on simulators "prints" to a file and journals the tickets as printed; a
    plain-HTTP central sends credentials and pickup codes in clear. Either is allowed only by
    ``kiosk.allow_simulators`` / ``central.allow_plain_http`` (or the command's flags), and is
    then logged as a warning at every start.
    """
    simulators_allowed = allow_simulators or config.kiosk.allow_simulators
    simulated = simulated_devices(config)
    if simulated and not simulators_allowed:
        raise StartupError(
            "refusing to run on simulated devices: " + "; ".join(simulated)
            + ". Select the real devices (config/default.toml, docs/config.md), or for a demo or dev machine "
            "set kiosk.allow_simulators = true (or pass --allow-simulators)"
        )
    for device in simulated:
        log.warning("SIMULATED DEVICE: %s; this kiosk must not serve the public", device)
    url = urlsplit(config.central.url)
    scheme, host = url.scheme.lower(), (url.hostname or "")
    if scheme == "https":
        return
    if scheme != "http":
        raise StartupError(f"central.url = {config.central.url!r}: the central is reached over https://")
    plain_allowed = allow_plain_http or config.central.allow_plain_http
    if not plain_allowed and not (host in LOOPBACK_HOSTS and simulators_allowed):
        raise StartupError(
            f"refusing plain HTTP to the central ({config.central.url}): the kiosk's credential and pickup codes "
            "would cross the network in clear. Use https:// with central.ca_file or central.cert_sha256 "
            "(docs/config.md), or set central.allow_plain_http = true (or pass --allow-plain-http)"
        )
    log.warning("PLAIN HTTP to the central %s: credentials and pickup codes are not encrypted", config.central.url)


def printer_config(config: KioskConfig) -> PrinterConfig:
    return config.printer  # the [printer] section is the driver's own config (plus the simulator's keys)


@dataclass(frozen=True)
class ServiceHooks:
    """What a replay (or a test) puts in place of the real world; the defaults are the real kiosk."""

    clock: KioskClock = SYSTEM_CLOCK
    credential: str | None = None  # None: read from central.credential_file
    http_session: requests.Session | None = None  # the central's transport (a replay answers from a session)
    printer_connect: Callable[[Any], Escpos] | None = None  # the printer's connection (a replay scripts it)
    background_threads: bool = True  # False: the host calls monitor_round() itself (replay: the timeline)
    card_reader: CardReader | None = None  # in place of the configured reader (a replay answers from a session)
    psam_reader: CardReader | None = None  # in place of the configured PSAM (a replay answers from a session)
    # "camera" / "card" -> health, in place of probing them (a replay: the health changes it recorded)
    device_health: Callable[[str], Health] | None = None
    face_checker: FaceChecker | None = None  # in place of the camera's face check (a replay: recorded results)
    face_challenge: Callable[[], Challenge] | None = None  # the challenges asked (a replay: the recorded ones)
    camera_face_check: bool = True  # False: never the camera's face check (a replay: only the recorded one, if any)


class KioskServices:
    def __init__(self, config: KioskConfig, *, injected_camera: bool = False,
                 hooks: ServiceHooks | None = None) -> None:
        self.config = config
        self.hooks = hooks = hooks or ServiceHooks()
        self.clock = hooks.clock
        credential = hooks.credential if hooks.credential is not None else read_credential(config)
        # A replay's session answers instead of the central: no certificate to trust then.
        ca_file, pin = central_tls(config) if hooks.http_session is None else (None, None)
        self.journal = Journal(config.data_path("journal.sqlite3"))
        try:
            self.client = CentralClient(config.central.url, credential, timeout_s=config.central.timeout_s,
                                        retries=config.central.retries, sleep=self.clock.sleep,
                                        session=hooks.http_session, ca_file=ca_file, cert_sha256=pin)
        except ValueError as exc:
            raise StartupError(f"{config.central.credential_file}: {exc}") from None
        self.trust = TrustStore(self.client, config.data_path("trust.json"), clock=self.clock.wall)
        if hooks.printer_connect is not None:
            self.printer = EscposTicketPrinter(printer_config(config), connect=hooks.printer_connect)
        else:
            self.printer = EscposTicketPrinter(printer_config(config))
        self.outbox = Outbox(self.journal, self.client)
        self.claim_printer = ClaimPrinter(self.journal, self.printer, self.outbox)
        self.camera_frames: InjectedFrameSource | None = None
        self.scanner = self._build_scanner(config, injected_camera)
        try:
            self.card_reader: CardReader | None = hooks.card_reader or build_card_reader(config.card)
        except RuntimeError as exc:  # pyscard missing for card.reader = "pcsc"
            raise StartupError(f"card.reader = \"pcsc\": {exc}") from None
        self.psam: CardReader | Transmit | None = None  # the kiosk's PSAM (second slot), when year-cards are on
        self.year_cards = self._build_year_cards(config)
        self.face_checker: FaceChecker | None = self._build_face_checker(config)
        self._cinema_id: str | None = None
        self._central_reachable = False
        self._central_problem = ""  # the last failure's text, so a lasting one is logged once
        self._availability = Availability(central_reachable=False)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.recovery: RecoveryReport | None = None
        # When the monitor last refreshed the trust data and flushed the outbox (clock.monotonic).
        self.last_trust_refresh: float | None = None
        self.last_blacklist_refresh: float | None = None
        self.last_outbox_flush: float | None = None
        # Told of each timer that fires off the main loop (a recorder): "monitor".
        self.on_timer: Observers[[str]] = Observers("timer observer")
        # Told when the camera's or the card reader's health changes (a recorder): device, health.
        self.on_health: Observers[[str, Health]] = Observers("health observer")
        self._seen_health: dict[str, Health] = {"camera": HEALTH_OK, "card": HEALTH_OK}

    def _build_scanner(self, config: KioskConfig, injected: bool) -> CameraQrScanner | None:
        camera = config.camera
        if not injected and not camera.source:
            return None  # no camera: its health is critical, the QR path is off, code entry still works
        if injected or camera.source == INJECTED_CAMERA:
            # The simulated camera: frames come only from the demo, dev mode or a technician's tools.
            self.camera_frames = InjectedFrameSource()
            return CameraQrScanner(camera.device_config("injected"), source=self.camera_frames,
                                   clock=self.clock.monotonic)
        try:
            scanner_config = camera.device_config()
        except ValueError as exc:
            raise ConfigError("configuration", "camera.source", str(exc)) from None
        return CameraQrScanner(scanner_config, clock=self.clock.monotonic)

    def _build_year_cards(self, config: KioskConfig) -> YearCardService | None:
        """The year-card service over the card reader and the PSAM; None when the journey is off."""
        if not config.yearcard.enabled or self.card_reader is None:
            return None
        try:
            psam = self.hooks.psam_reader or build_psam(config.card)
        except RuntimeError as exc:  # pyscard missing
            raise StartupError(f"card.psam_reader_name_pattern: {exc}") from None
        if psam is None:
            log.info("no PSAM configured (card.psam_reader_name_pattern / card.sim_psam_image): year-cards are off")
            return None
        self.psam = psam
        return YearCardService(_CurrentCardReader(self), _CurrentPsam(self), timezone=config.kiosk.cinema_timezone,
                               timeout_s=config.yearcard.card_timeout_s, wall=self.clock.wall)

    def insert_sim_year_card(self) -> bool:
        """Dev mode and the demo: put ``card.sim_card_image`` on the simulated reader.  False: nothing to put."""
        from devices.sim.card_reader_sim import SimCardReader

        reader = self.card_reader.inner if isinstance(self.card_reader, RecordingCardReader) else self.card_reader
        if not self.config.card.sim_card_image or not isinstance(reader, SimCardReader):
            return False
        insert_sim_year_card(reader, self.config.card.sim_card_image)
        return True

    def observe_card_traffic(self, observer: CardTrafficObserver) -> None:
        """Record every card event and APDU at the reader (a recorder calls this before :meth:`start`)."""
        if self.card_reader is not None and not isinstance(self.card_reader, RecordingCardReader):
            self.card_reader = RecordingCardReader(self.card_reader, observer)
        if self.psam is not None and not isinstance(self.psam, RecordingCardReader):
            self.psam = RecordingCardReader(_as_reader(self.psam), observer, slot=PSAM_SLOT)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, on_code: CodeListener, on_card: CardListener | None = None) -> None:
        """Resolve what a crash left, fetch trust data, start the devices and the monitor."""
        self.recovery = self.claim_printer.recover()
        if self.recovery.claims:
            log.warning("recovered %d claim(s) after restart: %d printed, %d released, %d in doubt",
                        self.recovery.claims, self.recovery.printed, self.recovery.released, self.recovery.in_doubt)
        self.check_central()
        self._refresh_trust()
        if self.year_cards is not None and self._central_reachable:
            self._restore_card_transactions()
        threads = self.hooks.background_threads  # without: the host feeds codes and calls monitor_round()
        if self.scanner is not None and threads:
            self.scanner.start(on_code)
        if self.card_reader is not None and threads:
            # No journey uses the card yet: events are logged unless the host listens.
            self.card_reader.start(on_card or _log_card_event)
        self._refresh_availability()
        if threads:
            self._spawn(self._monitor, "kiosk-monitor")

    def stop(self) -> None:
        self._stop.set()
        if self.scanner is not None:
            self.scanner.stop()
        for thread in self._threads:
            thread.join(timeout=5.0)
        if self.card_reader is not None:
            self.card_reader.stop()
        self.printer.close()
        self.client.close()
        self.journal.close()

    # -- sessions begun in service (recording) ----------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The state a replay needs when a recording begins while the kiosk is in service."""
        now = self.clock.monotonic()
        availability = self._availability
        try:
            trust = json.loads(self.config.data_path("trust.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            trust = None
        return {
            "cinema_id": self._cinema_id,
            "central_reachable": self._central_reachable,
            "printer_health": [availability.printer.level.value, availability.printer.reason],
            "camera_health": [availability.camera.level.value, availability.camera.reason],
            "card_health": [availability.card.level.value, availability.card.reason],
            "trust_cache": trust,
            "since_trust_refresh": None if self.last_trust_refresh is None else now - self.last_trust_refresh,
            "since_outbox_flush": None if self.last_outbox_flush is None else now - self.last_outbox_flush,
            # the year-card blacklist is refreshed on its own period: a replay refreshes it when the kiosk did
            "since_blacklist_refresh": None if self.last_blacklist_refresh is None
            else now - self.last_blacklist_refresh,
            "outbox": [{"kind": item.kind, "payload": item.payload, "key": item.idempotency_key}
                       for item in self.journal.pending()],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Start as the recorded kiosk was when its session began (instead of :meth:`start`)."""
        now = self.clock.monotonic()
        self._cinema_id = snapshot.get("cinema_id")
        self._central_reachable = bool(snapshot.get("central_reachable"))
        since_trust, since_flush = snapshot.get("since_trust_refresh"), snapshot.get("since_outbox_flush")
        self.last_trust_refresh = None if since_trust is None else now - float(since_trust)
        self.last_outbox_flush = None if since_flush is None else now - float(since_flush)
        since_blacklist = snapshot.get("since_blacklist_refresh")
        self.last_blacklist_refresh = None if since_blacklist is None else now - float(since_blacklist)
        for item in snapshot.get("outbox", []):
            self.journal.enqueue(item["kind"], item["payload"], item["key"])

        def health(pair: Any) -> Health:
            level, reason = pair if isinstance(pair, list) and len(pair) == 2 else ("ok", "")
            return Health(HealthLevel(level), reason)

        self._availability = Availability(printer=health(snapshot.get("printer_health")),
                                          camera=health(snapshot.get("camera_health")),
                                          card=health(snapshot.get("card_health")),
                                          central_reachable=self._central_reachable)
        self._seen_health = {"camera": self._availability.camera, "card": self._availability.card}

    def build_card_flow(self, worker: Worker, now: Callable[[], float] | None = None) -> CardFlow | None:
        """The patron's year-card journey; None when year-cards are off (no reader, no PSAM, disabled)."""
        if self.year_cards is None:
            return None
        return CardFlow(
            client=self.client,
            terminal=self.year_cards,
            journal=self.journal,
            printer=self.printer,
            claim_printer=self.claim_printer,
            worker=worker,
            settings=self.config.yearcard,
            timezone=self.config.kiosk.cinema_timezone,
            now=now or self.clock.monotonic,
            local_today=lambda: self.year_cards.local_now().date() if self.year_cards else self.clock.wall().date(),
        )

    def build_recovery_flow(self, worker: Worker, *, language: Callable[[], str],
                            face_post: Callable[[Callable[[], None]], None] | None = None,
                            now: Callable[[], float] | None = None) -> RecoveryFlow | None:
        """The lost-ticket journey; None when recovery.enabled is off."""
        if not self.config.recovery.enabled:
            return None
        return RecoveryFlow(
            client=self.client,
            face=_CurrentFaceChecker(self) if self.face_checker is not None else None,
            printer=self.printer,
            claim_printer=self.claim_printer,
            worker=worker,
            settings=self.config.recovery,
            timezone=self.config.kiosk.cinema_timezone,
            now=now or self.clock.monotonic,
            language=language,
            challenge=self.hooks.face_challenge or random_challenge,
            face_post=face_post,
        )

    def observe_face(self, observer: FaceObserver) -> None:
        """Record every face check's challenge and result, never a frame (a recorder calls this)."""
        if self.face_checker is not None and not isinstance(self.face_checker, RecordingFaceChecker):
            self.face_checker = RecordingFaceChecker(self.face_checker, observer)

    def _build_face_checker(self, config: KioskConfig) -> FaceChecker | None:
        """The camera's face check for the lost-ticket journey, or None (the SMS code only)."""
        if self.hooks.face_checker is not None or not self.hooks.camera_face_check:
            return self.hooks.face_checker
        section = config.recovery
        if not section.enabled or not section.face:
            return None
        if self.scanner is None:
            log.warning("recovery.face is on but there is no camera (camera.source): the SMS code only")
            return None
        try:
            # Imported here: face_recognition and its models load only on a kiosk that offers the face check.
            module = importlib.import_module(FACE_CHECK_MODULE)
            liveness = importlib.import_module("devices.liveness")
            checker: FaceChecker = module.CameraFaceChecker(
                self.scanner, config=liveness.LivenessConfig(timeout_s=section.face_timeout_s))
        except (ImportError, AttributeError, SystemExit) as exc:  # the models' loader may exit when missing
            log.warning("the face check is unavailable (%s): the SMS code only", exc)
            return None
        return checker

    def build_flow(self, worker: Worker, now: Callable[[], float] | None = None) -> PickupFlow:
        return PickupFlow(
            client=self.client,
            verifier=self.trust,
            printer=self.printer,
            claim_printer=self.claim_printer,
            worker=worker,
            settings=self.config.pickup,
            cinema_id=lambda: self._cinema_id,
            timezone=self.config.kiosk.cinema_timezone,
            now=now or self.clock.monotonic,
            wall_now=self.clock.wall,
            kiosk_name=self.config.kiosk.name,
        )

    # -- availability -----------------------------------------------------------------------

    def availability(self) -> Availability:
        return self._availability

    def check_central(self) -> bool:
        try:
            hello = self.client.hello()
        except CentralUntrusted as exc:
            # One line for the operator, when it starts: the kiosk is out of service until it is fixed.
            if self._central_problem != str(exc):
                log.error("central %s: %s (check central.ca_file / central.cert_sha256 and the central's "
                          "certificate); out of service", self.config.central.url, exc)
            self._central_problem = str(exc)
            self._central_reachable = False
            return False
        except CentralError as exc:
            if self._central_reachable or not self._central_problem:  # once per outage, the first at start too
                log.warning("central unreachable: %s", exc)
            self._central_problem = str(exc)
            self._central_reachable = False
            return False
        self._cinema_id = hello.cinema_id
        if not self._central_reachable:
            log.info("central reachable (cinema %s)", hello.cinema_id)
        self._central_reachable = True
        self._central_problem = ""
        return True

    def refresh_availability(self) -> Availability:
        """Look at every device now (the monitor does it every few seconds) and return the result."""
        self._refresh_availability()
        return self._availability

    def apply_device_health(self) -> Availability:
        """Take the camera's and reader's health again without asking the printer (a replay's recorded change)."""
        self._refresh_availability(self._availability.printer)
        return self._availability

    def _refresh_availability(self, printer_health: Health | None = None) -> None:
        if printer_health is None:
            printer_health = self.printer.status().health()
        camera_health, card_health = self._device_health("camera"), self._device_health("card")
        if printer_health != self._availability.printer:  # logged once per change, not every round
            log.info("printer health: %s%s", printer_health.level.value,
                     f" ({printer_health.reason})" if printer_health.reason else "")
        self._availability = Availability(printer=printer_health, camera=camera_health, card=card_health,
                                          central_reachable=self._central_reachable)

    def _device_health(self, device: str) -> Health:
        if self.hooks.device_health is not None:
            health = self.hooks.device_health(device)
        elif device == "camera":
            health = self.scanner.health() if self.scanner is not None else \
                Health(HealthLevel.CRITICAL, NO_CAMERA)
        else:
            health = self.card_reader.health() if self.card_reader is not None else HEALTH_OK
        if health != self._seen_health.get(device):
            self._seen_health[device] = health
            self.on_health.notify(device, health)  # a recorder: replayed as it was seen, not probed again
        return health

    def monitor_round(self) -> None:
        """One round of the monitor: central, trust data and outbox when due, device health.

        Every decision reads ``self.clock``, so a replay that calls this at the recorded
        instants on a virtual clock makes the same calls in the same order.
        """
        self.on_timer.notify("monitor")
        try:
            self.check_central()
            now = self.clock.monotonic()
            if self._due(self.last_trust_refresh, self.config.central.trust_refresh_s, now):
                self._refresh_trust()
            self._refresh_availability()
            if self.year_cards is not None and self._central_reachable and \
                    self._due(self.last_blacklist_refresh, self.config.yearcard.blacklist_refresh_s, now):
                self._refresh_blacklist()
            if self._central_reachable and self._due(self.last_outbox_flush, self.config.central.outbox_retry_s,
                                                     now):
                self.last_outbox_flush = now
                self.outbox.flush()
                if self.year_cards is not None:  # card debits proven or voided while the central was away
                    flush_card_work(self.journal, self.client)
        except Exception:  # the monitor must outlive any one failure
            log.exception("device monitor round failed")

    @staticmethod
    def _due(last: float | None, interval_s: float, now: float) -> bool:
        return last is None or now - last >= interval_s

    def _refresh_trust(self) -> None:
        self.last_trust_refresh = self.clock.monotonic()
        self.trust.refresh()
        if self.year_cards is not None:
            self._refresh_blacklist()

    def _refresh_blacklist(self) -> None:
        """The card blacklist, versioned, kept for taps while the central is away."""
        self.last_blacklist_refresh = self.clock.monotonic()
        refresh_blacklist(self.journal, self.client)

    def _restore_card_transactions(self) -> None:
        """This kiosk's card transactions from the central, for a journal that lost them (or never had them)."""
        try:
            restore_card_transactions(self.journal, self.client)
        except CentralError as exc:
            log.info("card transactions not restored now: %s", exc)

    def _monitor(self) -> None:
        while not self._stop.wait(MONITOR_INTERVAL_S):
            self.monitor_round()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)


class _CurrentCardReader:
    """The services' card reader as it is when a command goes (a recorder may wrap it after start-up)."""

    def __init__(self, services: KioskServices) -> None:
        self._services = services

    def transmit(self, apdu: bytes, timeout_s: float = 3.0) -> ApduResponse:
        reader = self._services.card_reader
        assert reader is not None
        return reader.transmit(apdu, timeout_s)


class _CurrentFaceChecker:
    """The services' face check as it is when a check begins (a recorder may wrap it after start-up)."""

    def __init__(self, services: KioskServices) -> None:
        self._services = services

    def _checker(self) -> FaceChecker:
        checker = self._services.face_checker
        assert checker is not None
        return checker

    def begin(self, challenge: Challenge, listener: FaceListener) -> None:
        self._checker().begin(challenge, listener)

    def cancel(self) -> None:
        self._checker().cancel()

    def preview(self) -> Any:
        return self._checker().preview()


class _CurrentPsam:
    """The services' PSAM as it is when a command goes (a recorder may wrap it after start-up)."""

    def __init__(self, services: KioskServices) -> None:
        self._services = services

    def transmit(self, apdu: bytes, timeout_s: float = 3.0) -> ApduResponse:
        psam = self._services.psam
        assert psam is not None
        if callable(psam):  # the simulated PSAM: a channel answered in-process
            return psam(apdu)
        return psam.transmit(apdu, timeout_s)


class _ChannelReader:
    """An in-process PSAM channel as a card reader: only commands go to a PSAM (nobody watches its slot)."""

    reader_name = "simulated PSAM"

    def __init__(self, channel: Transmit) -> None:
        self._channel = channel

    def start(self, listener: CardListener) -> None:
        """No card events from the PSAM's slot."""

    def stop(self) -> None:
        """Nothing runs."""

    def transmit(self, apdu: bytes, timeout_s: float = 3.0) -> ApduResponse:
        return self._channel(apdu)

    def health(self) -> Health:
        return HEALTH_OK

    def readers(self) -> list[str]:
        return [self.reader_name]

    @property
    def atr(self) -> bytes | None:
        return None


def _as_reader(psam: CardReader | Transmit) -> CardReader:
    return _ChannelReader(psam) if callable(psam) else psam


def _log_card_event(event: CardEvent) -> None:
    log.info("card %s on %r", event.kind.value, event.reader)
