"""The signing keys kiosks verify tokens with, and the revocation list they check them against."""

from __future__ import annotations

from sqlalchemy import select

from backend_client.wire import KeySet, PublicKey, RevocationList
from central.leases import LeasesArea
from central.models import Revocation


class KeysArea(LeasesArea):
    """Signing keys and the revocation list."""

    def key_set(self) -> KeySet:
        with self.sessions.begin() as session:
            now = self.clock.now()
            self.keyring.current(session, now)  # publish a key before anything is signed with it
            rows = self.keyring.valid_rows(session, now)
            return KeySet(keys=[PublicKey(key_id=r.id, public_key=r.public_key, not_after=r.not_after) for r in rows])

    def revocation_list(self) -> RevocationList:
        with self.sessions.begin() as session:
            # Lapsed leases revoke the tokens of the tickets they release: settle them first.
            self.expire_leases(session, self.clock.now())
            rows = session.execute(select(Revocation.id, Revocation.token_id).order_by(Revocation.id)).all()
        return RevocationList(
            version=max((r.id for r in rows), default=0), revoked_token_ids=[r.token_id for r in rows]
        )
