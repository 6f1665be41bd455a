"""A card operating system for the year-card profile, behind the card emulator's vpcd socket.

``YearCardOS`` is a handler for :class:`devices.sim.card_emulator.CardEmulator` (APDU in,
response out) whose state lives in a card image file, so a card outlives the process::

    store = ImageStore(path)                   # a JSON image made by blank_image()/personalised_image()
    card = CardEmulator(atr=CARD_ATR, handler=YearCardOS(store))

Every change is written to the image before the card answers, atomically (a temporary file in
the same folder, fsync, rename): a card pulled or a process killed at any moment leaves the old
or the new state, never a broken one. The image carries a seal (HMAC with a secret of the chip's
own): an image edited by hand fails it and the card answers 6581 (memory failure) to everything,
as a real card OS does when its EEPROM checksum fails. The seal models the chip, not security: the
security is the issuer's MAC on the public file (checked by the PSAM) and the TAC (checked by the
central).

The profile (files, APDUs, status words) is :mod:`devices.yearcard.profile`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.card_api import ApduResponse
from devices.sim.card_emulator import ParsedApdu, parse_apdu
from devices.yearcard import crypto
from devices.yearcard import profile as p
from devices.yearcard.personalise import personalise

log = logging.getLogger(__name__)

CARD_FORMAT = "kiosk-yearcard/1"
MAX_COUNTER = 0xFFFF


class ImageError(Exception):
    """A card or PSAM image that cannot be read at all (missing file, not JSON, wrong format)."""


def _sw(sw: int, data: bytes = b"") -> bytes:
    return data + sw.to_bytes(2, "big")


# ---- image files ----


def seal(body: dict[str, Any]) -> str:
    secret = bytes.fromhex(body["chip_secret"])
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(secret, canonical, hashlib.sha256).hexdigest()


def write_atomic(path: Path, body: dict[str, Any]) -> None:
    """Seal and write ``body`` to ``path``: a temporary file, fsync, rename (then fsync the folder)."""
    sealed = dict(body, seal=seal(body))
    handle, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(sealed, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # the rename itself reaches the disk
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def read_sealed(path: Path, expected_format: str) -> tuple[dict[str, Any], bool]:
    """The image's body and whether its seal holds. Raises ImageError when it is not an image at all."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the image: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"{path}: not a card image (not JSON: {exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != expected_format:
        raise ImageError(f"{path}: not a {expected_format} image")
    body = {key: value for key, value in raw.items() if key != "seal"}
    try:
        intact = isinstance(raw.get("seal"), str) and hmac.compare_digest(seal(body), raw["seal"])
    except (KeyError, ValueError, TypeError):
        intact = False
    return body, intact


# ---- the card's state ----


@dataclass
class CardState:
    personalised: bool = False
    keys: dict[int, bytes] = field(default_factory=dict)
    public: bytes | None = None
    balance: int = 0
    counter: int = 0  # the next debit's card transaction counter
    online_counter: int = 0  # the next load's counter
    log: list[bytes] = field(default_factory=list)  # newest first
    last_debit: dict[str, Any] | None = None  # counter, kind, mac2, tac of the last debit
    chip_secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CARD_FORMAT,
            "life": "personalised" if self.personalised else "blank",
            "keys": {str(key_id): key.hex() for key_id, key in sorted(self.keys.items())},
            "public": None if self.public is None else self.public.hex(),
            "balance": self.balance,
            "counter": self.counter,
            "online_counter": self.online_counter,
            "log": [record.hex() for record in self.log],
            "last_debit": self.last_debit,
            "chip_secret": self.chip_secret.hex(),
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> CardState:
        try:
            state = cls(
                personalised=body["life"] == "personalised",
                keys={int(key_id): bytes.fromhex(key) for key_id, key in body["keys"].items()},
                public=None if body["public"] is None else bytes.fromhex(body["public"]),
                balance=int(body["balance"]),
                counter=int(body["counter"]),
                online_counter=int(body["online_counter"]),
                log=[bytes.fromhex(record) for record in body["log"]],
                last_debit=body["last_debit"],
                chip_secret=bytes.fromhex(body["chip_secret"]),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ImageError(f"the card image's fields do not fit: {exc!r}") from None
        return state


class ImageStore:
    """A card image file. ``load()`` gives the state and whether its seal holds."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def load(self) -> tuple[CardState, bool]:
        body, intact = read_sealed(self.path, CARD_FORMAT)
        return CardState.from_json(body), intact

    def save(self, state: CardState) -> None:
        write_atomic(self.path, state.to_json())


def blank_image(path: Path | str) -> ImageStore:
    """A blank card (no keys, no number): what head office personalises with ``central cards make``."""
    store = ImageStore(path)
    store.save(CardState())
    return store


def personalised_image(
    path: Path | str,
    master: crypto.MasterKeys,
    card_number: str,
    card_type: int = 1,
    visits: int = 10,
    issuer: bytes = b"\x00\x00\x00\x01",
    made: dt.date | None = None,
    activated: dt.date | None = None,
    valid_days: int = 365,
) -> ImageStore:
    """A blank card personalised with the real APDU sequence, in-process (tests, bench, demo).

    ``activated`` None makes a card that was made and not yet sold.
    """
    store = blank_image(path)
    card = YearCardOS(store)
    personalise(
        lambda apdu: ApduResponse.from_bytes(card(apdu)),
        master, card_number, card_type, visits, issuer, made, activated, valid_days,
    )
    return store


# ---- the operating system ----


@dataclass
class _PurchaseSession:
    kind: int
    amount: int
    terminal_id: bytes
    card_random: bytes
    counter: int


@dataclass
class _LoadSession:
    amount: int
    terminal_id: bytes
    balance_before: int
    online_counter: int
    key: bytes

    def load(self, date: bytes, time: bytes) -> crypto.Load:
        return crypto.Load(self.amount, self.terminal_id, self.balance_before, self.online_counter, date, time)


class YearCardOS:
    """The year-card application as a CardEmulator handler. Thread-safe."""

    def __init__(self, store: ImageStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self.state, self.intact = store.load()
        if not self.intact:
            log.warning("card image %s fails its integrity seal: the card answers 6581", store.path.name)
        self._selected = False
        self._session: _PurchaseSession | None = None
        self._challenge: bytes | None = None
        self._load: _LoadSession | None = None

    def reset(self) -> None:
        """Power-on or reset: forget the selection and any purchase in progress."""
        with self._lock:
            self._selected = False
            self._session = None
            self._challenge = None
            self._load = None

    def __call__(self, apdu: bytes) -> bytes:
        with self._lock:
            if not self.intact:
                return _sw(p.SW_MEMORY_FAILURE)
            cmd = parse_apdu(apdu)
            if cmd is None:
                return _sw(p.SW_WRONG_LENGTH)
            session, self._session = self._session, None  # a purchase session lasts one command
            challenge, self._challenge = self._challenge, None  # and so does a challenge
            load, self._load = self._load, None  # and a load session
            if cmd.ins == p.INS_SELECT and cmd.cla == 0x00:
                return self._select(cmd)
            if not self._selected:
                return _sw(p.SW_CONDITIONS)
            handler = _COMMANDS.get((cmd.cla, cmd.ins))
            if handler is None:
                known = any(ins == cmd.ins for _, ins in _COMMANDS)
                return _sw(p.SW_CLA_NOT_SUPPORTED if known else p.SW_INS_NOT_SUPPORTED)
            if cmd.ins == p.INS_DEBIT:
                return self._debit(cmd, session)
            if (cmd.cla, cmd.ins) == (0x80, p.INS_CREDIT_LOAD):
                return self._credit_load(cmd, load)
            if (cmd.cla, cmd.ins) == (p.CLA_SECURE, p.INS_UPDATE_BINARY):
                return self._update_secure(cmd, challenge)
            return handler(self, cmd)

    # ---- commands ----

    def _select(self, cmd: ParsedApdu) -> bytes:
        if cmd.p1 != 0x04 or cmd.p2 != 0x00:
            return _sw(p.SW_INCORRECT_P1P2)
        if cmd.data != p.CARD_AID:
            self._selected = False
            return _sw(p.SW_FILE_NOT_FOUND)
        self._selected = True
        fci = bytes([0x84, len(p.CARD_AID)]) + p.CARD_AID + b"\xa5\x00"
        return _sw(p.SW_OK, bytes([0x6F, len(fci)]) + fci)

    def _read_binary(self, cmd: ParsedApdu) -> bytes:
        if cmd.p1 != 0x80 | p.SFI_PUBLIC:
            return _sw(p.SW_FILE_NOT_FOUND)
        if self.state.public is None:
            return _sw(p.SW_CONDITIONS)
        if cmd.p2 > len(self.state.public):
            return _sw(p.SW_WRONG_P1P2)
        return _sw(p.SW_OK, self.state.public[cmd.p2 : cmd.p2 + (cmd.le or 256)])

    def _read_record(self, cmd: ParsedApdu) -> bytes:
        if cmd.p2 != (p.SFI_LOG << 3) | 0x04:
            return _sw(p.SW_FILE_NOT_FOUND)
        if not 1 <= cmd.p1 <= len(self.state.log):
            return _sw(p.SW_RECORD_NOT_FOUND)
        return _sw(p.SW_OK, self.state.log[cmd.p1 - 1])

    def _get_balance(self, cmd: ParsedApdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0x00, 0x02):
            return _sw(p.SW_INCORRECT_P1P2)
        if not self.state.personalised:
            return _sw(p.SW_CONDITIONS)
        return _sw(p.SW_OK, self.state.balance.to_bytes(4, "big"))

    def _initialize(self, cmd: ParsedApdu) -> bytes:
        if cmd.p1 == 0x00 and cmd.p2 == 0x02:
            return self._initialize_load(cmd)
        if cmd.p2 != 0x02 or cmd.p1 not in crypto.TRANSACTION_KINDS:
            return _sw(p.SW_INCORRECT_P1P2)
        if len(cmd.data) != 11:
            return _sw(p.SW_WRONG_LENGTH)
        if not self.state.personalised or self.state.counter >= MAX_COUNTER:
            return _sw(p.SW_CONDITIONS)
        if cmd.data[0] != p.KEY_INDEX_PURCHASE:
            return _sw(p.SW_KEY_INDEX)
        amount = int.from_bytes(cmd.data[1:5], "big")
        if amount == 0:
            return _sw(p.SW_WRONG_P1P2)
        if amount > self.state.balance:
            return _sw(p.SW_INSUFFICIENT)
        session = _PurchaseSession(cmd.p1, amount, bytes(cmd.data[5:11]), secrets.token_bytes(4), self.state.counter)
        self._session = session
        answer = (
            self.state.balance.to_bytes(4, "big")
            + session.counter.to_bytes(2, "big")
            + bytes(3)
            + bytes([p.KEY_VERSION, crypto.ALG_SM4])
            + session.card_random
        )
        return _sw(p.SW_OK, answer)

    def _debit(self, cmd: ParsedApdu, session: _PurchaseSession | None) -> bytes:
        if session is None:
            return _sw(p.SW_CONDITIONS)
        if (cmd.p1, cmd.p2) != (0x01, 0x00):
            return _sw(p.SW_INCORRECT_P1P2)
        if len(cmd.data) != 15:
            return _sw(p.SW_WRONG_LENGTH)
        terminal_seq = int.from_bytes(cmd.data[0:4], "big")
        date, time, mac1 = bytes(cmd.data[4:8]), bytes(cmd.data[8:11]), bytes(cmd.data[11:15])
        try:
            when = dt.datetime.combine(
                p.parse_bcd_date(date, "date") or dt.date.min, p.parse_bcd_time(time, "time")
            )
        except p.ProfileError:
            return _sw(p.SW_WRONG_P1P2)
        purchase = crypto.Purchase(
            amount=session.amount,
            kind=session.kind,
            terminal_id=session.terminal_id,
            date=date,
            time=time,
            terminal_seq=terminal_seq,
            card_counter=session.counter,
            balance_after=self.state.balance - session.amount,
        )
        key = crypto.purchase_session_key(
            self.state.keys[p.KEY_ID_PURCHASE], session.card_random, session.counter, terminal_seq
        )
        if not hmac.compare_digest(crypto.mac1(key, purchase), mac1):
            return _sw(p.SW_MAC_INVALID)
        tac = crypto.tac(self.state.keys[p.KEY_ID_TAC], purchase)
        mac2 = crypto.mac2(key, purchase)
        record = p.TransactionRecord(
            card_counter=session.counter,
            amount=session.amount,
            kind=session.kind,
            terminal_id=session.terminal_id,
            when=when,
            balance_after=purchase.balance_after,
        ).encode()
        new = CardState(**{**self.state.__dict__})
        new.balance = purchase.balance_after
        new.counter = session.counter + 1
        new.log = [record, *self.state.log][: p.LOG_RECORDS]
        new.last_debit = {"counter": session.counter, "kind": session.kind, "mac2": mac2.hex(), "tac": tac.hex()}
        self._commit(new)
        return _sw(p.SW_OK, tac + mac2)

    def _initialize_load(self, cmd: ParsedApdu) -> bytes:
        if len(cmd.data) != 11:
            return _sw(p.SW_WRONG_LENGTH)
        if not self.state.personalised or self.state.online_counter >= MAX_COUNTER:
            return _sw(p.SW_CONDITIONS)
        if cmd.data[0] != p.KEY_INDEX_LOAD:
            return _sw(p.SW_KEY_INDEX)
        amount = int.from_bytes(cmd.data[1:5], "big")
        if amount == 0:
            return _sw(p.SW_WRONG_P1P2)
        if self.state.balance + amount > p.MAX_VISITS:
            return _sw(p.SW_BALANCE_LIMIT)
        random = secrets.token_bytes(4)
        key = crypto.load_session_key(self.state.keys[p.KEY_ID_LOAD], random, self.state.online_counter)
        session = _LoadSession(amount, bytes(cmd.data[5:11]), self.state.balance, self.state.online_counter, key)
        self._load = session
        mac1 = crypto.cbc_mac(key, session.load(b"", b"").mac1_data())
        answer = (
            self.state.balance.to_bytes(4, "big") + session.online_counter.to_bytes(2, "big")
            + bytes([p.KEY_VERSION, crypto.ALG_SM4]) + random + mac1
        )
        return _sw(p.SW_OK, answer)

    def _credit_load(self, cmd: ParsedApdu, session: _LoadSession | None) -> bytes:
        if session is None:
            return _sw(p.SW_CONDITIONS)
        if len(cmd.data) != 11:
            return _sw(p.SW_WRONG_LENGTH)
        date, time, mac2 = bytes(cmd.data[0:4]), bytes(cmd.data[4:7]), bytes(cmd.data[7:11])
        try:
            when = dt.datetime.combine(p.parse_bcd_date(date, "date") or dt.date.min, p.parse_bcd_time(time, "time"))
        except p.ProfileError:
            return _sw(p.SW_WRONG_P1P2)
        load = session.load(date, time)
        if not hmac.compare_digest(crypto.cbc_mac(session.key, load.mac2_data()), mac2):
            return _sw(p.SW_MAC_INVALID)
        balance = session.balance_before + session.amount
        record = p.TransactionRecord(session.online_counter, session.amount, crypto.TRANSACTION_LOAD,
                                     session.terminal_id, when, balance).encode()
        new = CardState(**{**self.state.__dict__})
        new.balance, new.online_counter = balance, session.online_counter + 1
        new.log = [record, *self.state.log][: p.LOG_RECORDS]
        self._commit(new)
        return _sw(p.SW_OK, crypto.cbc_mac(self.state.keys[p.KEY_ID_TAC], load.tac_data()))

    def _prove(self, cmd: ParsedApdu) -> bytes:
        if cmd.p1 != 0x00 or len(cmd.data) != 2:
            return _sw(p.SW_WRONG_LENGTH if cmd.p1 == 0x00 else p.SW_INCORRECT_P1P2)
        last = self.state.last_debit
        counter = int.from_bytes(cmd.data, "big")
        if last is None or last["counter"] != counter or last["kind"] != cmd.p2:
            return _sw(p.SW_PROVE_UNAVAILABLE)
        return _sw(p.SW_OK, bytes.fromhex(last["mac2"]) + bytes.fromhex(last["tac"]))

    def _internal_auth(self, cmd: ParsedApdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0x00, p.KEY_ID_PUBLIC):
            return _sw(p.SW_INCORRECT_P1P2)
        if len(cmd.data) != p.AUTH_CHALLENGE_BYTES:
            return _sw(p.SW_WRONG_LENGTH)
        if not self.state.personalised:
            return _sw(p.SW_CONDITIONS)
        return _sw(p.SW_OK, crypto.internal_auth(self.state.keys[p.KEY_ID_PUBLIC], bytes(cmd.data)))

    def _get_challenge(self, cmd: ParsedApdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0, 0) or cmd.le != 4:
            return _sw(p.SW_WRONG_P1P2 if (cmd.p1, cmd.p2) != (0, 0) else p.SW_WRONG_LENGTH)
        self._challenge = secrets.token_bytes(4)
        return _sw(p.SW_OK, self._challenge)

    def _update_secure(self, cmd: ParsedApdu, challenge: bytes | None) -> bytes:
        """The issuer rewrites the public file (sale, renewal, a new type): MAC under DAMK, card number kept."""
        if not self.state.personalised or challenge is None or self.state.public is None:
            return _sw(p.SW_CONDITIONS)
        if cmd.p1 != 0x80 | p.SFI_PUBLIC or cmd.p2 != 0:
            return _sw(p.SW_INCORRECT_P1P2)
        if len(cmd.data) != p.PUBLIC_BYTES + crypto.MAC_BYTES:
            return _sw(p.SW_WRONG_LENGTH)
        data, mac = bytes(cmd.data[: p.PUBLIC_BYTES]), bytes(cmd.data[p.PUBLIC_BYTES :])
        expected = crypto.secure_update_mac(self.state.keys[p.KEY_ID_MAINTENANCE], challenge,
                                            p.SECURE_UPDATE_HEADER, data)
        if not hmac.compare_digest(expected, mac):
            return _sw(p.SW_MAC_INVALID)
        if data[6:14] != self.state.public[6:14]:
            return _sw(p.SW_WRONG_DATA)  # a card's number never changes
        self._commit(CardState(**{**self.state.__dict__, "public": data}))
        return _sw(p.SW_OK)

    # ---- personalisation (blank cards only) ----

    def _write_key(self, cmd: ParsedApdu) -> bytes:
        if self.state.personalised:
            return _sw(p.SW_CONDITIONS)
        if cmd.p2 not in p.KEY_IDS or cmd.p1 != 0x00:
            return _sw(p.SW_INCORRECT_P1P2)
        if len(cmd.data) != crypto.KEY_BYTES:
            return _sw(p.SW_WRONG_LENGTH)
        new = CardState(**{**self.state.__dict__, "keys": {**self.state.keys, cmd.p2: bytes(cmd.data)}})
        self._commit(new)
        return _sw(p.SW_OK)

    def _update_binary(self, cmd: ParsedApdu) -> bytes:
        if self.state.personalised:
            return _sw(p.SW_CONDITIONS)  # later updates (sale, renewal) need the maintenance key
        if cmd.p1 != 0x80 | p.SFI_PUBLIC or cmd.p2 != 0:
            return _sw(p.SW_INCORRECT_P1P2)
        if len(cmd.data) != p.PUBLIC_BYTES:
            return _sw(p.SW_WRONG_LENGTH)
        self._commit(CardState(**{**self.state.__dict__, "public": bytes(cmd.data)}))
        return _sw(p.SW_OK)

    def _set_balance(self, cmd: ParsedApdu) -> bytes:
        if self.state.personalised:
            return _sw(p.SW_CONDITIONS)
        if len(cmd.data) != 4:
            return _sw(p.SW_WRONG_LENGTH)
        visits = int.from_bytes(cmd.data, "big")
        if visits > p.MAX_VISITS:
            return _sw(p.SW_WRONG_P1P2)
        self._commit(CardState(**{**self.state.__dict__, "balance": visits}))
        return _sw(p.SW_OK)

    def _end_personalisation(self, cmd: ParsedApdu) -> bytes:
        if self.state.personalised or set(self.state.keys) != set(p.KEY_IDS) or self.state.public is None:
            return _sw(p.SW_CONDITIONS)
        self._commit(CardState(**{**self.state.__dict__, "personalised": True}))
        return _sw(p.SW_OK)

    def _commit(self, new: CardState) -> None:
        """Write first, then believe it: a failed write leaves the card (and its image) as it was."""
        self.store.save(new)
        self.state = new


_COMMANDS: dict[tuple[int, int], Any] = {
    (0x00, p.INS_READ_BINARY): YearCardOS._read_binary,
    (0x00, p.INS_READ_RECORD): YearCardOS._read_record,
    (0x80, p.INS_GET_BALANCE): YearCardOS._get_balance,
    (0x80, p.INS_INITIALIZE): YearCardOS._initialize,
    (0x80, p.INS_DEBIT): YearCardOS._debit,
    (0x80, p.INS_PROVE): YearCardOS._prove,
    (0x00, p.INS_GET_CHALLENGE): YearCardOS._get_challenge,
    (0x00, p.INS_INTERNAL_AUTH): YearCardOS._internal_auth,
    (0x80, p.INS_CREDIT_LOAD): YearCardOS._credit_load,
    (p.CLA_SECURE, p.INS_UPDATE_BINARY): YearCardOS._update_secure,
    (0x80, p.INS_WRITE_KEY): YearCardOS._write_key,
    (0x00, p.INS_UPDATE_BINARY): YearCardOS._update_binary,
    (0x80, p.INS_SET_BALANCE): YearCardOS._set_balance,
    (0x80, p.INS_END_PERSONALISATION): YearCardOS._end_personalisation,
}
