"""Year-card security primitives: SM4 key diversification, session keys, MACs, MAC1/MAC2/TAC.

The year-card is modelled on the PBOC electronic purse (JR/T 0025) with its national-algorithm
variant: SM4 (GB/T 32907, 128-bit block and key) instead of 3DES. Why SM4 and not 3DES:
PBOC 3.0 cards and PSAMs issued in China today use SM4, the chain's card department will buy
SM4 cards, `cryptography` ships SM4 as a first-class cipher while its 3DES sits in the
"decrepit" module, and a 128-bit block needs no left/right key halves.

Who holds which key (never the kiosk's software):

=========  ======================  =====================================================
key        on the card              elsewhere
=========  ======================  =====================================================
DPK        purchase key             PSAM holds the master MPK and diversifies per card
DTK        TAC key                  the central (issuer) holds the master MTK, checks TACs
DIK        public-data MAC key      PSAM holds the master MIK: verifies the public file and
                                    the card's INTERNAL AUTHENTICATE (a copied chip fails)
| DAMK       maintenance key          the central (MAMK): later updates (sale, renewal)
DLK        load key                 the central (MLK): visits added at re-issue
=========  ======================  =====================================================

All functions are pure; they are used by the card and PSAM emulators, by personalisation, and
by the central as issuer. Keys are 16 bytes; nothing here logs or prints a key.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16
KEY_BYTES = 16
MAC_BYTES = 4
ALG_SM4 = 0x04  # the algorithm identifier INITIALIZE FOR PURCHASE reports (PBOC: 04 = SM4)
TRANSACTION_TICKET = 0x06  # PBOC's "purchase" transaction type: visits for tickets
TRANSACTION_CONCESSION = 0x07  # visits spent on concessions (卖品) at the counter
TRANSACTION_KINDS = (TRANSACTION_TICKET, TRANSACTION_CONCESSION)  # the purchase kinds
TRANSACTION_LOAD = 0x02  # PBOC's "load": visits added by the issuer (re-issue of a recycled card)
RECORD_KINDS = (TRANSACTION_LOAD, *TRANSACTION_KINDS)


class CryptoInputError(ValueError):
    """A key or a field of the wrong size: a programming error, never card data."""


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise CryptoInputError("an SM4 key is 16 bytes")


def sm4_encrypt_block(key: bytes, block: bytes) -> bytes:
    _check_key(key)
    if len(block) != BLOCK:
        raise CryptoInputError("SM4 encrypts 16-byte blocks")
    encryptor = Cipher(algorithms.SM4(bytes(key)), modes.ECB()).encryptor()
    return encryptor.update(bytes(block)) + encryptor.finalize()


def pad_method_2(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2: 0x80 then zeros to a whole block (always adds a byte)."""
    padded = bytes(data) + b"\x80"
    return padded + b"\x00" * (-len(padded) % BLOCK)


def cbc_mac(key: bytes, data: bytes, size: int = MAC_BYTES) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 1 with SM4, padding method 2, zero IV, leftmost ``size`` bytes."""
    _check_key(key)
    padded = pad_method_2(data)
    encryptor = Cipher(algorithms.SM4(bytes(key)), modes.CBC(bytes(BLOCK))).encryptor()
    last = (encryptor.update(padded) + encryptor.finalize())[-BLOCK:]
    return last[:size]


def card_number_bytes(card_number: str) -> bytes:
    """A 16-digit card number as 8 bytes of BCD (what the card stores and diversifies with)."""
    if len(card_number) != 16 or not card_number.isascii() or not card_number.isdigit():
        raise CryptoInputError("a card number is 16 digits")
    return bytes.fromhex(card_number)


def diversify(master_key: bytes, card_number: str) -> bytes:
    """The card's own key: SM4(MK, PAN || NOT PAN), PBOC's diversification for a 16-byte block."""
    pan = card_number_bytes(card_number)
    return sm4_encrypt_block(master_key, pan + bytes(b ^ 0xFF for b in pan))


def purchase_session_key(dpk: bytes, card_random: bytes, card_counter: int, terminal_seq: int) -> bytes:
    """SESPK = SM4(DPK, random(4) || card counter(2) || low 2 bytes of the terminal's sequence || pad)."""
    if len(card_random) != 4:
        raise CryptoInputError("the card's random is 4 bytes")
    seed = bytes(card_random) + (card_counter & 0xFFFF).to_bytes(2, "big") + (terminal_seq & 0xFFFF).to_bytes(2, "big")
    return sm4_encrypt_block(dpk, seed + b"\x80" + bytes(7))


@dataclass(frozen=True)
class Purchase:
    """What both sides of a debit know; the MAC inputs are built from it and nothing else."""

    amount: int  # visits
    kind: int  # TRANSACTION_TICKET or TRANSACTION_CONCESSION
    terminal_id: bytes  # 6 bytes: cinema code (4) + terminal number (2)
    date: bytes  # 4 bytes BCD YYYYMMDD
    time: bytes  # 3 bytes BCD HHMMSS
    terminal_seq: int  # the PSAM's transaction sequence number
    card_counter: int  # the card's transaction counter used by this debit
    balance_after: int

    def mac1_data(self) -> bytes:
        return self.amount.to_bytes(4, "big") + bytes([self.kind]) + self.terminal_id + self.date + self.time

    def mac2_data(self) -> bytes:
        return self.amount.to_bytes(4, "big")

    def tac_data(self) -> bytes:
        """PBOC's TAC input, plus the card's counter and new balance so the issuer's check covers them."""
        return (
            self.amount.to_bytes(4, "big")
            + bytes([self.kind])
            + self.terminal_id
            + self.terminal_seq.to_bytes(4, "big")
            + self.date
            + self.time
            + self.card_counter.to_bytes(2, "big")
            + self.balance_after.to_bytes(4, "big")
        )


def mac1(session_key: bytes, purchase: Purchase) -> bytes:
    return cbc_mac(session_key, purchase.mac1_data())


def mac2(session_key: bytes, purchase: Purchase) -> bytes:
    return cbc_mac(session_key, purchase.mac2_data())


def tac(dtk: bytes, purchase: Purchase) -> bytes:
    return cbc_mac(dtk, purchase.tac_data())


def verify_tac(master_tac_key: bytes, card_number: str, purchase: Purchase, proof: bytes) -> bool:
    """The issuer's check of a debit's TAC (constant time)."""
    return hmac.compare_digest(tac(diversify(master_tac_key, card_number), purchase), bytes(proof))


def internal_auth(dik: bytes, challenge: bytes) -> bytes:
    """The card's answer to INTERNAL AUTHENTICATE: proves the chip holds its DIK (a copy does not)."""
    if len(challenge) != 8:
        raise CryptoInputError("the challenge is 8 bytes")
    return cbc_mac(dik, b"AUTH" + bytes(challenge), size=8)


def public_mac(dik: bytes, public_data: bytes) -> bytes:
    """The issuer's MAC over the public information file (card number, type, dates): edits fail it."""
    return cbc_mac(dik, public_data)


def secure_update_mac(damk: bytes, challenge: bytes, header: bytes, data: bytes) -> bytes:
    """The MAC of a secure-messaging command: over the card's challenge (4 bytes, then 4 zeros), the
    command header with its Lc, and the data; the challenge makes every such command single-use."""
    if len(challenge) != 4:
        raise CryptoInputError("the card's challenge is 4 bytes")
    return cbc_mac(damk, bytes(challenge) + bytes(4) + bytes(header) + bytes(data))


def load_session_key(dlk: bytes, card_random: bytes, online_counter: int) -> bytes:
    """SESLK = SM4(DLK, random(4) || online counter(2) || pad)."""
    if len(card_random) != 4:
        raise CryptoInputError("the card's random is 4 bytes")
    seed = bytes(card_random) + (online_counter & 0xFFFF).to_bytes(2, "big")
    return sm4_encrypt_block(dlk, seed + b"\x80" + bytes(9))


@dataclass(frozen=True)
class Load:
    """A load (visits added by the issuer, online): what card and issuer both know."""

    amount: int
    terminal_id: bytes
    balance_before: int
    online_counter: int
    date: bytes
    time: bytes

    def mac1_data(self) -> bytes:  # card -> issuer, proves the card and its balance
        return (self.balance_before.to_bytes(4, "big") + self.amount.to_bytes(4, "big")
                + bytes([TRANSACTION_LOAD]) + self.terminal_id)

    def mac2_data(self) -> bytes:  # issuer -> card, allows the credit
        return self.amount.to_bytes(4, "big") + bytes([TRANSACTION_LOAD]) + self.terminal_id + self.date + self.time

    def tac_data(self) -> bytes:
        return ((self.balance_before + self.amount).to_bytes(4, "big") + self.online_counter.to_bytes(2, "big")
                + self.mac2_data())


@dataclass(frozen=True)
class MasterKeys:
    """The issuer's master keys. Generated by tests and by head office; never in the repository."""

    purchase: bytes  # MPK: the PSAM's
    tac: bytes  # MTK: the central's
    public: bytes  # MIK: the PSAM's (public-file check) and the issuer's
    maintenance: bytes  # MAMK: the issuer's
    load: bytes  # MLK: the issuer's

    def __post_init__(self) -> None:
        for key in (self.purchase, self.tac, self.public, self.maintenance, self.load):
            _check_key(key)

    @classmethod
    def generate(cls) -> MasterKeys:
        return cls(*(secrets.token_bytes(KEY_BYTES) for _ in range(5)))

    def card_keys(self, card_number: str) -> CardKeys:
        return CardKeys(
            purchase=diversify(self.purchase, card_number),
            tac=diversify(self.tac, card_number),
            public=diversify(self.public, card_number),
            maintenance=diversify(self.maintenance, card_number),
            load=diversify(self.load, card_number),
        )

    def __repr__(self) -> str:  # keys never reach a log through repr()
        return "MasterKeys(<hidden>)"


@dataclass(frozen=True)
class CardKeys:
    """One card's diversified keys, as personalisation writes them."""

    purchase: bytes
    tac: bytes
    public: bytes
    maintenance: bytes
    load: bytes

    def __repr__(self) -> str:
        return "CardKeys(<hidden>)"
