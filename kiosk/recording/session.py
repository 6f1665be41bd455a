"""The one definition of a recorded session: header, events, files, encryption, expiry.

A session is a folder.  The kiosk writes it encrypted, as ``part-0001.krec``,
``part-0002.krec`` ... (a new part when one reaches the configured size).  Each part is::

    MAGIC (6 bytes) | session id (16) | part number (4, big-endian)
    then records:  length (4, big-endian) | nonce (12) | AES-256-GCM ciphertext

Each record's plaintext is one JSON object: the header first (in part 1), then one event
per record.  The associated data binds every record to its session, part and position, so
records cannot be moved between sessions or reordered unnoticed.  A record cut short by a
power loss is dropped on reading (the reader says so), never half-read.

Test fixtures and hand-written scenarios use the readable form, a ``*.jsonl`` file (one
JSON object per line, ``#`` lines are comments): the header line, then the events.  The
kiosk itself never writes that form: sessions hold pickup codes and tokens in clear so
that they can replay.

Every event is ``{"t": seconds since the session began, "kind": KIND, ...fields}``:

=========  ====================================================================================
kind       fields
=========  ====================================================================================
tap        widget (kv id or driver id, or null), pos [x, y] as fractions of the window, screen
key        key (Kivy key code), codepoint (text or null), screen
qr         text, raw (hex), decoder: a camera decode result as the flow received it
frame      png (base64), reason: a reduced camera frame (only when configured)
card       event (inserted | removed), reader, atr (hex)
apdu       command (hex), response (hex), error
printer    op = connect (error) | ask (request hex, answer hex or null, error) | job (data hex, error)
           | fault (paper, cover_open, offline, fail_after_cuts, fault: scenario printer state)
central    method, path, attempt, headers, body (JSON) or body_text, status, response (JSON) or
           response_text, error (no complete answer: "connection refused", "read timeout" ...),
           delay_s (a slow answer: how long it took; a replay's clock moves by it, up to the timeout)
face       op = begin (challenge) | cancel | result (outcome, challenge, frames, seconds): a face check
           of the lost-ticket journey; never a frame nor the encoding (the central's FaceVerdict
           answer, in its "central" event, carries the distance)
health     device (camera | card), level (ok | warning | critical), reason: a change the monitor saw
camera     frames (black | glare), count: scenario input only, frames run through the QR decoder
timer      name (tick | monitor | trust_refresh | outbox): a timer that fired
deliver    what (post | done), job: a background job's callback reaching the main loop
screen     screen, detail: what the person saw (a new event when either changes)
error      level, logger, message
=========  ====================================================================================
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.metadata
import json
import math
import os
import secrets
import shutil
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiosk.config import KioskConfig

FORMAT_VERSION = 1
MAGIC = b"KREC1\n"
PART_GLOB = "part-*.krec"
PLAIN_SUFFIX = ".jsonl"
KEY_BYTES = 32
NONCE_BYTES = 12
_PART_HEAD = struct.Struct(">16sI")
_LENGTH = struct.Struct(">I")
MAX_RECORD_BYTES = 64 << 20  # a longer "record" is a corrupt file, not an event

# Config keys that do not change what the kiosk does, only where it runs: a bench with other
# ports, folders and credentials replays the same session.  Everything else is in the digest.
_ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "kiosk": ("name", "data_dir", "dev_mode", "allow_simulators"),
    "central": ("url", "credential_file", "ca_file", "cert_sha256", "allow_plain_http"),
    "printer": ("kind", "host", "port", "usb_vendor_id", "usb_product_id", "serial_device", "serial_baudrate",
                "file_path", "simulate", "simulator_out_dir"),
    "camera": ("source", "fps", "loop"),
    "card": ("reader", "reader_name_pattern", "poll_s"),
}
_UNRECORDED_SECTIONS = frozenset({"recording"})


class SessionError(Exception):
    """A session that cannot be read or written: the message says which file and why."""


def app_version() -> str:
    try:
        return importlib.metadata.version("ticket-kiosk")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def behaviour_config(config: KioskConfig) -> dict[str, Any]:
    """The configuration that decides what the kiosk does, flattened to "section.key"."""
    flat: dict[str, Any] = {}
    for section in dataclasses.fields(config):
        if section.name in _UNRECORDED_SECTIONS:
            continue
        for key, value in dataclasses.asdict(getattr(config, section.name)).items():
            if key not in _ENVIRONMENT.get(section.name, ()):
                flat[f"{section.name}.{key}"] = value
    return dict(sorted(flat.items()))


def config_digest(config: KioskConfig) -> str:
    canonical = json.dumps(behaviour_config(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class SessionHeader:
    app_version: str
    config_digest: str
    started_at: str  # wall clock (ISO 8601, UTC) at t = 0
    config: dict[str, Any] = field(default_factory=dict)  # behaviour_config(), for the technician
    devices: dict[str, Any] = field(default_factory=dict)  # printer, card reader, camera identities
    worker: str = "recorded"  # "recorded": deliver events order callbacks; "inline": scenarios
    printer: str = "scripted"  # "scripted": recorded answers; "virtual": the virtual printer answers
    from_start: bool = True  # the session begins with the kiosk's start-up
    snapshot: dict[str, Any] = field(default_factory=dict)  # state when recording began mid-service
    note: str = ""
    format: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"kind": "header", **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> SessionHeader:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        try:
            header = cls(**values)
        except TypeError as exc:
            raise SessionError(f"{source}: the header lacks {exc}") from None
        if header.format != FORMAT_VERSION:
            raise SessionError(f"{source}: session format {header.format!r}, this kiosk reads {FORMAT_VERSION}")
        for name, kind in _HEADER_TYPES.items():
            value = getattr(header, name)
            if not isinstance(value, kind):
                raise SessionError(f"{source}: header {name} must be {kind.__name__}, got {value!r:.60}")
        try:
            datetime.fromisoformat(header.started_at)
        except (TypeError, ValueError):
            raise SessionError(f"{source}: header started_at is not an ISO time: {header.started_at!r}") from None
        return header

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.started_at)


# What a header's fields must hold: a replay uses them as such.
_HEADER_TYPES: dict[str, type] = {
    "app_version": str, "config_digest": str, "started_at": str, "config": dict, "devices": dict, "worker": str,
    "printer": str, "from_start": bool, "snapshot": dict, "note": str,
}


@dataclass(frozen=True)
class Event:
    t: float
    kind: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 6), "kind": self.kind, **self.data}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> Event:
        values = dict(data)
        t, kind = values.pop("t", None), values.pop("kind", None)
        if not isinstance(kind, str) or not kind:
            raise SessionError(f"{where}: an event without a kind")
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t < math.inf:  # no nan, no inf
            raise SessionError(f"{where}: event {kind!r} needs a time t >= 0 (seconds), got {t!r}")
        return cls(float(t), kind, values)

    def describe(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, sort_keys=False)[:600]


@dataclass
class Session:
    header: SessionHeader
    events: list[Event]
    source: str
    warnings: list[str] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[Event]:
        return [event for event in self.events if event.kind in kinds]


# -- keys ------------------------------------------------------------------------------------------


def load_or_create_key(path: Path) -> bytes:
    """The recording key at ``path``; made (random, mode 0600) on first use."""
    if path.exists():
        return load_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it a moment ago
        return load_key(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    return key


def load_key(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise SessionError(f"{path}: the recording key file is missing (copy it from the kiosk "
                           "that recorded the session, or name it with --key)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"{path}: cannot read the recording key: {exc}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise SessionError(f"{path}: not a recording key (expected {KEY_BYTES * 2} hex digits)")
    return key


# -- writing ---------------------------------------------------------------------------------------


class SessionWriter:
    """Appends encrypted records to a session folder, starting a new part past ``max_part_bytes``."""

    def __init__(self, folder: Path, key: bytes, header: SessionHeader, max_part_bytes: int) -> None:
        self.folder = folder
        self._aead = AESGCM(key)
        self._session_id = secrets.token_bytes(16)
        self._max_part_bytes = max(4096, max_part_bytes)
        self._lock = threading.Lock()
        self._part = 0
        self._record = 0
        self._handle: BinaryIO | None = None
        self._part_bytes = 0
        self.events_written = 0
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.glob(PART_GLOB)):
            raise SessionError(f"{folder}: already holds a session; choose an empty folder")
        self._open_part()
        self._write_record(header.to_json())

    def write(self, event: Event) -> None:
        with self._lock:
            if self._handle is None:
                return
            if self._part_bytes >= self._max_part_bytes:
                self._open_part()
            self._write_record(event.to_json())
            self.events_written += 1

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    @property
    def closed(self) -> bool:
        return self._handle is None

    def _open_part(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._part += 1
        self._record = 0
        path = self.folder / f"part-{self._part:04d}.krec"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._handle = os.fdopen(fd, "wb")
        self._handle.write(MAGIC + _PART_HEAD.pack(self._session_id, self._part))
        self._part_bytes = len(MAGIC) + _PART_HEAD.size

    def _write_record(self, document: dict[str, Any]) -> None:
        assert self._handle is not None
        plaintext = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, self._aad(self._part, self._record))
        self._handle.write(_LENGTH.pack(len(sealed)) + sealed)
        self._handle.flush()  # a crash loses at most the record being written
        self._part_bytes += _LENGTH.size + len(sealed)
        self._record += 1

    def _aad(self, part: int, record: int) -> bytes:
        return _aad(self._session_id, part, record)


def _aad(session_id: bytes, part: int, record: int) -> bytes:
    return MAGIC + session_id + struct.pack(">II", part, record)


# -- reading ---------------------------------------------------------------------------------------


def read_session(location: Path, key: bytes | None) -> Session:
    """A session folder (encrypted parts, or one ``*.jsonl``) or a ``*.jsonl`` file."""
    if location.is_file() and location.suffix == PLAIN_SUFFIX:
        return _read_plain(location)
    if not location.is_dir():
        raise SessionError(f"{location}: no such session (a folder of part-*.krec files or a .jsonl file)")
    parts = sorted(location.glob(PART_GLOB))
    if not parts:
        plain = sorted(location.glob("*" + PLAIN_SUFFIX))
        if len(plain) == 1:
            return _read_plain(plain[0])
        raise SessionError(f"{location}: holds no session (no part-*.krec files)")
    if key is None:
        raise SessionError(f"{location}: the session is encrypted and no key was given")
    return _read_encrypted(location, parts, key)


def _read_plain(path: Path) -> Session:
    documents: list[tuple[str, dict[str, Any]]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SessionError(f"{where}: not JSON: {exc.msg}") from None
        except RecursionError:
            raise SessionError(f"{where}: not JSON: nested too deeply") from None
        if not isinstance(document, dict):
            raise SessionError(f"{where}: each line is one JSON object")
        documents.append((where, document))
    return _assemble(documents, str(path), [])


def _read_encrypted(folder: Path, parts: list[Path], key: bytes) -> Session:
    aead = AESGCM(key)
    documents: list[tuple[str, dict[str, Any]]] = []
    warnings: list[str] = []
    session_id: bytes | None = None
    for expected_part, path in enumerate(parts, start=1):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SessionError(f"{path}: cannot read: {exc.strerror}") from None
        head_size = len(MAGIC) + _PART_HEAD.size
        if len(data) < head_size or not data.startswith(MAGIC):
            raise SessionError(f"{path}: not a kiosk session part")
        part_session, part_number = _PART_HEAD.unpack_from(data, len(MAGIC))
        if session_id is None:
            session_id = part_session
        if part_session != session_id or part_number != expected_part:
            raise SessionError(f"{path}: belongs to another session or is out of order")
        for index, record in enumerate(_records(data, head_size, path, warnings)):
            nonce, sealed = record[:NONCE_BYTES], record[NONCE_BYTES:]
            try:
                plaintext = aead.decrypt(nonce, sealed, _aad(session_id, part_number, index))
            except InvalidTag:
                raise SessionError(f"{path}: record {index} cannot be decrypted: wrong key file, "
                                   "or the file was changed") from None
            try:
                document = json.loads(plaintext)
            except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                raise SessionError(f"{path}: record {index} is not JSON") from None
            if not isinstance(document, dict):
                raise SessionError(f"{path}: record {index} is not a JSON object")
            documents.append((f"{path.name} record {index}", document))
    return _assemble(documents, str(folder), warnings)


def _records(data: bytes, offset: int, path: Path, warnings: list[str]) -> Iterator[bytes]:
    while offset < len(data):
        if offset + _LENGTH.size > len(data):
            warnings.append(f"{path.name}: a record cut short at the end was dropped")
            return
        (length,) = _LENGTH.unpack_from(data, offset)
        start = offset + _LENGTH.size
        if length > MAX_RECORD_BYTES or length <= NONCE_BYTES:
            raise SessionError(f"{path}: corrupt record length at byte {offset}")
        if start + length > len(data):
            warnings.append(f"{path.name}: a record cut short at the end was dropped")
            return
        yield data[start:start + length]
        offset = start + length


def _assemble(documents: list[tuple[str, dict[str, Any]]], source: str, warnings: list[str]) -> Session:
    if not documents or documents[0][1].get("kind") != "header":
        raise SessionError(f"{source}: a session starts with its header (kind \"header\")")
    header = SessionHeader.from_json(documents[0][1], source)
    events = [Event.from_json(document, where) for where, document in documents[1:]]
    for (where, _), before, after in zip(documents[2:], events, events[1:], strict=False):
        if after.t < before.t:
            raise SessionError(f"{where}: time goes back ({after.t} after {before.t})")
    return Session(header, events, source, warnings)


def write_plain(path: Path, session: Session) -> None:
    """The readable form, for fixtures a person checks in (never for sessions of a kiosk)."""
    lines = [json.dumps(session.header.to_json(), ensure_ascii=False)]
    lines += [json.dumps(event.to_json(), ensure_ascii=False) for event in session.events]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- expiry ----------------------------------------------------------------------------------------


def list_sessions(root: Path, keep_days: float, now: float | None = None) -> list[Path]:
    """Session folders under ``root``, newest last; those older than ``keep_days`` are deleted first."""
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    kept: list[tuple[float, Path]] = []
    for folder in root.iterdir():
        parts = list(folder.glob(PART_GLOB)) if folder.is_dir() else []
        if not parts:
            continue
        newest = max(p.stat().st_mtime for p in parts)
        if now - newest > keep_days * 86400:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        kept.append((newest, folder))
    return [folder for _, folder in sorted(kept)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
