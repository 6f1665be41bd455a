"""`kiosk devices`: what the configuration selects, a probe of each device, and its health.

For a technician at a kiosk (or a bench): every device the config selects is opened through
the same driver the kiosk uses, asked for its state, and released again; nothing is printed
on paper (the printer only gets real-time status requests). The exit status is 1 when a
selected device is critical, so install scripts can call it.

The central is reported on its own line and never fails the check: the built-in default
points at a local central that is often not running on a bench, and a kiosk without its
central still starts (it refuses pickups until the central answers). ``--no-central`` leaves
it out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from backend_client.client import CentralClient
from backend_client.errors import CentralError, KioskUnauthorized
from devices.camera import (
    BLACK_FRAME_MEAN,
    CameraUnavailable,
    EndOfFrames,
    InjectedFrameSource,
    open_source,
)
from devices.card_api import CardReader
from devices.health import HEALTH_OK, Health, HealthLevel
from devices.printer import EscposTicketPrinter, open_connection
from devices.printer_api import PrinterStatus
from devices.qr import frame_stats, to_gray
from devices.sim.printer import VirtualPrinter
from kiosk.config import INJECTED_CAMERA, ConfigError, KioskConfig
from kiosk.hardware import build_card_reader, describe_card_selection
from kiosk.runner import start_virtual_printer
from kiosk.services import NO_CAMERA, StartupError, central_tls, printer_config, read_credential

CAMERA_FRAME_WAIT_S = 3.0
CENTRAL_PROBE_TIMEOUT_S = 3.0
CARD_SETTLE_GRACE_S = 1.5  # beyond two polls: the reader's monitor has looked at pcscd by then
# While these show, a PC/SC reader just started has not finished its first look.
CARD_UNSETTLED = ("pcscd_down", "no_reader", "monitor_down")


@dataclass(frozen=True)
class DeviceCheck:
    device: str  # printer | camera | card | central
    selected: str  # what the configuration selects
    probe: str  # what the probe found, for a person
    health: Health
    counts: bool = True  # False: a critical here does not fail the check (the central, an unselected device)

    def as_json(self) -> dict[str, object]:
        return {"device": self.device, "selected": self.selected, "probe": self.probe,
                "level": self.health.level.value, "reason": self.health.reason, "counts": self.counts}


def one_line(error: BaseException | str) -> str:
    return " ".join(str(error).split())


# -- printer ---------------------------------------------------------------------------------


def describe_printer_selection(config: KioskConfig) -> str:
    section = config.printer
    target = {
        "network": f"{section.host}:{section.port}",
        "usb": f"USB {section.usb_vendor_id:04x}:{section.usb_product_id:04x}",
        "serial": f"{section.serial_device} at {section.serial_baudrate} baud",
        "file": section.file_path,
    }[section.kind]
    simulated = ", virtual printer" if section.simulate else ""
    return f"{section.kind} {target}{simulated}, status policy {section.status_policy}"


def describe_status(status: PrinterStatus) -> str:
    if not status.known:
        return "status unknown"
    return (f"{'online' if status.online else 'offline'}, paper {status.paper.value}, "
            f"cover {'open' if status.cover_open else 'closed'}")


def check_printer(config: KioskConfig) -> DeviceCheck:
    selected = describe_printer_selection(config)
    virtual: VirtualPrinter | None = None
    try:
        if config.printer.simulate:
            try:
                virtual = start_virtual_printer(config)
            except StartupError as exc:
                return DeviceCheck("printer", selected, one_line(exc), Health(HealthLevel.CRITICAL, "simulator_failed"))
        return _probe_printer(config, selected)
    finally:
        if virtual is not None:
            virtual.stop()


def _probe_printer(config: KioskConfig, selected: str) -> DeviceCheck:
    settings = printer_config(config)
    unknown_level = HealthLevel.CRITICAL if settings.status_policy == "require" else HealthLevel.WARNING
    if settings.kind == "file":
        # Opening the file would truncate it: look at its folder instead. A file never answers status.
        folder = Path(settings.file_path).resolve().parent
        if not folder.is_dir():
            return DeviceCheck("printer", selected, f"folder {folder} does not exist",
                               Health(HealthLevel.CRITICAL, "printer_unreachable"))
        return DeviceCheck("printer", selected, "a file cannot report status",
                           Health(unknown_level, "status_unknown"))
    try:
        open_connection(settings).close()
    except Exception as exc:  # python-escpos raises its own types, OSError, or usb errors
        return DeviceCheck("printer", selected, f"cannot connect: {one_line(exc)}",
                           Health(HealthLevel.CRITICAL, "printer_unreachable"))
    printer = EscposTicketPrinter(settings)
    try:
        status = printer.status()
    finally:
        printer.close()
    health = status.health()
    if not status.known:
        why = "the kiosk will not print" if unknown_level is HealthLevel.CRITICAL else "printing is trusted"
        return DeviceCheck("printer", selected, f"connected, but it does not answer status requests ({why})",
                           Health(unknown_level, "status_unknown"))
    return DeviceCheck("printer", selected, describe_status(status), health)


# -- camera ----------------------------------------------------------------------------------


def check_camera(config: KioskConfig) -> DeviceCheck:
    section = config.camera
    if not section.source:
        return DeviceCheck("camera", "none", "no camera configured (camera.source = \"\"): QR codes cannot be "
                           "read, people can only type their code", Health(HealthLevel.CRITICAL, NO_CAMERA))
    if section.source == INJECTED_CAMERA:
        source = InjectedFrameSource()
        source.open()
        source.push(np.full((720, 1280, 3), 128, dtype=np.uint8))
        frame = source.read(CAMERA_FRAME_WAIT_S)
        probe = "simulated camera (frames pushed by the demo, dev mode or tests): a pushed frame came through" \
            if frame is not None else "the simulated camera gave no frame"
        return DeviceCheck("camera", "simulated camera: injected frames", probe,
                           HEALTH_OK if frame is not None else Health(HealthLevel.CRITICAL, "no_frames"))
    target: str | int = int(section.source) if section.source.isdigit() else section.source
    selected = f"camera {target}" if isinstance(target, int) else f"frames from {target}"
    try:
        camera_config = section.device_config()
    except ValueError as exc:
        raise ConfigError("configuration", "camera.source", str(exc)) from None
    source_ = open_source(camera_config)
    try:
        source_.open()
    except CameraUnavailable as exc:
        return DeviceCheck("camera", selected, one_line(exc), Health(HealthLevel.CRITICAL, "camera_missing"))
    try:
        return _first_frame(source_.read, selected)
    finally:
        source_.close()


def _first_frame(read: Callable[[float], np.ndarray | None], selected: str) -> DeviceCheck:
    deadline = time.monotonic() + CAMERA_FRAME_WAIT_S
    while time.monotonic() < deadline:
        try:
            frame = read(0.2)
        except EndOfFrames:
            return DeviceCheck("camera", selected, "the source has no frames",
                               Health(HealthLevel.CRITICAL, "no_frames"))
        except CameraUnavailable as exc:
            return DeviceCheck("camera", selected, one_line(exc), Health(HealthLevel.CRITICAL, "camera_lost"))
        if frame is None:
            continue
        try:
            mean, _ = frame_stats(to_gray(frame))
        except ValueError as exc:
            return DeviceCheck("camera", selected, f"unusable frame: {exc}", Health(HealthLevel.WARNING, "bad_frames"))
        probe = f"frame {frame.shape[1]}x{frame.shape[0]}, brightness {mean:.0f}/255"
        if mean < BLACK_FRAME_MEAN:
            return DeviceCheck("camera", selected, probe + " (covered lens or dark scene?)",
                               Health(HealthLevel.WARNING, "black_frames"))
        return DeviceCheck("camera", selected, probe, HEALTH_OK)
    return DeviceCheck("camera", selected, f"no frame within {CAMERA_FRAME_WAIT_S:.0f} s",
                       Health(HealthLevel.CRITICAL, "no_frames"))


# -- card reader -----------------------------------------------------------------------------


def check_card(config: KioskConfig) -> DeviceCheck:
    section = config.card
    selected = describe_card_selection(section)
    try:
        reader = build_card_reader(section)
    except RuntimeError as exc:  # pyscard missing
        return DeviceCheck("card", selected, one_line(exc), Health(HealthLevel.CRITICAL, "driver_missing"))
    if reader is None:
        return DeviceCheck("card", selected, "not selected", HEALTH_OK, counts=False)
    reader.start(lambda _event: None)
    try:
        health = _settled_health(reader, section.poll_s * 2 + CARD_SETTLE_GRACE_S)
        names = reader.readers()
        card = "a card is on the reader" if reader.atr is not None else "no card on the reader"
    finally:
        reader.stop()
    probe = f"readers: {', '.join(names) if names else 'none'}; {card}"
    return DeviceCheck("card", selected, probe, health)


def _settled_health(reader: CardReader, wait_s: float) -> Health:
    deadline = time.monotonic() + wait_s
    health = reader.health()
    while health.reason in CARD_UNSETTLED and time.monotonic() < deadline:
        time.sleep(0.05)
        health = reader.health()
    return health


# -- central ---------------------------------------------------------------------------------


def check_central(config: KioskConfig) -> DeviceCheck:
    url = config.central.url
    try:
        credential = read_credential(config)
    except StartupError as exc:
        return DeviceCheck("central", url, one_line(exc), Health(HealthLevel.WARNING, "no_credential"), counts=False)
    ca_file, pin = central_tls(config)
    try:
        with CentralClient(url, credential, timeout_s=min(config.central.timeout_s, CENTRAL_PROBE_TIMEOUT_S),
                           retries=0, ca_file=ca_file, cert_sha256=pin) as client:
            hello = client.hello()
    except ValueError as exc:
        return DeviceCheck("central", url, one_line(exc), Health(HealthLevel.WARNING, "no_credential"), counts=False)
    except KioskUnauthorized as exc:
        return DeviceCheck("central", url, f"the central refuses this kiosk's credential: {one_line(exc)}",
                           Health(HealthLevel.WARNING, "not_authorized"), counts=False)
    except CentralError as exc:
        return DeviceCheck("central", url, f"unreachable: {one_line(exc)}",
                           Health(HealthLevel.WARNING, "unreachable"), counts=False)
    return DeviceCheck("central", url, f"answers: kiosk {hello.kiosk_id} of cinema {hello.cinema_id}", HEALTH_OK,
                       counts=False)


# -- all of it -------------------------------------------------------------------------------


def check_devices(config: KioskConfig, *, central: bool = True) -> list[DeviceCheck]:
    checks = [_unless_simulated(config, check) for check in (check_printer(config), check_camera(config),
                                                              check_card(config))]
    if central:
        checks.append(check_central(config))
    return checks


def _is_simulated(config: KioskConfig, device: str) -> bool:
    if device == "printer":
        return config.printer.simulate or config.printer.kind == "file"
    if device == "camera":
        return config.camera.source == INJECTED_CAMERA
    return device == "card" and config.card.reader == "sim"


def _unless_simulated(config: KioskConfig, check: DeviceCheck) -> DeviceCheck:
    """A simulator is critical where `kiosk run` would refuse it (kiosk.allow_simulators = false)."""
    if config.kiosk.allow_simulators or not _is_simulated(config, check.device):
        return check
    return DeviceCheck(check.device, check.selected,
                       f"{check.probe}; a simulator, which `kiosk run` refuses (kiosk.allow_simulators = false)",
                       Health(HealthLevel.CRITICAL, "simulator"), check.counts)


def failing(checks: list[DeviceCheck]) -> list[DeviceCheck]:
    return [check for check in checks if check.counts and check.health.critical]


def describe_health(health: Health) -> str:
    return health.level.value + (f" ({health.reason})" if health.reason else "")


def format_table(checks: list[DeviceCheck]) -> str:
    header = ("device", "health", "selected", "probe")
    rows = [header] + [(c.device, describe_health(c.health), c.selected, c.probe) for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip()
             for row in rows]
    bad = failing(checks)
    if bad:
        lines.append("result: FAILED: " + "; ".join(f"{c.device} {describe_health(c.health)}: {c.probe}" for c in bad))
    else:
        lines.append("result: ok (no selected device is critical)")
    if any(c.device == "central" for c in checks):
        lines.append("the central is reported but never fails the check; --no-central leaves it out")
    return "\n".join(lines)


def run_device_check(config: KioskConfig, *, as_json: bool, central: bool, out: TextIO) -> int:
    """Print the report; 0 when no selected device is critical, else 1."""
    checks = check_devices(config, central=central)
    if as_json:
        report = {"ok": not failing(checks), "devices": [c.as_json() for c in checks]}
        out.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(format_table(checks) + "\n")
    return 1 if failing(checks) else 0
