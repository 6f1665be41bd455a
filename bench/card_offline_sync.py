"""Card debits queued while the central was away, synced after: time, none lost, none applied twice.

    python -m bench.card_offline_sync [--debits 10000] [--per-card 10] [--batch 500]
                                      [--db sqlite,postgres] [--postgres-url URL] [--json]

For each database: a fresh one, the real central started on it (`python -m central serve`,
demo data) and, made in-process with the ledger's own function, ``debits / per-card`` sold cards
of ``per-card`` visits each. Every debit carries a real TAC, computed with devices.yearcard.crypto
from the card key diversified from the central's own issuer TAC master key (what the card OS
computes; the central checks each one). The central is stopped (the outage: a send fails
unreachable), started again, and the kiosk's client (backend_client CentralClient.send_offline_debits)
sends the queue in batches of ``--batch`` (wire.OfflineDebitBatch: at most 500) over HTTP.

Checked after: the ledger's rows and visits for these cards (none lost: every debit recorded
once, every card's visits left as the debits say); then the whole queue is sent a second time
with fresh idempotency keys, as a kiosk that lost track of what it sent would: every debit must
come back a duplicate and the ledger must not change (none applied twice).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from backend_client.client import CentralClient
from backend_client.errors import CentralError, CentralUnreachable
from backend_client.wire import CardUseKind, DebitProofBody, OfflineDebitBatch
from bench.databases import DatabaseError, db_kinds, fresh_database
from bench.stats import percentile
from central.card_ledger import CHAIN_TIMEZONE, register_made_card
from central.config import Settings
from central.demo import CINEMA_ID, DEMO_TERMINAL_ID
from central.models import Card, CardTransaction
from central.process import CentralProcess, CentralStartError
from central.service import Central
from devices.yearcard import crypto
from devices.yearcard import profile as p

CARD_PREFIX = "55"
# the most debits one request may carry: wire.OfflineDebitBatch says so
MAX_OFFLINE_BATCH = int(OfflineDebitBatch.model_json_schema()["properties"]["debits"]["maxItems"])
CLIENT_TIMEOUT_S = 60.0  # a batch of 500 on a shared 2-core machine; the kiosk's default is 4 s


@dataclass(frozen=True)
class Queue:
    debits: list[DebitProofBody]
    cards: list[str]
    per_card: int


def make_cards(ledger: Central, count: int, visits: int) -> list[str]:
    """Sold, active cards as the ledger records them (not timed)."""
    numbers = [f"{CARD_PREFIX}{n:014d}" for n in range(1, count + 1)]
    with ledger.sessions.begin() as session:
        now = ledger.clock.now()
        today = now.astimezone(ZoneInfo(CHAIN_TIMEZONE)).date()
        for number in numbers:
            card = register_made_card(session, now, number, 1, visits, actor="bench")
            card.status, card.sold_at, card.sold_cinema_id = "active", now, CINEMA_ID
            card.activated_on, card.expires_on = today, today + dt.timedelta(days=365)
    return numbers


def queued_debits(keys: crypto.MasterKeys, numbers: list[str], per_card: int,
                  start: dt.datetime) -> list[DebitProofBody]:
    """One visit at a time off each card, at the demo kiosk's terminal, a TAC for each (as the card makes it)."""
    terminal = bytes.fromhex(DEMO_TERMINAL_ID)
    debits: list[DebitProofBody] = []
    seq = 0
    for number in numbers:
        dtk = crypto.diversify(keys.tac, number)
        for counter in range(per_card):
            seq += 1
            when = start + dt.timedelta(seconds=seq)
            purchase = crypto.Purchase(amount=1, kind=crypto.TRANSACTION_TICKET, terminal_id=terminal,
                                       date=p.bcd_date(when.date()), time=p.bcd_time(when), terminal_seq=seq,
                                       card_counter=counter, balance_after=per_card - counter - 1)
            debits.append(DebitProofBody(
                card_number=number, card_counter=counter, visits=1, kind=CardUseKind.TICKETS,
                terminal_id=DEMO_TERMINAL_ID, terminal_seq=seq, at=when, balance_after=purchase.balance_after,
                tac=crypto.tac(dtk, purchase).hex().upper()))
    return debits


def ledger_figures(ledger: Central) -> dict[str, int]:
    """What the ledger holds for the bench's cards."""
    like = f"{CARD_PREFIX}%"
    with ledger.sessions() as session:
        rows, visits = session.execute(
            select(func.count(CardTransaction.id), func.coalesce(func.sum(CardTransaction.visits), 0))
            .where(CardTransaction.card_number.like(like))).one()
        left = session.scalar(select(func.coalesce(func.sum(Card.visits_left), 0))
                              .where(Card.card_number.like(like)))
        distinct = session.scalar(select(func.count()).select_from(
            select(CardTransaction.card_number, CardTransaction.card_counter)
            .where(CardTransaction.card_number.like(like)).distinct().subquery()))
        wrong = session.scalar(select(func.count()).select_from(Card).where(
            Card.card_number.like(like), Card.visits_left != 0))
    return {"rows": int(rows), "visits": int(visits), "distinct": int(distinct or 0),
            "visits_left": int(left or 0), "cards_not_at_zero": int(wrong or 0)}


def send_all(client: CentralClient, debits: list[DebitProofBody], batch: int) -> tuple[dict[str, int], list[float]]:
    totals = {"accepted": 0, "duplicates": 0, "refused": 0}
    times: list[float] = []
    for first in range(0, len(debits), batch):
        body = OfflineDebitBatch(debits=debits[first:first + batch])
        started = time.perf_counter()
        result = client.send_offline_debits(body, uuid.uuid4().hex)
        times.append((time.perf_counter() - started) * 1000)
        totals["accepted"] += result.accepted
        totals["duplicates"] += result.duplicates
        totals["refused"] += len(result.refused)
    return totals, times


def run_one(kind: str, folder: Path, debits_wanted: int, per_card: int, batch: int,
            postgres_url: str | None) -> dict[str, Any]:
    with fresh_database(kind, folder, postgres_url) as db_url:
        central = CentralProcess(db_url, folder / f"central-{kind}")
        central.init_secrets()
        central.load_demo_data()
        central.start()
        ledger = Central.open(Settings(db_url=db_url, secrets_dir=central.workdir / "secrets"))
        client = CentralClient(central.base_url, central.kiosk_credential, timeout_s=CLIENT_TIMEOUT_S)
        try:
            numbers = make_cards(ledger, debits_wanted // per_card, per_card)
            local = ledger.clock.now().astimezone(ZoneInfo(CHAIN_TIMEZONE)).replace(tzinfo=None, microsecond=0)
            debits = queued_debits(ledger.issuer_keys, numbers, per_card, local - dt.timedelta(hours=3))
            # the outage: the kiosk's first send fails, nothing is recorded
            central.stop()
            client_log = logging.getLogger("backend_client.client")
            client_log.setLevel(logging.ERROR)  # the refused attempts are expected here
            try:
                client.send_offline_debits(OfflineDebitBatch(debits=debits[:batch]), uuid.uuid4().hex)
                unreachable = False
            except CentralUnreachable:
                unreachable = True
            finally:
                client_log.setLevel(logging.NOTSET)
            central.start()
            before = ledger_figures(ledger)
            started = time.perf_counter()
            first, times = send_all(client, debits, batch)
            elapsed = time.perf_counter() - started
            after = ledger_figures(ledger)
            second, _ = send_all(client, debits, batch)  # everything again, fresh keys
            again = ledger_figures(ledger)
        finally:
            client.close()
            central.stop()
            ledger.engine.dispose()
    expected = len(debits)
    return {
        "db": kind,
        "debits": expected,
        "cards": len(numbers),
        "batches": len(times),
        "unreachable_during_outage": unreachable,
        "recorded_before_sync": before["rows"],
        "sync_s": round(elapsed, 2),
        "debits_per_s": round(expected / elapsed, 1),
        "batch_p50_ms": round(percentile(times, 50), 1),
        "batch_p95_ms": round(percentile(times, 95), 1),
        "accepted": first["accepted"],
        "refused": first["refused"] + second["refused"],
        "lost": expected - after["distinct"],
        "ledger_rows": after["rows"],
        "ledger_visits": after["visits"],
        "visits_left": after["visits_left"],
        "cards_not_at_zero": after["cards_not_at_zero"],
        "resent_duplicates": second["duplicates"],
        "resent_accepted": second["accepted"],
        "applied_twice": (after["rows"] - after["distinct"]) + (again["rows"] - after["rows"]),
        "ledger_changed_by_resend": again != after,
    }


COLUMNS = [("db", "{:<9}"), ("debits", "{:>7}"), ("batches", "{:>8}"), ("sync_s", "{:>8.2f}"),
           ("debits_per_s", "{:>13.1f}"), ("batch_p50_ms", "{:>13.1f}"), ("batch_p95_ms", "{:>13.1f}"),
           ("accepted", "{:>9}"), ("refused", "{:>8}"), ("lost", "{:>5}"), ("resent_duplicates", "{:>18}"),
           ("applied_twice", "{:>14}")]


def print_table(rows: list[dict[str, Any]]) -> None:
    print("".join(f"{name:<9}" if name == "db" else f"{name:>{len(fmt.format(rows[0][name]))}}"
                  for name, fmt in COLUMNS))
    for row in rows:
        print("".join(fmt.format(row[name]) for name, fmt in COLUMNS))
    print()
    for row in rows:
        print(f"{row['db']}: {row['cards']} cards; the central down: send refused unreachable "
              f"{'yes' if row['unreachable_during_outage'] else 'NO'}, {row['recorded_before_sync']} recorded; "
              f"after sync ledger rows {row['ledger_rows']}, visits {row['ledger_visits']}, visits left "
              f"{row['visits_left']}, cards not at 0: {row['cards_not_at_zero']}; resent: "
              f"{row['resent_accepted']} accepted, ledger changed: "
              f"{'YES' if row['ledger_changed_by_resend'] else 'no'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.card_offline_sync",
                                     description="Offline card debits synced to the real central.")
    parser.add_argument("--debits", type=int, default=10_000, help="debits queued (default 10000)")
    parser.add_argument("--per-card", type=int, default=10, help="debits per card (default 10)")
    parser.add_argument("--batch", type=int, default=MAX_OFFLINE_BATCH,
                        help=f"debits per request (default and most {MAX_OFFLINE_BATCH})")
    parser.add_argument("--db", type=db_kinds, default=["sqlite"], help="sqlite, postgres or both (comma)")
    parser.add_argument("--postgres-url", default=None, help="PostgreSQL server URL (default $KIOSK_TEST_POSTGRES_URL)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    if args.per_card < 1 or args.debits < args.per_card or args.debits % args.per_card:
        parser.error("--debits must be a positive multiple of --per-card")
    if not 1 <= args.batch <= MAX_OFFLINE_BATCH:
        parser.error(f"--batch must be 1 to {MAX_OFFLINE_BATCH}")
    logging.basicConfig(level=logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="bench-offline-"))
    try:
        rows = [run_one(kind, folder, args.debits, args.per_card, args.batch, args.postgres_url)
                for kind in args.db]
    except (DatabaseError, CentralStartError, CentralError, OSError) as exc:
        print(f"bench.card_offline_sync: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps({"runs": rows}))
    else:
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
