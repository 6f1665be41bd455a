"""What recording costs the kiosk: time per recorded event by kind, and per pickup end to end.

    python -m bench.recording [--events 2000] [--pickups 20]

Part 1 writes sample events straight into a session (JSON, AES-256-GCM, append, under the lock).
Part 2 runs real pickups by code through KioskServices and the pickup flow (an inline worker, so
the whole pickup runs on this thread; the virtual printer on TCP; a local central over HTTP),
with the recorder off and then on, and prints p50/p95 of each pickup's wall time and of this
thread's CPU time (the printer's and the central's own work are not the kiosk's).  The bench has
no window: it records a tap per key and a screen per step as the app would.  Results are written
down in docs/recording.md, not asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import percentile
from kiosk.config import DEMO_CONFIG_FILE, KioskConfig, load_config
from kiosk.recording.session import Event, SessionHeader, SessionWriter, load_or_create_key

ORDER = {"order": {"order_id": "ord-1", "cinema_id": "c", "cinema_name": "星光影城", "film_title": "流浪地球",
                   "hall_name": "3号厅", "show_start": "2026-11-20T12:00:00+00:00",
                   "show_end": "2026-11-20T14:00:00+00:00", "pickup_opens_at": "2026-11-19T12:00:00+00:00",
                   "tickets": [{"ticket_id": f"tkt-{i}", "row": "7", "seat": str(i), "price_fen": 4500,
                                "status": "available"} for i in range(4)],
                   # A grant as long as a real one (base64url payload and HMAC-SHA256).
                   "claim_grant": "eyJrIjoia2lvc2stMSIsIm8iOiJvcmQtMSIsIngiOjE3OTUwMDAwMDB9."
                                  "c2lnbmF0dXJlLW9mLXRoZS1ncmFudC1ieS1obWFjLXNoYTI1Ng"}}
SAMPLES: dict[str, dict[str, Any]] = {
    "tap": {"widget": "key_7", "pos": [0.6, 0.77], "screen": "enter_code"},
    "timer": {"name": "tick"},
    "printer ask": {"op": "ask", "request": "100401", "answer": "12", "error": None},
    "printer job (240 B)": {"op": "job", "data": "1b40" * 120, "error": None},
    "central lookup": {"method": "POST", "path": "/api/v1/lookup/code", "attempt": 1, "headers": {},
                       "body": {"serial": "100003", "verification": "161803"}, "status": 200, "response": ORDER,
                       "error": None},
}
# Events of one pickup by code with 2 tickets, counted in a recorded demo session.
PICKUP_MIX = {"tap": 15, "timer": 10, "printer ask": 24, "printer job (240 B)": 2, "central lookup": 6}


SHOWING = "show-demo-later-today"
WARM_UP = 2  # pickups per mode that are not counted (connections, imports, first print)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--pickups", type=int, default=20, help="timed pickups per mode (0: skip part 2)")
    args = parser.parse_args()
    event_costs(args.events)
    if args.pickups > 0:
        pickup_costs(args.pickups)


def event_costs(events: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        key = load_or_create_key(Path(folder) / "k")
        writer = SessionWriter(Path(folder) / "s", key, SessionHeader("0", "0", "2026-11-20T10:00:00+00:00"),
                               8 << 20)
        per_kind: dict[str, float] = {}
        print(f"{'event':24} {'median µs':>10} {'bytes':>7}")
        for kind, data in SAMPLES.items():
            times = []
            for index in range(events):
                started = time.perf_counter()
                writer.write(Event(index * 0.01, kind.split()[0], data))
                times.append(time.perf_counter() - started)
            per_kind[kind] = percentile(times, 50)
            size = len(json.dumps(data, ensure_ascii=False).encode())
            print(f"{kind:24} {per_kind[kind] * 1e6:10.1f} {size:7d}")
        writer.close()
        cost = sum(per_kind[kind] * count for kind, count in PICKUP_MIX.items())
        print(f"{'one pickup (mix)':24} {cost * 1e6:10.1f}   ({sum(PICKUP_MIX.values())} events)")


def pickup_costs(pickups: int) -> None:
    from central.process import free_port, launch_central
    from kiosk import demo
    from kiosk.kivy_setup import prepare_kivy

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        prepare_kivy(kivy_home=str(work / "kivy"), quiet=True, max_fps=0)  # the app is built, never shown
        central = launch_central(f"sqlite:///{work / 'central.db'}", work / "central")
        kiosks: dict[str, _BenchKiosk] = {}
        try:
            base = load_config(DEMO_CONFIG_FILE, {"recording.key_file": str(work / "recording.key"),
                                      "recording.dir": str(work / "recordings")})
            for mode in ("off", "on"):
                config = demo._demo_config(base, work / mode, central.base_url, central.kiosk_credential_file,
                                           free_port())
                kiosks[mode] = _BenchKiosk(dataclasses.replace(config, recording=base.recording), mode == "on")
            for index in range(pickups + WARM_UP):  # the two kiosks take turns: drift hits both alike
                for mode, row in (("off", "P"), ("on", "Q")):
                    order = central.cli_json("create-order", "--showing", SHOWING, "--seats",
                                             f"{row}{2 * index + 1},{row}{2 * index + 2}")
                    kiosks[mode].pickup(order, timed=index >= WARM_UP)
        finally:
            events = {mode: kiosk.close() for mode, kiosk in kiosks.items()}
            central.stop()
    print(f"\n{pickups} pickups by code (2 tickets each) per mode, {WARM_UP} more to warm up")
    print(f"{'recording':10} {'p50 ms':>8} {'p95 ms':>8} {'CPU p50 ms':>11} {'CPU p95 ms':>11} {'events':>7}")
    for mode, kiosk in kiosks.items():
        print(f"{mode:10} {percentile(kiosk.latencies, 50) * 1e3:8.1f} {percentile(kiosk.latencies, 95) * 1e3:8.1f} "
              f"{percentile(kiosk.cpu, 50) * 1e3:11.2f} {percentile(kiosk.cpu, 95) * 1e3:11.2f} "
              f"{events[mode] / (pickups + WARM_UP):7.0f}")


class _BenchKiosk:
    """KioskServices and the pickup flow on an inline worker: a whole pickup runs on the caller's thread."""

    def __init__(self, config: KioskConfig, record: bool) -> None:
        from kiosk.flows.runtime import InlineWorker
        from kiosk.runner import KioskRuntime
        from kiosk.services import ServiceHooks

        self.config = config
        self.latencies: list[float] = []
        self.cpu: list[float] = []
        self.runtime = KioskRuntime(config, injected_camera=True, hooks=ServiceHooks(background_threads=False),
                                    worker=lambda _deliver: InlineWorker(), self_ticking=False)
        self._shown = ""
        self.runtime.flow.subscribe(self._screen)
        self.runtime.start()
        if record:
            self.runtime.recorder.start(math.inf)

    def _screen(self, state: Any) -> None:
        """What the app's screen observer records (the bench has no window)."""
        if state.step.value != self._shown:
            self._shown = state.step.value
            self.runtime.recorder.event("screen", screen=self._shown, detail={})

    def pickup(self, order: dict[str, Any], timed: bool) -> None:
        from kiosk.flows.pickup import Step

        flow, recorder = self.runtime.flow, self.runtime.recorder
        started, cpu_started = time.perf_counter(), time.thread_time()
        recorder.event("tap", widget="collect_button", pos=[0.5, 0.4], screen="idle")
        flow.start_code_entry()
        for digit in order["serial"] + order["verification"]:
            recorder.event("tap", widget=f"key_{digit}", pos=[0.6, 0.7], screen="enter_code")
            flow.press_digit(digit)
        flow.submit_code()
        if flow.state.step is not Step.REVIEW:
            raise SystemExit(f"bench: the pickup was refused: {flow.state.refusal}")
        recorder.event("tap", widget="confirm", pos=[0.8, 0.1], screen="review")
        flow.confirm()
        if flow.state.step is not Step.DONE or flow.state.printed != 2:
            raise SystemExit(f"bench: the pickup ended at {flow.state.step.value}, {flow.state.printed} printed")
        flow.reset()
        if timed:
            self.latencies.append(time.perf_counter() - started)
            self.cpu.append(time.thread_time() - cpu_started)

    def close(self) -> int:
        """Stop the kiosk; the number of events its session holds (0 when it did not record)."""
        from kiosk.recording.session import load_key, read_session

        folder = self.runtime.recorder.stop()
        self.runtime.stop()
        if folder is None:
            return 0
        return len(read_session(folder, load_key(Path(self.config.recording.key_file))).events)


if __name__ == "__main__":
    main()
