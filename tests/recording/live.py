"""A kiosk in service for recording tests: the real runtime on a real central and the virtual printer.

Its services run on a :class:`VirtualClock` that only the test moves, so a recording's limits
(its time, one kept frame a second) are crossed by moving the clock, never by waiting.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from central.process import free_port
from kiosk import demo
from kiosk.clock import VirtualClock
from kiosk.config import DEMO_CONFIG_FILE, KioskConfig, load_config
from kiosk.recording.replay import ReplayOptions, ReplayResult, load_for_replay, replay
from kiosk.recording.session import Session, load_key, read_session
from kiosk.runner import KioskRuntime
from kiosk.services import ServiceHooks
from kiosk.ui_driver import UiDriver
from tests.support.central_server import RunningCentral

STEP_TIMEOUT_S = 20.0


def kiosk_config(central: RunningCentral, work: Path, **settings: Any) -> KioskConfig:
    """The demo kiosk's configuration on ``central``, with ``settings`` ("section.key": value)."""
    base = load_config(DEMO_CONFIG_FILE, {"recording.key_file": str(work / "recording.key"),
                              "recording.dir": str(work / "recordings"), **settings})
    config = demo._demo_config(base, work, central.base_url, central.kiosk_credential_file, free_port())
    return dataclasses.replace(config, recording=base.recording)


@dataclasses.dataclass
class LiveKiosk:
    runtime: KioskRuntime
    driver: UiDriver
    clock: VirtualClock
    config: KioskConfig

    def advance(self, seconds: float) -> None:
        self.clock.set_elapsed(self.clock.elapsed + seconds)

    def tick(self) -> None:
        """The kiosk's one-second timer fires (the app does not tick by itself here)."""
        self.runtime.app.tick()
        self.driver.pump(1)

    def read(self, folder: Path) -> Session:
        return read_session(folder, load_key(Path(self.config.recording.key_file)))


@contextmanager
def live_kiosk(central: RunningCentral, work: Path, **settings: Any) -> Iterator[LiveKiosk]:
    config = kiosk_config(central, work, **settings)
    clock = VirtualClock(datetime.now(UTC))
    runtime = KioskRuntime(config, injected_camera=True, hooks=ServiceHooks(clock=clock), self_ticking=False)
    try:
        runtime.start()
        runtime.app.start_headless()
        kiosk = LiveKiosk(runtime, UiDriver(runtime.app), clock, config)
        kiosk.tick()
        kiosk.driver.wait_for(lambda: runtime.app.availability_now.can_pick_up, STEP_TIMEOUT_S)
        yield kiosk
    finally:
        runtime.app.stop_headless()  # the window stays for the next app of this test process
        runtime.stop()


def replay_folder(folder: Path, config: KioskConfig, out: Path, **options: Any) -> ReplayResult:
    session = load_for_replay(folder, config, None, force=False)
    return replay(session, config, ReplayOptions(out_dir=out, speed=math.inf, screenshots=False, **options))
