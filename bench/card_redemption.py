"""Tap to tickets printed: a year-card redemption for 2 people on real parts, stage by stage.

    python -m bench.card_redemption [--repeat 20] [--db sqlite,postgres] [--postgres-url URL] [--json]

Run it alone (pcscd's virtual readers are machine-wide): ``flock /work/vpcd.lock python -m ...``.
The rig (bench/card_kiosk.py): the real central over HTTP on a fresh database, the card OS and
PSAM emulators behind a real pcscd, the kiosk's services and card flow (inline worker), the
virtual printer over TCP. One card of 2 x repeat visits, made with the central's issuer keys.

Each round, timed from the card's insertion (the emulator connects to vpcd at a random moment of
pcscd's polling cycle, as a patron's tap comes) until the flow is DONE with both tickets printed:
the reader's event, the read (card and PSAM), the tap at the central, today's showings, the seat
map, best available for 2, the printer's status, the hold, the debit through the PSAM (announced
to the central first), the confirmation with the TAC, and both tickets through the claim path
(leave to print, print over TCP, report). The person's choices take no time here.

Stages (each call's own time; a central call made inside the debit counts as central):
  detect   the card put down until the reader's inserted event reaches the kiosk's main loop
  read     YearCardService.read: the card's files and the PSAM's checks
  central  every CentralClient call of the journey (tap, showings, seats, hold, debiting,
           confirm, start printing, reports)
  debit    YearCardService.debit: the card's and the PSAM's APDUs, image files written
  printer  the printer's status and both tickets over TCP (the virtual printer renders a PNG)
  kiosk    the rest: the flow, the journal (SQLite, fsynced), the host
After each round (untimed) the card leaves the reader and the flow goes home; every round checks
two tickets printed, two visits off the card and the ledger agreeing with the card.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backend_client.errors import CentralError
from bench.card_kiosk import (
    SEATS_PER_SHOWING,
    BenchCentral,
    BenchError,
    BenchKiosk,
    Stages,
    bench_central,
    card_balance,
    pcscd_running,
)
from bench.databases import DatabaseError, db_kinds
from bench.stats import percentile
from central.process import CentralStartError
from devices.card_api import CardError
from devices.sim.card_emulator import PcscdError
from devices.yearcard.terminal import YearCardError
from kiosk.flows.card import Step

PEOPLE = 2
STAGES = ("detect", "read", "central", "debit", "printer", "kiosk")


def one_round(kiosk: BenchKiosk, stages: Stages, showing_id: str, card_path: Path,
              central: BenchCentral, number: str) -> dict[str, float]:
    jobs_before = len(kiosk.printer.jobs)
    balance_before = card_balance(card_path)
    stages.take()  # nothing before the tap counts
    start, inserted = kiosk.put_card()
    on_card_screen = time.perf_counter()
    kiosk.choose(showing_id, PEOPLE)
    kiosk.flow.confirm()
    end = time.perf_counter()
    seconds, calls = stages.take()
    state = kiosk.flow.state
    if state.step is not Step.DONE or state.printed != PEOPLE:
        raise BenchError(f"the redemption ended {state.step.value} with {state.printed} printed ({state.refusal})")
    kiosk.printer.wait_for_jobs(jobs_before + PEOPLE)
    balance = card_balance(card_path)
    left, _used = central.ledger_card(number)
    if balance != balance_before - PEOPLE or left != balance:
        raise BenchError(f"card {balance_before}->{balance}, ledger {left}: they disagree")
    kiosk.take_card_away()
    kiosk.flow.finish()
    total_ms = (end - start) * 1000
    row = {"total": total_ms, "card_screen": (on_card_screen - start) * 1000,
           "detect": (inserted - start) * 1000, "central_calls": float(calls.get("central", 0))}
    for stage in ("read", "central", "debit", "printer"):
        row[stage] = seconds.get(stage, 0.0) * 1000
    row["kiosk"] = total_ms - sum(row[s] for s in ("detect", "read", "central", "debit", "printer"))
    return row


def run_db(kind: str, repeat: int, folder: Path, postgres_url: str | None) -> dict[str, Any]:
    with bench_central(kind, folder / kind, postgres_url) as central:
        showings = central.showings_for(PEOPLE * repeat)
        number, card_path = central.make_card(visits=PEOPLE * repeat)
        stages = Stages()
        kiosk = BenchKiosk(central, card_path, folder / kind, stages)
        try:
            rounds = [one_round(kiosk, stages, showings[(i * PEOPLE) // SEATS_PER_SHOWING], card_path, central, number)
                      for i in range(repeat)]
        finally:
            kiosk.stop()
        left, used = central.ledger_card(number)
        printed = len(kiosk.printer.jobs)
    summary: dict[str, Any] = {"db": kind, "rounds": repeat, "tickets_printed": printed,
                               "visits_off_card": PEOPLE * repeat - card_balance(card_path),
                               "ledger_visits": used, "ledger_visits_left": left}
    for name in ("total", "card_screen", *STAGES, "central_calls"):
        values = [r[name] for r in rounds]
        summary[name] = {"p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1),
                         "max": round(max(values), 1)}
    return summary


LABELS = {
    "total": "tap -> 2 tickets printed",
    "detect": "  card detected (pcscd)",
    "read": "  card read (card + PSAM)",
    "central": "  central calls (HTTP)",
    "debit": "  debit (card + PSAM)",
    "printer": "  printer (status, 2 tickets)",
    "kiosk": "  kiosk (flow, journal)",
    "card_screen": "tap -> card on screen",
}


def print_tables(runs: list[dict[str, Any]]) -> None:
    for run in runs:
        print(f"tap to tickets printed, {PEOPLE} people, {run['rounds']} rounds, central on {run['db']}")
        print(f"{'ms':<32}{'p50':>9}{'p95':>9}{'max':>9}")
        for name in ("total", *STAGES, "card_screen"):
            row = run[name]
            print(f"{LABELS[name]:<32}{row['p50']:>9.1f}{row['p95']:>9.1f}{row['max']:>9.1f}")
        print(f"central calls per round: {run['central_calls']['p50']:.0f}; tickets printed "
              f"{run['tickets_printed']}, visits off the card {run['visits_off_card']}, in the ledger "
              f"{run['ledger_visits']} (visits left {run['ledger_visits_left']})")
        print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.card_redemption",
                                     description="Year-card tap to tickets printed, on real parts.")
    parser.add_argument("--repeat", type=int, default=20, help="redemptions measured per database (default 20)")
    parser.add_argument("--db", type=db_kinds, default=["sqlite"], help="sqlite, postgres or both (comma)")
    parser.add_argument("--postgres-url", default=None, help="PostgreSQL server URL (default $KIOSK_TEST_POSTGRES_URL)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 500:
        parser.error("--repeat must be 1 to 500")
    logging.basicConfig(level=logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="bench-card-redemption-"))
    try:
        with pcscd_running():
            runs = [run_db(kind, args.repeat, folder, args.postgres_url) for kind in args.db]
    except (BenchError, DatabaseError, CentralStartError, CentralError, PcscdError, CardError, YearCardError,
            OSError) as exc:
        print(f"bench.card_redemption: {exc}", file=sys.stderr)
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
