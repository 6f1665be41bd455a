"""The central's domain rules, split by area; ``Central`` brings them together.

- central/pickup.py: lookups by code or QR, guessing brakes;
- central/orders.py: an order's checks and views (shared by lookups and claims);
- central/claims.py: claims, leave to print ("about to print"), reports;
- central/leases.py: claim leases, renewed and settled when they run out;
- central/keys.py: signing keys and the revocation list;
- central/card_ledger.py: year-card types, cards, blacklist, PSAMs, taps and reconciliation, sale/renewal;
- central/redemptions.py: card redemptions: showings, seat maps, holds, debits proven by TAC, owed tickets;
- central/staff.py: staff users, roles and permissions, counter logins;
- central/card_keys.py: the card issuer's master keys;
- central/recovery.py: lost-ticket recovery at a kiosk (sessions, face and SMS checks, completion);
- central/accounts.py, face_templates.py, sms.py, codes.py: bound phones, face templates, SMS, pickup codes;
- central/partner.py: partner platforms' loss reports, accounts and face templates;
- central/common.py: refusals, ids, the audit log, ticket status rules.

Every request works inside one database transaction; a refusal is raised as ``Refusal`` and
becomes an ErrorBody.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend_client.wire import ErrorCode, KioskHello
from central.card_keys import IssuerKeysError, load_issuer_keys
from central.card_ledger import CardLedgerArea
from central.claims import CLAIM_NOT_ALLOWED_MESSAGE
from central.clock import Clock
from central.common import Refusal, audit, effective_status, iso, new_id, revoke_entrance_token
from central.config import Settings
from central.db import make_engine, session_factory
from central.face_templates import FaceKeyError, FaceSealer
from central.keys import KeysArea
from central.models import Kiosk
from central.partner import PartnerArea
from central.pickup import PickupArea
from central.recovery import RecoveryArea
from central.redemptions import RedemptionsArea
from central.secret_store import (
    ClaimGrants,
    CodeHasher,
    KeyRing,
    SecretsError,
    hash_kiosk_secret,
    split_credential,
)
from central.sms import SmsGateway, make_gateway
from central.staff import StaffArea
from devices.yearcard.crypto import MasterKeys

__all__ = [
    "CLAIM_NOT_ALLOWED_MESSAGE",
    "Central",
    "Refusal",
    "audit",
    "effective_status",
    "iso",
    "new_id",
    "revoke_entrance_token",
]


@dataclass
class Central(RecoveryArea, PickupArea, PartnerArea, RedemptionsArea, CardLedgerArea, StaffArea, KeysArea):
    """Everything a request or a CLI command needs: settings, database, clock and secrets."""

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

    @classmethod
    def open(cls, settings: Settings, clock: Clock | None = None) -> Central:
        engine = make_engine(settings.db_url)
        hasher = CodeHasher(settings)
        try:
            issuer_keys = load_issuer_keys(settings)
        except IssuerKeysError as exc:
            raise SecretsError(str(exc)) from None  # one line on stderr, like every missing secret
        try:
            sealer = FaceSealer.load(settings)
        except FaceKeyError as exc:
            raise SecretsError(str(exc)) from None
        return cls(
            settings=settings,
            clock=clock or Clock(),
            engine=engine,
            sessions=session_factory(engine),
            hasher=hasher,
            keyring=KeyRing(settings),
            grants=ClaimGrants(hasher, settings),
            issuer_keys=issuer_keys,
            sealer=sealer,
            sms=make_gateway(settings),
        )

    # ---- authentication -------------------------------------------------------------

    def authenticate(self, credential: str | None) -> Kiosk:
        parts = split_credential(credential) if credential else None
        if parts is None:
            raise Refusal(ErrorCode.UNAUTHORIZED, "kiosk credential missing or malformed")
        kiosk_id, secret = parts
        with self.sessions() as session:
            kiosk = session.get(Kiosk, kiosk_id)
        if kiosk is None or not hmac.compare_digest(kiosk.secret_hash, hash_kiosk_secret(secret)):
            raise Refusal(ErrorCode.UNAUTHORIZED, "kiosk credential not recognised")
        if kiosk.revoked:
            raise Refusal(ErrorCode.UNAUTHORIZED, "this kiosk has been revoked")
        return kiosk

    def hello(self, kiosk: Kiosk) -> KioskHello:
        return KioskHello(kiosk_id=kiosk.id, cinema_id=kiosk.cinema_id, server_time=self.clock.now())
