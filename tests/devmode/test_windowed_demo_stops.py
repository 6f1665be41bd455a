"""Ctrl+C (and SIGTERM) stop the windowed demo (`kiosk demo` with a window, dev mode).

The demo is started as a launcher script or a background job starts it: such a shell hands its
children SIGINT ignored, and Python then never turns Ctrl+C into KeyboardInterrupt.  The kiosk
takes both signals itself and stops at its next frame.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.shared_data import REPO_ROOT

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
MONITOR_WAIT_S = 8.0


def _as_a_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a non-interactive shell does for `cmd &`


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_windowed_demo_stops_on_ctrl_c_and_sigterm(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
           "SDL_VIDEODRIVER": "offscreen", "KIVY_NO_ARGS": "1",
           "KIVY_HOME": str(tmp_path / "kivy-home")}
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        # Its own process group, as a terminal's foreground job: Ctrl+C reaches the kiosk and its central.
        demo = subprocess.Popen([sys.executable, "-m", "kiosk", "demo", "--out", str(tmp_path / "demo")],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_as_a_background_job)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Start application main loop" not in log.read_text(errors="replace"):
            assert demo.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the windowed demo did not start"
            time.sleep(0.2)
        time.sleep(MONITOR_WAIT_S)  # the window is up and the monitor has run a round or two
        os.killpg(demo.pid, sig)
        try:
            code = demo.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{sig.name} did not stop the windowed demo:\n" + log.read_text(errors="replace")[-3000:])
        assert code == 0, log.read_text(errors="replace")[-3000:]
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "stopping the kiosk" in text
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
