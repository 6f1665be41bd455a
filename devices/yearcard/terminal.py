"""The kiosk's side of the year-card: read a card, debit visits through the PSAM, recover a torn debit.

The terminal holds no key. It exchanges APDUs with the card (first reader) and the PSAM (second
reader), each given as a :class:`devices.card_api.CardReader` or as a plain ``transmit``
callable, and returns plain data the central can verify (:class:`DebitProof`: card number,
card counter, visits, terminal id and sequence number, date and time, TAC).

Debit (see docs/yearcard.md for the APDUs)::

    card:  SELECT, READ BINARY public file
    psam:  SELECT, READ BINARY terminal id
    card:  INITIALIZE FOR PURCHASE        -> balance, counter, random
    psam:  INIT SAM FOR PURCHASE          -> terminal sequence number, MAC1
           on_pending(PendingDebit)         (the caller journals it: from here the outcome may be unknown)
    card:  DEBIT FOR PURCHASE (MAC1)      -> TAC, MAC2
    psam:  CREDIT SAM FOR PURCHASE (MAC2) -> verified

Any failure before DEBIT FOR PURCHASE is sent means nothing was debited (a plain
:class:`YearCardError`). A failure after it raises :class:`DebitInterrupted` with the pending
debit: with the card back, :meth:`YearCardTerminal.recover` reads the card's log and asks GET
TRANSACTION PROVE, and answers :class:`DebitProof` (debited, MAC2 verified by the PSAM, TAC for
the central) or :class:`NotDebited`; the caller completes or voids the redemption.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from devices.card_api import ApduResponse, CardError
from devices.yearcard import crypto
from devices.yearcard import profile as p

log = logging.getLogger(__name__)

Transmit = Callable[[bytes], ApduResponse]


class _Transmitter(Protocol):
    def transmit(self, apdu: bytes, timeout_s: float = 3.0) -> ApduResponse: ...


# ---- errors: each message is for logs and staff; the class tells the flow what to show ----


class YearCardError(Exception):
    """The operation did not happen. Before a DEBIT was sent this always means: nothing was debited."""


class CardUnavailable(YearCardError):
    """The card left, did not answer, or the reader is gone."""


class NotAYearCard(YearCardError):
    """No year-card application on this card (another chain's card, a bank card)."""


class BlankCard(YearCardError):
    """A card that was never personalised."""


class CardIntegrityError(YearCardError):
    """The card's data or MACs do not check out: an edited or copied card, or keys of another issuer."""


class UnreadableCard(YearCardError):
    """The card answered something the profile does not allow."""

    def __init__(self, message: str, sw: int | None = None) -> None:
        super().__init__(message)
        self.sw = sw  # the error status word, when that was the trouble


class NotEnoughVisits(YearCardError):
    def __init__(self, message: str, balance: int) -> None:
        super().__init__(message)
        self.balance = balance


class PsamError(YearCardError):
    """The PSAM is missing, does not answer, or refuses: card journeys are out of order."""


class WrongCard(YearCardError):
    """Another card was presented for the recovery of a torn debit."""


class RecoveryUnknown(YearCardError):
    """The card's log no longer reaches back to the torn debit: the central reconciles at the next tap."""


# ---- results ----


@dataclass(frozen=True)
class CardReading:
    public: p.PublicInfo
    balance: int
    records: tuple[p.TransactionRecord, ...]  # newest first

    @property
    def card_number(self) -> str:
        return self.public.card_number


@dataclass(frozen=True)
class PendingDebit:
    """A debit about to be sent to the card: what the caller journals before the card may change."""

    card_number: str
    card_counter: int
    amount: int
    kind: int
    terminal_id: str  # 12 hex digits
    terminal_seq: int
    when: dt.datetime
    balance_before: int

    @property
    def balance_after(self) -> int:
        return self.balance_before - self.amount

    def purchase(self) -> crypto.Purchase:
        return crypto.Purchase(
            amount=self.amount,
            kind=self.kind,
            terminal_id=bytes.fromhex(self.terminal_id),
            date=p.bcd_date(self.when.date()),
            time=p.bcd_time(self.when),
            terminal_seq=self.terminal_seq,
            card_counter=self.card_counter,
            balance_after=self.balance_after,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "when": self.when.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingDebit:
        return cls(**{**data, "when": dt.datetime.fromisoformat(data["when"])})


@dataclass(frozen=True)
class DebitProof:
    """A debit done on the card, MAC2 checked by the PSAM; the central checks ``tac`` as issuer."""

    pending: PendingDebit
    tac: str  # 8 hex digits

    @property
    def card_number(self) -> str:
        return self.pending.card_number

    @property
    def balance_after(self) -> int:
        return self.pending.balance_after

    def verify(self, master_tac_key: bytes) -> bool:
        """The issuer's check (the central's): TAC over amount, kind, terminal, sequence, time, counter, balance."""
        return crypto.verify_tac(master_tac_key, self.card_number, self.pending.purchase(), bytes.fromhex(self.tac))

    def to_dict(self) -> dict[str, Any]:
        return {**self.pending.to_dict(), "balance_after": self.balance_after, "tac": self.tac}


@dataclass(frozen=True)
class NotDebited:
    """The torn debit never reached the card: nothing to complete, the redemption is voided."""

    pending: PendingDebit


@dataclass(frozen=True)
class DebitedWithoutProof:
    """The card shows the debit, but it has made another since and no longer gives this one's TAC."""

    pending: PendingDebit
    record: p.TransactionRecord


class DebitInterrupted(YearCardError):
    """DEBIT FOR PURCHASE was sent and its outcome is unknown: ask for the card back, then recover()."""

    def __init__(self, message: str, pending: PendingDebit) -> None:
        super().__init__(message)
        self.pending = pending


class Mac2Refused(CardIntegrityError):
    """The card's log shows the debit but the PSAM refuses its MAC2, twice: a card that is not what it
    claims. The proof goes to the central, which checks the TAC."""

    def __init__(self, message: str, proof: DebitProof) -> None:
        super().__init__(message)
        self.proof = proof


def _as_transmit(channel: Transmit | _Transmitter, timeout_s: float) -> Transmit:
    if hasattr(channel, "transmit"):
        reader: _Transmitter = channel
        return lambda apdu: reader.transmit(apdu, timeout_s)
    return channel


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


class YearCardTerminal:
    def __init__(
        self,
        card: Transmit | _Transmitter,
        psam: Transmit | _Transmitter,
        clock: Callable[[], dt.datetime] = _now,
        timeout_s: float = 3.0,
    ) -> None:
        self._card = _as_transmit(card, timeout_s)
        self._psam = _as_transmit(psam, timeout_s)
        self._clock = clock
        self._terminal_id: bytes | None = None

    # ---- channels ----

    def _card_call(self, apdu: bytes) -> ApduResponse:
        try:
            return self._card(apdu)
        except CardError as exc:
            raise CardUnavailable(f"card: {exc}") from None

    def _psam_call(self, apdu: bytes) -> ApduResponse:
        try:
            return self._psam(apdu)
        except CardError as exc:
            raise PsamError(f"PSAM: {exc}") from None

    def _card_step(self, apdu: bytes, parse: Callable[[ApduResponse], Any]) -> Any:
        response = self._card_call(apdu)
        try:
            return parse(response)
        except p.CardStatus as exc:
            raise _card_status_error(exc) from None
        except p.ProfileError as exc:
            raise UnreadableCard(str(exc)) from None

    def _psam_step(self, apdu: bytes, parse: Callable[[ApduResponse], Any]) -> Any:
        return self._psam_parse(self._psam_call(apdu), parse)

    @staticmethod
    def _psam_parse(response: ApduResponse, parse: Callable[[ApduResponse], Any]) -> Any:
        try:
            return parse(response)
        except p.ProfileError as exc:
            raise PsamError(f"PSAM: {exc}") from None

    # ---- reading ----

    def terminal_id(self) -> bytes:
        """The PSAM's terminal id (cinema code + terminal number); selects the PSAM application."""
        self._psam_step(p.select_aid(p.PSAM_AID), lambda r: p.parse_select(r, "SELECT PSAM"))
        if self._terminal_id is None:
            self._terminal_id = self._psam_step(p.read_terminal_id(), p.parse_terminal_id)
        assert self._terminal_id is not None
        return self._terminal_id

    def read_public(self) -> p.PublicInfo:
        """SELECT the application, read the public file and have the PSAM check the issuer's MAC on it."""
        self._card_step(p.select_aid(p.CARD_AID), _parse_card_select)
        try:
            public: p.PublicInfo = self._card_step(p.read_public(), p.parse_public)
        except UnreadableCard as exc:
            if exc.sw == p.SW_CONDITIONS:
                raise BlankCard("the card was never personalised") from None
            raise
        self.terminal_id()
        response = self._psam_call(p.verify_public(public.raw))
        if response.sw == p.SW_MAC_INVALID:
            raise CardIntegrityError(f"card {public.masked_number}: the public file fails the issuer's MAC")
        challenge: bytes = self._psam_parse(response, p.parse_verify_public)
        # the chip proves it holds the card's own key: a copy of the public file on another chip fails
        try:
            answer: bytes = self._card_step(p.internal_authenticate(challenge), p.parse_internal_authenticate)
        except UnreadableCard as exc:
            message = f"card {public.masked_number}: no answer to INTERNAL AUTHENTICATE ({exc})"
            raise CardIntegrityError(message) from None
        response = self._psam_call(p.verify_auth(answer))
        if response.sw == p.SW_MAC_INVALID:
            raise CardIntegrityError(f"card {public.masked_number}: the chip is not the card's own (a copy)")
        if response.sw != p.SW_OK:
            raise PsamError(f"PSAM: VERIFY AUTH answered SW {response.sw:04X}")
        return public

    def read(self, records: int = p.LOG_RECORDS) -> CardReading:
        """The card's public data (checked), its visits left and its last ``records`` transactions."""
        public = self.read_public()
        balance: int = self._card_step(p.get_balance(), p.parse_balance)
        return CardReading(public, balance, tuple(self._records(records)))

    def _records(self, count: int) -> list[p.TransactionRecord]:
        found: list[p.TransactionRecord] = []
        for number in range(1, min(count, p.LOG_RECORDS) + 1):
            record = self._card_step(p.read_record(number), p.parse_record)
            if record is None:
                break
            found.append(record)
        return found

    # ---- sale and renewal (the counter) ----

    def challenge(self) -> str:
        """GET CHALLENGE: 4 random bytes (hex) the issuer's next secure update must be bound to.

        Valid for the card's next command only: call write_public() right after the central answers.
        """
        self._card_step(p.select_aid(p.CARD_AID), _parse_card_select)
        challenge: bytes = self._card_step(p.get_challenge(), p.parse_challenge)
        return challenge.hex().upper()

    def write_public(self, update_data: str, expect_card: str | None = None) -> None:
        """The secure UPDATE BINARY (``04 D6 95 00 28``) with the central's data: new public file + MAC.

        The terminal holds no key: the MAC comes from the issuer, over the card's challenge. The card
        writes the whole file or nothing; a refusal (MAC, no challenge, another card) changes nothing.
        """
        try:
            data = bytes.fromhex(update_data)
        except ValueError:
            raise ValueError("update data is not hex") from None
        if len(data) != p.PUBLIC_BYTES + crypto.MAC_BYTES:
            raise ValueError(f"update data is {len(data)} bytes, not {p.PUBLIC_BYTES + crypto.MAC_BYTES}")
        public, mac = data[: p.PUBLIC_BYTES], data[p.PUBLIC_BYTES:]
        if expect_card is not None and public[6:14].hex() != expect_card:
            raise WrongCard("the update is for another card")
        response = self._card_call(p.update_public_secure(public, mac))
        if response.sw == p.SW_MAC_INVALID:
            raise CardIntegrityError("the card refused the issuer's update MAC (another card, or a stale challenge)")
        if response.sw != p.SW_OK:
            raise _card_status_error(p.CardStatus("secure UPDATE BINARY", response.sw))
        log.info("year-card %s: public file updated", p.mask_card_number(public[6:14].hex()))

    # ---- debit ----

    def debit(
        self,
        visits: int,
        kind: int = crypto.TRANSACTION_TICKET,
        expect_card: str | None = None,
        on_pending: Callable[[PendingDebit], None] | None = None,
    ) -> DebitProof:
        """Take ``visits`` off the card in the reader; ``expect_card`` refuses a swapped card."""
        if visits < 1:
            raise ValueError("a debit is at least one visit")
        public = self.read_public()
        if expect_card is not None and public.card_number != expect_card:
            raise WrongCard(f"card {public.masked_number} is not the card read before")
        terminal_id = self.terminal_id()
        try:
            init: p.PurchaseInit = self._card_step(
                p.initialize_for_purchase(kind, visits, terminal_id), p.parse_initialize
            )
        except NotEnoughVisits:
            balance = self._card_step(p.get_balance(), p.parse_balance)
            message = f"card {public.masked_number} has {balance} visit(s), not {visits}"
            raise NotEnoughVisits(message, balance) from None
        if init.balance < visits:  # a card that accepts a debit it cannot pay answers nonsense
            raise UnreadableCard(f"card {public.masked_number} offered {visits} of its {init.balance} visit(s)")
        when = self._clock().replace(microsecond=0)
        date, time = p.bcd_date(when.date()), p.bcd_time(when)
        sam: p.SamPurchase = self._psam_step(
            p.init_sam_for_purchase(
                init.card_random, init.card_counter, visits, kind, date, time,
                init.key_version, init.algorithm, bytes.fromhex(public.card_number),
            ),
            p.parse_init_sam,
        )
        pending = PendingDebit(
            card_number=public.card_number,
            card_counter=init.card_counter,
            amount=visits,
            kind=kind,
            terminal_id=terminal_id.hex().upper(),
            terminal_seq=sam.terminal_seq,
            when=when,
            balance_before=init.balance,
        )
        if on_pending is not None:
            on_pending(pending)
        masked = public.masked_number
        try:
            response = self._card(p.debit_for_purchase(sam.terminal_seq, date, time, sam.mac1))
        except CardError as exc:
            raise DebitInterrupted(f"card {masked}: DEBIT FOR PURCHASE lost ({exc})", pending) from None
        try:
            answer = p.parse_debit(response)
        except p.ProfileError as exc:
            # an error status word means "not done" from a sound card; the card's log says for sure
            return self._settle(pending, exc)
        proof = DebitProof(pending, answer.tac.hex().upper())
        if not self._mac2_valid(pending, answer.mac2, by_seq=False):
            return self._settle(pending, None)  # a glitch or a lying card: the log and a second MAC2 tell
        log.info("year-card %s debited %d visit(s), counter %d", masked, visits, init.card_counter)
        return proof

    def _settle(self, pending: PendingDebit, problem: p.ProfileError | None) -> DebitProof:
        """After a DEBIT that did not answer as it should, with the card still there: did it debit?

        Returns the proof when it did (MAC2 checked again), raises the refusal when it did not, and
        DebitInterrupted when the card cannot tell now (the caller recovers later).
        """
        masked = p.mask_card_number(pending.card_number)
        try:
            outcome = self.recover(pending)
        except Mac2Refused:
            raise
        except YearCardError as exc:
            raise DebitInterrupted(f"card {masked}: debit outcome unknown ({exc})", pending) from None
        if isinstance(outcome, DebitProof):
            return outcome
        if isinstance(outcome, DebitedWithoutProof):
            raise DebitInterrupted(f"card {masked}: debited, proof not available", pending)
        if isinstance(problem, p.CardStatus):
            if problem.sw == p.SW_MAC_INVALID:
                raise CardIntegrityError(f"card {masked} refused the PSAM's MAC1: keys of another issuer")
            raise _card_status_error(problem)
        if problem is not None:
            raise UnreadableCard(f"card {masked}: {problem}")
        raise CardIntegrityError(f"card {masked} answered a debit that is not in its log")

    def _mac2_valid(self, pending: PendingDebit, mac2: bytes, by_seq: bool) -> bool:
        """The PSAM's verdict on MAC2; DebitInterrupted when the PSAM cannot give one (the card debited)."""
        try:
            response = self._psam(p.credit_sam_for_purchase(mac2, pending.terminal_seq if by_seq else None))
        except CardError as exc:
            raise DebitInterrupted(f"PSAM lost while checking MAC2 ({exc})", pending) from None
        if response.sw == p.SW_MAC_INVALID:
            return False
        if response.sw != p.SW_OK:
            raise DebitInterrupted(f"PSAM: CREDIT SAM FOR PURCHASE answered SW {response.sw:04X}", pending)
        return True

    # ---- recovery ----

    def recover(self, pending: PendingDebit) -> DebitProof | NotDebited | DebitedWithoutProof:
        """With the card back after a torn debit: did it happen? Raises WrongCard for another card.

        First GET TRANSACTION PROVE: a MAC2 the PSAM accepts for this debit's session is proof the
        card made it. Without one, the card's log decides.
        """
        public = self.read_public()
        masked = public.masked_number
        if public.card_number != pending.card_number:
            raise WrongCard(f"card {masked} is not the card of the torn debit")
        answer: p.DebitAnswer | None = self._card_step(
            p.get_transaction_prove(pending.kind, pending.card_counter), p.parse_prove
        )
        refused: DebitProof | None = None
        if answer is not None:
            self.terminal_id()
            proof = DebitProof(pending, answer.tac.hex().upper())
            if self._mac2_valid(pending, answer.mac2, by_seq=True):
                log.info("year-card %s: torn debit found on the card, counter %d", masked, pending.card_counter)
                return proof
            refused = proof  # the last debit had our counter but not our session, or the card lies: the log says
        # loads count on their own counter: only purchases can be the torn debit
        records = [r for r in self._records(p.LOG_RECORDS) if r.kind in crypto.TRANSACTION_KINDS]
        ours = next((r for r in records if r.card_counter == pending.card_counter), None)
        if ours is None:
            if records and records[-1].card_counter > pending.card_counter:
                raise RecoveryUnknown(f"card {masked}: the log no longer reaches the torn debit")
            return NotDebited(pending)
        if not _same_debit(ours, pending):
            return NotDebited(pending)  # the counter went to a later debit elsewhere: ours never happened
        if refused is not None:
            raise Mac2Refused(f"card {masked}: debited, but the PSAM refuses its MAC2", refused)
        return DebitedWithoutProof(pending, ours)


def _same_debit(record: p.TransactionRecord, pending: PendingDebit) -> bool:
    return (
        record.amount == pending.amount
        and record.kind == pending.kind
        and record.terminal_id.hex().upper() == pending.terminal_id
        and record.when == pending.when
        and record.balance_after == pending.balance_after
    )


def _parse_card_select(response: ApduResponse) -> None:
    if response.sw == p.SW_FILE_NOT_FOUND:
        raise NotAYearCard("no year-card application on this card")
    p.parse_select(response, "SELECT year-card")


def _card_status_error(exc: p.CardStatus) -> YearCardError:
    if exc.sw == p.SW_MEMORY_FAILURE:
        return CardIntegrityError(f"the card failed its own integrity check ({exc})")
    if exc.sw == p.SW_INSUFFICIENT:
        return NotEnoughVisits(str(exc), balance=-1)
    if exc.sw == p.SW_FILE_NOT_FOUND:
        return NotAYearCard(str(exc))
    return UnreadableCard(str(exc), exc.sw)
