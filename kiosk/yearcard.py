"""The kiosk's year-card service: the terminal over the card reader and the PSAM, and its card work.

* :class:`YearCardService` builds :class:`devices.yearcard.terminal.YearCardTerminal` over the
  kiosk's card reader (first slot) and its PSAM reader (second slot), in the cinema's local
  wall-clock time (what the card stores), and lets one operation at a time reach the card.  Its
  calls block on the card: flows call them from their worker, never from the main loop.  Counter
  mode uses the same service.
* :func:`flush_card_work` sends what the journal holds for the central: debit proofs not yet
  confirmed, and redemptions voided (the card not debited) whose seats are still held.
* :func:`refresh_blacklist` keeps the central's card blacklist, with its version, for offline taps.
* :func:`restore_card_transactions` rebuilds the kiosk's own card transactions from the central.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from backend_client.errors import CentralError, CentralRefused
from backend_client.wire import (
    CardBlacklist,
    CardTransactionPage,
    CardUseKind,
    ClaimStatus,
    DebitProofBody,
    ErrorCode,
    RedemptionResult,
    RedemptionView,
    TicketOutcome,
)
from devices.card_api import ApduResponse
from devices.health import HEALTH_OK, Health, HealthLevel
from devices.yearcard import crypto
from devices.yearcard.terminal import (
    CardReading,
    DebitedWithoutProof,
    DebitProof,
    NotDebited,
    PendingDebit,
    PsamError,
    Transmit,
    YearCardTerminal,
)
from kiosk.journal import CardDebitState, Journal

log = logging.getLogger(__name__)

PSAM_MISSING = "psam_missing"  # health reason: the PSAM does not answer (card journeys are off)

_KINDS = {crypto.TRANSACTION_TICKET: CardUseKind.TICKETS, crypto.TRANSACTION_CONCESSION: CardUseKind.CONCESSIONS}


class Transmitter(Protocol):
    """A card reader as far as the terminal needs it (devices.card_api.CardReader has this)."""

    def transmit(self, apdu: bytes, timeout_s: float = 3.0) -> ApduResponse: ...


class YearCardService:
    """The year-card terminal of this kiosk; every call may block on the card or the PSAM."""

    def __init__(
        self,
        card: Transmitter | Transmit,
        psam: Transmitter | Transmit,
        *,
        timezone: str,
        timeout_s: float = 3.0,
        wall: Callable[[], dt.datetime] | None = None,
    ) -> None:
        """``wall``: aware wall-clock time (the kiosk's clock); the card gets it in ``timezone``."""
        self._zone = ZoneInfo(timezone)
        self._wall = wall or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.Lock()  # one dialogue with the card and the PSAM at a time
        self._psam = psam
        self.terminal = YearCardTerminal(card, psam, clock=self.local_now, timeout_s=timeout_s)

    def local_now(self) -> dt.datetime:
        """The cinema's local wall-clock time, naive, to the second: as the card writes it."""
        return self._wall().astimezone(self._zone).replace(tzinfo=None, microsecond=0)

    def read(self) -> CardReading:
        with self._lock:
            return self.terminal.read()

    def debit(self, visits: int, kind: int = crypto.TRANSACTION_TICKET, expect_card: str | None = None,
              on_pending: Callable[[PendingDebit], None] | None = None) -> DebitProof:
        with self._lock:
            return self.terminal.debit(visits, kind, expect_card=expect_card, on_pending=on_pending)

    def recover(self, pending: PendingDebit) -> DebitProof | NotDebited | DebitedWithoutProof:
        with self._lock:
            return self.terminal.recover(pending)

    def challenge(self) -> str:
        """GET CHALLENGE for a sale or renewal at the counter (the issuer's MAC binds to it)."""
        with self._lock:
            return self.terminal.challenge()

    def write_public(self, update_data: str, expect_card: str | None = None) -> None:
        """The central's secure UPDATE BINARY for the challenge just taken (no key here)."""
        with self._lock:
            self.terminal.write_public(update_data, expect_card=expect_card)

    def psam_health(self) -> Health:
        """OK when the PSAM answers with its terminal id; CRITICAL ``psam_missing`` otherwise."""
        try:
            with self._lock:
                self.terminal.terminal_id()
        except PsamError as exc:
            log.debug("PSAM check failed: %s", exc)
            return Health(HealthLevel.CRITICAL, PSAM_MISSING)
        return HEALTH_OK


def proof_body(proof: DebitProof) -> DebitProofBody:
    """The wire form of a debit's proof (the central checks the TAC)."""
    pending = proof.pending
    return DebitProofBody(
        card_number=pending.card_number, card_counter=pending.card_counter, visits=pending.amount,
        kind=_KINDS.get(pending.kind, CardUseKind.TICKETS), terminal_id=pending.terminal_id,
        terminal_seq=pending.terminal_seq, at=pending.when, balance_after=pending.balance_after, tac=proof.tac,
    )


def proof_from_dict(data: dict[str, Any]) -> DebitProof:
    """A journaled DebitProof.to_dict() back."""
    fields = {k: v for k, v in data.items() if k not in ("balance_after", "tac")}
    return DebitProof(PendingDebit.from_dict(fields), str(data["tac"]))


class CardWorkClient(Protocol):
    def report(self, claim_id: str, outcomes: dict[str, TicketOutcome], idempotency_key: str,
               entrance_tokens: dict[str, str] | None = None) -> ClaimStatus: ...

    def confirm_redemption(self, redemption_id: str, proof: DebitProofBody, idempotency_key: str,
                           staff_token: str | None = None) -> RedemptionResult: ...

    def cancel_redemption(self, redemption_id: str, reason: str, idempotency_key: str,
                          staff_token: str | None = None) -> RedemptionView: ...


# The central will never take these: there is nothing left to send.
_FINAL_REFUSALS = frozenset({ErrorCode.REDEMPTION_NOT_FOUND, ErrorCode.TAC_INVALID, ErrorCode.BAD_REQUEST})


def flush_card_work(journal: Journal, client: CardWorkClient) -> int:
    """Send the journal's card work to the central, oldest first; stop at the first unreachable call.

    Uses the same idempotency keys as the flow did, so a repeat never deducts twice.  A
    confirmed redemption's tickets are not printed here (nobody is at the kiosk): the central
    offers them at the card's next tap.  Returns how many items were settled.
    """
    settled = 0
    for debit in journal.card_work_pending():
        rid = debit.redemption_id
        try:
            if debit.state is CardDebitState.PROVEN and debit.proof is not None:
                body = proof_body(proof_from_dict(debit.proof))
                result = client.confirm_redemption(rid, body, f"{rid}:confirm")
                journal.card_debit_settle(rid, CardDebitState.CONFIRMED, "confirmed later")
                journal.record_card_transaction(body.model_dump(mode="json"), rid)
                log.info("redemption %s: the debit's proof reached the central", rid)
                if result.claim is not None:
                    _release(client, result.claim.claim_id, [t.ticket_id for t in result.claim.tickets])
            else:
                client.cancel_redemption(rid, debit.detail or "not_debited", f"{rid}:cancel")
                journal.card_debit_cancelled(rid)
                log.info("redemption %s: voided at the central (the card was not debited)", rid)
        except CentralRefused as exc:
            if exc.code not in _FINAL_REFUSALS and exc.code is not ErrorCode.REDEMPTION_EXPIRED:
                log.info("redemption %s: the central refused the card work (%s); retried later", rid, exc.code.value)
                continue
            if debit.state is CardDebitState.PROVEN:
                journal.card_debit_settle(rid, CardDebitState.REFUSED, exc.code.value)
                log.warning("redemption %s: the central refused the debit's proof (%s); for staff", rid,
                            exc.code.value)
            else:
                journal.card_debit_cancelled(rid)  # nothing held any more
        except CentralError as exc:
            log.info("card work waits for the central: %s", exc)
            return settled
        settled += 1
    return settled


def _release(client: CardWorkClient, claim_id: str, ticket_ids: list[str]) -> None:
    """Nothing of this claim printed (nobody is at the kiosk): its tickets are owed at the card's next tap
    at once, instead of when the claim's lease runs out."""
    try:
        client.report(claim_id, dict.fromkeys(ticket_ids, TicketOutcome.RELEASED), f"{claim_id}:released")
    except CentralError as exc:
        log.info("claim %s: not released now (%s); its lease runs out by itself", claim_id, exc)


class BlacklistClient(Protocol):
    def card_blacklist(self) -> CardBlacklist: ...


def refresh_blacklist(journal: Journal, client: BlacklistClient) -> bool:
    """Fetch the central's card blacklist; keep it when newer.  False when the central did not answer."""
    try:
        blacklist = client.card_blacklist()
    except CentralError as exc:
        log.debug("card blacklist not refreshed: %s", exc)
        return False
    if journal.set_card_blacklist(blacklist.version, blacklist.card_numbers):
        log.info("card blacklist version %d kept (%d card(s))", blacklist.version, len(blacklist.card_numbers))
    return True


class TransactionsClient(Protocol):
    def card_transactions(self, after: int | None = None) -> CardTransactionPage: ...


TRANSACTIONS_CURSOR = "card_transactions_cursor"


def restore_card_transactions(journal: Journal, client: TransactionsClient, max_pages: int = 1000) -> int:
    """Take the central's record of this kiosk's card transactions into the journal (a lost journal).

    Resumes from the cursor kept in the journal; returns how many were new here.
    """
    after = journal.get_cache(TRANSACTIONS_CURSOR)
    added = 0
    for _ in range(max_pages):
        page = client.card_transactions(after if isinstance(after, int) else None)
        for transaction in page.transactions:
            if journal.record_card_transaction(transaction.model_dump(mode="json")):
                added += 1
        if page.next_after is None:
            break
        after = page.next_after
        journal.put_cache(TRANSACTIONS_CURSOR, after)
    if added:
        log.info("%d card transaction(s) of this kiosk restored from the central", added)
    return added


# ---- the in-process simulator (card.reader = "sim"): a year-card and a PSAM from image files ----


def sim_psam_channel(psam_image: Path | str) -> Transmit:
    """The PSAM of ``psam_image`` answered in-process (demo and UI tests on ``card.reader = "sim"``)."""
    from devices.sim.psam import PsamOS, PsamStore
    from devices.sim.yearcard import handler_channel

    return handler_channel(PsamOS(PsamStore(Path(psam_image))))


def insert_sim_year_card(reader: Any, card_image: Path | str) -> None:
    """Put the year-card of ``card_image`` on a :class:`devices.sim.card_reader_sim.SimCardReader`."""
    from devices.sim.yearcard_os import ImageStore, YearCardOS
    from devices.yearcard import profile as p

    reader.insert(p.CARD_ATR, YearCardOS(ImageStore(Path(card_image))))

