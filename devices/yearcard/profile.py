"""The year-card profile: application, files, record layouts and the APDUs of card and PSAM.

One definition shared by the kiosk's terminal (builders and parsers), the card and PSAM
emulators (layouts and status words) and personalisation. Layouts are in docs/yearcard.md.

Parsing is strict: every ``parse_*`` takes an :class:`devices.card_api.ApduResponse` and either
returns a value or raises :class:`ProfileError` (a :class:`CardStatus` for an error status word,
a :class:`MalformedAnswer` for data that does not fit the layout): never another exception.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from devices.card_api import ApduResponse
from devices.yearcard.crypto import MAC_BYTES, RECORD_KINDS, TRANSACTION_KINDS, card_number_bytes

# ---- application and files ----

CARD_AID = bytes.fromhex("F04B494F534B594301")  # proprietary: F0 + "KIOSKYC" + version 01
PSAM_AID = bytes.fromhex("F04B494F534B505301")  # F0 + "KIOSKPS" + 01
# T=1 ATRs whose historical bytes are "KIOSKYEAR" and "KIOSKPSAM" (TCK last)
CARD_ATR = bytes.fromhex("3B8980014B494F534B594541521A")
PSAM_ATR = bytes.fromhex("3B8980014B494F534B5053414D08")

SFI_PUBLIC = 0x15  # public information file (transparent, 36 bytes)
SFI_LOG = 0x18  # cyclic transaction log: newest record is record 1
SFI_TERMINAL = 0x16  # on the PSAM: the terminal id (6 bytes)
LOG_RECORDS = 10

APP_TYPE_YEARCARD = 0x01
APP_VERSION = 0x01
KEY_INDEX_PURCHASE = 0x01
KEY_VERSION = 0x01

# personalisation key ids (WRITE KEY P2)
KEY_ID_PURCHASE = 0x01
KEY_ID_TAC = 0x02
KEY_ID_PUBLIC = 0x03
KEY_ID_MAINTENANCE = 0x04
KEY_ID_LOAD = 0x05
KEY_IDS = (KEY_ID_PURCHASE, KEY_ID_TAC, KEY_ID_PUBLIC, KEY_ID_MAINTENANCE, KEY_ID_LOAD)
KEY_INDEX_LOAD = 0x01

# ---- instructions ----

INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_READ_RECORD = 0xB2
INS_UPDATE_BINARY = 0xD6
INS_GET_CHALLENGE = 0x84
CLA_SECURE = 0x04  # ISO 7816-4 secure messaging, proprietary (PBOC style): the command carries a MAC
INS_GET_BALANCE = 0x5C
INS_INITIALIZE = 0x50
INS_DEBIT = 0x54
INS_PROVE = 0x5A
INS_CREDIT_LOAD = 0x52
INS_WRITE_KEY = 0xD4
INS_SET_BALANCE = 0xDA
INS_END_PERSONALISATION = 0xEE
# PSAM
INS_INIT_SAM_PURCHASE = 0x70
INS_CREDIT_SAM_PURCHASE = 0x72
INS_VERIFY_PUBLIC = 0x7A
INS_VERIFY_AUTH = 0x7C
INS_INTERNAL_AUTH = 0x88
AUTH_CHALLENGE_BYTES = 8

# ---- status words ----

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_MEMORY_FAILURE = 0x6581  # the card's own integrity check failed (edited image)
SW_CONDITIONS = 0x6985  # wrong life-cycle state (blank, personalised) or no session
SW_WRONG_P1P2 = 0x6B00
SW_WRONG_DATA = 0x6A80
SW_INCORRECT_P1P2 = 0x6A86
SW_FILE_NOT_FOUND = 0x6A82
SW_RECORD_NOT_FOUND = 0x6A83
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_MAC_INVALID = 0x9302  # PBOC: MAC1 on the card, MAC2 on the PSAM, the public-file MAC
SW_INSUFFICIENT = 0x9401  # PBOC: balance too low
SW_BALANCE_LIMIT = 0x9402  # PBOC: the balance would pass its maximum
SW_KEY_INDEX = 0x9403
SW_PROVE_UNAVAILABLE = 0x9406  # PBOC: the asked MAC/TAC is not available
SW_NO_PRECISE_DIAGNOSIS = 0x6F00

SW_MEANINGS = {
    SW_WRONG_LENGTH: "wrong length",
    SW_MEMORY_FAILURE: "the card's memory failed its integrity check",
    SW_CONDITIONS: "conditions of use not satisfied",
    SW_WRONG_P1P2: "wrong parameters",
    SW_WRONG_DATA: "incorrect data",
    SW_INCORRECT_P1P2: "incorrect parameters",
    SW_FILE_NOT_FOUND: "application or file not found",
    SW_RECORD_NOT_FOUND: "record not found",
    SW_INS_NOT_SUPPORTED: "instruction not supported",
    SW_CLA_NOT_SUPPORTED: "class not supported",
    SW_MAC_INVALID: "MAC invalid",
    SW_INSUFFICIENT: "not enough visits",
    SW_BALANCE_LIMIT: "more visits than a card may hold",
    SW_KEY_INDEX: "key index not supported",
    SW_PROVE_UNAVAILABLE: "no proof for this transaction",
    SW_NO_PRECISE_DIAGNOSIS: "no precise diagnosis",
}

PUBLIC_BYTES = 36
PUBLIC_SIGNED_BYTES = 32  # the MAC covers bytes 0..31
RECORD_BYTES = 24
INIT_ANSWER_BYTES = 15
TERMINAL_ID_BYTES = 6
MAX_AMOUNT = 0xFFFFFFFF
MAX_VISITS = 9999  # what personalisation accepts: a visit card, not a wallet


class ProfileError(Exception):
    """A card or PSAM answer that is not what the profile allows. The message is for logs and staff."""


class CardStatus(ProfileError):
    """The card answered an error status word."""

    def __init__(self, what: str, sw: int) -> None:
        self.sw = sw
        meaning = SW_MEANINGS.get(sw, "unknown status")
        super().__init__(f"{what}: SW {sw:04X} ({meaning})")


class MalformedAnswer(ProfileError):
    """The status word said OK but the data does not fit the layout."""


# ---- encodings ----


def bcd_date(day: dt.date | None) -> bytes:
    return bytes(4) if day is None else bytes.fromhex(day.strftime("%Y%m%d"))


def bcd_time(moment: dt.time | dt.datetime) -> bytes:
    return bytes.fromhex(moment.strftime("%H%M%S"))


def _digits(raw: bytes, what: str) -> str:
    text = raw.hex()
    if not text.isdigit():
        raise MalformedAnswer(f"{what} is not BCD: {text.upper()}")
    return text


def parse_bcd_date(raw: bytes, what: str, optional: bool = False) -> dt.date | None:
    if optional and raw == bytes(4):
        return None
    text = _digits(raw, what)
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise MalformedAnswer(f"{what} is not a date: {text}") from None


def parse_bcd_time(raw: bytes, what: str) -> dt.time:
    text = _digits(raw, what)
    try:
        return dt.time(int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise MalformedAnswer(f"{what} is not a time of day: {text}") from None


def expect_ok(response: ApduResponse, what: str) -> bytes:
    if response.sw != SW_OK:
        raise CardStatus(what, response.sw)
    return response.data


def expect_length(data: bytes, size: int, what: str) -> bytes:
    if len(data) != size:
        raise MalformedAnswer(f"{what}: {len(data)} data byte(s), expected {size}")
    return data


# ---- command builders ----


def _apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    if len(data) > 255:
        raise ValueError("short APDUs carry at most 255 data bytes")
    command = bytes([cla, ins, p1, p2])
    if data:
        command += bytes([len(data)]) + data
    if le is not None:
        command += bytes([le & 0xFF])
    return command


def select_aid(aid: bytes) -> bytes:
    return _apdu(0x00, INS_SELECT, 0x04, 0x00, aid, 0x00)


def read_binary(sfi: int, length: int, offset: int = 0) -> bytes:
    return _apdu(0x00, INS_READ_BINARY, 0x80 | sfi, offset, le=length)


def read_public() -> bytes:
    return read_binary(SFI_PUBLIC, PUBLIC_BYTES)


def read_terminal_id() -> bytes:
    return read_binary(SFI_TERMINAL, TERMINAL_ID_BYTES)


def read_record(number: int) -> bytes:
    """READ RECORD ``number`` (1 = newest) of the transaction log."""
    if not 1 <= number <= LOG_RECORDS:
        raise ValueError(f"the log holds records 1 to {LOG_RECORDS}")
    return _apdu(0x00, INS_READ_RECORD, number, (SFI_LOG << 3) | 0x04, le=RECORD_BYTES)


def get_balance() -> bytes:
    return _apdu(0x80, INS_GET_BALANCE, 0x00, 0x02, le=4)


def _check_amount(amount: int) -> None:
    if not 1 <= amount <= MAX_AMOUNT:
        raise ValueError("a debit is at least one visit")


def initialize_for_purchase(kind: int, amount: int, terminal_id: bytes) -> bytes:
    _check_amount(amount)
    if kind not in TRANSACTION_KINDS or len(terminal_id) != TERMINAL_ID_BYTES:
        raise ValueError("unknown transaction kind or a terminal id that is not 6 bytes")
    data = bytes([KEY_INDEX_PURCHASE]) + amount.to_bytes(4, "big") + terminal_id
    return _apdu(0x80, INS_INITIALIZE, kind, 0x02, data, INIT_ANSWER_BYTES)


def initialize_for_load(amount: int, terminal_id: bytes) -> bytes:
    _check_amount(amount)
    if len(terminal_id) != TERMINAL_ID_BYTES:
        raise ValueError("a terminal id is 6 bytes")
    data = bytes([KEY_INDEX_LOAD]) + amount.to_bytes(4, "big") + terminal_id
    return _apdu(0x80, INS_INITIALIZE, 0x00, 0x02, data, 0x10)


def credit_for_load(date: bytes, time: bytes, mac2: bytes) -> bytes:
    if len(date) != 4 or len(time) != 3 or len(mac2) != MAC_BYTES:
        raise ValueError("CREDIT FOR LOAD takes a 4-byte date, a 3-byte time and a 4-byte MAC2")
    return _apdu(0x80, INS_CREDIT_LOAD, 0x00, 0x00, date + time + mac2, 0x04)


def debit_for_purchase(terminal_seq: int, date: bytes, time: bytes, mac1: bytes) -> bytes:
    if len(date) != 4 or len(time) != 3 or len(mac1) != MAC_BYTES:
        raise ValueError("DEBIT FOR PURCHASE takes a 4-byte date, a 3-byte time and a 4-byte MAC1")
    data = terminal_seq.to_bytes(4, "big") + date + time + mac1
    return _apdu(0x80, INS_DEBIT, 0x01, 0x00, data, 0x08)


def get_transaction_prove(kind: int, card_counter: int) -> bytes:
    return _apdu(0x80, INS_PROVE, 0x00, kind, card_counter.to_bytes(2, "big"), 0x08)


def write_key(key_id: int, key: bytes) -> bytes:
    return _apdu(0x80, INS_WRITE_KEY, 0x00, key_id, key)


def update_public(data: bytes) -> bytes:
    return _apdu(0x00, INS_UPDATE_BINARY, 0x80 | SFI_PUBLIC, 0x00, data)


def get_challenge() -> bytes:
    return _apdu(0x00, INS_GET_CHALLENGE, 0x00, 0x00, le=4)


def parse_challenge(response: ApduResponse) -> bytes:
    return bytes(expect_length(expect_ok(response, "GET CHALLENGE"), 4, "challenge"))


SECURE_UPDATE_HEADER = bytes([CLA_SECURE, INS_UPDATE_BINARY, 0x80 | SFI_PUBLIC, 0x00, PUBLIC_BYTES + MAC_BYTES])


def update_public_secure(public_file: bytes, mac: bytes) -> bytes:
    """UPDATE BINARY of the public file on a personalised card: the issuer's MAC under DAMK."""
    if len(public_file) != PUBLIC_BYTES or len(mac) != MAC_BYTES:
        raise ValueError("a 36-byte public file and a 4-byte MAC")
    return SECURE_UPDATE_HEADER + public_file + mac


def set_balance(visits: int) -> bytes:
    return _apdu(0x80, INS_SET_BALANCE, 0x00, 0x00, visits.to_bytes(4, "big"))


def end_personalisation() -> bytes:
    return _apdu(0x80, INS_END_PERSONALISATION, 0x00, 0x00)


def init_sam_for_purchase(
    card_random: bytes,
    card_counter: int,
    amount: int,
    kind: int,
    date: bytes,
    time: bytes,
    key_version: int,
    algorithm: int,
    card_number: bytes,
) -> bytes:
    data = (
        card_random
        + card_counter.to_bytes(2, "big")
        + amount.to_bytes(4, "big")
        + bytes([kind])
        + date
        + time
        + bytes([key_version, algorithm])
        + card_number
    )
    if len(data) != 28:
        raise ValueError("INIT SAM FOR PURCHASE takes 28 bytes")
    return _apdu(0x80, INS_INIT_SAM_PURCHASE, 0x00, 0x00, data, 0x08)


def credit_sam_for_purchase(mac2: bytes, terminal_seq: int | None = None) -> bytes:
    """Check MAC2 against the PSAM's last purchase, or against the recent one with ``terminal_seq``."""
    if terminal_seq is None:
        return _apdu(0x80, INS_CREDIT_SAM_PURCHASE, 0x00, 0x00, mac2)
    return _apdu(0x80, INS_CREDIT_SAM_PURCHASE, 0x01, 0x00, terminal_seq.to_bytes(4, "big") + mac2)


def verify_public(public_file: bytes) -> bytes:
    """The PSAM checks the issuer's MAC and answers a challenge for the card's INTERNAL AUTHENTICATE."""
    return _apdu(0x80, INS_VERIFY_PUBLIC, 0x00, 0x00, public_file, AUTH_CHALLENGE_BYTES)


def parse_verify_public(response: ApduResponse) -> bytes:
    return bytes(expect_length(expect_ok(response, "VERIFY PUBLIC"), AUTH_CHALLENGE_BYTES, "auth challenge"))


def internal_authenticate(challenge: bytes) -> bytes:
    if len(challenge) != AUTH_CHALLENGE_BYTES:
        raise ValueError("the challenge is 8 bytes")
    return _apdu(0x00, INS_INTERNAL_AUTH, 0x00, KEY_ID_PUBLIC, challenge, AUTH_CHALLENGE_BYTES)


def parse_internal_authenticate(response: ApduResponse) -> bytes:
    return bytes(expect_length(expect_ok(response, "INTERNAL AUTHENTICATE"), 8, "authentication answer"))


def verify_auth(answer: bytes) -> bytes:
    return _apdu(0x80, INS_VERIFY_AUTH, 0x00, 0x00, answer)


# ---- layouts and parsers ----


@dataclass(frozen=True)
class PublicInfo:
    """The public information file (SFI 15)."""

    issuer: bytes  # 4 bytes: the chain
    card_number: str  # 16 digits
    card_type: int  # head office's type code
    sold: bool
    made: dt.date
    activated: dt.date | None  # None until a cinema sells it
    expires: dt.date | None
    mac: bytes  # the issuer's MAC over bytes 0..31
    raw: bytes  # the whole file as read, for the PSAM's check

    def encode_signed_part(self) -> bytes:
        return encode_public_signed(
            self.issuer, self.card_number, self.card_type, self.sold, self.made, self.activated, self.expires
        )

    @property
    def masked_number(self) -> str:
        return mask_card_number(self.card_number)

    def life_on(self, day: dt.date) -> CardLife:
        """What the card's own data says on ``day`` (the blacklist and recycling are the central's)."""
        if not self.sold or self.activated is None or self.expires is None:
            return CardLife.NOT_SOLD
        if day < self.activated:
            return CardLife.NOT_YET_VALID
        return CardLife.ACTIVE if day <= self.expires else CardLife.EXPIRED


class CardLife(str, enum.Enum):
    NOT_SOLD = "not_sold"  # made at head office, not sold by a cinema yet
    NOT_YET_VALID = "not_yet_valid"  # activated later than today (a clock or a card to look at)
    ACTIVE = "active"  # valid through its expiry date, inclusive
    EXPIRED = "expired"  # renew at the counter


def mask_card_number(card_number: str) -> str:
    """Logs and screens show the first 4 and last 4 digits only."""
    return card_number[:4] + "*" * max(0, len(card_number) - 8) + card_number[-4:]


def encode_public_signed(
    issuer: bytes,
    card_number: str,
    card_type: int,
    sold: bool,
    made: dt.date,
    activated: dt.date | None,
    expires: dt.date | None,
) -> bytes:
    if len(issuer) != 4 or not 0 <= card_type <= 255:
        raise ValueError("issuer is 4 bytes and card type 0 to 255")
    return (
        issuer
        + bytes([APP_TYPE_YEARCARD, APP_VERSION])
        + card_number_bytes(card_number)
        + bytes([card_type, 0x01 if sold else 0x00])
        + bcd_date(made)
        + bcd_date(activated)
        + bcd_date(expires)
        + bytes(4)
    )


def parse_public(response: ApduResponse) -> PublicInfo:
    data = expect_length(expect_ok(response, "READ BINARY public file"), PUBLIC_BYTES, "public file")
    if data[4] != APP_TYPE_YEARCARD or data[5] != APP_VERSION:
        raise MalformedAnswer(f"public file of application type {data[4]:02X} version {data[5]:02X}: not a year-card")
    if data[15] not in (0x00, 0x01):
        raise MalformedAnswer(f"public file: unknown sale status {data[15]:02X}")
    made = parse_bcd_date(data[16:20], "made date")
    assert made is not None
    activated = parse_bcd_date(data[20:24], "activation date", optional=True)
    expires = parse_bcd_date(data[24:28], "expiry date", optional=True)
    sold = data[15] == 0x01
    if sold != (activated is not None) or (activated is None) != (expires is None):
        raise MalformedAnswer("public file: sale status and dates disagree")
    return PublicInfo(
        issuer=bytes(data[0:4]),
        card_number=_digits(data[6:14], "card number"),
        card_type=data[14],
        sold=sold,
        made=made,
        activated=activated,
        expires=expires,
        mac=bytes(data[32:36]),
        raw=bytes(data),
    )


def parse_balance(response: ApduResponse) -> int:
    data = expect_length(expect_ok(response, "GET BALANCE"), 4, "balance")
    return int.from_bytes(data, "big")


@dataclass(frozen=True)
class TransactionRecord:
    """One record of the cyclic log (SFI 18)."""

    card_counter: int
    amount: int
    kind: int
    terminal_id: bytes  # cinema code (4) + terminal number (2)
    when: dt.datetime
    balance_after: int

    @property
    def cinema(self) -> str:
        return self.terminal_id[:4].hex().upper()

    def encode(self) -> bytes:
        return (
            self.card_counter.to_bytes(2, "big")
            + self.amount.to_bytes(4, "big")
            + bytes([self.kind])
            + self.terminal_id
            + bcd_date(self.when.date())
            + bcd_time(self.when)
            + self.balance_after.to_bytes(4, "big")
        )


def parse_record(response: ApduResponse) -> TransactionRecord | None:
    """A log record; None when the card has no record with that number yet (6A83)."""
    if response.sw == SW_RECORD_NOT_FOUND:
        return None
    data = expect_length(expect_ok(response, "READ RECORD"), RECORD_BYTES, "transaction record")
    return decode_record(data)


def decode_record(data: bytes) -> TransactionRecord:
    if len(data) != RECORD_BYTES:
        raise MalformedAnswer(f"transaction record: {len(data)} bytes, expected {RECORD_BYTES}")
    kind = data[6]
    if kind not in RECORD_KINDS:
        raise MalformedAnswer(f"transaction record: unknown kind {kind:02X}")
    day = parse_bcd_date(data[13:17], "record date")
    assert day is not None
    return TransactionRecord(
        card_counter=int.from_bytes(data[0:2], "big"),
        amount=int.from_bytes(data[2:6], "big"),
        kind=kind,
        terminal_id=bytes(data[7:13]),
        when=dt.datetime.combine(day, parse_bcd_time(data[17:20], "record time")),
        balance_after=int.from_bytes(data[20:24], "big"),
    )


@dataclass(frozen=True)
class PurchaseInit:
    """INITIALIZE FOR PURCHASE's answer."""

    balance: int
    card_counter: int  # the counter this debit will use
    key_version: int
    algorithm: int
    card_random: bytes


def parse_initialize(response: ApduResponse) -> PurchaseInit:
    data = expect_length(expect_ok(response, "INITIALIZE FOR PURCHASE"), INIT_ANSWER_BYTES, "purchase init")
    return PurchaseInit(
        balance=int.from_bytes(data[0:4], "big"),
        card_counter=int.from_bytes(data[4:6], "big"),
        # 6..8: overdraft limit, always 0 on a visit card
        key_version=data[9],
        algorithm=data[10],
        card_random=bytes(data[11:15]),
    )


@dataclass(frozen=True)
class LoadInit:
    """INITIALIZE FOR LOAD's answer."""

    balance: int
    online_counter: int
    key_version: int
    algorithm: int
    card_random: bytes
    mac1: bytes


def parse_initialize_load(response: ApduResponse) -> LoadInit:
    data = expect_length(expect_ok(response, "INITIALIZE FOR LOAD"), 16, "load init")
    return LoadInit(
        balance=int.from_bytes(data[0:4], "big"),
        online_counter=int.from_bytes(data[4:6], "big"),
        key_version=data[6],
        algorithm=data[7],
        card_random=bytes(data[8:12]),
        mac1=bytes(data[12:16]),
    )


def parse_credit_load(response: ApduResponse) -> bytes:
    return bytes(expect_length(expect_ok(response, "CREDIT FOR LOAD"), 4, "load TAC"))


@dataclass(frozen=True)
class DebitAnswer:
    tac: bytes
    mac2: bytes


def parse_debit(response: ApduResponse) -> DebitAnswer:
    data = expect_length(expect_ok(response, "DEBIT FOR PURCHASE"), 8, "debit answer")
    return DebitAnswer(tac=bytes(data[0:4]), mac2=bytes(data[4:8]))


def parse_prove(response: ApduResponse) -> DebitAnswer | None:
    """GET TRANSACTION PROVE: the proofs of that debit, None when the card has none (9406: not debited)."""
    if response.sw == SW_PROVE_UNAVAILABLE:
        return None
    data = expect_length(expect_ok(response, "GET TRANSACTION PROVE"), 8, "transaction proof")
    return DebitAnswer(mac2=bytes(data[0:4]), tac=bytes(data[4:8]))


@dataclass(frozen=True)
class SamPurchase:
    terminal_seq: int
    mac1: bytes


def parse_init_sam(response: ApduResponse) -> SamPurchase:
    data = expect_length(expect_ok(response, "INIT SAM FOR PURCHASE"), 8, "PSAM purchase answer")
    return SamPurchase(terminal_seq=int.from_bytes(data[0:4], "big"), mac1=bytes(data[4:8]))


def parse_terminal_id(response: ApduResponse) -> bytes:
    return bytes(expect_length(expect_ok(response, "READ BINARY terminal id"), TERMINAL_ID_BYTES, "terminal id"))


def parse_select(response: ApduResponse, what: str) -> None:
    expect_ok(response, what)
