"""Unit tests of the trust store with an in-memory key source (the central is in the integration tests)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from backend_client import tokens, wire
from backend_client.errors import CentralUnreachable
from backend_client.trust import TrustStore
from tests.support.clocks import ManualWallClock

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def public_key_entry(key_id: str, private: Ed25519PrivateKey, not_after: datetime | None = None) -> wire.PublicKey:
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return wire.PublicKey(key_id=key_id, public_key=tokens.b64url_encode(raw), not_after=not_after)


def order_token(private: Ed25519PrivateKey, key_id: str = "k1", token_id: str = "tok-1",
                expires_at: datetime = NOW + timedelta(days=1)) -> str:
    return tokens.sign_token(private, tokens.TokenClaims(
        kind=tokens.KIND_ORDER, key_id=key_id, token_id=token_id,
        order_id="o-1", cinema_id="c-1", expires_at=expires_at,
    ))


class FakeCentral:
    """Serves a key set and revocation list, or fails like an unreachable central."""

    def __init__(self, keys: list[wire.PublicKey], revoked: list[str] | None = None) -> None:
        self.keys = keys
        self.revoked = revoked or []
        self.version = 1
        self.down = False
        self.calls = 0

    def key_set(self) -> wire.KeySet:
        self.calls += 1
        if self.down:
            raise CentralUnreachable("down")
        return wire.KeySet(keys=self.keys)

    def revocations(self) -> wire.RevocationList:
        if self.down:
            raise CentralUnreachable("down")
        return wire.RevocationList(version=self.version, revoked_token_ids=self.revoked)


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_verifies_a_good_token_and_rejects_forged_expired_revoked(
    tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    central = FakeCentral([public_key_entry("k1", signing_key)], revoked=["tok-revoked"])
    store = TrustStore(central, tmp_path / "trust.json", ManualWallClock(NOW))
    assert store.refresh()
    assert store.verify(order_token(signing_key)).order_id == "o-1"

    forger = Ed25519PrivateKey.generate()
    with pytest.raises(tokens.TokenError) as forged:
        store.verify(order_token(forger))
    assert forged.value.reason == "bad_signature"
    with pytest.raises(tokens.TokenError) as unknown:
        store.verify(order_token(forger, key_id="k-other"))
    assert unknown.value.reason == "unknown_key"
    with pytest.raises(tokens.TokenError) as expired:
        store.verify(order_token(signing_key, expires_at=NOW - timedelta(seconds=1)))
    assert expired.value.reason == "expired"
    with pytest.raises(tokens.TokenError) as revoked:
        store.verify(order_token(signing_key, token_id="tok-revoked"))
    assert revoked.value.reason == "revoked"


def test_without_any_key_set_every_token_is_refused(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    store = TrustStore(FakeCentral([]), tmp_path / "trust.json", ManualWallClock(NOW))
    with pytest.raises(tokens.TokenError) as caught:
        store.verify(order_token(signing_key))
    assert caught.value.reason == "unknown_key"
    assert store.age_s is None and store.last_refresh is None


def test_failed_refresh_keeps_the_last_good_copy(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    central = FakeCentral([public_key_entry("k1", signing_key)])
    clock = ManualWallClock(NOW)
    store = TrustStore(central, tmp_path / "trust.json", clock)
    assert store.refresh()
    central.down = True
    clock.now = NOW + timedelta(minutes=10)
    assert not store.refresh()
    assert store.verify(order_token(signing_key)).token_id == "tok-1"
    assert store.last_refresh == NOW
    assert store.age_s == 600.0


def test_cache_survives_a_restart_while_offline(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    cache = tmp_path / "var" / "trust.json"
    central = FakeCentral([public_key_entry("k1", signing_key)], revoked=["tok-revoked"])
    central.version = 7
    TrustStore(central, cache, ManualWallClock(NOW)).refresh()

    central.down = True
    restarted = TrustStore(central, cache, ManualWallClock(NOW))
    assert not restarted.refresh()
    assert restarted.revocation_version == 7
    assert restarted.last_refresh == NOW
    assert restarted.verify(order_token(signing_key)).order_id == "o-1"
    with pytest.raises(tokens.TokenError):
        restarted.verify(order_token(signing_key, token_id="tok-revoked"))
    assert [p.name for p in cache.parent.iterdir()] == ["trust.json"]  # no temporary file left behind


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[]", b'{"format": 1}', b'{"format": 99, "key_set": {}}', b"\xff\xfe",
     b'{"format": 1, "fetched_at": "2026-11-22T12:00:00", "key_set": {"keys": []},'
     b' "revocations": {"version": 1, "revoked_token_ids": []}}'],
    ids=["empty", "broken-json", "list", "missing-parts", "other-format", "binary", "naive-time"],
)
def test_corrupt_cache_is_ignored_with_a_warning(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "trust.json"
    cache.write_bytes(content)
    store = TrustStore(FakeCentral([]), cache, ManualWallClock(NOW))
    assert store.last_refresh is None
    assert "ignored" in caplog.text


def test_a_key_past_not_after_no_longer_vouches(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    central = FakeCentral([public_key_entry("k1", signing_key, not_after=NOW + timedelta(hours=1))])
    clock = ManualWallClock(NOW)
    store = TrustStore(central, tmp_path / "trust.json", clock)
    store.refresh()
    token = order_token(signing_key)
    assert store.verify(token)
    clock.now = NOW + timedelta(hours=2)
    with pytest.raises(tokens.TokenError) as caught:
        store.verify(token)
    assert caught.value.reason == "unknown_key"


def test_an_invalid_published_key_does_not_cost_the_others(
    tmp_path: Path, signing_key: Ed25519PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    broken = wire.PublicKey(key_id="bad", public_key="not-a-key")
    central = FakeCentral([broken, public_key_entry("k1", signing_key)])
    store = TrustStore(central, tmp_path / "t.json", ManualWallClock(NOW))
    caplog.set_level(logging.WARNING)
    assert store.refresh()
    assert store.verify(order_token(signing_key))
    assert "invalid public key" in caplog.text


def test_periodic_refresh_runs_and_stops(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    refreshed = threading.Event()

    class Counting(FakeCentral):
        def revocations(self) -> wire.RevocationList:
            answer = super().revocations()
            if self.calls >= 2:
                refreshed.set()
            return answer

    central = Counting([public_key_entry("k1", signing_key)])
    store = TrustStore(central, tmp_path / "trust.json", ManualWallClock(NOW))
    store.start_periodic(0.01)
    assert store.running
    assert refreshed.wait(10)
    store.stop()
    calls = central.calls
    assert not store.running
    refreshed.clear()
    assert not refreshed.wait(0.1)
    assert central.calls == calls
