"""The PSAM: the second card in the kiosk, in vpcd's second reader ("Virtual PCD 00 01", port 35964).

It holds the master purchase key (MPK) and the master public-data key (MIK), never gives them
out, and does for the kiosk what needs a key:

* INIT SAM FOR PURCHASE: diversify the card's purchase key from its number, derive the session
  key, count its own terminal transaction sequence number, answer it with MAC1;
* CREDIT SAM FOR PURCHASE: check the card's MAC2 (of the last purchase, or of a recent one by
  its sequence number, for the recovery of a torn debit);
* VERIFY PUBLIC: check the issuer's MAC over a card's public information file.

Its state (terminal id, keys, sequence number, recent purchases) lives in a sealed image file
written atomically, like the card's (:mod:`devices.sim.yearcard_os`).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.sim.card_emulator import ParsedApdu, parse_apdu
from devices.sim.yearcard_os import ImageError, read_sealed, write_atomic
from devices.yearcard import crypto
from devices.yearcard import profile as p

log = logging.getLogger(__name__)

PSAM_FORMAT = "kiosk-psam/1"
RECENT_PURCHASES = 8  # how many purchases' MAC2 the PSAM can still check after a tear


def _sw(sw: int, data: bytes = b"") -> bytes:
    return data + sw.to_bytes(2, "big")


@dataclass
class PsamState:
    terminal_id: bytes
    purchase_key: bytes  # MPK
    public_key: bytes  # MIK
    seq: int = 0  # the last terminal transaction sequence number given out
    # recent purchases, newest last: {"seq": n, "mac2": hex}
    recent: list[dict[str, Any]] = field(default_factory=list)
    chip_secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PSAM_FORMAT,
            "terminal_id": self.terminal_id.hex(),
            "keys": {"purchase": self.purchase_key.hex(), "public": self.public_key.hex()},
            "seq": self.seq,
            "recent": self.recent,
            "chip_secret": self.chip_secret.hex(),
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> PsamState:
        try:
            return cls(
                terminal_id=bytes.fromhex(body["terminal_id"]),
                purchase_key=bytes.fromhex(body["keys"]["purchase"]),
                public_key=bytes.fromhex(body["keys"]["public"]),
                seq=int(body["seq"]),
                recent=list(body["recent"]),
                chip_secret=bytes.fromhex(body["chip_secret"]),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ImageError(f"the PSAM image's fields do not fit: {exc!r}") from None


class PsamStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def load(self) -> tuple[PsamState, bool]:
        body, intact = read_sealed(self.path, PSAM_FORMAT)
        return PsamState.from_json(body), intact

    def save(self, state: PsamState) -> None:
        write_atomic(self.path, state.to_json())


def psam_image(path: Path | str, master: crypto.MasterKeys, terminal_id: bytes) -> PsamStore:
    """A PSAM for one kiosk: its terminal id (cinema code 4 bytes + terminal number 2) and master keys."""
    if len(terminal_id) != p.TERMINAL_ID_BYTES:
        raise ValueError("a terminal id is 6 bytes")
    store = PsamStore(path)
    store.save(PsamState(terminal_id=bytes(terminal_id), purchase_key=master.purchase, public_key=master.public))
    return store


class PsamOS:
    """The PSAM application as a CardEmulator handler. Thread-safe."""

    def __init__(self, store: PsamStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self.state, self.intact = store.load()
        if not self.intact:
            log.warning("PSAM image %s fails its integrity seal: the PSAM answers 6581", store.path.name)
        self._selected = False
        self._auth: tuple[bytes, bytes] | None = None  # (card's DIK, challenge) after VERIFY PUBLIC

    def reset(self) -> None:
        with self._lock:
            self._selected = False
            self._auth = None

    def __call__(self, apdu: bytes) -> bytes:
        with self._lock:
            if not self.intact:
                return _sw(p.SW_MEMORY_FAILURE)
            cmd = parse_apdu(apdu)
            if cmd is None:
                return _sw(p.SW_WRONG_LENGTH)
            if (cmd.cla, cmd.ins) == (0x00, p.INS_SELECT):
                if cmd.p1 != 0x04 or cmd.data != p.PSAM_AID:
                    self._selected = False
                    return _sw(p.SW_FILE_NOT_FOUND)
                self._selected = True
                return _sw(p.SW_OK)
            if not self._selected:
                return _sw(p.SW_CONDITIONS)
            if (cmd.cla, cmd.ins) == (0x00, p.INS_READ_BINARY):
                if cmd.p1 != 0x80 | p.SFI_TERMINAL or cmd.p2 != 0:
                    return _sw(p.SW_FILE_NOT_FOUND)
                return _sw(p.SW_OK, self.state.terminal_id)
            if cmd.cla != 0x80:
                return _sw(p.SW_INS_NOT_SUPPORTED if cmd.cla == 0x00 else p.SW_CLA_NOT_SUPPORTED)
            if cmd.ins == p.INS_INIT_SAM_PURCHASE:
                return self._init_purchase(cmd)
            if cmd.ins == p.INS_CREDIT_SAM_PURCHASE:
                return self._credit_purchase(cmd)
            if cmd.ins == p.INS_VERIFY_PUBLIC:
                return self._verify_public(cmd)
            if cmd.ins == p.INS_VERIFY_AUTH:
                return self._verify_auth(cmd)
            return _sw(p.SW_INS_NOT_SUPPORTED)

    def _init_purchase(self, cmd: ParsedApdu) -> bytes:
        data = cmd.data
        if len(data) != 28:
            return _sw(p.SW_WRONG_LENGTH)
        card_random, counter = data[0:4], int.from_bytes(data[4:6], "big")
        amount, kind = int.from_bytes(data[6:10], "big"), data[10]
        date, time = bytes(data[11:15]), bytes(data[15:18])
        key_version, algorithm, card_number = data[18], data[19], data[20:28].hex()
        if key_version != p.KEY_VERSION or algorithm != crypto.ALG_SM4:
            return _sw(p.SW_KEY_INDEX)
        if kind not in crypto.TRANSACTION_KINDS or amount == 0 or not card_number.isdigit():
            return _sw(p.SW_WRONG_P1P2)
        seq = (self.state.seq + 1) & 0xFFFFFFFF
        purchase = crypto.Purchase(
            amount=amount,
            kind=kind,
            terminal_id=self.state.terminal_id,
            date=date,
            time=time,
            terminal_seq=seq,
            card_counter=counter,
            balance_after=0,  # not part of MAC1 or MAC2
        )
        dpk = crypto.diversify(self.state.purchase_key, card_number)
        key = crypto.purchase_session_key(dpk, bytes(card_random), counter, seq)
        recent = [*self.state.recent, {"seq": seq, "mac2": crypto.mac2(key, purchase).hex()}]
        new = PsamState(**{**self.state.__dict__, "seq": seq, "recent": recent[-RECENT_PURCHASES:]})
        self._commit(new)  # the sequence number is spent before MAC1 leaves the PSAM
        return _sw(p.SW_OK, seq.to_bytes(4, "big") + crypto.mac1(key, purchase))

    def _credit_purchase(self, cmd: ParsedApdu) -> bytes:
        if cmd.p1 == 0x00 and len(cmd.data) == 4:
            wanted, mac2 = None, bytes(cmd.data)
        elif cmd.p1 == 0x01 and len(cmd.data) == 8:
            wanted, mac2 = int.from_bytes(cmd.data[0:4], "big"), bytes(cmd.data[4:8])
        else:
            return _sw(p.SW_WRONG_LENGTH)
        if not self.state.recent:
            return _sw(p.SW_CONDITIONS)
        entry = self.state.recent[-1] if wanted is None else next(
            (e for e in self.state.recent if e["seq"] == wanted), None
        )
        if entry is None:
            return _sw(p.SW_CONDITIONS)
        if not hmac.compare_digest(bytes.fromhex(entry["mac2"]), mac2):
            return _sw(p.SW_MAC_INVALID)
        return _sw(p.SW_OK)  # nothing to write: the same MAC2 may be checked again after a tear

    def _verify_public(self, cmd: ParsedApdu) -> bytes:
        self._auth = None
        if len(cmd.data) != p.PUBLIC_BYTES:
            return _sw(p.SW_WRONG_LENGTH)
        card_number = cmd.data[6:14].hex()
        if not card_number.isdigit():
            return _sw(p.SW_MAC_INVALID)
        dik = crypto.diversify(self.state.public_key, card_number)
        signed, mac = bytes(cmd.data[: p.PUBLIC_SIGNED_BYTES]), bytes(cmd.data[p.PUBLIC_SIGNED_BYTES :])
        if not hmac.compare_digest(crypto.public_mac(dik, signed), mac):
            return _sw(p.SW_MAC_INVALID)
        challenge = secrets.token_bytes(p.AUTH_CHALLENGE_BYTES)
        self._auth = (dik, challenge)  # for the card's INTERNAL AUTHENTICATE, next
        return _sw(p.SW_OK, challenge)

    def _verify_auth(self, cmd: ParsedApdu) -> bytes:
        auth, self._auth = self._auth, None  # one answer per challenge
        if len(cmd.data) != 8:
            return _sw(p.SW_WRONG_LENGTH)
        if auth is None:
            return _sw(p.SW_CONDITIONS)
        if not hmac.compare_digest(crypto.internal_auth(*auth), bytes(cmd.data)):
            return _sw(p.SW_MAC_INVALID)
        return _sw(p.SW_OK)

    def _commit(self, new: PsamState) -> None:
        self.store.save(new)
        self.state = new
