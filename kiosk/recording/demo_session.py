"""`kiosk record --demo --out DIR`: the headless demo journeys, recorded, on simulated devices.

The demo's own journeys (kiosk.demo) play on a local central and the virtual printer while
the recorder writes the session to DIR; the central's files, the kiosk's journal and the
printed tickets go to DIR/work.  The session is encrypted with the key of the *given*
configuration (recording.key_file), so `kiosk replay DIR` with that configuration reads it.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
from pathlib import Path

from kiosk import demo
from kiosk.config import KioskConfig

log = logging.getLogger(__name__)


def record_demo(base_config: KioskConfig, out: Path) -> int:
    from central.process import CentralStartError, free_port, launch_central

    out = out.resolve()
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        central = launch_central(f"sqlite:///{work / 'central' / 'central.db'}", work / "central")
    except CentralStartError as exc:
        print(f"kiosk record: the local central did not start: {exc}", file=sys.stderr)
        return 1
    try:
        config = demo._demo_config(base_config, work, central.base_url, central.kiosk_credential_file, free_port())
        # The demo's settings keep this configuration's recording section (its key above all).
        config = dataclasses.replace(config, recording=base_config.recording)
        return _play(config, central.demo, out, work)
    finally:
        central.stop()


def _play(config: KioskConfig, orders: dict[str, object], out: Path, work: Path) -> int:
    from kiosk.runner import KioskRuntime
    from kiosk.ui_driver import UiDriver

    runtime = KioskRuntime(config, injected_camera=True)
    errors: list[str] = []
    try:
        runtime.recorder.start(float("inf"), out, from_start=True)
        runtime.start()
        runtime.app.start_headless()
        driver = UiDriver(runtime.app)
        driver.wait_for(lambda: runtime.app.availability_now.can_pick_up, demo.STEP_TIMEOUT_S)
        screens = work / "screens"
        all_orders: dict[str, dict[str, str]] = orders["orders"]  # type: ignore[assignment]
        code_order, qr_order = all_orders["group"], all_orders["ready"]
        journeys = [
            ("code", lambda record: demo._code_journey(driver, runtime, record, code_order, screens)),
            ("qr", lambda record: demo._qr_journey(driver, runtime, record, qr_order, screens)),
        ]
        for kind, play in journeys:
            record = demo.JourneyRecord(kind, "")
            try:
                play(record)
            except Exception as exc:  # reported; the next journey still runs
                log.exception("demo journey %s failed", kind)
                errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            driver.wait_for(lambda: runtime.host.active is None, demo.STEP_TIMEOUT_S)
        runtime.app.stop_headless()
    finally:
        runtime.stop()  # stops the recorder first: the session is complete on disk
    print(f"record: demo journeys played, {len(errors)} errors", file=sys.stderr)
    for error in errors:
        print(f"  {error}", file=sys.stderr)
    print(f"session recorded in {out}")
    return 0 if not errors else 1
