"""`central cards rebuild`: the card ledger rebuilt from the cards themselves after both databases are lost.

Each card is read through a plain reader (or from emulator image files): its public file, visits
left and the last records of its own log (card counter, visits, kind, terminal, local time,
balance after). There is no PSAM at head office; the central checks what a PSAM would with the
issuer's own keys: the issuer's MAC on the public file and the chip's INTERNAL AUTHENTICATE (an
edited or copied card is reported and never uploaded). The log records themselves carry no MAC:
they are what the card says (proof "card_log"); the newest debit's TAC, when the card still has
it, is kept with its record.

The comparison says, per card, what the ledger lacks: the card, a different balance, log records
it has no transaction for. ``--apply`` uploads those (cards, their logged transactions, the
card's balance) in one transaction; without it nothing is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from backend_client.wire import CardUseKind, ErrorCode
from central import card_ledger
from central.card_making import CardMakingError, CardSlot, Check, PlainReading, read_plain
from central.common import Refusal
from central.models import Card, CardIssue, CardTransaction, CardType, Psam
from central.staff import Permission
from central.staff_cli import CommandContext
from devices.yearcard import crypto
from devices.yearcard import profile as p

Say = Callable[[str], None]
KINDS = {crypto.TRANSACTION_TICKET: CardUseKind.TICKETS.value,
         crypto.TRANSACTION_CONCESSION: CardUseKind.CONCESSIONS.value,
         crypto.TRANSACTION_LOAD: CardUseKind.LOAD.value}


@dataclass
class Comparison:
    """One card: what it says and what the ledger lacks."""

    source: str  # the image file or "reader #n"
    reading: PlainReading | None
    problem: str | None = None  # unreadable, forged, blank...
    in_ledger: bool = False
    ledger_visits: int | None = None
    missing: list[p.TransactionRecord] = field(default_factory=list)
    not_uploadable: list[str] = field(default_factory=list)  # records the ledger cannot take, and why
    card_added: bool = False

    @property
    def state(self) -> str:
        if self.problem is not None:
            return "refused"
        if not self.in_ledger:
            return "missing card"
        differs = self.reading is not None and self.ledger_visits != self.reading.balance
        parts = (["balance differs"] if differs else []) + ([f"{len(self.missing)} transaction(s) missing"]
                                                            if self.missing else [])
        return ", ".join(parts) or "same"

    def as_json(self) -> dict[str, Any]:
        reading = self.reading
        return {
            "source": self.source,
            "card": reading.public.masked_number if reading else None,
            "state": self.state,
            "problem": self.problem,
            "card_visits": reading.balance if reading else None,
            "ledger_visits": self.ledger_visits,
            "card_records": len(reading.records) if reading else 0,
            "missing_transactions": len(self.missing),
            "not_uploadable": self.not_uploadable,
        }


def _image_readings(folder: Path, master: crypto.MasterKeys) -> Iterator[tuple[str, PlainReading | None, str | None]]:
    from devices.sim.yearcard import handler_channel
    from devices.sim.yearcard_os import ImageError, ImageStore, YearCardOS

    if not folder.is_dir():
        raise CardMakingError(f"{folder}: no such folder of card images")
    for path in sorted(folder.glob("*.json")):
        try:
            card_os = YearCardOS(ImageStore(path))
        except ImageError as exc:
            yield path.name, None, f"not a card image ({exc})"
            continue
        yield path.name, *_read(handler_channel(card_os), master)


def _read(transmit: Any, master: crypto.MasterKeys) -> tuple[PlainReading | None, str | None]:
    try:
        reading = read_plain(transmit, master)
    except CardMakingError as exc:
        return None, str(exc)
    except p.ProfileError as exc:
        return None, f"unreadable ({exc})"
    if reading.check is not Check.GENUINE:
        return reading, "fails the issuer's checks (edited or copied): not uploaded"
    return reading, None


def _reader_readings(reader: str, master: crypto.MasterKeys, count: int | None, wait_s: float,
                     say: Say) -> Iterator[tuple[str, PlainReading | None, str | None]]:
    with CardSlot(reader) as slot:
        number = 0
        while count is None or number < count:
            say(f"put the next card on {slot.name} (none within {wait_s:.0f} s ends the rebuild)")
            if not slot.wait(True, wait_s):
                return
            number += 1
            reading, problem = _read(slot.transmit, master)
            say(f"card #{number}: " + (reading.public.masked_number if reading else "?")
                + (f" {problem}" if problem else f", {reading.balance if reading else 0} visits"))
            yield f"reader #{number}", reading, problem
            if count is not None and number >= count:
                return
            if not slot.wait(False, wait_s):
                raise CardMakingError(f"the card stayed on {slot.name} for {wait_s:.0f} s")


def compare(ctx: CommandContext, source: str, reading: PlainReading | None, problem: str | None) -> Comparison:
    result = Comparison(source, reading, problem)
    if reading is None or problem is not None:
        return result
    card = ctx.session.get(Card, reading.card_number)
    result.in_ledger = card is not None
    result.ledger_visits = card.visits_left if card else None
    known = set(ctx.session.execute(
        select(CardTransaction.card_counter, CardTransaction.counter_kind)
        .where(CardTransaction.card_number == reading.card_number)).all())
    for record in reading.records:
        # a load is head office's own (a re-issue): the card's balance carries it, no cinema settles it
        if record.kind != crypto.TRANSACTION_LOAD and (record.card_counter, card_ledger.PURCHASE) not in known:
            result.missing.append(record)
    return result


def apply(ctx: CommandContext, comparison: Comparison) -> int:
    """Upload one card and its missing records; returns the transactions added."""
    reading = comparison.reading
    if reading is None or comparison.problem is not None:
        return 0
    public = reading.public
    number = public.card_number
    card = ctx.session.get(Card, number)
    loads = [r for r in reading.records if r.kind == crypto.TRANSACTION_LOAD]
    if card is None:
        if ctx.session.get(CardType, public.card_type) is None:
            comparison.not_uploadable.append(f"card type {public.card_type} is not in the ledger: add it first")
            return 0
        made_at = dt.datetime.combine(public.made, dt.time(), dt.UTC)
        card = Card(card_number=number, card_type=public.card_type, status="active" if public.sold else "made",
                    issue_no=1 + len(loads), made_at=made_at,
                    sold_at=dt.datetime.combine(public.activated, dt.time(), dt.UTC) if public.activated else None,
                    activated_on=public.activated, expires_on=public.expires, visits_left=reading.balance)
        ctx.session.add(card)
        ctx.session.add(CardIssue(card_number=number, issue_no=card.issue_no, card_type=public.card_type,
                                  started_at=card.sold_at or made_at))
        ctx.session.flush()
        comparison.card_added = True
    psams = {row.terminal_id: row for row in ctx.session.scalars(select(Psam))}
    added = 0
    for record in reversed(comparison.missing):  # oldest first, as they happened
        tid = record.terminal_id.hex().upper()
        # records are newest first: each load seen before this one started a later issue
        position = next(i for i, r in enumerate(reading.records) if r is record)
        newer_loads = sum(1 for r in reading.records[:position] if r.kind == crypto.TRANSACTION_LOAD)
        issue_no = max(1, card.issue_no - newer_loads)
        psam = psams.get(tid)
        if psam is None:
            comparison.not_uploadable.append(f"record {record.card_counter}: terminal {tid} is not a registered PSAM")
            continue
        newest = bool(reading.records) and record is reading.records[0]
        debit = card_ledger.Debit(
            card_number=number, card_counter=record.card_counter, visits=record.amount,
            kind=CardUseKind(KINDS[record.kind]), terminal_id=tid, at=record.when, balance_after=record.balance_after,
            tac=reading.last_debit_tac.hex().upper() if newest and reading.last_debit_tac else None)
        row = card_ledger.record_debit(ctx.session, ctx.now, card, debit, psam.cinema_id, kiosk_id=psam.kiosk_id,
                                       staff_no=None, proof="card_log")
        row.issue_no = issue_no
        added += 1
    card.visits_left = reading.balance  # the card is the truth after a loss
    counters = [r.card_counter for r in reading.records if r.kind != crypto.TRANSACTION_LOAD]
    if counters:
        card.last_counter = max([*counters, card.last_counter or 0])
    ctx.session.flush()
    ctx.audit("card_rebuilt", card=public.masked_number, transactions=added, visits=reading.balance)
    return added


def table_lines(comparisons: list[Comparison]) -> list[str]:
    header = f"{'source':<18} {'card':<18} {'card visits':>11} {'ledger':>7} {'records':>7} {'missing':>7}  state"
    lines = [header, "-" * len(header)]
    for c in comparisons:
        row = c.as_json()
        ledger = "-" if row["ledger_visits"] is None else str(row["ledger_visits"])
        card_visits = "-" if row["card_visits"] is None else str(row["card_visits"])
        state = row["state"] + (f": {c.problem}" if c.problem else "")
        lines.append(f"{row['source'][:18]:<18} {row['card'] or '?':<18} {card_visits:>11} {ledger:>7} "
                     f"{row['card_records']:>7} {row['missing_transactions']:>7}  {state}")
    return lines


def run(ctx: CommandContext, args: argparse.Namespace, say: Say) -> dict[str, Any]:
    ctx.require(Permission.MANAGE_USERS if args.apply else Permission.GLOBAL_REPORTS)
    if ctx.actor.cinema_id is not None:
        raise Refusal(ErrorCode.FORBIDDEN, "a rebuild is head office's")
    master: crypto.MasterKeys = ctx.central.issuer_keys
    say("reading the cards through a plain reader, without a PSAM: the issuer's keys check each card's "
        "public file and chip; log records are as the card tells them (proof card_log)")
    source = (_image_readings(args.from_images, master) if args.from_images is not None
              else _reader_readings(args.reader, master, args.cards, args.wait, say))
    comparisons = [compare(ctx, name, reading, problem) for name, reading, problem in source]
    for line in table_lines(comparisons):
        say(line)
    uploaded = 0
    if args.apply:
        uploaded = sum(apply(ctx, comparison) for comparison in comparisons)
    return {
        "checked_with": "issuer keys (no PSAM): public-file MAC and chip authentication; log records unauthenticated",
        "cards": [c.as_json() for c in comparisons],
        "applied": bool(args.apply),
        "cards_added": sum(1 for c in comparisons if c.card_added),
        "transactions_added": uploaded,
    }
