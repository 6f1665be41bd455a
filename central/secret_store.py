"""Server secrets: the pickup-code HMAC key, kiosk credentials, the Ed25519 signing keys (and the
card issuer keys of central/card_keys.py and the face-template key of central/face_templates.py,
made here by ``init-secrets``).

Secrets come from the environment or from one secrets folder (``CENTRAL_SECRETS_DIR``, an
absolute path; folder 0700, files 0600) made by ``central init-secrets``. Nothing here makes
or retires a key behind the operator's back: a key that is missing stops the command or the
server with one line saying what to restore or run. The database only ever holds hashes and
public keys.
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
from central.card_keys import write_new_issuer_keys
from central.config import Settings
from central.face_templates import write_new_face_key
from central.models import SigningKey


class SecretsError(RuntimeError):
    """A secret is missing, unreadable or malformed."""


def _write_private_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)


PICKUP_CODE_KEY_FILE = "pickup-code.key"
SIGNING_DIR = "signing"
INIT_HINT = "`python -m central init-secrets` makes the keys of a new central"


def require_secrets_dir(settings: Settings, needed_for: str) -> Path:
    """The configured secrets folder, or one line saying how to configure it."""
    if settings.secrets_dir is None:
        raise SecretsError(
            f"CENTRAL_SECRETS_DIR is not set: the {needed_for} lives there (an absolute path; {INIT_HINT})"
        )
    return settings.secrets_dir


def _read_secret(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise SecretsError(
            f"{path}: the {what} is missing; restore the central's secrets folder "
            f"(or point CENTRAL_SECRETS_DIR at it); {INIT_HINT}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretsError(f"cannot read secret {path}: {exc}") from exc
    if not text:
        raise SecretsError(f"{path}: the {what} is empty")
    return text


class CodeHasher:
    """Keyed hash of pickup codes, so a stolen database does not reveal or test codes offline."""

    def __init__(self, settings: Settings) -> None:
        if settings.code_secret:
            self._key = settings.code_secret.encode()
        else:
            folder = require_secrets_dir(settings, "pickup-code key")
            self._key = _read_secret(folder / PICKUP_CODE_KEY_FILE, "pickup-code key").encode()

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
    """Ed25519 signing keys: one signs, every key not past its not_after verifies.

    Private halves live in ``<secrets>/signing/<key_id>.key`` (made by ``init-secrets`` or
    ``keys rotate``); the database holds the public halves. A fresh database adopts the newest
    key file it does not know yet; an active key whose private half is missing is an error,
    never a reason to retire it and sign with a new one.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._overlap = timedelta(seconds=settings.key_overlap_seconds)
        self._env_key = (
            _private_from_text(settings.signing_key, "CENTRAL_SIGNING_KEY") if settings.signing_key else None
        )

    @property
    def _dir(self) -> Path:
        return require_secrets_dir(self._settings, "token signing key") / SIGNING_DIR

    def _private_path(self, key_id: str) -> Path:
        return self._dir / f"{key_id}.key"

    def _load_private(self, key_id: str) -> Ed25519PrivateKey:
        if self._env_key is not None and key_id == self._env_key_id():
            return self._env_key
        path = self._private_path(key_id)
        return _private_from_text(_read_secret(path, f"private half of signing key {key_id}"), str(path))

    def _env_key_id(self) -> str:
        assert self._env_key is not None
        digest = hashlib.sha256(_public_text(self._env_key).encode()).digest()
        return "env-" + b64url_encode(digest[:9])

    def current(self, session: Session, now: datetime) -> ActiveKey:
        """The key that signs now (from the environment, the database's active key, or a new key file)."""
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
            return ActiveKey(row.id, self._load_private(row.id))
        return self._adopt(session, now)

    def _adopt(self, session: Session, now: datetime) -> ActiveKey:
        """A database with no active key: publish the newest key file made by init-secrets."""
        files = sorted(self._dir.glob("*.key"), key=lambda path: path.name) if self._dir.is_dir() else []
        known = {row.id for row in session.scalars(select(SigningKey))}
        fresh = [path for path in files if path.stem not in known]
        if not fresh:
            raise SecretsError(f"{self._dir}: no token signing key to sign with; {INIT_HINT}")
        key_id = fresh[-1].stem
        private = self._load_private(key_id)
        session.add(SigningKey(id=key_id, public_key=_public_text(private), created_at=now))
        session.flush()
        return ActiveKey(key_id, private)

    def new_key_file(self, now: datetime) -> str:
        """Make a signing key's private file (not yet in the database); its key id."""
        private = Ed25519PrivateKey.generate()
        key_id = f"k{now:%Y%m%d%H%M%S}-{secrets.token_hex(4)}"
        _write_private_file(self._private_path(key_id), b64url_encode(private.private_bytes_raw()))
        return key_id

    def _create(self, session: Session, now: datetime) -> ActiveKey:
        key_id = self.new_key_file(now)
        private = self._load_private(key_id)
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


@dataclass(frozen=True)
class InitReport:
    secrets_dir: Path
    pickup_code_key: str  # "created" | "kept" | "from CENTRAL_CODE_SECRET"
    signing_key: str  # "created <key_id>" | "kept" | "from CENTRAL_SIGNING_KEY"
    issuer_keys: str = "kept"  # the card issuer's master keys: "created" | "kept"
    face_template_key: str = "kept"  # the key face templates are sealed with: "created" | "kept"

    def as_json(self) -> dict[str, str]:
        return {"secrets_dir": str(self.secrets_dir), "pickup_code_key": self.pickup_code_key,
                "signing_key": self.signing_key, "issuer_keys": self.issuer_keys,
                "face_template_key": self.face_template_key}


def init_secrets(settings: Settings, now: datetime) -> InitReport:
    """Make the secrets a new central needs, keeping every one that exists (``central init-secrets``)."""
    folder = require_secrets_dir(settings, "central's secrets")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.code_secret:
        code_state = "from CENTRAL_CODE_SECRET"
    else:
        code_state = "kept"
        with contextlib.suppress(FileExistsError):  # never overwrite: codes sold are hashed with it
            _write_private_file(folder / PICKUP_CODE_KEY_FILE, secrets.token_hex(32))
            code_state = "created"
    if settings.signing_key:
        signing_state = "from CENTRAL_SIGNING_KEY"
    else:
        keyring = KeyRing(settings)
        signing = folder / SIGNING_DIR
        if signing.is_dir() and any(signing.glob("*.key")):
            signing_state = "kept"
        else:
            signing_state = f"created {keyring.new_key_file(now)}"
    # Never replaced: every card made is diversified from these masters.
    issuer_state = "created" if write_new_issuer_keys(folder) else "kept"
    # Never replaced either: every enrolled face template is sealed with it.
    face_state = "created" if write_new_face_key(folder) else "kept"
    return InitReport(folder, code_state, signing_state, issuer_state, face_state)
