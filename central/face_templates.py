"""Face templates: a 128-d face_recognition encoding per account, encrypted at rest, never the image.

- The key: 32 random bytes (hex) in ``<CENTRAL_SECRETS_DIR>/face-template-key`` (0600), made only
  by ``central init-secrets`` and never overwritten (every template enrolled is sealed with it).
  A missing or malformed key stops the central with one line.
- A template is AES-256-GCM over the 128 float64s, with the account id as associated data (a
  ciphertext moved to another account's row does not open), stored as ``v1.`` + base64(nonce | ct).
- Enrolment from an image: exactly one face (HOG detector) after scaling the photo to about 640 px
  on its long side, as the kiosk's camera frames are; the image is read in memory and dropped.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import os
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from backend_client.wire import FACE_ENCODING_LENGTH
from central.common import audit
from central.config import Settings
from central.models import Account, FaceTemplate

FACE_KEY_FILE = "face-template-key"
KEY_BYTES = 32
NONCE_BYTES = 12
TEMPLATE_PREFIX = "v1."
ENROL_LONG_SIDE = 640  # px: the scale the match threshold was measured at
MAX_IMAGE_BYTES = 4 * 1024 * 1024  # an enrolment photo (decoded); larger is refused
MAX_IMAGE_PIXELS = 40_000_000  # a decompression bomb is refused before decoding
# face_recognition's encodings are unit-scale numbers (|x| well below 1): anything far outside
# is not an encoding.
MAX_ABS_COMPONENT = 5.0
_PACK = struct.Struct(f"<{FACE_ENCODING_LENGTH}d")


class FaceKeyError(RuntimeError):
    """The face-template key is missing, unreadable or malformed (one line, never the key)."""


class FaceImageError(ValueError):
    """An enrolment image the central cannot use: the message says what to do."""


def face_key_path(secrets_dir: Path) -> Path:
    return secrets_dir / FACE_KEY_FILE


def write_new_face_key(secrets_dir: Path) -> bool:
    """Make the key file unless it exists; True when made (``init-secrets`` only)."""
    path = face_key_path(secrets_dir)
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    return True


class FaceSealer:
    """Seals and opens templates with the face-template key; never shows the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise FaceKeyError(f"the face-template key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "FaceSealer(<key hidden>)"

    @classmethod
    def load(cls, settings: Settings) -> FaceSealer:
        if settings.secrets_dir is None:
            raise FaceKeyError(
                "CENTRAL_SECRETS_DIR is not set: the face-template key lives there "
                "(`python -m central init-secrets` makes it for a new central)"
            )
        path = face_key_path(settings.secrets_dir)
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise FaceKeyError(
                f"{path}: the face-template key is missing; restore the central's secrets folder (every "
                "enrolled face depends on it), or run `python -m central init-secrets` to make it"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise FaceKeyError(f"cannot read the face-template key {path}: {type(exc).__name__}") from None
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES:
            raise FaceKeyError(f"{path}: the face-template key must be {KEY_BYTES * 2} hex digits")
        return cls(key)

    def seal(self, account_id: str, encoding: list[float]) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, _PACK.pack(*encoding), account_id.encode())
        return TEMPLATE_PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, account_id: str, stored: str) -> list[float]:
        if not stored.startswith(TEMPLATE_PREFIX):
            raise FaceKeyError("a face template in an unknown format")
        raw = base64.b64decode(stored[len(TEMPLATE_PREFIX):])
        try:
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], account_id.encode())
        except InvalidTag:
            raise FaceKeyError("a face template does not open with this key (wrong key or moved row)") from None
        return list(_PACK.unpack(plain))


def encoding_problem(encoding: list[float] | None) -> str | None:
    """Why this is not a usable face encoding, or None."""
    if encoding is None or len(encoding) != FACE_ENCODING_LENGTH:
        return f"an encoding is {FACE_ENCODING_LENGTH} numbers"
    for value in encoding:
        if not math.isfinite(value) or abs(value) > MAX_ABS_COMPONENT:
            return "an encoding's numbers must be finite and small"
    return None


def distance(a: list[float], b: list[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


@dataclass(frozen=True)
class ImageFaces:
    count: int
    encoding: list[float] | None  # when exactly one face


def encode_image(data: bytes) -> list[float]:
    """The one face's encoding in an image; FaceImageError when the image has none, several or is unusable."""
    if not data:
        raise FaceImageError("the image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise FaceImageError(f"the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB: send a smaller photo")
    faces = _faces(data)
    if faces.count > 1:
        raise FaceImageError(f"{faces.count} faces found in the image: exactly one person must be in the photo")
    if faces.encoding is None:
        raise FaceImageError("no face found in the image: a clear, front-facing photo of one person is needed")
    return faces.encoding


def _faces(data: bytes) -> ImageFaces:
    import face_recognition
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with contextlib.ExitStack() as stack:
            image = stack.enter_context(Image.open(io.BytesIO(data)))
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise FaceImageError("the image has too many pixels: send a smaller photo")
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise FaceImageError("the file is not an image the central can read (JPEG or PNG)") from None
    scale = ENROL_LONG_SIDE / max(rgb.width, rgb.height)
    if scale < 1:
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    pixels: Any = np.asarray(rgb)
    locations = face_recognition.face_locations(pixels, model="hog")
    if len(locations) != 1:
        return ImageFaces(len(locations), None)
    encodings = face_recognition.face_encodings(pixels, known_face_locations=locations)
    return ImageFaces(1, [float(x) for x in encodings[0]] if encodings else None)


# ---- enrolment and deletion (the CLI and the partner API) -----------------------------------


def enrol_template(
    session: Session, sealer: FaceSealer, account: Account, encoding: list[float], consent_version: str,
    consented_at: datetime, now: datetime, actor: str,
) -> FaceTemplate:
    """Store (or replace) the account's template: the sealed encoding and the consent, never an image."""
    problem = encoding_problem(encoding)
    if problem is not None:
        raise FaceImageError(problem)
    template = session.get(FaceTemplate, account.id)
    replaced = template is not None
    if template is None:
        template = FaceTemplate(account_id=account.id)
        session.add(template)
    template.ciphertext = sealer.seal(account.id, encoding)
    template.consent_version = consent_version
    template.consented_at = consented_at
    template.enrolled_by = actor
    template.enrolled_at = now
    session.flush()
    audit(session, now, actor, "face_template_enrolled", account_id=account.id, phone=account.phone_masked,
          consent_version=consent_version, consented_at=consented_at.isoformat(), replaced=replaced)
    return template


def delete_template(session: Session, account: Account, now: datetime, actor: str) -> bool:
    """Delete the account's template (the audit keeps that it happened); False when there was none."""
    template = session.get(FaceTemplate, account.id)
    if template is not None:
        session.delete(template)
        session.flush()
    audit(session, now, actor, "face_template_deleted", account_id=account.id, phone=account.phone_masked,
          existed=template is not None)
    return template is not None
