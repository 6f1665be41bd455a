"""The year-card and its PSAM behind vpcd, on their own, for pcsc_scan, scriptor and the bench.

    python -m devices.sim.yearcard serve --image card.json [--psam-image psam.json]
    python -m devices.sim.yearcard blank --image blank.json
    python -m devices.sim.yearcard demo --dir DIR [--visits 10]

``serve`` puts the card in "Virtual PCD 00 00" (port 35963) and the PSAM in "Virtual PCD 00 01"
(35964) of a running pcscd; type ``remove`` / ``insert`` / ``quit`` on stdin. ``blank`` makes a
blank card image (for personalisation through pcscd). ``demo`` makes a set to play with: fresh
random master keys in DIR/master-keys.json (mode 600; test keys, never for real cards), a
personalised, sold card DIR/card.json and a PSAM DIR/psam.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devices.card_api import ApduResponse
from devices.sim.card_emulator import VPCD_PORT, CardEmulator, Handler, run_console
from devices.sim.psam import PsamOS, PsamStore, psam_image
from devices.sim.yearcard_os import ImageError, ImageStore, YearCardOS, blank_image, personalised_image
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.terminal import Transmit

log = logging.getLogger(__name__)

PSAM_PORT = VPCD_PORT + 1  # "Virtual PCD 00 01"
PSAM_READER = "Virtual PCD 00 01"


def handler_channel(handler: Handler) -> Transmit:
    """A transmit callable straight to a card handler, in-process (unit tests: no pcscd).

    A handler that fails answers 6F00, as behind the emulator.
    """

    def transmit(apdu: bytes) -> ApduResponse:
        try:
            return ApduResponse.from_bytes(handler(apdu))
        except Exception:
            log.exception("card handler failed on a %d-byte command", len(apdu))
            return ApduResponse(b"", 0x6F, 0x00)

    return transmit


@dataclass
class YearCardRig:
    """A year-card and a PSAM, each an emulator plugged into vpcd (not inserted yet)."""

    card_os: YearCardOS
    psam_os: PsamOS
    card: CardEmulator
    psam: CardEmulator

    @classmethod
    def from_images(
        cls, card_image: Path, psam_image_path: Path, host: str = "127.0.0.1", auto_reconnect: bool = True
    ) -> YearCardRig:
        card_os = YearCardOS(ImageStore(card_image))
        psam_os = PsamOS(PsamStore(psam_image_path))
        return cls(
            card_os,
            psam_os,
            CardEmulator(host, VPCD_PORT, atr=p.CARD_ATR, handler=card_os, auto_reconnect=auto_reconnect),
            CardEmulator(host, PSAM_PORT, atr=p.PSAM_ATR, handler=psam_os, auto_reconnect=auto_reconnect),
        )

    def reload_card(self) -> None:
        """Read the card image again (as a new process would) and answer with it from now on."""
        self.card_os = YearCardOS(self.card_os.store)
        self.card.set_handler(self.card_os)


def _serve(args: argparse.Namespace) -> int:
    emulators: list[tuple[str, CardEmulator]] = []
    try:
        card_os = YearCardOS(ImageStore(args.image))
        emulators.append(("card", CardEmulator(args.host, args.card_port, atr=p.CARD_ATR, handler=card_os,
                                               auto_reconnect=True)))
        if args.psam_image:
            psam_os = PsamOS(PsamStore(args.psam_image))
            emulators.append(("PSAM", CardEmulator(args.host, args.psam_port, atr=p.PSAM_ATR, handler=psam_os,
                                                   auto_reconnect=True)))
    except ImageError as exc:
        print(f"yearcard: {exc}", file=sys.stderr)
        return 2
    for name, emulator in emulators:
        try:
            emulator.insert()
        except OSError as exc:
            print(f"yearcard: cannot reach vpcd on {args.host}:{emulator.port} for the {name} ({exc}); "
                  "is pcscd running with vsmartcard-vpcd?", file=sys.stderr)
            for _, other in emulators:
                other.remove()
            return 1
    card = emulators[0][1]
    print("year-card inserted" + (" and PSAM" if len(emulators) > 1 else "")
          + "; commands: insert, remove, quit (Ctrl-C stops)", file=sys.stderr)
    try:
        return run_console(card, "yearcard")
    finally:
        for _, emulator in emulators:
            emulator.remove()


def _refuse_existing(path: Path) -> bool:
    if path.exists():
        print(f"yearcard: {path} exists; not overwriting a card", file=sys.stderr)
        return True
    return False


def _blank(args: argparse.Namespace) -> int:
    if _refuse_existing(args.image):
        return 1
    blank_image(args.image)
    print(f"blank card image: {args.image}", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    folder: Path = args.dir
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "master-keys.json", folder / "card.json", folder / "psam.json"]
    if any(_refuse_existing(path) for path in paths):
        return 1
    master = crypto.MasterKeys.generate()
    keys_path = paths[0]
    fd = os.open(keys_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        names = ("purchase", "tac", "public", "maintenance", "load")
        json.dump({name: getattr(master, name).hex() for name in names}, out)
    number = "8800" + "".join(secrets.choice("0123456789") for _ in range(12))
    personalised_image(paths[1], master, number, card_type=1, visits=args.visits, activated=dt.date.today())
    psam_image(paths[2], master, terminal_id=bytes.fromhex("000000010001"))
    print(f"test master keys: {keys_path} (never use them for real cards)", file=sys.stderr)
    print(f"card {p.mask_card_number(number)} with {args.visits} visits: {paths[1]}", file=sys.stderr)
    print(f"PSAM, terminal 000000010001: {paths[2]}", file=sys.stderr)
    return 0


def _visits(text: str) -> int:
    try:
        visits = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= visits <= p.MAX_VISITS:
        raise argparse.ArgumentTypeError(f"a card holds 1 to {p.MAX_VISITS} visits, not {visits}")
    return visits


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devices.sim.yearcard",
                                     description="The emulated year-card and PSAM behind vpcd.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="put the card (and the PSAM) into vpcd's readers")
    serve.add_argument("--image", type=Path, required=True, help="the card image file")
    serve.add_argument("--psam-image", type=Path, help="a PSAM image file, for 'Virtual PCD 00 01'")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--card-port", type=int, default=VPCD_PORT)
    serve.add_argument("--psam-port", type=int, default=PSAM_PORT)
    blank = commands.add_parser("blank", help="make a blank card image")
    blank.add_argument("--image", type=Path, required=True)
    demo = commands.add_parser("demo", help="make test master keys, a sold card and a PSAM in a folder")
    demo.add_argument("--dir", type=Path, required=True)
    demo.add_argument("--visits", type=_visits, default=10, help="visits on the card, 1 to 9999 (default 10)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return {"serve": _serve, "blank": _blank, "demo": _demo}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
