"""The demo's year-card: card and PSAM images made with the demo central's issuer keys, and the
card journey played headless through a real pcscd (the card and PSAM emulators in vpcd's two slots).

The images are made in-process (central.demo.write_demo_card_images over the demo's database and
secrets folder: only the demo launcher imports central).  Headless, the kiosk's card reader and PSAM
reader are pcscd's two virtual readers; where pcscd or vpcd cannot run the card journey is listed
with the reason.  With a window the kiosk answers the same images in-process (``card.reader =
"sim"``): the dev panel's card switch puts the demo card on the reader.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEMO_CARD = "active"  # the demo card the journeys use: a 年卡 of 10 visits, sold and active
READY_TIMEOUT_S = 10.0


@dataclass
class CardParts:
    """The demo's card images and, headless, the pcscd and emulators that serve them."""

    images: dict[str, Path]
    problem: str = ""  # why the card journey cannot run through pcscd ("" when it can)
    pcscd: Any = None  # devices.sim.card_emulator.PcscdProcess (stopped only if started here)
    rig: Any = None  # devices.sim.yearcard.YearCardRig (the PSAM inserted, the card not yet)
    overrides: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        if self.rig is not None:
            self.rig.card.remove()
            self.rig.psam.remove()
        if self.pcscd is not None:
            self.pcscd.stop()


def card_images(db_url: str, central_workdir: Path, folder: Path) -> dict[str, Path]:
    """The demo cards' and the demo kiosk's PSAM images, with the demo central's issuer keys."""
    from central.config import Settings
    from central.demo import write_demo_card_images
    from central.service import Central

    central = Central.open(Settings(db_url=db_url, secrets_dir=central_workdir / "secrets"))
    try:
        return write_demo_card_images(central, folder)
    finally:
        central.engine.dispose()


def windowed_overrides(images: dict[str, Path]) -> dict[str, Any]:
    """A windowed demo answers the images in-process: the dev panel's card switch puts the demo card on."""
    return {"card.reader": "sim", "card.sim_psam_image": str(images["psam"]),
            "card.sim_card_image": str(images[DEMO_CARD])}


def missing_pcsc_parts() -> str:
    """Why pcscd with the virtual reader cannot serve the demo's cards here ("" when it can)."""
    from devices.sim.card_emulator import VPCD_DRIVER, PcscdProcess

    if shutil.which("pcscd") is None and not Path("/usr/sbin/pcscd").exists():
        return "pcscd is not installed (apt-get install pcscd)"
    if not VPCD_DRIVER.exists():
        return "the virtual reader driver is not installed (apt-get install vsmartcard-vpcd)"
    if importlib.util.find_spec("smartcard") is None:
        return "pyscard is not installed (pip install pyscard)"
    if PcscdProcess.running_pid() is None and os.geteuid() != 0:
        return "pcscd is not running and starting it needs root"
    return ""


def start_pcsc_parts(images: dict[str, Path], log_dir: Path) -> CardParts:
    """pcscd (a running one, or one started here), the card and PSAM emulators, the PSAM inserted."""
    parts = CardParts(images, problem=missing_pcsc_parts())
    if parts.problem:
        return parts
    from devices.card_reader import list_readers
    from devices.sim.card_emulator import VIRTUAL_READER, PcscdError, PcscdProcess
    from devices.sim.yearcard import PSAM_READER, YearCardRig

    try:
        if PcscdProcess.running_pid() is None:
            log_dir.mkdir(parents=True, exist_ok=True)
            parts.pcscd = PcscdProcess(log_path=log_dir / "pcscd.log")
            parts.pcscd.start()
        if not _until(lambda: {VIRTUAL_READER, PSAM_READER} <= set(list_readers()), READY_TIMEOUT_S):
            raise PcscdError(f"pcscd shows no {VIRTUAL_READER!r} and {PSAM_READER!r} (is vsmartcard-vpcd set up?)")
        parts.rig = YearCardRig.from_images(images[DEMO_CARD], images["psam"], auto_reconnect=False)
        parts.rig.psam.insert()
    except (PcscdError, OSError) as exc:
        parts.stop()
        parts.rig = parts.pcscd = None
        parts.problem = f"pcscd or vpcd cannot run here: {exc}"
        return parts
    parts.overrides = {"card.reader": "pcsc", "card.reader_name_pattern": VIRTUAL_READER,
                       "card.psam_reader_name_pattern": PSAM_READER, "card.poll_s": 0.2}
    return parts


def _until(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def _shown(driver: Any, widget_id: str) -> bool:
    from kiosk.ui_driver import UiDriverError

    try:
        driver.find(widget_id)
    except UiDriverError:
        return False
    return True


def card_journey(driver: Any, runtime: Any, record: Any, parts: CardParts, showing_id: str, snap: Any,
                 step_timeout_s: float) -> None:
    """Card on the reader, its view, redeem a showing for 2 people (best available), confirm, the
    debit, the tickets printed, done; the card taken away."""
    if parts.problem:
        raise RuntimeError(f"the year-card journey cannot run: {parts.problem}")
    flow = runtime.card_flow
    if flow is None:
        raise RuntimeError("the year-card journey is off: the kiosk found no PSAM")
    driver.wait_for("home", step_timeout_s)
    snap("")
    parts.rig.card.insert()
    driver.wait_for(lambda: driver.current_screen_name in ("card.card", "card.refused"), step_timeout_s)
    if driver.current_screen_name == "card.refused":
        snap("refused")
        raise RuntimeError("the kiosk refused the card: " + " / ".join(driver.visible_texts()[:4]))
    driver.wait_for(lambda: driver.is_enabled("redeem"), step_timeout_s)
    snap("card")
    driver.tap("redeem")
    button = f"showing_{showing_id}"
    driver.wait_for(lambda: driver.current_screen_name == "card.showings" and _shown(driver, button),
                    step_timeout_s)
    snap("showings")
    driver.tap(button)
    driver.wait_for("card.people", step_timeout_s)
    driver.tap("add_person")
    snap("people")
    driver.tap("next")
    driver.wait_for(lambda: driver.current_screen_name == "card.seats" and driver.is_enabled("best"),
                    step_timeout_s)
    driver.tap("best")
    driver.wait_for(lambda: driver.is_enabled("next"), step_timeout_s)
    snap("seats")
    driver.tap("next")
    driver.wait_for("card.confirm", step_timeout_s)
    driver.wait_for(lambda: driver.is_enabled("confirm"), step_timeout_s)
    snap("confirm")
    driver.tap("confirm")
    driver.wait_for(lambda: driver.current_screen_name in ("card.done", "card.refused"), step_timeout_s)
    snap("done")
    state = flow.state
    if driver.current_screen_name != "card.done":
        raise RuntimeError("the redemption did not finish: " + " / ".join(driver.visible_texts()[:4]))
    record.tickets = state.printed
    parts.rig.card.remove()  # the patron takes the card and the tickets
    driver.tap("finish")
    driver.wait_for("home", step_timeout_s)
    if state.printed != 2:
        raise RuntimeError(f"{state.printed} of 2 tickets printed")
