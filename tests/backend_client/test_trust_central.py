"""The trust store against the real central: QR tokens checked offline from the cached key set."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend_client import tokens
from backend_client.client import CentralClient
from backend_client.trust import TrustStore
from devices.sim.central_proxy import CentralProxy
from tests.support.central_server import RunningCentral
from tests.support.clocks import ManualWallClock


def test_tokens_are_checked_offline_from_the_cache_after_the_central_goes_down(
    central: RunningCentral, proxy: CentralProxy, proxied: CentralClient, tmp_path: Path
) -> None:
    cache = tmp_path / "kiosk" / "trust.json"
    ready = central.demo["orders"]["ready"]
    online = TrustStore(proxied, cache, ManualWallClock())
    assert online.refresh()
    assert online.verify(ready["qr_token"]).order_id == ready["order_id"]

    proxy.set_down(True)
    assert not online.refresh()
    assert online.verify(ready["qr_token"]).order_id == ready["order_id"]

    # A kiosk restarted while the network is still down.
    restarted = TrustStore(proxied, cache, ManualWallClock())
    assert not restarted.refresh()
    assert restarted.last_refresh == online.last_refresh
    claims = restarted.verify(ready["qr_token"])
    assert (claims.kind, claims.order_id, claims.cinema_id) == (
        tokens.KIND_ORDER, ready["order_id"], central.demo["cinema_id"])


def test_forged_expired_and_revoked_tokens_are_rejected(
    central: RunningCentral, proxied: CentralClient, tmp_path: Path
) -> None:
    clock = ManualWallClock()
    store = TrustStore(proxied, tmp_path / "trust.json", clock)
    assert store.refresh()
    single = central.demo["orders"]["single"]
    genuine = tokens.parse_unverified(single["qr_token"])[0]

    forged = tokens.sign_token(Ed25519PrivateKey.generate(), genuine)
    with pytest.raises(tokens.TokenError) as caught:
        store.verify(forged)
    assert caught.value.reason == "bad_signature"

    clock.now = genuine.expires_at + timedelta(seconds=1)
    with pytest.raises(tokens.TokenError) as caught:
        store.verify(single["qr_token"])
    assert caught.value.reason == "expired"
    clock.now = datetime.now(UTC)

    central.cli_json("revoke-codes", single["order_id"])
    assert store.refresh()
    with pytest.raises(tokens.TokenError) as caught:
        store.verify(single["qr_token"])
    assert caught.value.reason == "revoked"
    assert store.revocation_version is not None and store.revocation_version > 0


def test_rotated_keys_keep_verifying_older_tokens(
    central: RunningCentral, proxied: CentralClient, tmp_path: Path
) -> None:
    store = TrustStore(proxied, tmp_path / "trust.json", ManualWallClock())
    central.cli_json("keys", "rotate")
    assert store.refresh()
    assert store.verify(central.demo["orders"]["ready"]["qr_token"])


def test_corrupt_cache_then_refresh_from_the_central(
    central: RunningCentral, proxied: CentralClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "trust.json"
    cache.write_text('{"format": 1, "key_set": {"keys": [', encoding="utf-8")
    caplog.set_level(logging.WARNING)
    store = TrustStore(proxied, cache, ManualWallClock())
    assert "corrupt" in caplog.text
    assert store.refresh()
    assert store.verify(central.demo["orders"]["ready"]["qr_token"])
    assert TrustStore(proxied, cache, ManualWallClock()).last_refresh is not None


def test_periodic_refresh_keeps_the_store_fresh_and_stops(
    central: RunningCentral, proxied: CentralClient, tmp_path: Path
) -> None:
    store = TrustStore(proxied, tmp_path / "trust.json", ManualWallClock())
    store.start_periodic(0.05)
    try:
        for _ in range(200):
            if store.last_refresh is not None:
                break
            time.sleep(0.05)
        assert store.verify(central.demo["orders"]["ready"]["qr_token"])
    finally:
        store.stop()
    assert not store.running
