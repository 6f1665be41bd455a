"""Year-card benchmark through pcscd: tap to balance, a debit with the PSAM, a debit torn at each APDU.

    python -m bench.yearcard [--repeat N] [--json]

Uses a running pcscd with vsmartcard-vpcd, or starts one (root) and stops it after. Fresh test
master keys, a personalised card image and a PSAM image are made in a temporary folder (deleted
after); the card OS sits in "Virtual PCD 00 00", the PSAM in "Virtual PCD 00 01", and the kiosk's
terminal (devices.yearcard.terminal) drives both through PcscCardReader.

* tap to balance: from the card's insertion (the emulator connects to vpcd) until the terminal
  has read and checked it: public file, PSAM check of the issuer's MAC, balance, the last 10
  records. It includes pcscd noticing the card (it polls vpcd's socket) and the reader's event;
  each insertion comes at a random moment of pcscd's polling cycle, as a patron's tap does.
* read after the inserted event: the same reads only.
* debit with the PSAM: one visit, the whole exchange (10 APDUs to card and PSAM).
* torn debits: the card or the PSAM pulled at each of its APDUs of a debit, before or after it
  executed it, then put back and the debit recovered; counts visits lost and tickets without visits.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.card import percentile
from devices.card_api import CardError, CardEvent
from devices.card_reader import PcscCardReader, list_readers
from devices.sim.card_emulator import VIRTUAL_READER, CardEmulator, PcscdError, PcscdProcess
from devices.sim.psam import psam_image
from devices.sim.yearcard import PSAM_READER, YearCardRig
from devices.sim.yearcard_os import personalised_image
from devices.yearcard import crypto
from devices.yearcard.terminal import DebitInterrupted, DebitProof, NotDebited, YearCardError, YearCardTerminal

CARD_NUMBER = "8800000000000042"
TERMINAL_ID = bytes.fromhex("310100010007")
WAIT_S = 10.0
CARD_COMMANDS = ("SELECT", "READ BINARY", "INTERNAL AUTHENTICATE", "INITIALIZE", "DEBIT")


class Presence:
    """Inserted events of one reader, as a condition to wait on."""

    def __init__(self) -> None:
        self.inserted = threading.Event()

    def __call__(self, event: CardEvent) -> None:
        if event.inserted:
            self.inserted.set()


def pcscd_sees(reader: PcscCardReader, present: bool) -> bool:
    deadline = time.monotonic() + WAIT_S
    while (reader.atr is not None) != present:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def reinsert(card: CardEmulator, reader: PcscCardReader, presence: Presence) -> float:
    """Take the card out (untimed), put it back; the seconds until the reader's inserted event."""
    card.remove()
    if not pcscd_sees(reader, present=False):
        raise CardError("pcscd never saw the card leave")
    # a card out and in within one of pcscd's looks is no change at all; and a patron's tap comes at
    # any moment of pcscd's polling cycle, not in step with it: a random extra wait
    time.sleep(0.5 + random.uniform(0.0, 0.5))
    presence.inserted.clear()
    start = time.perf_counter()
    card.insert()
    if not presence.inserted.wait(WAIT_S):
        raise CardError("the card never showed up in the reader")
    return start


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
        "max_ms": round(max(values), 2),
    }


def timed(repeat: int, body: Callable[[], float]) -> list[float]:
    return [body() for _ in range(repeat)]


def tear_cases(rig: YearCardRig, master: crypto.MasterKeys, card_reader: PcscCardReader,
               psam_reader: PcscCardReader, card_presence: Presence, psam_presence: Presence) -> dict[str, int]:
    """Every APDU of a debit torn (card before/after each command, PSAM at the MAC2 check)."""
    counts = {"cases": 0, "debited": 0, "not_debited": 0, "visits_lost": 0, "tickets_without_visits": 0}
    cases: list[tuple[str, int, bool]] = [("card", at, executed) for at in range(5) for executed in (False, True)]
    # the PSAM's SELECT, READ terminal id, VERIFY PUBLIC, VERIFY AUTH, SELECT, INIT SAM, CREDIT SAM (MAC2)
    cases += [("psam", at, executed) for at in range(7) for executed in (False, True)]
    for which, at, executed in cases:
        before = rig.card_os.state.balance
        emulator = rig.card if which == "card" else rig.psam
        emulator.pull_at_command(at, executed=executed)
        pending = None
        terminal = YearCardTerminal(card_reader, psam_reader)  # a fresh one reads the terminal id again
        try:
            terminal.debit(1)
        except DebitInterrupted as torn:
            pending = torn.pending
        except YearCardError:
            pass  # torn before the DEBIT was sent: nothing to recover
        if which == "card":
            reinsert(rig.card, card_reader, card_presence)
        else:
            reinsert(rig.psam, psam_reader, psam_presence)
        outcome = terminal.recover(pending) if pending is not None else None
        debited_on_card = rig.card_os.state.balance == before - 1
        proven = isinstance(outcome, DebitProof) and outcome.verify(master.tac)
        counts["cases"] += 1
        counts["debited" if debited_on_card else "not_debited"] += 1
        counts["visits_lost"] += int(debited_on_card and not proven)
        counts["tickets_without_visits"] += int(proven and not debited_on_card)
        if outcome is not None and not isinstance(outcome, DebitProof | NotDebited):
            counts["visits_lost"] += 1  # a debit the kiosk can no longer prove
    return counts


def run(repeat: int) -> dict[str, Any]:
    pcscd = PcscdProcess()
    if PcscdProcess.running_pid() is None:
        pcscd.start()
    master = crypto.MasterKeys.generate()
    with tempfile.TemporaryDirectory(prefix="bench-yearcard-") as folder:
        card_path, psam_path = Path(folder) / "card.json", Path(folder) / "psam.json"
        personalised_image(card_path, master, CARD_NUMBER, visits=9999, activated=dt.date.today())
        psam_image(psam_path, master, TERMINAL_ID)
        rig = YearCardRig.from_images(card_path, psam_path, auto_reconnect=False)
        card_presence, psam_presence = Presence(), Presence()
        card_reader = PcscCardReader(VIRTUAL_READER, poll_s=0.2)
        psam_reader = PcscCardReader(PSAM_READER, poll_s=0.2)
        try:
            deadline = time.monotonic() + WAIT_S
            while not {VIRTUAL_READER, PSAM_READER} <= set(list_readers()):
                if time.monotonic() > deadline:
                    raise PcscdError("pcscd shows no virtual readers: is vsmartcard-vpcd installed?")
                time.sleep(0.1)
            card_reader.start(card_presence)
            psam_reader.start(psam_presence)
            rig.psam.insert()
            rig.card.insert()
            if not (card_presence.inserted.wait(WAIT_S) and psam_presence.inserted.wait(WAIT_S)):
                raise CardError("the emulated card or PSAM never showed up")
            terminal = YearCardTerminal(card_reader, psam_reader)
            terminal.read()  # warm-up
            for _ in range(5):
                terminal.debit(1)  # records to read back

            def tap_to_balance() -> float:
                start = reinsert(rig.card, card_reader, card_presence)
                terminal.read()
                return (time.perf_counter() - start) * 1000

            def read_only() -> float:
                start = time.perf_counter()
                terminal.read()
                return (time.perf_counter() - start) * 1000

            def debit() -> float:
                start = time.perf_counter()
                terminal.debit(1)
                return (time.perf_counter() - start) * 1000

            results: dict[str, Any] = {
                "tap to balance": summary(timed(repeat, tap_to_balance)),
                "read after event": summary(timed(repeat, read_only)),
                "debit with PSAM": summary(timed(repeat, debit)),
            }
            results["torn debits"] = tear_cases(rig, master, card_reader, psam_reader, card_presence,
                                                psam_presence)
        finally:
            card_reader.stop()
            psam_reader.stop()
            rig.card.remove()
            rig.psam.remove()
            pcscd.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Year-card latency and tear recovery through pcscd.")
    parser.add_argument("--repeat", type=int, default=30, help="taps and debits measured (default 30)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        results = run(args.repeat)
    except (PcscdError, CardError, YearCardError, OSError, RuntimeError) as exc:
        print(f"bench.yearcard: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"{'measure':<20}{'n':>5}{'p50_ms':>9}{'p95_ms':>9}{'max_ms':>9}")
    for name in ("tap to balance", "read after event", "debit with PSAM"):
        row = results[name]
        print(f"{name:<20}{row['n']:>5}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{row['max_ms']:>9.2f}")
    torn = results["torn debits"]
    print()
    print("torn debits: " + ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in torn.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
