"""Signed QR tokens: the format the central signs and the kiosk checks offline.

    TK1.<payload>.<signature>

``payload`` is base64url (no padding) of compact JSON, ``signature`` is the Ed25519
signature over the ASCII bytes ``TK1.<payload>``.  Two kinds exist: an *order* token
(the QR a moviegoer holds up to collect tickets) and a *ticket* token (the entrance QR
printed on each ticket).  The kiosk checks a token against the central's published key
set and revocation list before making any call with it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

PREFIX = "TK1"
MAX_TOKEN_LENGTH = 1024
KIND_ORDER = "order"
KIND_TICKET = "ticket"
_TOKEN_RE = re.compile(r"^TK1\.([A-Za-z0-9_-]{1,900})\.([A-Za-z0-9_-]{86})$")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class TokenError(Exception):
    """A token that is not ours, malformed, forged, expired or revoked."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # not_a_token | malformed | unknown_key | bad_signature | expired | revoked


@dataclass(frozen=True)
class TokenClaims:
    kind: str  # KIND_ORDER or KIND_TICKET
    key_id: str
    token_id: str  # unique per token: what revocation lists name
    order_id: str
    cinema_id: str
    expires_at: datetime
    ticket_id: str | None = None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def looks_like_token(text: str) -> bool:
    """Cheap test used to route a decoded QR payload: ours, or someone else's code."""
    return text.startswith(PREFIX + ".")


def sign_token(private_key: Ed25519PrivateKey, claims: TokenClaims) -> str:
    body = {
        "typ": claims.kind,
        "kid": claims.key_id,
        "jti": claims.token_id,
        "oid": claims.order_id,
        "cid": claims.cinema_id,
        "exp": int(claims.expires_at.timestamp()),
    }
    if claims.ticket_id is not None:
        body["tid"] = claims.ticket_id
    payload = b64url_encode(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{PREFIX}.{payload}"
    signature = private_key.sign(signed.encode("ascii"))
    return f"{signed}.{b64url_encode(signature)}"


def parse_unverified(token: str) -> tuple[TokenClaims, bytes, bytes]:
    """Split and decode a token without checking it. Returns claims, signed bytes, signature."""
    if not isinstance(token, str) or not looks_like_token(token):
        raise TokenError("not_a_token", "not a ticket kiosk code")
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed", "token too long")
    match = _TOKEN_RE.match(token)
    if match is None:
        raise TokenError("malformed", "token is not well formed")
    payload_text, signature_text = match.groups()
    try:
        body = json.loads(b64url_decode(payload_text))
        signature = b64url_decode(signature_text)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise TokenError("malformed", "token payload is not valid") from exc
    if not isinstance(body, dict):
        raise TokenError("malformed", "token payload is not an object")
    try:
        kind = body["typ"]
        key_id, token_id = body["kid"], body["jti"]
        order_id, cinema_id = body["oid"], body["cid"]
        expires = body["exp"]
        ticket_id = body.get("tid")
    except KeyError as exc:
        raise TokenError("malformed", f"token lacks field {exc.args[0]}") from exc
    ids = [key_id, token_id, order_id, cinema_id] + ([ticket_id] if ticket_id is not None else [])
    if kind not in (KIND_ORDER, KIND_TICKET) or not all(
        isinstance(v, str) and _ID_RE.match(v) for v in ids
    ):
        raise TokenError("malformed", "token fields are not valid")
    if not isinstance(expires, int) or isinstance(expires, bool) or not 0 < expires < 2**37:
        raise TokenError("malformed", "token expiry is not valid")
    claims = TokenClaims(
        kind=kind,
        key_id=key_id,
        token_id=token_id,
        order_id=order_id,
        cinema_id=cinema_id,
        expires_at=datetime.fromtimestamp(expires, UTC),
        ticket_id=ticket_id,
    )
    return claims, f"{PREFIX}.{payload_text}".encode("ascii"), signature


def verify_token(
    token: str,
    public_keys: dict[str, Ed25519PublicKey],
    revoked_token_ids: set[str] | frozenset[str],
    now: datetime,
) -> TokenClaims:
    """Check format, signature against the key set, expiry and revocation."""
    claims, signed, signature = parse_unverified(token)
    key = public_keys.get(claims.key_id)
    if key is None:
        raise TokenError("unknown_key", "token signed with an unknown key")
    try:
        key.verify(signature, signed)
    except InvalidSignature as exc:
        raise TokenError("bad_signature", "token signature is not valid") from exc
    if claims.expires_at <= now:
        raise TokenError("expired", "token has expired")
    if claims.token_id in revoked_token_ids:
        raise TokenError("revoked", "token has been revoked")
    return claims


def load_public_key(encoded: str) -> Ed25519PublicKey:
    """Decode a raw Ed25519 public key as published in the key set (base64url)."""
    try:
        raw = b64url_decode(encoded)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error) as exc:
        raise TokenError("malformed", "public key is not valid") from exc
