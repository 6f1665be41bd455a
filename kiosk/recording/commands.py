"""`kiosk record` and `kiosk replay`: the technician's two commands (no Kivy import at parse time)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig

EXIT_MATCH = 0
EXIT_DIVERGED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3


def add_record_and_replay(commands: Any) -> None:
    record = commands.add_parser("record", help="run the kiosk (or, with --demo, the demo journeys) while "
                                 "recording a session for replay on a bench")
    record.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="TOML file (docs/config.md; with --demo it overrides config/demo.toml's keys)")
    record.add_argument("--out", type=Path, required=True, metavar="DIR", help="an empty folder for the session")
    record.add_argument("--demo", action="store_true",
                        help="play the headless demo journeys on simulated devices and a local central, then exit")
    record.add_argument("--headless", action="store_true", help="render offscreen (implied by --demo)")
    replay = commands.add_parser("replay", help="run the kiosk on a recorded session and compare what it does")
    replay.add_argument("session", type=Path, metavar="DIR", help="a session folder (or a scenario .jsonl)")
    replay.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="the kiosk's configuration (its digest must match the session's)")
    replay.add_argument("--speed", type=float, default=None, metavar="N",
                        help="N recorded seconds per second (default: as fast as possible headless, 1 with a window)")
    replay.add_argument("--headless", action="store_true", help="render offscreen (no window)")
    replay.add_argument("--out", type=Path, default=Path("var/replay"), metavar="OUT",
                        help="summary.json, screenshots, ticket images and the replay's own session go here")
    replay.add_argument("--force", action="store_true", help="replay even if the app version or config differs")
    replay.add_argument("--key", type=Path, default=None, metavar="FILE",
                        help="the recording key (default: recording.key_file of the config)")


def run_record_or_replay(args: argparse.Namespace, config: KioskConfig) -> int:
    if args.command == "record":
        return _record(args, config)
    return _replay(args, config)


def _record(args: argparse.Namespace, config: KioskConfig) -> int:
    from kiosk.recording.session import PART_GLOB

    out: Path = args.out
    if out.exists() and any(out.glob(PART_GLOB)):
        print(f"kiosk record: {out} already holds a session; choose another folder", file=sys.stderr)
        return EXIT_USAGE
    if args.demo:
        from kiosk.recording.demo_session import record_demo

        return record_demo(config, out)
    from kiosk.runner import run_kiosk

    code = run_kiosk(config, headless=args.headless, record_to=out)
    print(f"session recorded in {out}")
    return code


def _replay(args: argparse.Namespace, config: KioskConfig) -> int:
    from kiosk.kivy_setup import prepare_kivy

    prepare_kivy(max_fps=0 if args.headless else None)
    from kiosk.recording.replay import ReplayOptions, ReplayRefused, load_for_replay, replay
    from kiosk.recording.session import SessionError

    if args.speed is not None and args.speed <= 0:
        print("kiosk replay: --speed must be positive", file=sys.stderr)
        return EXIT_USAGE
    speed = args.speed if args.speed is not None else (math.inf if args.headless else 1.0)
    try:
        session = load_for_replay(args.session, config, args.key, args.force)
    except ReplayRefused as exc:
        print(f"kiosk replay: refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except SessionError as exc:
        print(f"kiosk replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    options = ReplayOptions(out_dir=args.out, key_path=args.key, speed=speed, force=args.force)
    result = replay(session, config, options)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(result.as_json(), indent=2, ensure_ascii=False),
                                           encoding="utf-8")
    print(f"screens: {' > '.join(result.screens) or '(none)'}")
    print(f"tickets: {len(result.tickets)}" + (f" ({Path(result.tickets[0]).parent})" if result.tickets else ""))
    print(f"errors: {len(result.errors)}")
    for line in result.errors[:20]:
        print(f"  {line}")
    for note in result.notes:
        print(f"note: {note}")
    if result.difference is not None:
        print(result.difference.describe())
        print(f"DIVERGED: the replay differs from the session; details in {args.out / 'summary.json'}")
        return EXIT_DIVERGED
    print(f"MATCH: the replay did what the session recorded; details in {args.out / 'summary.json'}")
    return EXIT_MATCH
