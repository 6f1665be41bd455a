"""`kiosk demo`: the kiosk on a local central (SQLite, demo orders) and simulated devices.

With a screen it opens the kiosk window and prints the demo pickup codes.  Headless it plays
the demo journeys through the real screens (simulated touches, camera frames holding the
order's QR code, a year-card through pcscd, a lost-ticket recovery by face with frames of a live
person made from a photo: kiosk.demo_recovery), saves a screenshot of every screen and the
virtual printer's ticket images, writes ``summary.json`` and names the folder on its last line.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.sim.qr_frames import qr_frame
from devices.yearcard.profile import mask_card_number
from kiosk.config import KioskConfig, load_config

log = logging.getLogger(__name__)

STEP_TIMEOUT_S = 20.0


@dataclass
class JourneyRecord:
    kind: str  # "code" | "qr" | "card" | "recovery"
    order: str  # the order collected; for "card", the card's number, masked
    screens: list[str] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)
    tickets: int = 0
    ticket_images: list[str] = field(default_factory=list)
    error: str = ""
    verified_by: str = ""  # "recovery": "face" or "sms"
    old_code: str = ""  # "recovery": what the pickup journey said to the order's old code afterwards

    def as_json(self) -> dict[str, Any]:
        data = {"kind": self.kind, "order": self.order, "screens": self.screens, "screenshots": self.screenshots,
                "tickets": self.tickets, "ticket_images": self.ticket_images, "error": self.error}
        if self.kind == "recovery":
            data.update(verified_by=self.verified_by, old_code=self.old_code)
        return data


def _demo_config(base: KioskConfig, out_dir: Path, central_url: str, credential_file: Path,
                 printer_port: int, card: dict[str, Any] | None = None) -> KioskConfig:
    return load_config(None, {
        **_flatten(base),
        "central.url": central_url,
        "central.credential_file": str(credential_file),
        "kiosk.data_dir": str(out_dir / "kiosk"),
        "printer.kind": "network",
        "printer.host": "127.0.0.1",
        "printer.port": printer_port,
        "printer.simulate": True,
        "printer.simulator_out_dir": str(out_dir / "tickets"),
        **(card or {}),
    })


def _flatten(config: KioskConfig) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section_name in ("kiosk", "central", "printer", "camera", "card", "pickup", "yearcard", "recovery"):
        section = getattr(config, section_name)
        for key, value in vars(section).items():
            flat[f"{section_name}.{key}"] = value
    return flat


def run_demo(base_config: KioskConfig, out_dir: Path, headless: bool) -> int:
    from central.process import CentralStartError, free_port, launch_central
    from kiosk import demo_card, demo_recovery

    out_dir = out_dir.resolve()
    # A demo starts from scratch: last run's orders are collected, its journal would recover them.
    for leftover in ("central", "kiosk", "tickets", "screens", "cards"):
        shutil.rmtree(out_dir / leftover, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    recovery = demo_recovery.plan()
    if not recovery.face:
        demo_recovery.say_sms_path(recovery.why_sms)
    db_url = f"sqlite:///{out_dir / 'central' / 'central.db'}"
    try:
        # The demo recovery account's face is enrolled from one photo (the camera shows another).
        central = launch_central(db_url, out_dir / "central", face_image=recovery.enrol_photo)
    except CentralStartError as exc:
        if not recovery.face:
            print(f"kiosk demo: the local central did not start: {exc}", file=sys.stderr)
            return 1
        # The face could not be enrolled (no face in the photo, no face models): the rest still plays.
        recovery = demo_recovery.RecoveryPlan(why_sms=f"the demo face was not enrolled ({exc})")
        demo_recovery.say_sms_path(recovery.why_sms)
        try:
            central = launch_central(db_url, out_dir / "central")
        except CentralStartError as again:
            print(f"kiosk demo: the local central did not start: {again}", file=sys.stderr)
            return 1
    parts: demo_card.CardParts | None = None
    try:
        images = demo_card.card_images(central.db_url, central.workdir, out_dir / "cards")
        if headless:
            parts = demo_card.start_pcsc_parts(images, out_dir / "pcscd")
            config = _demo_config(base_config, out_dir, central.base_url, central.kiosk_credential_file, free_port(),
                                  parts.overrides)
            return _play_headless(config, central.demo, out_dir, parts, recovery, central.sms_spool)
        _print_codes(central.demo)
        from kiosk.runner import run_kiosk

        # With a window there is no scripted camera: the dev panel's "Show a QR" holds up the demo
        # orders' QR codes in turn, its card switch puts the demo year-card on the reader, and its
        # printer and network switches show the refusals.
        config = _demo_config(base_config, out_dir, central.base_url, central.kiosk_credential_file, free_port(),
                              demo_card.windowed_overrides(images))
        config = load_config(None, {**_flatten(config), "kiosk.dev_mode": True})
        return run_kiosk(config, dev_qr_payloads=[order["qr_token"] for order in central.demo["orders"].values()])
    finally:
        if parts is not None:
            parts.stop()
        central.stop()


def _print_codes(demo: dict[str, Any]) -> None:
    print("Demo pickup codes (serial + verification):", file=sys.stderr)
    for name, order in demo["orders"].items():
        print(f"  {name:14} {order['serial']} {order['verification']}  seats {','.join(order['seats'])}",
              file=sys.stderr)
    accounts = demo.get("recovery", {})
    if accounts:
        print("Demo lost-ticket accounts (\"Lost your ticket?\"; the SMS codes land in central/sms-spool.jsonl): "
              + ", ".join(f"{name} {account['phone']}" for name, account in accounts.items()), file=sys.stderr)
    card = demo["cards"]["active"]
    print(f"Demo year-card: the dev panel's card switch puts card {mask_card_number(card['card_number'])} "
          f"({card['visits']} visits) on the reader; redeem a showing on it, switch it off to take it away.",
          file=sys.stderr)


def _play_headless(config: KioskConfig, demo: dict[str, Any], out_dir: Path, parts: Any, recovery: Any,
                   sms_spool: Path | None) -> int:
    from kiosk import demo_card
    from kiosk.runner import KioskRuntime
    from kiosk.ui_driver import UiDriver

    runtime = KioskRuntime(config, injected_camera=True)
    errors: list[str] = []
    journeys: list[JourneyRecord] = []
    try:
        runtime.start()
        runtime.app.start_headless()
        driver = UiDriver(runtime.app)
        # The idle screen shows "out of service" until the first health round saw the central.
        driver.wait_for(lambda: runtime.app.availability_now.can_pick_up, STEP_TIMEOUT_S)
        screens_dir = out_dir / "screens"
        code_order = demo["orders"]["group"]
        qr_order = demo["orders"]["ready"]
        plays: list[tuple[JourneyRecord, Callable[[JourneyRecord], None]]] = [
            (JourneyRecord("code", code_order["order_id"]),
             lambda record: _code_journey(driver, runtime, record, code_order, screens_dir)),
            (JourneyRecord("qr", qr_order["order_id"]),
             lambda record: _qr_journey(driver, runtime, record, qr_order, screens_dir)),
            # The year-card through pcscd: card on the reader, redeem today's 2D showing for 2, tickets.
            (JourneyRecord("card", mask_card_number(demo["cards"][demo_card.DEMO_CARD]["card_number"])),
             lambda record: demo_card.card_journey(
                 driver, runtime, record, parts, demo["showings"]["soon"]["showing_id"],
                 lambda label: _snap(driver, record, screens_dir, label), STEP_TIMEOUT_S)),
            # Lost tickets: recovered by face (or the SMS code), printed; the old code refused afterwards.
            (JourneyRecord("recovery", demo["recovery"]["face"]["order_ids"][0]),
             lambda record: _recovery_journey(driver, runtime, record, demo, recovery, sms_spool, screens_dir)),
        ]
        for record, play in plays:
            jobs_before = len(runtime.virtual_printer.jobs) if runtime.virtual_printer else 0
            try:
                play(record)
            except Exception as exc:  # reported in the summary; the next journey still runs
                record.error = f"{type(exc).__name__}: {exc}"
                errors.append(f"{record.kind}: {record.error}")
                if record.kind == "card" and parts.problem:  # no pcscd here: said in one line, no traceback
                    log.warning("demo journey card not played: %s", parts.problem)
                else:
                    log.exception("demo journey %s failed", record.kind)
                    _snap(driver, record, screens_dir, "failed")
            if runtime.virtual_printer is not None:
                new_jobs = runtime.virtual_printer.jobs[jobs_before:]
                record.ticket_images = [str(job.png_path) for job in new_jobs if job.png_path is not None]
            journeys.append(record)
            driver.wait_for(lambda: runtime.host.active is None, STEP_TIMEOUT_S)
        runtime.app.stop_headless()
    finally:
        runtime.stop()
    printed = sum(j.tickets for j in journeys)
    summary = {
        "journeys": [j.as_json() for j in journeys],
        "tickets_printed": printed,
        "ticket_images": sorted(str(p) for p in (out_dir / "tickets").glob("*.png")),
        "errors": errors,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"demo: {len(journeys)} journeys, {printed} tickets printed, {len(errors)} errors", file=sys.stderr)
    print(f"screenshots and printed tickets are in {out_dir}")
    return 0 if not errors else 1


def _snap(driver: Any, record: JourneyRecord, screens_dir: Path, label: str) -> None:
    name = driver.current_screen_name
    record.screens.append(name)
    index = len(record.screenshots) + 1
    path = driver.screenshot(screens_dir / f"{record.kind}-{index:02d}-{label or name}.png")
    record.screenshots.append(str(path))


def _recovery_journey(driver: Any, runtime: Any, record: JourneyRecord, demo: dict[str, Any], recovery: Any,
                      sms_spool: Path | None, screens_dir: Path) -> None:
    from kiosk import demo_recovery

    def snap(label: str) -> None:
        _snap(driver, record, screens_dir, label)

    demo_recovery.recovery_journey(driver, runtime, record, demo, recovery, sms_spool, snap, STEP_TIMEOUT_S)
    old_order = next(order for order in demo["orders"].values() if order["order_id"] == record.order)
    record.old_code = "refused: " + demo_recovery.old_code_refused(driver, old_order, snap, STEP_TIMEOUT_S)


def _code_journey(driver: Any, runtime: Any, record: JourneyRecord, order: dict[str, Any], screens_dir: Path) -> None:
    driver.wait_for("home", STEP_TIMEOUT_S)
    _snap(driver, record, screens_dir, "")
    driver.tap("collect_button")
    driver.wait_for("pickup.enter_code", STEP_TIMEOUT_S)
    driver.type_digits(order["serial"] + order["verification"])
    _snap(driver, record, screens_dir, "enter_code")
    driver.tap("submit")
    _review_print_done(driver, runtime.flow, record, screens_dir)


def _qr_journey(driver: Any, runtime: Any, record: JourneyRecord, order: dict[str, Any], screens_dir: Path) -> None:
    driver.wait_for("home", STEP_TIMEOUT_S)
    _snap(driver, record, screens_dir, "")
    assert runtime.services.camera_frames is not None
    runtime.services.camera_frames.push(qr_frame(order["qr_token"]))
    _review_print_done(driver, runtime.flow, record, screens_dir)


def _review_print_done(driver: Any, flow: Any, record: JourneyRecord, screens_dir: Path) -> None:
    driver.wait_for(lambda: driver.current_screen_name in ("pickup.review", "pickup.refused"), STEP_TIMEOUT_S)
    if driver.current_screen_name == "pickup.refused":
        _snap(driver, record, screens_dir, "refused")
        raise RuntimeError("the kiosk refused the order: " + " / ".join(driver.visible_texts()[:4]))
    driver.wait_for(lambda: driver.is_enabled("confirm"), STEP_TIMEOUT_S)
    _snap(driver, record, screens_dir, "review")
    driver.tap("confirm")
    driver.wait_for(lambda: driver.current_screen_name in ("pickup.printing", "pickup.done"), STEP_TIMEOUT_S)
    if driver.current_screen_name == "pickup.printing":  # a fast printer may finish before a frame is drawn
        _snap(driver, record, screens_dir, "printing")
    driver.wait_for("pickup.done", STEP_TIMEOUT_S)
    _snap(driver, record, screens_dir, "done")
    state = flow.state
    record.tickets = state.printed
    if state.owed or state.in_doubt:
        raise RuntimeError(f"{state.owed} tickets still owed, {state.in_doubt} in doubt")
    # Back to idle for the next journey, as a person walking away would leave it.
    started = time.monotonic()
    driver.tap("finish")
    driver.wait_for("home", STEP_TIMEOUT_S - (time.monotonic() - started))


__all__ = ["JourneyRecord", "qr_frame", "run_demo"]  # qr_frame: where tests and benches have always found it
