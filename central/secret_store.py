"""Server secrets: the pickup-code HMAC key, kiosk credentials and the Ed25519 signing keys.

Secrets come from the environment or are generated on first use into the secrets folder
(0700, files 0600); the database only ever holds hashes and public keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend_client.tokens import b64url_decode, b64url_encode, load_public_key
from central.config import Settings
from central.models import SigningKey


class SecretsError(RuntimeError):
    """A secret is missing, unreadable or malformed."""


def _write_private_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)


def _read_or_create(path: Path, make: str) -> str:
    with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
        _write_private_file(path, make)
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretsError(f"cannot read secret {path}: {exc}") from exc


class CodeHasher:
    """Keyed hash of pickup codes, so a stolen database does not reveal or test codes offline."""

    def __init__(self, settings: Settings) -> None:
        if settings.code_secret:
            self._key = settings.code_secret.encode()
        else:
            self._key = _read_or_create(settings.secrets_dir / "pickup-code.key", secrets.token_hex(32)).encode()

    def hash(self, serial: str, verification: str) -> str:
        return hmac.new(self._key, f"{serial}:{verification}".encode(), hashlib.sha256).hexdigest()

    def matches(self, serial: str, verification: str, stored: str) -> bool:
        return hmac.compare_digest(self.hash(serial, verification), stored)

    def derived_key(self, purpose: str) -> bytes:
        """A separate key for another use of the same server secret (no second secret to keep)."""
        return hmac.new(self._key, f"derived-key:{purpose}".encode(), hashlib.sha256).digest()


class ClaimGrantRefused(Exception):
    """A claim grant that does not allow this claim; ``reason`` says why (for the refusal's details)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ClaimGrants:
    """Short-lived grants binding a claim to one kiosk's successful lookup of one order.

    A grant is ``base64url(payload).base64url(HMAC-SHA256(payload))``; the payload names the kiosk,
    the order and the expiry, so a kiosk cannot claim an order it never looked up with its code.
    """

    def __init__(self, hasher: CodeHasher, settings: Settings) -> None:
        self._key = hasher.derived_key("claim-grant-v1")
        self._validity = timedelta(seconds=settings.claim_grant_seconds)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, kiosk_id: str, order_id: str, now: datetime) -> str:
        expires_at = math.ceil((now + self._validity).timestamp())
        payload = json.dumps({"k": kiosk_id, "o": order_id, "x": expires_at}, separators=(",", ":")).encode()
        return f"{b64url_encode(payload)}.{b64url_encode(self._mac(payload))}"

    def check(self, grant: str, kiosk_id: str, order_id: str, now: datetime) -> None:
        """Raise ClaimGrantRefused unless the grant was issued here for this kiosk and order and is live."""
        payload_text, sep, mac_text = grant.partition(".")
        try:
            payload, mac = b64url_decode(payload_text), b64url_decode(mac_text)
        except ValueError:
            raise ClaimGrantRefused("malformed") from None
        if not sep or not payload:
            raise ClaimGrantRefused("malformed")
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise ClaimGrantRefused("forged")
        try:
            fields = json.loads(payload)
            granted_kiosk, granted_order, expires_at = fields["k"], fields["o"], fields["x"]
        except (ValueError, TypeError, KeyError):
            raise ClaimGrantRefused("malformed") from None
        if not isinstance(expires_at, int) or now.timestamp() >= expires_at:
            raise ClaimGrantRefused("expired")
        if granted_kiosk != kiosk_id:
            raise ClaimGrantRefused("other_kiosk")
        if granted_order != order_id:
            raise ClaimGrantRefused("other_order")


def hash_kiosk_secret(secret: str) -> str:
    # The secret has 256 random bits, so a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_kiosk_secret() -> str:
    return secrets.token_urlsafe(32)


def split_credential(credential: str) -> tuple[str, str] | None:
    kiosk_id, sep, secret = credential.partition(".")
    return (kiosk_id, secret) if sep and kiosk_id and secret else None


def _public_text(private_key: Ed25519PrivateKey) -> str:
    return b64url_encode(private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def _private_from_text(text: str, where: str) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(b64url_decode(text))
    except ValueError as exc:
        raise SecretsError(f"signing key in {where} is not a base64url Ed25519 private key") from exc


@dataclass(frozen=True)
class ActiveKey:
    key_id: str
    private_key: Ed25519PrivateKey


class KeyRing:
    """Ed25519 signing keys: one signs, every key not past its not_after verifies."""

    def __init__(self, settings: Settings) -> None:
        self._dir = settings.secrets_dir / "signing"
        self._overlap = timedelta(seconds=settings.key_overlap_seconds)
        self._env_key = (
            _private_from_text(settings.signing_key, "CENTRAL_SIGNING_KEY") if settings.signing_key else None
        )

    def _private_path(self, key_id: str) -> Path:
        return self._dir / f"{key_id}.key"

    def _load_private(self, key_id: str) -> Ed25519PrivateKey | None:
        if self._env_key is not None and key_id == self._env_key_id():
            return self._env_key
        path = self._private_path(key_id)
        if not path.exists():
            return None
        return _private_from_text(path.read_text(encoding="ascii").strip(), str(path))

    def _env_key_id(self) -> str:
        assert self._env_key is not None
        digest = hashlib.sha256(_public_text(self._env_key).encode()).digest()
        return "env-" + b64url_encode(digest[:9])

    def current(self, session: Session, now: datetime) -> ActiveKey:
        """The key that signs now; made on first use (or taken from the environment)."""
        if self._env_key is not None:
            key_id = self._env_key_id()
            if session.get(SigningKey, key_id) is None:
                session.add(SigningKey(id=key_id, public_key=_public_text(self._env_key), created_at=now))
                session.flush()
            return ActiveKey(key_id, self._env_key)
        row = session.scalars(
            select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc())
        ).first()
        if row is not None:
            private = self._load_private(row.id)
            if private is not None:
                return ActiveKey(row.id, private)
            # The private half is gone (other secrets folder): retire it and sign with a new key.
            row.retired_at = now
            row.not_after = now + self._overlap
        return self._create(session, now)

    def _create(self, session: Session, now: datetime) -> ActiveKey:
        private = Ed25519PrivateKey.generate()
        key_id = f"k{now:%Y%m%d}-{secrets.token_hex(4)}"
        _write_private_file(self._private_path(key_id), b64url_encode(private.private_bytes_raw()))
        session.add(SigningKey(id=key_id, public_key=_public_text(private), created_at=now))
        session.flush()
        return ActiveKey(key_id, private)

    def rotate(self, session: Session, now: datetime) -> tuple[ActiveKey, list[SigningKey]]:
        """Start signing with a new key; the old ones keep verifying for the overlap period."""
        if self._env_key is not None:
            raise SecretsError("the signing key comes from CENTRAL_SIGNING_KEY: change it there to rotate")
        retired = list(session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))))
        for row in retired:
            row.retired_at = now
            row.not_after = now + self._overlap
        return self._create(session, now), retired

    @staticmethod
    def valid_rows(session: Session, now: datetime) -> list[SigningKey]:
        return list(
            session.scalars(
                select(SigningKey)
                .where(or_(SigningKey.not_after.is_(None), SigningKey.not_after > now))
                .order_by(SigningKey.created_at)
            )
        )

    def verifying_keys(self, session: Session, now: datetime) -> dict[str, Ed25519PublicKey]:
        return {row.id: load_public_key(row.public_key) for row in self.valid_rows(session, now)}
