"""Staff users, their passwords, sessions and rights (the seed's roles).

A staff member logs in at a counter (a kiosk in counter mode, with its own kiosk credential) with
a staff number and password; the central answers a random session token and keeps only its
SHA-256. Passwords are argon2id hashes (argon2-cffi). Too many wrong passwords lock the staff
number for a while. What a role may do is :data:`ROLE_PERMISSIONS`; a role with a cinema acts
only for that cinema (:func:`require`), head office roles (no cinema) everywhere.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from backend_client.wire import STAFF_HEADER, ErrorCode, StaffLogin, StaffRole, StaffSession
from central.common import Refusal, audit
from central.context import CentralBase
from central.models import Kiosk, StaffSessionRow, StaffUser

log = logging.getLogger("central.staff")


class Permission(str, enum.Enum):
    """What a staff member may do (the routes and the `central cards` commands check these)."""

    REDEEM = "redeem"  # deduct visits at the counter (tickets, concessions)
    SELL = "sell"  # sell/activate a made card (发卡/售卡)
    RENEW = "renew"  # 续期
    RECYCLE = "recycle"  # 回收, and re-issue a recycled card
    QUERY_HISTORY = "query_history"  # a holder's history
    BLACKLIST = "blacklist"  # add or remove a card on the blacklist
    MANAGE_LOCAL_USERS = "manage_local_users"  # its cinema's staff users
    LOCAL_REPORTS = "local_reports"  # its cinema's statistics and exports
    GLOBAL_REPORTS = "global_reports"  # every cinema's statistics and exports
    MAKE_CARDS = "make_cards"  # 制卡, card types
    BACKUPS = "backups"
    MANAGE_USERS = "manage_users"  # every user and right (head office)


_SALES = frozenset({Permission.REDEEM, Permission.SELL, Permission.RENEW, Permission.RECYCLE,
                    Permission.QUERY_HISTORY})

ROLE_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    StaffRole.SALES: _SALES,
    StaffRole.MANAGER: _SALES | {Permission.BLACKLIST, Permission.MANAGE_LOCAL_USERS, Permission.LOCAL_REPORTS},
    StaffRole.CUSTOMER_QUERY: frozenset({Permission.QUERY_HISTORY}),
    StaffRole.LOCAL_STATISTICIAN: frozenset({Permission.LOCAL_REPORTS}),
    StaffRole.STATISTICIAN: frozenset({Permission.GLOBAL_REPORTS}),
    StaffRole.OPERATOR: frozenset({Permission.MAKE_CARDS, Permission.BACKUPS}),
    StaffRole.ADMIN: frozenset(Permission),
}

# Roles that belong to one cinema (their users carry its id) and those of head office.
CINEMA_ROLES = frozenset({StaffRole.MANAGER, StaffRole.LOCAL_STATISTICIAN, StaffRole.CUSTOMER_QUERY, StaffRole.SALES})
HEAD_OFFICE_ROLES = frozenset({StaffRole.ADMIN, StaffRole.STATISTICIAN, StaffRole.OPERATOR})

_hasher = PasswordHasher()  # argon2id with the library's current defaults


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (what staff_users.password_hash stores)."""
    return _hasher.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    """Constant-time check of ``password`` against a stored argon2 hash (False for a broken hash)."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    """What staff_sessions keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random session token (256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class StaffActor:
    """A logged-in staff member, as a request or a CLI command acts for them."""

    staff_no: str
    name: str
    role: StaffRole
    cinema_id: str | None  # None: head office

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]

    def may(self, permission: Permission, cinema_id: str | None = None) -> bool:
        """True when the role has ``permission`` and, for a cinema's role, ``cinema_id`` is its own."""
        if permission not in self.permissions:
            return False
        return self.cinema_id is None or cinema_id is None or cinema_id == self.cinema_id

    @classmethod
    def of(cls, user: StaffUser) -> StaffActor:
        return cls(user.staff_no, user.name, StaffRole(user.role), user.cinema_id)


def require(actor: StaffActor, permission: Permission, cinema_id: str | None = None) -> None:
    """Raise FORBIDDEN unless ``actor`` may do ``permission`` (at ``cinema_id``, when given)."""
    if permission not in actor.permissions:
        raise Refusal(ErrorCode.FORBIDDEN, f"the role {actor.role.value} may not {permission.value}",
                      {"permission": permission.value, "role": actor.role.value})
    if not actor.may(permission, cinema_id):
        raise Refusal(ErrorCode.FORBIDDEN, "a cinema's staff act only for their own cinema",
                      {"permission": permission.value, "role": actor.role.value})


def create_staff_user(
    session: Session, now: datetime, staff_no: str, name: str, role: StaffRole, password: str,
    cinema_id: str | None = None, must_change_password: bool = False,
) -> StaffUser:
    """Add a staff user (argon2id hash of ``password``); a cinema role needs a cinema, head office none."""
    if role in CINEMA_ROLES and cinema_id is None:
        raise ValueError(f"the role {role.value} belongs to a cinema: give its cinema")
    if role in HEAD_OFFICE_ROLES and cinema_id is not None:
        raise ValueError(f"the role {role.value} is a head-office role: it has no cinema")
    user = StaffUser(
        staff_no=staff_no, name=name, role=role.value, cinema_id=cinema_id, password_hash=hash_password(password),
        failed_logins=0, locked_until=None, must_change_password=must_change_password, disabled=False,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: StaffUser, password: str, must_change: bool = False) -> None:
    """Replace a staff user's password, unlock it and end its sessions."""
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.must_change_password = must_change
    session.query(StaffSessionRow).filter(StaffSessionRow.staff_no == user.staff_no).update({"revoked": True})


def session_expiry(now: datetime, seconds: int) -> datetime:
    """When a session opened ``now`` ends."""
    return now + timedelta(seconds=seconds)


class StaffArea(CentralBase):
    """Staff login at a counter (a kiosk in counter mode) and the session every counter call carries."""

    def staff_login(self, kiosk: Kiosk, login: StaffLogin) -> StaffSession:
        """Check staff number and password at this kiosk; a session token, or a refusal (one log line).

        Wrong passwords count; ``staff_max_failures`` in a row lock the number for
        ``staff_lockout_seconds``. A cinema's staff log in only at their cinema's kiosks.
        """
        now = self.clock.now()
        refusal: Refusal | None = None
        answer: StaffSession | None = None
        with self.sessions.begin() as session:
            user = session.get(StaffUser, login.staff_no, with_for_update=True)
            if user is None or user.disabled:
                password_matches(_dummy_hash(), login.password)  # the same time as a known number
                refusal = Refusal(ErrorCode.STAFF_AUTH_FAILED, "wrong staff number or password")
            elif user.locked_until is not None and user.locked_until > now:
                refusal = _locked(user, now)
            elif not password_matches(user.password_hash, login.password):
                user.failed_logins += 1
                if user.failed_logins >= self.settings.staff_max_failures:
                    user.failed_logins = 0
                    user.locked_until = now + timedelta(seconds=self.settings.staff_lockout_seconds)
                    refusal = _locked(user, now)
                    audit(session, now, kiosk.id, "staff_locked_out", staff_no=user.staff_no)
                else:
                    refusal = Refusal(ErrorCode.STAFF_AUTH_FAILED, "wrong staff number or password",
                                      {"attempts_left": self.settings.staff_max_failures - user.failed_logins})
            elif user.cinema_id is not None and user.cinema_id != kiosk.cinema_id:
                refusal = Refusal(ErrorCode.FORBIDDEN, "this staff member works at another cinema")
                audit(session, now, kiosk.id, "staff_login_other_cinema", staff_no=user.staff_no)
            else:
                user.failed_logins = 0
                user.locked_until = None
                token = new_token()
                expires_at = now + timedelta(seconds=self.settings.staff_session_seconds)
                session.add(StaffSessionRow(token_hash=hash_token(token), staff_no=user.staff_no, kiosk_id=kiosk.id,
                                            created_at=now, expires_at=expires_at, revoked=False))
                audit(session, now, kiosk.id, "staff_login", staff_no=user.staff_no)
                answer = StaffSession(token=token, staff_no=user.staff_no, name=user.name, role=StaffRole(user.role),
                                      cinema_id=user.cinema_id, expires_at=expires_at)
        if refusal is not None:
            log.info("staff login refused at kiosk %s: %s", kiosk.id, refusal.code.value)
            raise refusal
        assert answer is not None
        return answer

    def staff_actor(self, kiosk: Kiosk, token: str | None) -> StaffActor:
        """The staff member of a live session opened at this kiosk, or STAFF_SESSION_EXPIRED."""
        if not token:
            raise Refusal(ErrorCode.STAFF_SESSION_EXPIRED, f"log in first (send {STAFF_HEADER})")
        with self.sessions() as session:
            row = session.get(StaffSessionRow, hash_token(token))
            user = session.get(StaffUser, row.staff_no) if row is not None else None
            if row is None or user is None or row.revoked or row.expires_at <= self.clock.now() \
                    or row.kiosk_id != kiosk.id or user.disabled:
                log.info("staff session refused at kiosk %s", kiosk.id)
                raise Refusal(ErrorCode.STAFF_SESSION_EXPIRED, "the staff session has ended: log in again")
            return StaffActor.of(user)

    def staff_logout(self, kiosk: Kiosk, token: str | None) -> None:
        """End a staff session (idempotent: an unknown or ended token is fine)."""
        if not token:
            return
        with self.sessions.begin() as session:
            row = session.get(StaffSessionRow, hash_token(token))
            if row is not None and row.kiosk_id == kiosk.id and not row.revoked:
                row.revoked = True
                audit(session, self.clock.now(), kiosk.id, "staff_logout", staff_no=row.staff_no)


@functools.cache
def _dummy_hash() -> str:
    # Made on first use, not at import: every command imports this module.
    return hash_password("not-a-staff-password")


def _locked(user: StaffUser, now: datetime) -> Refusal:
    assert user.locked_until is not None
    retry = max(1, math.ceil((user.locked_until - now).total_seconds()))
    return Refusal(ErrorCode.LOCKED_OUT, "too many wrong passwords: try again later", {"retry_after_s": retry})
