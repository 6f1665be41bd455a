"""Head office's card desk: personalise blank year-cards (制卡) and read cards back, through a PC/SC reader.

The central holds the issuer's master keys (:mod:`central.card_keys`), so it needs no PSAM: what a
kiosk asks its PSAM (the issuer's MAC on the public file, the chip's INTERNAL AUTHENTICATE, a debit's
TAC) the issuer checks itself, with the card's keys diversified from the masters. Everything here
speaks to a card through a ``transmit`` callable (a :class:`devices.card_reader.PcscCardReader`'s, or
an emulator image's in-process for ``rebuild --from-images``); the ledger side (registering a made
card) is the caller's, after :func:`make_card` has verified the card.

A card pulled during personalisation holds its old or its new state: the card only becomes
"personalised" at END PERSONALISATION, and until then it answers as a blank that may be written
again (WRITE KEY and UPDATE BINARY overwrite). :func:`make_card` tells which when the card is back.
"""

from __future__ import annotations

import datetime as dt
import enum
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from devices.card_api import ApduResponse, CardError, CardEvent
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.personalise import PersonalisationError, personalise

Transmit = Callable[[bytes], ApduResponse]
Say = Callable[[str], None]


class CardMakingError(Exception):
    """A card could not be made or read as asked; the message is one line for the operator."""


class NotBlank(CardMakingError):
    """The card on the reader is already personalised: refused, nothing written."""


class NotAYearCard(CardMakingError):
    """The card on the reader has no year-card application."""


class CardPulled(CardMakingError):
    """The card left the reader (or stopped answering) during a command."""


class Life(str, enum.Enum):
    BLANK = "blank"  # never personalised (or personalisation never finished: it may be written again)
    PERSONALISED = "personalised"


@dataclass(frozen=True)
class Probe:
    life: Life
    public: p.PublicInfo | None  # a personalised card's public file, as read (not yet checked)


def _call(transmit: Transmit, apdu: bytes) -> ApduResponse:
    try:
        return transmit(apdu)
    except CardError as exc:
        raise CardPulled(f"the card stopped answering: {exc}") from None


def probe(transmit: Transmit) -> Probe:
    """Blank or personalised, by the card's own answers (no key needed)."""
    if not _call(transmit, p.select_aid(p.CARD_AID)).ok:
        raise NotAYearCard("the card on the reader has no year-card application (another kind of card?)")
    balance = _call(transmit, p.get_balance())
    if balance.sw == p.SW_CONDITIONS:
        return Probe(Life.BLANK, None)
    if not balance.ok:
        raise NotAYearCard(f"the card answers GET BALANCE with SW {balance.sw:04X}: not a year-card of this profile")
    try:
        public = p.parse_public(_call(transmit, p.read_public()))
    except p.ProfileError as exc:
        raise NotAYearCard(f"a personalised card whose public file cannot be read: {exc}") from None
    return Probe(Life.PERSONALISED, public)


# ---- reading a card without a PSAM: the issuer checks what a PSAM would ----


class Check(str, enum.Enum):
    GENUINE = "genuine"  # the issuer's MAC on the public file and the chip's authentication both hold
    FORGED = "forged"  # one of them fails: an edited file or a copied chip
    UNCHECKED = "unchecked"  # no issuer keys at hand: what the card says, as it says it


@dataclass(frozen=True)
class PlainReading:
    """A card read through a plain reader: public file, visits left, its log (newest first)."""

    public: p.PublicInfo
    balance: int
    records: tuple[p.TransactionRecord, ...]
    check: Check
    # the newest debit's TAC (GET TRANSACTION PROVE) when the card still has it (unverified: see below)
    last_debit_tac: bytes | None = None

    @property
    def card_number(self) -> str:
        return self.public.card_number


def authenticate(transmit: Transmit, master: crypto.MasterKeys, public: p.PublicInfo) -> bool:
    """The issuer's MAC over the public file, then INTERNAL AUTHENTICATE on a fresh challenge."""
    keys = master.card_keys(public.card_number)
    if not hmac.compare_digest(crypto.public_mac(keys.public, public.raw[: p.PUBLIC_SIGNED_BYTES]), public.mac):
        return False
    challenge = secrets.token_bytes(p.AUTH_CHALLENGE_BYTES)
    response = _call(transmit, p.internal_authenticate(challenge))
    if not response.ok:
        return False
    return hmac.compare_digest(response.data, crypto.internal_auth(keys.public, challenge))


def read_plain(transmit: Transmit, master: crypto.MasterKeys | None) -> PlainReading:
    """What the card gives: public file, balance and log; checked with the issuer's keys when given."""
    found = probe(transmit)
    if found.life is Life.BLANK or found.public is None:
        raise CardMakingError("a blank card: nothing to read")
    public = found.public
    check = Check.UNCHECKED
    if master is not None:
        check = Check.GENUINE if authenticate(transmit, master, public) else Check.FORGED
    balance = p.parse_balance(_call(transmit, p.get_balance()))
    records: list[p.TransactionRecord] = []
    for number in range(1, p.LOG_RECORDS + 1):
        try:
            record = p.parse_record(_call(transmit, p.read_record(number)))
        except p.ProfileError as exc:
            raise CardMakingError(f"card {public.masked_number}: log record {number} unreadable ({exc})") from None
        if record is None:
            break
        records.append(record)
    tac = None
    if master is not None and check is Check.GENUINE:
        tac = _last_debit_tac(transmit, records)
    return PlainReading(public, balance, tuple(records), check, tac)


def _last_debit_tac(transmit: Transmit, records: list[p.TransactionRecord]) -> bytes | None:
    """GET TRANSACTION PROVE for the newest debit: its TAC, kept as evidence with the record.

    It cannot be verified here: the TAC covers the PSAM's sequence number, which the card's log
    does not keep. The card gives it only for its last debit.
    """
    debits = [r for r in records if r.kind in crypto.TRANSACTION_KINDS]
    if not debits or debits[0] is not records[0]:
        return None
    newest = debits[0]
    try:
        proof = p.parse_prove(_call(transmit, p.get_transaction_prove(newest.kind, newest.card_counter)))
    except p.ProfileError:
        return None
    return None if proof is None else proof.tac


# ---- making a card ----


@dataclass(frozen=True)
class MakeSpec:
    card_number: str
    card_type: int  # the type's code on the card (0..255)
    visits: int
    issuer: bytes  # 4 bytes: the chain
    made: dt.date


@dataclass(frozen=True)
class MadeCard:
    spec: MakeSpec
    public: p.PublicInfo
    balance: int
    resumed: bool = False  # the card had been pulled and was finished when it came back


def verify_made(transmit: Transmit, master: crypto.MasterKeys, spec: MakeSpec) -> MadeCard:
    """Read the card back (public file, balance) and check it is exactly what was asked, and genuine."""
    found = probe(transmit)
    if found.life is Life.BLANK or found.public is None:
        raise CardMakingError("the card reads back blank: personalisation did not finish")
    public = found.public
    if (public.card_number, public.card_type, public.issuer) != (spec.card_number, spec.card_type, spec.issuer):
        raise CardMakingError(
            f"the card reads back as {public.masked_number} type {public.card_type}, not "
            f"{p.mask_card_number(spec.card_number)} type {spec.card_type}"
        )
    if public.sold:
        raise CardMakingError(f"card {public.masked_number} reads back as sold: a made card is activated at its sale")
    if not authenticate(transmit, master, public):
        raise CardMakingError(f"card {public.masked_number} fails the issuer's checks after personalisation")
    balance = p.parse_balance(_call(transmit, p.get_balance()))
    if balance != spec.visits:
        raise CardMakingError(f"card {public.masked_number} holds {balance} visits, not {spec.visits}")
    return MadeCard(spec, public, balance)


def make_card(transmit: Transmit, master: crypto.MasterKeys, spec: MakeSpec) -> MadeCard:
    """Personalise the blank card on the reader and verify it. Refuses a card that is not blank.

    Raises :class:`CardPulled` when the card left mid-way: put it back and call :func:`resume`.
    """
    found = probe(transmit)
    if found.life is Life.PERSONALISED:
        assert found.public is not None
        if found.public.card_number == spec.card_number:
            # made by an earlier run that stopped before the ledger heard of it: finish, not refuse
            made = verify_made(transmit, master, spec)
            return MadeCard(spec, made.public, made.balance, resumed=True)
        raise NotBlank(f"card {found.public.masked_number} is already made: take it away and put a blank card")
    try:
        personalise(transmit, master, spec.card_number, spec.card_type, spec.visits, spec.issuer, made=spec.made)
    except CardError as exc:
        raise CardPulled(f"the card left during personalisation ({exc})") from None
    except PersonalisationError as exc:
        raise CardMakingError(f"the card refused personalisation: {exc}") from None
    return verify_made(transmit, master, spec)


def resume(transmit: Transmit, master: crypto.MasterKeys, spec: MakeSpec) -> tuple[str, MadeCard]:
    """The pulled card is back: ("complete", card) if it was finished, else ("blank", card) made now."""
    found = probe(transmit)
    if found.life is Life.PERSONALISED:
        made = verify_made(transmit, master, spec)  # another made card put back is refused here
        return "complete", MadeCard(spec, made.public, made.balance, resumed=True)
    return "blank", make_card(transmit, master, spec)


# ---- waiting for cards on a reader ----


class CardSlot:
    """A PC/SC reader watched for cards: wait for one to arrive or leave."""

    def __init__(self, reader_name: str, poll_s: float = 0.2) -> None:
        from devices.card_reader import PcscCardReader

        self.name = reader_name
        self.reader = PcscCardReader(reader_name, poll_s=poll_s)
        self._present = False
        self._changed = threading.Condition()

    def _on_event(self, event: CardEvent) -> None:
        with self._changed:
            self._present = event.inserted
            self._changed.notify_all()

    def __enter__(self) -> CardSlot:
        from devices.card_api import PcscUnavailable, ReaderGone
        from devices.card_reader import list_readers

        names = list_readers()
        if not any(self.name.casefold() in name.casefold() for name in names):
            known = ", ".join(repr(n) for n in names) or "none (is pcscd running?)"
            raise CardMakingError(f"no reader matching {self.name!r}; readers: {known}")
        try:
            self.reader.start(self._on_event)
        except (PcscUnavailable, ReaderGone) as exc:
            raise CardMakingError(str(exc)) from None
        return self

    def __exit__(self, *_: object) -> None:
        self.reader.stop()

    def transmit(self, apdu: bytes) -> ApduResponse:
        return self.reader.transmit(apdu)

    def wait(self, present: bool, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._present == present, timeout=timeout_s)


def make_on_slot(slot: CardSlot, master: crypto.MasterKeys, spec: MakeSpec, say: Say,
                 wait_s: float) -> MadeCard:
    """Wait for a blank card, make it, verify it; a pulled card is finished or re-made when it is back."""
    masked = p.mask_card_number(spec.card_number)
    while True:
        say(f"put a blank card on {slot.name} for {masked}")
        if not slot.wait(True, wait_s):
            raise CardMakingError(f"no card on {slot.name} within {wait_s:.0f} s; {masked} not made")
        try:
            return make_card(slot.transmit, master, spec)
        except NotBlank as exc:
            say(f"refused: {exc}")
        except CardPulled:
            say(f"the card left during personalisation of {masked}: put the same card back")
            if not slot.wait(False, wait_s) or not slot.wait(True, wait_s):
                raise CardMakingError(
                    f"the card for {masked} did not come back within {wait_s:.0f} s: it is blank or complete; "
                    "put it on the reader and run the same make command again to find out and finish"
                ) from None
            try:
                state, made = resume(slot.transmit, master, spec)
            except NotBlank as exc:
                say(f"refused: {exc}")
            else:
                say(f"the card came back {state}: " + ("it was finished before it left" if state == "complete"
                                                        else "made it again from the start"))
                return made
        say(f"take the card away from {slot.name}")
        if not slot.wait(False, wait_s):
            raise CardMakingError(f"the card stayed on {slot.name} for {wait_s:.0f} s; {masked} not made")
