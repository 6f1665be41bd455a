"""A year-card redemption torn at each APDU, through the kiosk's flow and the real central.

    python -m bench.card_tears [--db sqlite,postgres] [--postgres-url URL] [--json]

Run it alone (pcscd's virtual readers are machine-wide): ``flock /work/vpcd.lock python -m ...``.
The rig is bench/card_kiosk.py's: the real central over HTTP, the card OS and PSAM emulators behind
a real pcscd, the kiosk's services and card flow, the virtual printer over TCP.

First a clean redemption for 2 people counts the APDUs the confirmation sends to the card and to
the PSAM (the debit, its checks and the MAC2). Then, for each of those APDUs, before the card (or
the PSAM) executes it and after it executed it without answering, a fresh card of 10 visits is
tapped, 2 people chosen and confirmed with the card (or the PSAM) pulled at that APDU. Then what a
kiosk and a patron do: the PSAM goes back in its slot; a card asked for is put back (lifted and put
down again when it never left); the flow settles the redemption (completed with its TAC, or voided).
That is the outcome "at once". Then the card's next tap (where the central reconciles what the card
says with the ledger, and offers tickets owed), printing them if any: the outcome "after".

Checked for each case after the next tap, from the card image, the virtual printer and the ledger:
  visits lost              visits off the card with no ticket printed for them (must be 0)
  tickets without visits   tickets printed beyond the visits off the card (must be 0)
  ledger disagrees         the ledger's visits left or recorded visits differ from the card (must be 0)
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from backend_client.errors import CentralError
from bench.card_kiosk import (
    SOON,
    BenchCentral,
    BenchError,
    BenchKiosk,
    bench_central,
    card_balance,
    pcscd_running,
)
from bench.databases import DatabaseError, db_kinds
from central.process import CentralStartError
from devices.card_api import CardError
from devices.sim.card_emulator import CardEmulator, PcscdError
from devices.yearcard import profile as p
from devices.yearcard.terminal import YearCardError
from kiosk.flows.card import Step

PEOPLE = 2
# What each APDU of the confirmation is, by its instruction byte (devices/yearcard/profile.py).
APDU_NAMES = {p.INS_SELECT: "SELECT", p.INS_READ_BINARY: "READ BINARY", p.INS_READ_RECORD: "READ RECORD",
              p.INS_GET_BALANCE: "GET BALANCE", p.INS_INTERNAL_AUTH: "INTERNAL AUTHENTICATE",
              p.INS_INITIALIZE: "INITIALIZE FOR PURCHASE", p.INS_DEBIT: "DEBIT FOR PURCHASE",
              p.INS_VERIFY_PUBLIC: "VERIFY PUBLIC", p.INS_VERIFY_AUTH: "VERIFY AUTH",
              p.INS_INIT_SAM_PURCHASE: "INIT SAM FOR PURCHASE", p.INS_CREDIT_SAM_PURCHASE: "CREDIT SAM (MAC2)"}
VISITS = 10
MAX_ASKS = 3  # times the patron is asked to put the card back in one case


def outcome(kiosk: BenchKiosk) -> str:
    state = kiosk.flow.state
    if state.step is Step.DONE:
        return f"done, {state.printed} printed" + (f", {state.tickets_owed} owed" if state.tickets_owed else "")
    if state.step is Step.REFUSED and state.refusal is not None:
        return state.refusal.key.removeprefix("refusal.")
    return state.step.value


def settle(kiosk: BenchKiosk) -> None:
    """What follows a torn confirmation: the PSAM back in its slot, the card put back while asked for."""
    rig = kiosk.rig
    if not rig.psam.inserted:
        kiosk.replug_psam()
    for _ in range(MAX_ASKS):
        if kiosk.flow.state.step is not Step.PUT_CARD_BACK:
            return
        kiosk.take_card_away()  # pulled already, or lifted by the patron asked to put it back
        kiosk.put_card()


def next_tap(kiosk: BenchKiosk) -> str:
    """The card's next tap: the central reconciles; tickets owed are printed."""
    kiosk.take_card_away()
    kiosk.flow.finish()
    kiosk.put_card()
    if kiosk.flow.state.step is Step.CARD and kiosk.flow.state.owed:
        kiosk.flow.print_owed()
    return outcome(kiosk)


def apdu_names(commands: list[bytes]) -> list[str]:
    return [APDU_NAMES.get(apdu[1], f"INS {apdu[1]:02X}") for apdu in commands]


def count_apdus(kiosk: BenchKiosk, central: BenchCentral) -> tuple[list[str], list[str], dict[str, Any]]:
    """A clean redemption: the APDUs its confirmation sends to the card and to the PSAM."""
    number, path = central.make_card(VISITS)
    kiosk.use_card(path)
    kiosk.put_card()
    kiosk.choose(SOON, PEOPLE)
    card_before, psam_before = len(kiosk.rig.card.commands), len(kiosk.rig.psam.commands)
    jobs = len(kiosk.printer.jobs)
    kiosk.flow.confirm()
    card_apdus = apdu_names(kiosk.rig.card.commands[card_before:])
    psam_apdus = apdu_names(kiosk.rig.psam.commands[psam_before:])
    case = check(kiosk, central, number, path, jobs, "none", -1, False, outcome(kiosk), next_tap(kiosk))
    kiosk.take_card_away()
    kiosk.flow.finish()
    return card_apdus, psam_apdus, case


def check(kiosk: BenchKiosk, central: BenchCentral, number: str, path: Path, jobs_before: int, target: str,
          at: int, executed: bool, at_once: str, after: str, apdu: str = "") -> dict[str, Any]:
    debited = VISITS - card_balance(path)
    kiosk.printer.wait_for_jobs(jobs_before + debited)  # a job ended by a closing connection lands a moment later
    printed = len(kiosk.printer.jobs) - jobs_before
    left, used = central.ledger_card(number)
    return {
        "pulled": target, "at": at, "apdu": apdu, "executed": executed, "at_once": at_once, "after_next_tap": after,
        "visits_off_card": debited, "tickets_printed": printed,
        "visits_lost": max(0, debited - printed), "tickets_without_visits": max(0, printed - debited),
        "ledger_disagrees": int(left != VISITS - debited or used != debited),
    }


def tear_case(kiosk: BenchKiosk, central: BenchCentral, emulator: CardEmulator, target: str, at: int,
              apdu: str, executed: bool) -> dict[str, Any]:
    number, path = central.make_card(VISITS)
    kiosk.use_card(path)
    kiosk.put_card()
    kiosk.choose(SOON, PEOPLE)
    jobs = len(kiosk.printer.jobs)
    emulator.pull_at_command(at, executed=executed)
    kiosk.flow.confirm()
    settle(kiosk)
    at_once = outcome(kiosk)
    after = next_tap(kiosk)
    case = check(kiosk, central, number, path, jobs, target, at, executed, at_once, after, apdu)
    kiosk.take_card_away()
    kiosk.flow.finish()
    return case


def run_db(kind: str, folder: Path, postgres_url: str | None, only: set[int] | None = None) -> dict[str, Any]:
    with bench_central(kind, folder / kind, postgres_url) as central:
        _number, first = central.make_card(VISITS)
        kiosk = BenchKiosk(central, first, folder / kind)
        try:
            card_apdus, psam_apdus, clean = count_apdus(kiosk, central)
            cases = [tear_case(kiosk, central, emulator, target, at, apdu, executed)
                     for target, emulator, apdus in (("card", kiosk.rig.card, card_apdus),
                                                     ("psam", kiosk.rig.psam, psam_apdus))
                     for at, apdu in enumerate(apdus) if only is None or at in only
                     for executed in (False, True)]
        finally:
            kiosk.stop()
    return {
        "db": kind, "card_apdus": card_apdus, "psam_apdus": psam_apdus, "clean": clean, "cases": cases,
        "totals": {
            "cases": len(cases),
            "debited": sum(c["visits_off_card"] > 0 for c in cases),
            "not_debited": sum(c["visits_off_card"] == 0 for c in cases),
            "visits_lost": sum(c["visits_lost"] for c in cases),
            "tickets_without_visits": sum(c["tickets_without_visits"] for c in cases),
            "ledger_disagrees": sum(c["ledger_disagrees"] for c in cases),
        },
    }


def print_tables(runs: list[dict[str, Any]]) -> None:
    for run in runs:
        print(f"redemption for {PEOPLE} torn at each APDU, central on {run['db']}: the confirmation sends "
              f"{len(run['card_apdus'])} APDUs to the card and {len(run['psam_apdus'])} to the PSAM")
        print(f"{'pulled':<7}{'at':>3} {'APDU':<24}{'executed':<9}{'at once':<34}{'after the next tap':<26}"
              f"{'off card':>9}{'printed':>8}{'lost':>5}{'w/o visit':>10}{'ledger':>7}")
        for c in [run["clean"], *run["cases"]]:
            when = "-" if c["at"] < 0 else "after" if c["executed"] else "before"
            print(f"{c['pulled']:<7}{c['at'] if c['at'] >= 0 else '-':>3} {c['apdu'] or '-':<24}{when:<9}"
                  f"{c['at_once'][:33]:<34}{c['after_next_tap'][:25]:<26}{c['visits_off_card']:>9}"
                  f"{c['tickets_printed']:>8}{c['visits_lost']:>5}{c['tickets_without_visits']:>10}"
                  f"{'ok' if not c['ledger_disagrees'] else 'DIFF':>7}")
        totals = run["totals"]
        print("totals: " + ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in totals.items()))
        print()


def apdu_indexes(value: str) -> set[int]:
    """``--at 3,4`` (argparse type)."""
    try:
        indexes = {int(part) for part in value.split(",") if part.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError("takes APDU positions, e.g. 3,4") from None
    if not indexes or min(indexes) < 0:
        raise argparse.ArgumentTypeError("takes APDU positions from 0, e.g. 3,4")
    return indexes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.card_tears",
                                     description="A year-card redemption torn at each APDU, on real parts.")
    parser.add_argument("--db", type=db_kinds, default=["sqlite"], help="sqlite, postgres or both (comma)")
    parser.add_argument("--postgres-url", default=None, help="PostgreSQL server URL (default $KIOSK_TEST_POSTGRES_URL)")
    parser.add_argument("--at", type=apdu_indexes, default=None,
                        help="only these APDU positions (0-based, comma-separated; default every one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="bench-card-tears-"))
    try:
        with pcscd_running():
            runs = [run_db(kind, folder, args.postgres_url, args.at) for kind in args.db]
    except (BenchError, DatabaseError, CentralStartError, CentralError, PcscdError, CardError, YearCardError,
            OSError) as exc:
        print(f"bench.card_tears: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps({"runs": runs}))
    else:
        print_tables(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
