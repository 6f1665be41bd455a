"""What every area of the central works with: settings, clock, database and secrets.

``central.service.Central`` is the one object that has them all; each area (pickup, claims,
leases, keys) is a mixin over this base, so an area sees the others only through it.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from central.clock import Clock
from central.config import Settings
from central.face_templates import FaceSealer
from central.secret_store import ClaimGrants, CodeHasher, KeyRing
from central.sms import SmsGateway
from devices.yearcard.crypto import MasterKeys


class CentralBase:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    hasher: CodeHasher
    keyring: KeyRing
    grants: ClaimGrants
    issuer_keys: MasterKeys
    sealer: FaceSealer
    sms: SmsGateway | None
