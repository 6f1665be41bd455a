"""Face check benchmark: the time of one live attempt, and the frames per second the UI keeps meanwhile.

    python -m bench.face_liveness [--json] [--photo FILE] [--attempts N] [--ui-seconds S]

1. Attempt time, on one core: the frames of a simulated live person doing each of the four
   challenges (devices/sim/live_face.py, made beforehand, not timed) go through the analysis
   (downscale, HOG detector, 68 landmarks), the liveness check and its encodings, at the camera's
   640x480 and 1280x720.  Per frame and per attempt (the sum over its frames; a real attempt also
   waits for the person, which is not counted here).  The QR decode the camera skips while a face
   check runs is timed on the same frames for comparison.
2. UI frames per second: a Kivy app (offscreen) redraws a moving rectangle every frame for S
   seconds with no check, then S seconds while a CameraFaceChecker analyses the frames a real
   CameraQrScanner takes from a simulated camera fed at 15 fps; the whole process on one core.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bench.face import pin_to_one_core
from bench.stats import percentile, summary_ms

DEFAULT_PHOTO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces" / "obama_1.jpg"
CHALLENGES = ("blink,turn_left", "turn_left,blink", "blink,turn_right", "turn_right,blink")
CAMERA_FPS = 15.0


def attempt_times(photo: Path, size: tuple[int, int], attempts: int) -> dict[str, object]:
    from devices.face import FaceAnalyser
    from devices.face_api import Challenge, FaceCheckResult
    from devices.liveness import LivenessCheck
    from devices.qr import decode_frame
    from devices.sim.live_face import LiveFace

    analyser = FaceAnalyser()
    live = LiveFace.from_file(str(photo), size=size, analyser=analyser)
    frame_ms: list[float] = []
    attempt_ms: list[float] = []
    decode_ms: list[float] = []
    outcomes: dict[str, int] = {}
    frames_per_attempt: list[int] = []
    encodes = 0
    for text in itertools.islice(itertools.cycle(CHALLENGES), attempts):
        challenge = Challenge.parse(text)
        frames = list(live.live(challenge))
        check = LivenessCheck(challenge, 0.0)
        total = 0.0
        calls = 0

        def encode() -> object:
            nonlocal calls
            calls += 1
            return analyser.encode_last()

        result = None
        for index, frame in enumerate(frames):
            started = time.perf_counter()
            event = check.feed(index / 10, analyser.analyse(frame), encode)  # type: ignore[arg-type]
            spent = (time.perf_counter() - started) * 1000
            frame_ms.append(spent)
            total += spent
            if isinstance(event, FaceCheckResult):
                result = event
                break
        for frame in frames[:5]:
            started = time.perf_counter()
            decode_frame(frame)
            decode_ms.append((time.perf_counter() - started) * 1000)
        analyser.forget()
        outcome = result.outcome.value if result is not None else "unfinished"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        attempt_ms.append(total)
        frames_per_attempt.append(result.frames if result is not None else len(frames))
        encodes += calls
    return {
        "size": f"{size[0]}x{size[1]}",
        "attempts": attempts,
        "outcomes": outcomes,
        "frames_per_attempt": round(sum(frames_per_attempt) / len(frames_per_attempt), 1),
        "encodes_per_attempt": round(encodes / attempts, 1),
        "frame": summary_ms(frame_ms),
        "attempt": summary_ms(attempt_ms),
        "qr_decode": summary_ms(decode_ms),
    }


def ui_fps(photo: Path, seconds: float, encoder_process: bool = True) -> dict[str, object]:
    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.graphics import Color, Rectangle
    from kivy.uix.widget import Widget

    from devices.camera import CameraConfig, CameraQrScanner, InjectedFrameSource
    from devices.face import FaceAnalyser
    from devices.face_api import Challenge, FaceCheckResult
    from devices.face_check import CameraFaceChecker
    from devices.sim.live_face import LiveFace

    live = LiveFace.from_file(str(photo), analyser=FaceAnalyser())
    challenge = Challenge.parse("blink,turn_left")
    frames = list(live.live(challenge))
    source = InjectedFrameSource(capacity=4)
    scanner = CameraQrScanner(CameraConfig(source="injected", fps=CAMERA_FPS), source=source)
    checker = CameraFaceChecker(scanner, None if encoder_process else FaceAnalyser())
    stop_feeding = threading.Event()
    results: list[str] = []
    phases: dict[str, list[float]] = {"idle": [], "face_check": []}

    def feed() -> None:
        for frame in itertools.cycle(frames):
            if stop_feeding.wait(1.0 / CAMERA_FPS):
                return
            source.push(frame)

    def listener(event: object) -> None:
        if isinstance(event, FaceCheckResult):
            results.append(event.outcome.value)

    class Moving(Widget):
        def __init__(self) -> None:
            super().__init__()
            with self.canvas:
                Color(0.2, 0.6, 0.9)
                self.box = Rectangle(size=(80, 80))

    class FpsApp(App):
        def build(self) -> Widget:
            self.widget = Moving()
            self.phase = "idle"
            self.last = time.perf_counter()
            self.phase_started = self.last
            Clock.schedule_interval(self.tick, 0)
            return self.widget

        def tick(self, _dt: float) -> None:
            now = time.perf_counter()
            phases[self.phase].append(now - self.last)
            self.last = now
            self.widget.box.pos = ((now * 200) % 400, 100)
            if self.phase == "face_check" and not checker.running and not stop_feeding.is_set():
                checker.begin(challenge, listener)  # again and again while the phase lasts
            if now - self.phase_started >= seconds:
                if self.phase == "idle":
                    self.phase, self.phase_started = "face_check", now
                    scanner.start(lambda code: None)
                    threading.Thread(target=feed, daemon=True).start()
                    checker.begin(challenge, listener)
                else:
                    stop_feeding.set()
                    checker.cancel()
                    self.stop()

    encoder = getattr(checker._analyser, "encoder", None)  # the bench waits for its models
    if encoder is not None:
        import numpy as np

        encoder.encode(np.zeros((160, 160, 3), np.uint8), (0, 160, 160, 0))
    FpsApp().run()
    scanner.stop()
    checker.close()
    report: dict[str, object] = {"encoder": "process" if encoder_process else "thread",
                                 "seconds_per_phase": seconds, "checks_ended": len(results),
                                 "outcomes": {o: results.count(o) for o in set(results)},
                                 "frames_analysed_last_check": checker.analysed}
    for phase, gaps in phases.items():
        if phase == "idle":  # the window's first second is its start-up
            elapsed, skip = 0.0, 0
            while skip < len(gaps) and elapsed < 1.0:
                elapsed += gaps[skip]
                skip += 1
            gaps = gaps[skip:]
        report[phase] = {
            "fps": round(len(gaps) / sum(gaps), 1) if gaps else 0.0,
            "frame_gap_p95_ms": round(percentile([g * 1000 for g in gaps], 95), 1),
            "frame_gap_max_ms": round(max(gaps) * 1000, 1) if gaps else 0.0,
            "gaps_over_100ms": sum(1 for g in gaps if g > 0.1),
        }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.face_liveness", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO, help="one photo of one face")
    parser.add_argument("--attempts", type=int, default=8)
    parser.add_argument("--ui-seconds", type=float, default=10.0, help="length of each UI phase (0: skip)")
    parser.add_argument("--encode-in-thread", action="store_true",
                        help="UI phase: encodings on the check's thread instead of the encoder process")
    args = parser.parse_args(argv)
    if not args.photo.is_file():
        print(f"bench.face_liveness: {args.photo} not found", file=sys.stderr)
        return 2
    core = pin_to_one_core()
    result: dict[str, object] = {"pinned": core, "photo": args.photo.name}
    try:
        sizes = ((640, 480), (1280, 720)) if args.attempts > 0 else ()
        result["attempt"] = [attempt_times(args.photo, size, args.attempts) for size in sizes]
        if args.ui_seconds > 0:
            result["ui"] = ui_fps(args.photo, args.ui_seconds, encoder_process=not args.encode_in_thread)
    except ValueError as error:
        print(f"bench.face_liveness: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"one core ({core}), photo {args.photo.name}")
    print(f"{'camera':>9} {'outcomes':<12} {'frames':>6} {'encodes':>7} {'frame p50':>9} {'p95':>6} "
          f"{'attempt p50':>11} {'p95':>6} {'qr p50':>6}   (ms)")
    for row in result["attempt"]:  # type: ignore[attr-defined]
        outcomes = ",".join(f"{k}:{v}" for k, v in row["outcomes"].items())
        print(f"{row['size']:>9} {outcomes:<12} {row['frames_per_attempt']:>6} {row['encodes_per_attempt']:>7} "
              f"{row['frame']['p50_ms']:>9.1f} {row['frame']['p95_ms']:>6.1f} {row['attempt']['p50_ms']:>11.1f} "
              f"{row['attempt']['p95_ms']:>6.1f} {row['qr_decode']['p50_ms']:>6.1f}")
    ui = result.get("ui")
    if isinstance(ui, dict):
        print(f"\nUI (Kivy clock, offscreen), encoder in a {ui['encoder']}, {ui['seconds_per_phase']} s per phase, "
              f"{ui['checks_ended']} checks ended {ui['outcomes']}")
        for phase in ("idle", "face_check"):
            row = ui[phase]
            print(f"  {phase:<10} {row['fps']:>6} fps, frame gap p95 {row['frame_gap_p95_ms']} ms, "
                  f"max {row['frame_gap_max_ms']} ms, gaps over 100 ms: {row['gaps_over_100ms']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
