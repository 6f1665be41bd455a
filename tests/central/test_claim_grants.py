"""A claim needs the grant of this kiosk's own lookup of the order: no claiming by order id alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backend_client.tokens import b64url_decode, b64url_encode
from backend_client.wire import ClaimResponse, ErrorCode, Routes
from central.config import Settings
from central.secret_store import ClaimGrantRefused, ClaimGrants, CodeHasher
from tests.central.kiosk_api import KioskApi, new_order, ok, refusal

GRANT_S = 900  # the default CENTRAL_CLAIM_GRANT_SECONDS


def _grant(api: KioskApi, order: dict[str, Any]) -> str:
    grant: str = ok(api.lookup_order(order))["order"]["claim_grant"]
    return grant


def _refused(response: Any, reason: str) -> None:
    assert refusal(response, ErrorCode.CLAIM_NOT_ALLOWED)["reason"] == reason


def test_the_grant_of_a_lookup_by_code_or_qr_collects(kiosk_a: KioskApi) -> None:
    by_code = new_order(kiosk_a.central)
    claim = ClaimResponse.model_validate(
        ok(kiosk_a.claim(by_code["order_id"], by_code["ticket_ids"], grant=_grant(kiosk_a, by_code)))
    )
    assert [t.ticket_id for t in claim.tickets] == by_code["ticket_ids"]
    by_qr = new_order(kiosk_a.central)
    grant = ok(kiosk_a.lookup_token(by_qr["qr_token"]))["order"]["claim_grant"]
    ok(kiosk_a.claim(by_qr["order_id"], by_qr["ticket_ids"], grant=grant))


def test_a_claim_without_a_grant_is_refused(kiosk_a: KioskApi) -> None:
    order = new_order(kiosk_a.central)
    _refused(kiosk_a.post(Routes.CLAIMS, {"order_id": order["order_id"], "ticket_ids": order["ticket_ids"]}),
             "missing")
    _refused(kiosk_a.claim(order["order_id"], order["ticket_ids"], grant=""), "malformed")
    _refused(kiosk_a.claim(order["order_id"], order["ticket_ids"], grant="x" * 5000), "malformed")
    # Nothing was taken: the order is still there to collect.
    ok(kiosk_a.claim(order["order_id"], order["ticket_ids"], grant=_grant(kiosk_a, order)))


def test_a_crafted_grant_is_refused(kiosk_a: KioskApi) -> None:
    order = new_order(kiosk_a.central)
    genuine = _grant(kiosk_a, order)
    payload_text, _, mac_text = genuine.partition(".")
    payload = json.loads(b64url_decode(payload_text))
    # Same signature, payload pointing at another order: the HMAC no longer matches.
    other = new_order(kiosk_a.central)
    moved = b64url_encode(json.dumps({**payload, "o": other["order_id"]}, separators=(",", ":")).encode())
    _refused(kiosk_a.claim(other["order_id"], other["ticket_ids"], grant=f"{moved}.{mac_text}"), "forged")
    longer = b64url_encode(json.dumps({**payload, "x": payload["x"] + 86400}, separators=(",", ":")).encode())
    _refused(kiosk_a.claim(order["order_id"], order["ticket_ids"], grant=f"{longer}.{mac_text}"), "forged")
    _refused(kiosk_a.claim(order["order_id"], order["ticket_ids"], grant=f"{payload_text}.{'A' * 43}"), "forged")
    _refused(kiosk_a.claim(order["order_id"], order["ticket_ids"], grant="not a grant"), "malformed")
    _refused(kiosk_a.claim(order["order_id"], order["ticket_ids"], grant="é.€"), "malformed")


def test_a_grant_is_for_one_order(kiosk_a: KioskApi) -> None:
    looked_up = new_order(kiosk_a.central)
    other = new_order(kiosk_a.central)
    _refused(kiosk_a.claim(other["order_id"], other["ticket_ids"], grant=_grant(kiosk_a, looked_up)), "other_order")


def test_a_grant_is_for_the_kiosk_that_looked_up(kiosk_a: KioskApi, kiosk_b: KioskApi) -> None:
    order = new_order(kiosk_a.central)
    _refused(kiosk_b.claim(order["order_id"], order["ticket_ids"], grant=_grant(kiosk_a, order)), "other_kiosk")
    ok(kiosk_a.claim(order["order_id"], order["ticket_ids"], grant=_grant(kiosk_a, order)))


def test_a_grant_expires_but_a_repeated_claim_still_answers(kiosk_a: KioskApi) -> None:
    late = new_order(kiosk_a.central)
    done = new_order(kiosk_a.central)
    late_grant = _grant(kiosk_a, late)
    done_grant = _grant(kiosk_a, done)
    first = ok(kiosk_a.claim(done["order_id"], done["ticket_ids"], key="grant-then-retry", grant=done_grant))
    kiosk_a.central.advance_clock(GRANT_S + 1)
    _refused(kiosk_a.claim(late["order_id"], late["ticket_ids"], grant=late_grant), "expired")
    # A retry of a claim that was made in time answers that claim, even with its grant expired.
    again = ok(kiosk_a.claim(done["order_id"], done["ticket_ids"], key="grant-then-retry", grant=done_grant))
    assert again == first
    # A fresh lookup gives a fresh grant.
    ok(kiosk_a.claim(late["order_id"], late["ticket_ids"], grant=_grant(kiosk_a, late)))


# -- the grant format itself, without a server ------------------------------------------------------


def _grants(tmp_path: Path, secret: str) -> ClaimGrants:
    settings = Settings(db_url="sqlite://", secrets_dir=tmp_path, code_secret=secret)
    return ClaimGrants(CodeHasher(settings), settings)


def test_a_grant_lives_for_the_configured_time_and_only_under_its_secret(tmp_path: Path) -> None:
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    grants = _grants(tmp_path, "server-secret")
    grant = grants.issue("kiosk-1", "ord-1", now)
    grants.check(grant, "kiosk-1", "ord-1", now + timedelta(seconds=GRANT_S - 1))
    with pytest.raises(ClaimGrantRefused, match="expired"):
        grants.check(grant, "kiosk-1", "ord-1", now + timedelta(seconds=GRANT_S))
    with pytest.raises(ClaimGrantRefused, match="forged"):
        _grants(tmp_path, "another-secret").check(grant, "kiosk-1", "ord-1", now)
    # Derived from the server secret, not stored: a restarted central still accepts the grant.
    _grants(tmp_path, "server-secret").check(grant, "kiosk-1", "ord-1", now)
