"""The central's public keys and revocation list, kept so QR tokens can be checked offline.

The last good copy is cached on disk (written atomically) so a kiosk that restarts while
the network is down still checks signatures and revocations.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from backend_client import tokens, wire
from backend_client.errors import CentralError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


class TrustSource(Protocol):
    """What the store needs from the central's client."""

    def key_set(self) -> wire.KeySet: ...

    def revocations(self) -> wire.RevocationList: ...


@dataclass(frozen=True)
class _Snapshot:
    key_set: wire.KeySet
    revocations: wire.RevocationList
    fetched_at: datetime
    keys: dict[str, tuple[Ed25519PublicKey, datetime | None]]  # key_id -> key, not_after
    revoked: frozenset[str]


def _snapshot(key_set: wire.KeySet, revocations: wire.RevocationList, fetched_at: datetime) -> _Snapshot:
    keys: dict[str, tuple[Ed25519PublicKey, datetime | None]] = {}
    for published in key_set.keys:
        try:
            keys[published.key_id] = (tokens.load_public_key(published.public_key), published.not_after)
        except tokens.TokenError:
            # One bad key must not cost the others: tokens signed with it are simply unknown.
            log.warning("central published an invalid public key %r: ignored", published.key_id)
    return _Snapshot(
        key_set=key_set,
        revocations=revocations,
        fetched_at=fetched_at,
        keys=keys,
        revoked=frozenset(revocations.revoked_token_ids),
    )


class TrustStore:
    def __init__(self, client: TrustSource, cache_path: Path, clock: Callable[[], datetime]) -> None:
        self._client = client
        self._cache_path = Path(cache_path)
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._snapshot: _Snapshot | None = self._load_cache()

    # -- state for health ----------------------------------------------------------------

    @property
    def last_refresh(self) -> datetime | None:
        """When the key set in use was fetched from the central (survives restarts via the cache)."""
        snapshot = self._snapshot
        return snapshot.fetched_at if snapshot else None

    @property
    def age_s(self) -> float | None:
        """Seconds since the key set in use was fetched; None when there is none."""
        fetched = self.last_refresh
        return None if fetched is None else max(0.0, (self._clock() - fetched).total_seconds())

    @property
    def revocation_version(self) -> int | None:
        snapshot = self._snapshot
        return snapshot.revocations.version if snapshot else None

    # -- refresh and verify --------------------------------------------------------------

    def refresh(self) -> bool:
        """Fetch keys and revocations. On failure the last good copy stays in use."""
        try:
            key_set = self._client.key_set()
            revocations = self._client.revocations()
        except CentralError as exc:
            kept = f"keeping the copy from {self.last_refresh}" if self.last_refresh else "no copy yet"
            log.warning("key set refresh failed, %s: %s", kept, exc)
            return False
        snapshot = _snapshot(key_set, revocations, self._clock())
        with self._lock:
            self._snapshot = snapshot
            self._save_cache(snapshot)
        log.info(
            "key set refreshed: %d keys, revocation list version %d (%d ids)",
            len(snapshot.keys), revocations.version, len(snapshot.revoked),
        )
        return True

    def verify(self, token: str) -> tokens.TokenClaims:
        """Check a QR token offline. Raises tokens.TokenError with the reason."""
        snapshot = self._snapshot
        if snapshot is None:
            raise tokens.TokenError("unknown_key", "no key set yet: the central has never been reached")
        now = self._clock()
        # A key past its not_after no longer vouches for any token.
        usable = {
            key_id: key
            for key_id, (key, not_after) in snapshot.keys.items()
            if not_after is None or now < not_after
        }
        return tokens.verify_token(token, usable, snapshot.revoked, now)

    # -- periodic refresh ----------------------------------------------------------------

    def start_periodic(self, interval_s: float) -> None:
        """Refresh now and then every interval_s seconds in a daemon thread."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run_periodic, args=(interval_s,), name="trust-refresh", daemon=True
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        """True while the periodic refresh thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop the periodic refresh. Returns within timeout_s even if a fetch is in flight."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)

    def _run_periodic(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # the thread must outlive any surprise; the next round tries again
                log.exception("key set refresh crashed")
            self._stop.wait(interval_s)

    # -- cache ---------------------------------------------------------------------------

    def _load_cache(self) -> _Snapshot | None:
        try:
            text = self._cache_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("key set cache %s unreadable, ignored: %s", self._cache_path, exc)
            return None
        try:
            document = json.loads(text)
            if not isinstance(document, dict) or document.get("format") != CACHE_FORMAT:
                raise ValueError("unknown cache format")
            fetched_at = datetime.fromisoformat(document["fetched_at"])
            if fetched_at.tzinfo is None:
                raise ValueError("fetched_at has no time zone")
            key_set = wire.KeySet.model_validate(document["key_set"])
            revocations = wire.RevocationList.model_validate(document["revocations"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            log.warning("key set cache %s is corrupt, ignored: %s", self._cache_path, str(exc)[:200])
            return None
        return _snapshot(key_set, revocations, fetched_at)

    def _save_cache(self, snapshot: _Snapshot) -> None:
        document = {
            "format": CACHE_FORMAT,
            "fetched_at": snapshot.fetched_at.isoformat(),
            "key_set": snapshot.key_set.model_dump(mode="json"),
            "revocations": snapshot.revocations.model_dump(mode="json"),
        }
        try:
            write_atomically(self._cache_path, json.dumps(document, indent=1).encode())
        except OSError as exc:
            # The copy in memory still works; only a restart while offline would miss it.
            log.warning("could not write key set cache %s: %s", self._cache_path, exc)


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file so a power cut leaves either the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
