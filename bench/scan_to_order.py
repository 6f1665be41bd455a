"""Scan to order on screen: from a camera frame holding an order's QR code to the review
screen showing that order, through the real kiosk app (offscreen), the real scanner thread
and the local central over HTTP.

    python -m bench.scan_to_order [--rounds 40] [--db URL]

Prints a table (ms): p50, p95, max over the rounds.  Each round pushes one frame into the
simulated camera, waits for the review screen, then cancels back to idle.  The measurement
includes the event-loop polling of the UI driver (about one frame, a few ms).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.stats import percentile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scan_to_order")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--db", default=None, help="central database URL (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    work = Path(tempfile.mkdtemp(prefix="bench-scan-"))

    from central.process import free_port, launch_central
    from devices.sim.qr_frames import qr_frame
    from kiosk.config import DEMO_CONFIG_FILE, load_config
    from kiosk.runner import KioskRuntime
    from kiosk.ui_driver import UiDriver

    central = launch_central(args.db or f"sqlite:///{work / 'central.db'}", work / "central")
    config = load_config(DEMO_CONFIG_FILE, {
        "central.url": central.base_url,
        "central.credential_file": str(central.kiosk_credential_file),
        "kiosk.data_dir": str(work / "kiosk"),
        "printer.port": free_port(),
        "printer.simulator_out_dir": str(work / "tickets"),
        "camera.dedupe_s": 0.0,
    })
    runtime = KioskRuntime(config, injected_camera=True)
    samples: list[float] = []
    try:
        runtime.start()
        runtime.app.start_headless()
        driver = UiDriver(runtime.app)
        driver.wait_for(lambda: runtime.app.availability_now.can_pick_up, 20)
        frame = qr_frame(central.demo["orders"]["group"]["qr_token"])
        frames = runtime.services.camera_frames
        assert frames is not None
        for _ in range(args.rounds):
            driver.wait_for("home", 10)
            started = time.perf_counter()
            frames.push(frame)
            driver.wait_for("pickup.review", 10)
            samples.append((time.perf_counter() - started) * 1000)
            driver.tap("nav_cancel")
        runtime.app.stop_headless()
    finally:
        runtime.stop()
        central.stop()
    samples.sort()
    print(f"scan to order on screen, {len(samples)} rounds, local central on {args.db or 'SQLite'}")
    print(f"{'':24}{'p50':>8}{'p95':>8}{'max':>8}")
    print(f"{'frame -> review (ms)':24}{percentile(samples, 50):8.1f}{percentile(samples, 95):8.1f}{samples[-1]:8.1f}")
    sys.stdout.flush()
    os._exit(0)  # skip zxing-cpp's exit-time leak report


if __name__ == "__main__":
    main()
