"""The kiosk's local store of everything that must survive a crash or power loss.

SQLite in WAL mode with ``synchronous=FULL``: a step is on disk before the kiosk acts on
it.  Tables:

- ``claims`` / ``claim_tickets``: a claim granted by the central and, per ticket, how far
  printing got (``claimed`` -> ``sent`` -> ``printed``, or ``released`` / ``in_doubt``).
- ``outbox``: reports that must reach the central, each with its idempotency key, kept
  until the central acknowledged them, so they are delivered exactly once.  One the central
  refuses for good (it does not know the claim) is held (``held_at``) for staff, not dropped.
- ``cache``: small JSON documents (key set, revocation list, ...).
- ``audit``: what happened, with codes and numbers already masked by the caller.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    claim_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    closed_at REAL
);
CREATE TABLE IF NOT EXISTS claim_tickets (
    claim_id TEXT NOT NULL REFERENCES claims(claim_id),
    ticket_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    state TEXT NOT NULL,
    content TEXT NOT NULL,
    updated_at REAL NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (claim_id, ticket_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    item_id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    delivered_at REAL,
    held_at REAL
);
CREATE TABLE IF NOT EXISTS cache (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS card_debits (
    redemption_id TEXT PRIMARY KEY,
    card_number TEXT NOT NULL,
    state TEXT NOT NULL,
    pending TEXT NOT NULL,
    proof TEXT,
    showing TEXT,
    detail TEXT NOT NULL DEFAULT '',
    cancelled INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS card_transactions (
    card_number TEXT NOT NULL,
    card_counter INTEGER NOT NULL,
    visits INTEGER NOT NULL,
    kind TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    at TEXT NOT NULL,
    balance_after INTEGER NOT NULL,
    redemption_id TEXT,
    PRIMARY KEY (card_number, card_counter)
);
CREATE TABLE IF NOT EXISTS audit (
    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    fields TEXT NOT NULL
);
"""


class TicketState(str, enum.Enum):
    CLAIMED = "claimed"  # granted by the central, nothing sent to the printer yet
    SENT = "sent"  # bytes handed to the printer, no confirming status yet
    PRINTED = "printed"  # the printer reported a healthy status after the cut
    RELEASED = "released"  # never sent: collectable again
    IN_DOUBT = "in_doubt"  # sent but never confirmed: staff decide


FINAL_STATES = frozenset({TicketState.PRINTED, TicketState.RELEASED, TicketState.IN_DOUBT})


@dataclass(frozen=True)
class JournalTicket:
    claim_id: str
    ticket_id: str
    position: int
    state: TicketState
    content: dict[str, Any]
    detail: str


@dataclass(frozen=True)
class OutboxItem:
    item_id: int
    kind: str
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int


class CardDebitState(str, enum.Enum):
    """A year-card debit's life in the journal (kiosk/flows/card.py writes each before it acts)."""

    PENDING = "pending"  # journaled before DEBIT FOR PURCHASE: the card may or may not have been debited
    PROVEN = "proven"  # the card answered its TAC: the central must be told (CONFIRM), even after a crash
    CONFIRMED = "confirmed"  # the central recorded the debit
    NOT_DEBITED = "not_debited"  # the card was not debited: the central must release the seats
    REFUSED = "refused"  # the central refused the proof (TAC invalid): staff and head office settle it
    UNKNOWN = "unknown"  # the card never came back: the central reconciles at the card's next tap
    RECONCILED = "reconciled"  # the central settled it at a later tap


CARD_BLACKLIST_CACHE = "card_blacklist"


@dataclass(frozen=True)
class CardDebit:
    redemption_id: str
    card_number: str
    state: CardDebitState
    pending: dict[str, Any]
    proof: dict[str, Any] | None
    showing: dict[str, Any] | None
    detail: str
    cancelled: bool


class JournalError(Exception):
    """The journal file cannot be opened or written (disk full, corrupt, permissions)."""


class Journal:
    def __init__(self, path: Path | str, clock: Any = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            self._upgrade()
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from exc

    def _upgrade(self) -> None:
        """Bring a journal written by an older kiosk to this schema (columns added since)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "held_at" not in columns:
            self._db.execute("ALTER TABLE outbox ADD COLUMN held_at REAL")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise JournalError(f"journal write failed: {exc}") from exc

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args))
            except sqlite3.Error as exc:
                raise JournalError(f"journal read failed: {exc}") from exc

    # -- claims ---------------------------------------------------------------------------

    def record_claim(self, claim_id: str, order_id: str, tickets: list[tuple[str, dict[str, Any]]]) -> None:
        """Write a granted claim and its tickets (in print order) before anything prints."""
        now = self._clock()
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO claims (claim_id, order_id, created_at) VALUES (?, ?, ?)",
                (claim_id, order_id, now),
            )
            for position, (ticket_id, content) in enumerate(tickets):
                db.execute(
                    "INSERT OR IGNORE INTO claim_tickets (claim_id, ticket_id, position, state, content, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (claim_id, ticket_id, position, TicketState.CLAIMED.value, json.dumps(content), now),
                )

    def set_ticket_state(self, claim_id: str, ticket_id: str, state: TicketState, detail: str = "") -> None:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE claim_tickets SET state = ?, detail = ?, updated_at = ? WHERE claim_id = ? AND ticket_id = ?",
                (state.value, detail, self._clock(), claim_id, ticket_id),
            )
            if cursor.rowcount != 1:
                raise JournalError(f"no journaled ticket {ticket_id} in claim {claim_id}")

    def tickets(self, claim_id: str) -> list[JournalTicket]:
        rows = self._query(
            "SELECT claim_id, ticket_id, position, state, content, detail FROM claim_tickets "
            "WHERE claim_id = ? ORDER BY position",
            (claim_id,),
        )
        return [_ticket_from_row(row) for row in rows]

    def open_claim_ids(self) -> list[str]:
        rows = self._query("SELECT claim_id FROM claims WHERE closed_at IS NULL ORDER BY created_at")
        return [row[0] for row in rows]

    def close_claim(self, claim_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE claims SET closed_at = ? WHERE claim_id = ?", (self._clock(), claim_id))

    def tickets_in_state(self, state: TicketState) -> list[JournalTicket]:
        rows = self._query(
            "SELECT claim_id, ticket_id, position, state, content, detail FROM claim_tickets "
            "WHERE state = ? ORDER BY updated_at",
            (state.value,),
        )
        return [_ticket_from_row(row) for row in rows]

    # -- outbox ---------------------------------------------------------------------------

    def enqueue(self, kind: str, payload: dict[str, Any], idempotency_key: str | None = None) -> str:
        """Queue a message for the central; returns its idempotency key."""
        key = idempotency_key or uuid.uuid4().hex
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO outbox (kind, idempotency_key, payload, created_at) VALUES (?, ?, ?, ?)",
                (kind, key, json.dumps(payload), self._clock()),
            )
        return key

    def pending(self) -> list[OutboxItem]:
        rows = self._query(
            "SELECT item_id, kind, idempotency_key, payload, attempts FROM outbox "
            "WHERE delivered_at IS NULL AND held_at IS NULL ORDER BY item_id"
        )
        return [OutboxItem(row[0], row[1], row[2], json.loads(row[3]), row[4]) for row in rows]

    def held(self) -> list[OutboxItem]:
        """Messages the central refused for good, kept for staff."""
        rows = self._query(
            "SELECT item_id, kind, idempotency_key, payload, attempts FROM outbox "
            "WHERE delivered_at IS NULL AND held_at IS NOT NULL ORDER BY item_id"
        )
        return [OutboxItem(row[0], row[1], row[2], json.loads(row[3]), row[4]) for row in rows]

    def hold_undeliverable(self, item_id: int, error: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET held_at = ?, attempts = attempts + 1, last_error = ? WHERE item_id = ?",
                (self._clock(), error[:500], item_id),
            )

    def mark_delivered(self, item_id: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE outbox SET delivered_at = ? WHERE item_id = ?", (self._clock(), item_id))

    def mark_attempt_failed(self, item_id: int, error: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE item_id = ?",
                (error[:500], item_id),
            )

    # -- year-card debits -----------------------------------------------------------------

    def card_debit_pending(self, redemption_id: str, pending: dict[str, Any],
                           showing: dict[str, Any] | None = None) -> None:
        """Before DEBIT FOR PURCHASE: the debit that may happen (PendingDebit.to_dict())."""
        now = self._clock()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO card_debits (redemption_id, card_number, state, pending, showing, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(redemption_id) DO UPDATE SET state = excluded.state, "
                "pending = excluded.pending, updated_at = excluded.updated_at",
                (redemption_id, pending["card_number"], CardDebitState.PENDING.value, json.dumps(pending),
                 json.dumps(showing) if showing is not None else None, now, now),
            )

    def card_debit_proven(self, redemption_id: str, proof: dict[str, Any]) -> None:
        """The card answered the debit's TAC (DebitProof.to_dict()): the central must hear of it."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE card_debits SET state = ?, proof = ?, updated_at = ? WHERE redemption_id = ?",
                (CardDebitState.PROVEN.value, json.dumps(proof), self._clock(), redemption_id),
            )
            if cursor.rowcount != 1:
                raise JournalError(f"no journaled debit for redemption {redemption_id}")

    def card_debit_settle(self, redemption_id: str, state: CardDebitState, detail: str = "") -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE card_debits SET state = ?, detail = ?, updated_at = ? WHERE redemption_id = ?",
                (state.value, detail[:500], self._clock(), redemption_id),
            )

    def card_debit_cancelled(self, redemption_id: str) -> None:
        """The central released the seats of a redemption whose card was not debited."""
        with self._transaction() as db:
            db.execute("UPDATE card_debits SET cancelled = 1, updated_at = ? WHERE redemption_id = ?",
                       (self._clock(), redemption_id))

    def card_debit(self, redemption_id: str) -> CardDebit | None:
        rows = self._query(_CARD_DEBIT_SELECT + " WHERE redemption_id = ?", (redemption_id,))
        return _card_debit_from_row(rows[0]) if rows else None

    def card_debits(self, *states: CardDebitState) -> list[CardDebit]:
        """The journaled debits in ``states`` (all when none is named), oldest first."""
        rows = self._query(_CARD_DEBIT_SELECT + " ORDER BY created_at")
        debits = [_card_debit_from_row(row) for row in rows]
        return [d for d in debits if not states or d.state in states]

    def card_work_pending(self) -> list[CardDebit]:
        """What must still reach the central: proofs to confirm, voided redemptions to cancel."""
        return [d for d in self.card_debits(CardDebitState.PROVEN, CardDebitState.NOT_DEBITED)
                if d.state is CardDebitState.PROVEN or not d.cancelled]

    def settle_reconciled(self, redemption_ids: list[str]) -> None:
        """A tap settled these redemptions at the central: the journal's open ones are done."""
        open_states = (CardDebitState.PENDING.value, CardDebitState.UNKNOWN.value, CardDebitState.PROVEN.value)
        with self._transaction() as db:
            for rid in redemption_ids:
                db.execute(
                    "UPDATE card_debits SET state = ?, updated_at = ? WHERE redemption_id = ? AND state IN (?, ?, ?)",
                    (CardDebitState.RECONCILED.value, self._clock(), rid, *open_states),
                )

    # -- the kiosk's own card transactions (its queries; restorable from the central) -----------

    def record_card_transaction(self, transaction: dict[str, Any], redemption_id: str | None = None) -> bool:
        """A confirmed debit (DebitProofBody / CardTransactionView fields); False when known already."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO card_transactions (card_number, card_counter, visits, kind, terminal_id, at, "
                "balance_after, redemption_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (transaction["card_number"], int(transaction["card_counter"]), int(transaction["visits"]),
                 str(transaction["kind"]), transaction["terminal_id"], str(transaction["at"]),
                 int(transaction["balance_after"]), redemption_id or transaction.get("redemption_id")),
            )
            return cursor.rowcount == 1

    def card_transactions(self, card_number: str | None = None) -> list[dict[str, Any]]:
        """This kiosk's card transactions, newest first (one card's when named)."""
        sql = ("SELECT card_number, card_counter, visits, kind, terminal_id, at, balance_after, redemption_id "
               "FROM card_transactions")
        args: tuple[Any, ...] = ()
        if card_number is not None:
            sql += " WHERE card_number = ?"
            args = (card_number,)
        rows = self._query(sql + " ORDER BY at DESC, card_counter DESC", args)
        names = ("card_number", "card_counter", "visits", "kind", "terminal_id", "at", "balance_after",
                 "redemption_id")
        return [dict(zip(names, row, strict=True)) for row in rows]

    # -- the cached card blacklist --------------------------------------------------------

    def set_card_blacklist(self, version: int, card_numbers: list[str]) -> bool:
        """Keep the central's blacklist; an older version than the one kept is ignored.  True: replaced."""
        kept = self.get_cache(CARD_BLACKLIST_CACHE)
        if isinstance(kept, dict) and int(kept.get("version", -1)) >= version:
            return False
        self.put_cache(CARD_BLACKLIST_CACHE, {"version": version, "card_numbers": sorted(set(card_numbers))})
        return True

    def card_blacklist_version(self) -> int | None:
        kept = self.get_cache(CARD_BLACKLIST_CACHE)
        return int(kept["version"]) if isinstance(kept, dict) and "version" in kept else None

    def card_blacklisted(self, card_number: str) -> bool:
        kept = self.get_cache(CARD_BLACKLIST_CACHE)
        return isinstance(kept, dict) and card_number in kept.get("card_numbers", ())

    # -- cache and audit ------------------------------------------------------------------

    def put_cache(self, name: str, value: Any) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO cache (name, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (name, json.dumps(value), self._clock()),
            )

    def get_cache(self, name: str) -> Any | None:
        rows = self._query("SELECT value FROM cache WHERE name = ?", (name,))
        return json.loads(rows[0][0]) if rows else None

    def audit(self, event: str, **fields: Any) -> None:
        """Record an event. Callers pass masked values only (see kiosk.masking)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO audit (at, event, fields) VALUES (?, ?, ?)",
                (self._clock(), event, json.dumps(fields, default=str, ensure_ascii=False)),
            )

    def audit_entries(self, limit: int = 200) -> list[tuple[float, str, dict[str, Any]]]:
        rows = self._query("SELECT at, event, fields FROM audit ORDER BY entry_id DESC LIMIT ?", (limit,))
        return [(row[0], row[1], json.loads(row[2])) for row in reversed(rows)]


_CARD_DEBIT_SELECT = ("SELECT redemption_id, card_number, state, pending, proof, showing, detail, cancelled "
                      "FROM card_debits")


def _card_debit_from_row(row: tuple[Any, ...]) -> CardDebit:
    return CardDebit(
        redemption_id=row[0],
        card_number=row[1],
        state=CardDebitState(row[2]),
        pending=json.loads(row[3]),
        proof=json.loads(row[4]) if row[4] else None,
        showing=json.loads(row[5]) if row[5] else None,
        detail=row[6],
        cancelled=bool(row[7]),
    )


def _ticket_from_row(row: tuple[Any, ...]) -> JournalTicket:
    return JournalTicket(
        claim_id=row[0],
        ticket_id=row[1],
        position=row[2],
        state=TicketState(row[3]),
        content=json.loads(row[4]),
        detail=row[5],
    )
