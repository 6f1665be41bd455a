"""The signed QR token format: what the kiosk accepts offline and what it refuses."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from backend_client.tokens import (
    KIND_ORDER,
    KIND_TICKET,
    TokenClaims,
    TokenError,
    b64url_encode,
    load_public_key,
    sign_token,
    verify_token,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
KEYS = {"k1": KEY.public_key()}


def claims(**overrides: object) -> TokenClaims:
    values: dict[str, object] = dict(kind=KIND_ORDER, key_id="k1", token_id="jti-1", order_id="ord-1",
                                     cinema_id="cinema-demo", expires_at=NOW + timedelta(days=2))
    values.update(overrides)
    return TokenClaims(**values)  # type: ignore[arg-type]


def test_round_trip_keeps_every_claim() -> None:
    token = sign_token(KEY, claims(kind=KIND_TICKET, ticket_id="t-9"))
    verified = verify_token(token, KEYS, set(), NOW)
    assert verified == claims(kind=KIND_TICKET, ticket_id="t-9")


def test_published_public_key_loads() -> None:
    raw = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = load_public_key(b64url_encode(raw))
    assert verify_token(sign_token(KEY, claims()), {"k1": key}, set(), NOW).order_id == "ord-1"


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: sign_token(OTHER_KEY, claims()), "bad_signature"),
        (lambda: sign_token(KEY, claims(key_id="k-retired")), "unknown_key"),
        (lambda: sign_token(KEY, claims(expires_at=NOW - timedelta(seconds=1))), "expired"),
        (lambda: sign_token(KEY, claims(token_id="revoked-1")), "revoked"),
        (lambda: "https://pay.example.com/qr/123", "not_a_token"),
        (lambda: "TK1." + "A" * 2000, "malformed"),
        (lambda: "TK1.not-json.sig", "malformed"),
    ],
)
def test_refusals_say_why(make: object, reason: str) -> None:
    with pytest.raises(TokenError) as caught:
        verify_token(make(), KEYS, {"revoked-1"}, NOW)  # type: ignore[operator]
    assert caught.value.reason == reason


def test_tampered_payload_fails_the_signature() -> None:
    token = sign_token(KEY, claims())
    prefix, _payload, signature = token.split(".")
    forged_payload = sign_token(KEY, claims(order_id="ord-2")).split(".")[1]
    with pytest.raises(TokenError) as caught:
        verify_token(f"{prefix}.{forged_payload}.{signature}", KEYS, set(), NOW)
    assert caught.value.reason == "bad_signature"


def test_random_garbage_is_always_a_token_error() -> None:
    rng = random.Random(20261122)
    alphabet = "TK1.-_=/+ABCxyz0123456789\x00\xff{}\"':"
    for _ in range(2000):
        text = "TK1." + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        with pytest.raises(TokenError):
            verify_token(text, KEYS, set(), NOW)
