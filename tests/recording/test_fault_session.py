"""A fault recorded on the live simulators replays: paper out after ticket 2 of 4 with the camera unplugged.

The real kiosk runtime records itself (as `kiosk record` does) against a real central over HTTP and the
virtual printer on TCP; the faults come from a devices.sim.faults script.  The camera's loss reaches the
session as a health change the monitor saw, and the replay feeds it back instead of probing a camera.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devices.sim.faults import FaultRunner, FaultScript, FaultTargets
from tests.central.kiosk_api import new_order
from tests.recording.live import STEP_TIMEOUT_S, live_kiosk, replay_folder
from tests.support.central_server import RunningCentral

pytestmark = [pytest.mark.ui]


@pytest.fixture(scope="module")
def central(sqlite_central: RunningCentral) -> RunningCentral:
    return sqlite_central  # the shared one from tests/conftest.py


def test_recorded_paper_out_with_the_camera_unplugged_replays_and_matches(central: RunningCentral,
                                                                          tmp_path: Path) -> None:
    order = new_order(central, seat_count=4)
    with live_kiosk(central, tmp_path) as kiosk:
        runtime, services = kiosk.runtime, kiosk.runtime.services
        assert runtime.virtual_printer is not None and services.camera_frames is not None
        folder = runtime.recorder.start()
        assert folder is not None
        script = FaultScript.parse({"step": [{"at": 0, "do": "camera.unplug"},
                                             {"at": 0, "do": "printer.paper_out_after", "tickets": 2}]})
        FaultRunner(script, FaultTargets(printer=runtime.virtual_printer, camera=services.camera_frames)).start()
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while not (services.scanner is not None and services.scanner.health().critical):
            assert time.monotonic() < deadline, "the scanner never saw the camera go"
            time.sleep(0.02)
        kiosk.advance(5)
        services.monitor_round()  # what the monitor thread does every few seconds
        kiosk.tick()
        assert not runtime.app.availability_now.can_scan and runtime.app.availability_now.can_pick_up

        driver = kiosk.driver
        driver.tap("collect_button")
        driver.wait_for("pickup.enter_code", STEP_TIMEOUT_S)
        driver.type_digits(order["serial"] + order["verification"])
        driver.tap("submit")
        driver.wait_for("pickup.review", STEP_TIMEOUT_S)
        driver.wait_for(lambda: driver.is_enabled("confirm"), STEP_TIMEOUT_S)
        driver.tap("confirm")
        driver.wait_for("pickup.done", STEP_TIMEOUT_S)
        state = runtime.flow.state
        assert (state.printed, state.owed, state.in_doubt) == (2, 2, 0)
        kiosk.advance(2)
        kiosk.tick()
        runtime.recorder.stop()
        session = kiosk.read(folder)
        config = kiosk.config

    health = [(e.data["device"], e.data["level"], e.data["reason"]) for e in session.of_kind("health")]
    assert ("camera", "critical", "camera_lost") in health
    assert [e.data["screen"] for e in session.of_kind("screen")][-1] == "pickup.done"
    result = replay_folder(folder, config, tmp_path / "replay")
    assert result.match, result.difference.describe() if result.difference else result.notes
    assert result.counts["health"] == len(health) and len(result.tickets) == 2
    assert result.screens[-1] == "pickup.done"
