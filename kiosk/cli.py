"""`kiosk` command: run the kiosk, or the demo on simulated devices and a local central."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend_client.masking import MaskingFilter

if TYPE_CHECKING:
    from kiosk.config import KioskConfig

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk", description="Cinema ticket kiosk")
    parser.add_argument("--verbose", "-v", action="store_true", help="log at debug level")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the kiosk on its configured central and devices; refuses "
                              "simulated devices and a plain-HTTP central unless told explicitly")
    run.add_argument("--config", type=Path, default=None, metavar="FILE",
                     help="TOML file (docs/config.md; default: the built-in production defaults)")
    run.add_argument("--headless", action="store_true", help="render offscreen (no window)")
    _add_allowances(run)
    demo = commands.add_parser("demo", help="the kiosk with a local central and simulated devices")
    demo.add_argument("--config", type=Path, default=None, metavar="FILE",
                      help="TOML file (default: config/demo.toml, the simulated devices)")
    demo.add_argument("--headless", action="store_true",
                      help="offscreen: play the demo journeys, save screenshots and tickets, exit")
    demo.add_argument("--out", type=Path, default=Path("var/demo"), metavar="DIR",
                      help="where screenshots, ticket images and summary.json go (default var/demo)")
    devices = commands.add_parser("devices", help="what the config selects, a probe of each device, its health; "
                                  "exit 1 when a selected device is critical")
    devices.add_argument("--config", type=Path, default=None, metavar="FILE",
                         help="TOML file (docs/config.md; default: the built-in production defaults)")
    devices.add_argument("--json", action="store_true", help="a JSON report instead of the table")
    devices.add_argument("--no-central", action="store_true", help="do not ask the central (never fails the check)")
    devices.set_defaults(headless=True)  # no window: the check never starts Kivy
    from kiosk.recording.commands import add_record_and_replay

    add_record_and_replay(commands)
    _add_allowances(commands.choices["record"])
    return parser


def _add_allowances(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-simulators", action="store_true",
                        help="accept simulated devices (demo and dev machines; same as kiosk.allow_simulators = true)")
    parser.add_argument("--allow-plain-http", action="store_true",
                        help="accept an http:// central (never in a lobby; same as central.allow_plain_http = true)")


def _load(args: argparse.Namespace) -> KioskConfig:
    """The configuration: the file given over the production defaults; the demo's commands start
    from config/demo.toml (simulated devices), and a file given to them overrides only its own keys."""
    from kiosk.config import DEMO_CONFIG_FILE, load_config

    plays_demo = args.command == "demo" or (args.command == "record" and getattr(args, "demo", False))
    if not plays_demo:
        return load_config(args.config)
    demo = _flat_toml(DEMO_CONFIG_FILE) or {}
    if args.config is None:
        return load_config(DEMO_CONFIG_FILE)
    own = _flat_toml(Path(args.config))
    if own is None:  # unreadable or not TOML: load_config names the file and the problem
        return load_config(args.config)
    return load_config(args.config, {key: value for key, value in demo.items() if key not in own})


def _flat_toml(path: Path) -> dict[str, Any] | None:
    """A TOML file's "section.key" values, or None when it cannot be read as TOML."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    return {f"{section}.{key}": value for section, table in data.items() if isinstance(table, dict)
            for key, value in table.items()}


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Kivy's own logger is noisy at info level and does not need our masking.
    logging.getLogger("kivy").setLevel(logging.WARNING)


def _prepare_kivy(headless: bool) -> None:
    # Must happen before the first Kivy import: Kivy reads these at import time.
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    _prepare_kivy(args.headless)
    # Imported late so that `kiosk --help` and config errors need no Kivy start-up.
    from kiosk.config import ConfigError
    from kiosk.journal import JournalError
    from kiosk.kivy_setup import FontMissing
    from kiosk.services import StartupError, refuse_unsafe_setup

    try:
        config = _load(args)
        if args.command == "devices":
            from kiosk.device_check import run_device_check

            return run_device_check(config, as_json=args.json, central=not args.no_central, out=sys.stdout)
        if args.command == "record" and not args.demo:  # the live kiosk, recorded
            refuse_unsafe_setup(config, allow_simulators=args.allow_simulators, allow_plain_http=args.allow_plain_http)
        if args.command in ("record", "replay"):
            from kiosk.recording.commands import run_record_or_replay

            return run_record_or_replay(args, config)
        if args.command == "demo":
            from kiosk.demo import run_demo

            return run_demo(config, out_dir=args.out, headless=args.headless)
        refuse_unsafe_setup(config, allow_simulators=args.allow_simulators, allow_plain_http=args.allow_plain_http)
        from kiosk.runner import run_kiosk

        return run_kiosk(config, headless=args.headless)
    except (ConfigError, StartupError, JournalError, FontMissing) as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK


def entry() -> None:
    """Console-script entry: exits without running native modules' teardown.

    zxing-cpp's bindings report "leaked instances" on stderr at interpreter exit, which would
    bury the demo's last line; all our files and connections are closed by then.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
