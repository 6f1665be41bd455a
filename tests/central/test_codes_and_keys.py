"""Code revocation, refunds, signing-key rotation and the revocation list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend_client import tokens
from backend_client.wire import ErrorCode, KeySet, RevocationList, Routes
from tests.central.kiosk_api import KioskApi, new_order, ok, refusal
from tests.support.central_server import RunningCentral, running_central


@pytest.fixture(scope="module")
def api(module_central: RunningCentral) -> KioskApi:
    return KioskApi(module_central)


def test_revoked_codes_stop_working_at_once_and_new_ones_work(api: KioskApi) -> None:
    order = new_order(api.central)
    ok(api.lookup_order(order))
    before = RevocationList.model_validate(ok(api.get(Routes.REVOCATIONS)))
    fresh = api.central.cli_json("revoke-codes", order["order_id"])
    assert (fresh["serial"], fresh["verification"]) != (order["serial"], order["verification"])
    refusal(api.lookup_order(order), ErrorCode.REVOKED)
    refusal(api.lookup_token(order["qr_token"]), ErrorCode.REVOKED)
    assert ok(api.lookup_order(fresh))["order"]["order_id"] == order["order_id"]
    assert ok(api.lookup_token(fresh["qr_token"]))["order"]["order_id"] == order["order_id"]
    after = RevocationList.model_validate(ok(api.get(Routes.REVOCATIONS)))
    old_token_id = tokens.parse_unverified(order["qr_token"])[0].token_id
    assert after.version > before.version
    assert old_token_id in after.revoked_token_ids
    assert tokens.parse_unverified(fresh["qr_token"])[0].token_id not in after.revoked_token_ids


def test_refund_stops_pickup(api: KioskApi) -> None:
    order = new_order(api.central)
    api.central.cli_json("refund", order["order_id"])
    refusal(api.lookup_order(order), ErrorCode.REFUNDED)
    refusal(api.lookup_token(order["qr_token"]), ErrorCode.REFUNDED)
    refusal(api.claim(order["order_id"], order["ticket_ids"]), ErrorCode.REFUNDED)


def test_refund_of_a_collected_order_is_refused_by_the_cli(api: KioskApi) -> None:
    done = api.central.cli("refund", api.central.demo["orders"]["collected"]["order_id"])
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "printed" in done.stderr


def test_key_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(api: KioskApi) -> None:
    order = new_order(api.central)
    old_kid = tokens.parse_unverified(order["qr_token"])[0].key_id
    rotated = api.central.cli_json("keys", "rotate")
    assert rotated["key_id"] != old_kid
    assert [r["key_id"] for r in rotated["retired"]] == [old_kid]
    keys = {k.key_id: k for k in KeySet.model_validate(ok(api.get(Routes.KEYS))).keys}
    assert set(keys) >= {old_kid, rotated["key_id"]}
    assert keys[old_kid].not_after is not None and keys[rotated["key_id"]].not_after is None
    # The QR sold before the rotation still collects; new entrance tokens use the new key.
    ok(api.lookup_token(order["qr_token"]))
    claim = ok(api.claim(order["order_id"], order["ticket_ids"]))
    public = {kid: tokens.load_public_key(k.public_key) for kid, k in keys.items()}
    for ticket in claim["tickets"]:
        assert (
            tokens.verify_token(ticket["entrance_token"], public, set(), datetime.now(UTC)).key_id == rotated["key_id"]
        )


def test_retired_key_stops_verifying_after_its_overlap(db_url: str, tmp_path: Path) -> None:
    with running_central(db_url, tmp_path, env={"CENTRAL_KEY_OVERLAP_SECONDS": "600"}) as central:
        api = KioskApi(central)
        token = central.demo["orders"]["ready"]["qr_token"]
        central.cli_json("keys", "rotate")
        ok(api.lookup_token(token))
        central.advance_clock(601)
        details = refusal(api.lookup_token(token), ErrorCode.INVALID_TOKEN)
        assert details["reason"] == "unknown_key"
        assert len(KeySet.model_validate(ok(api.get(Routes.KEYS))).keys) == 1
        # The order itself is fine: its typed code still works.
        ok(api.lookup_order(central.demo["orders"]["ready"]))
