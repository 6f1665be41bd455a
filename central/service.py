"""The central's domain rules: lookups, claims with leases, reports, keys and revocations.

Every function takes the kiosk that asks (already authenticated) and works inside one
database transaction; a refusal is raised as ``Refusal`` and becomes an ErrorBody.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, Engine, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend_client import tokens
from backend_client.masking import mask_kiosk_name
from backend_client.wire import (
    IDEMPOTENCY_HEADER,
    ClaimedTicket,
    ClaimReport,
    ClaimRequest,
    ClaimResponse,
    ClaimStatus,
    ErrorCode,
    KeySet,
    KioskHello,
    LookupResponse,
    OrderView,
    PrintNotice,
    PrintPermit,
    PublicKey,
    RevocationList,
    TicketOutcome,
    TicketStatus,
    TicketView,
)
from central.clock import Clock
from central.config import Settings
from central.db import make_engine, session_factory
from central.models import (
    AuditEntry,
    Cinema,
    Claim,
    ClaimTicket,
    Film,
    Hall,
    Kiosk,
    LookupFailure,
    Order,
    PickupCode,
    Revocation,
    Showing,
    Ticket,
)
from central.secret_store import (
    ClaimGrantRefused,
    ClaimGrants,
    CodeHasher,
    KeyRing,
    hash_kiosk_secret,
    split_credential,
)

MAX_IDEMPOTENCY_KEY = 128
CLAIM_NOT_ALLOWED_MESSAGE = "look this order up with its code at this kiosk before claiming it"


class Refusal(Exception):
    """A refusal in the wire format: its code decides the HTTP status."""

    def __init__(self, code: ErrorCode, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class _TicketsTaken(Exception):
    """Raised inside a claim transaction to roll it back when not every ticket could be taken."""


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def audit(
    session: Session, now: datetime, actor: str, action: str, order_id: str | None = None, **details: Any
) -> None:
    session.add(
        AuditEntry(at=now, actor=actor, action=action, order_id=order_id, details=json.dumps(details, default=str))
    )


def lease_lapsed(ticket: Ticket, now: datetime) -> bool:
    return ticket.status == TicketStatus.CLAIMED.value and (
        ticket.lease_expires_at is None or ticket.lease_expires_at <= now
    )


def effective_status(ticket: Ticket, now: datetime) -> TicketStatus:
    """A claimed ticket whose lease ran out: in doubt when it may have reached a printer, else available."""
    if lease_lapsed(ticket, now):
        return TicketStatus.IN_DOUBT if ticket.print_started_at is not None else TicketStatus.AVAILABLE
    return TicketStatus(ticket.status)


def revoke_entrance_token(
    session: Session, member: ClaimTicket, order_id: str, reason: str, now: datetime
) -> None:
    """The claim lost this ticket: its entrance token must not open a door (idempotent)."""
    token_id = tokens.parse_unverified(member.entrance_token)[0].token_id
    if session.scalars(select(Revocation.id).where(Revocation.token_id == token_id)).first() is None:
        session.add(Revocation(token_id=token_id, order_id=order_id, reason=reason, revoked_at=now))
        session.flush()


@dataclass
class Central:
    """Everything a request or a CLI command needs: settings, database, clock and secrets."""

    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    hasher: CodeHasher
    keyring: KeyRing
    grants: ClaimGrants

    @classmethod
    def open(cls, settings: Settings, clock: Clock | None = None) -> Central:
        engine = make_engine(settings.db_url)
        hasher = CodeHasher(settings)
        return cls(
            settings=settings,
            clock=clock or Clock(),
            engine=engine,
            sessions=session_factory(engine),
            hasher=hasher,
            keyring=KeyRing(settings),
            grants=ClaimGrants(hasher, settings),
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

    # ---- lookups ---------------------------------------------------------------------

    def lookup_code(self, kiosk: Kiosk, serial: str, verification: str) -> LookupResponse:
        failure: Refusal | None = None
        with self.sessions.begin() as session:
            now = self.clock.now()
            # Row locks serialise one kiosk's (and one serial's) attempts on PostgreSQL.
            session.get(Kiosk, kiosk.id, with_for_update=True)
            self._check_kiosk_delay(session, kiosk.id, now)
            code = session.get(PickupCode, serial, with_for_update=True)
            if code is not None:
                self._check_serial_lockout(session, serial, now)
            if code is None or not self.hasher.matches(serial, verification, code.code_hmac):
                self._record_failure(session, kiosk.id, serial, code is not None, now)
                failure = Refusal(ErrorCode.UNKNOWN_CODE, "no order has this pickup code")
            else:
                if code.revoked_at is not None:
                    raise Refusal(ErrorCode.REVOKED, "this pickup code has been revoked")
                order = session.get_one(Order, code.order_id)
                view = self._open_order_view(session, order, kiosk, now)
        if failure is not None:
            raise failure
        return LookupResponse(order=view)

    def lookup_token(self, kiosk: Kiosk, token: str) -> LookupResponse:
        with self.sessions.begin() as session:
            now = self.clock.now()
            try:
                unverified, _, _ = tokens.parse_unverified(token)
                revoked = set(
                    session.scalars(select(Revocation.token_id).where(Revocation.token_id == unverified.token_id))
                )
                claims = tokens.verify_token(token, self.keyring.verifying_keys(session, now), revoked, now)
            except tokens.TokenError as exc:
                if exc.reason == "revoked":
                    raise Refusal(ErrorCode.REVOKED, "this code has been revoked") from exc
                raise Refusal(ErrorCode.INVALID_TOKEN, str(exc), {"reason": exc.reason}) from exc
            if claims.kind == tokens.KIND_TICKET:
                raise Refusal(ErrorCode.TICKET_TOKEN, "this is an entrance ticket, not an order code")
            code = session.scalars(select(PickupCode).where(PickupCode.token_id == claims.token_id)).first()
            if code is None or code.order_id != claims.order_id:
                raise Refusal(ErrorCode.INVALID_TOKEN, "no order has this code", {"reason": "unknown_order"})
            if code.revoked_at is not None:
                raise Refusal(ErrorCode.REVOKED, "this code has been revoked")
            order = session.get_one(Order, code.order_id)
            return LookupResponse(order=self._open_order_view(session, order, kiosk, now))

    def _record_failure(self, session: Session, kiosk_id: str, serial: str, known: bool, now: datetime) -> None:
        session.add(LookupFailure(kiosk_id=kiosk_id, serial=serial, known_serial=known, failed_at=now))
        session.flush()
        if known and self._serial_locked_until(session, serial, now) is not None:
            audit(session, now, kiosk_id, "serial_locked", serial_prefix=serial[:2])

    def _check_kiosk_delay(self, session: Session, kiosk_id: str, now: datetime) -> None:
        cfg = self.settings
        since = now - timedelta(seconds=cfg.kiosk_window_seconds)
        count, last = session.execute(
            select(func.count(LookupFailure.id), func.max(LookupFailure.failed_at)).where(
                LookupFailure.kiosk_id == kiosk_id, LookupFailure.failed_at > since
            )
        ).one()
        if count < cfg.kiosk_free_failures or last is None:
            return
        delay = min(cfg.kiosk_delay_base_seconds * 2 ** (count - cfg.kiosk_free_failures), cfg.kiosk_delay_max_seconds)
        last_at = last if last.tzinfo else last.replace(tzinfo=now.tzinfo)
        wait_until = last_at + timedelta(seconds=delay)
        if now < wait_until:
            raise Refusal(
                ErrorCode.LOCKED_OUT,
                "too many wrong codes at this kiosk: wait a moment",
                {"scope": "kiosk", "retry_after_s": math.ceil((wait_until - now).total_seconds())},
            )

    def _serial_locked_until(self, session: Session, serial: str, now: datetime) -> datetime | None:
        cfg = self.settings
        window = timedelta(seconds=cfg.serial_window_seconds)
        lockout = timedelta(seconds=cfg.lockout_seconds)
        times = list(
            session.scalars(
                select(LookupFailure.failed_at)
                .where(LookupFailure.serial == serial, LookupFailure.known_serial.is_(True))
                .where(LookupFailure.failed_at > now - window - lockout)
                .order_by(LookupFailure.failed_at)
            )
        )
        n = cfg.serial_max_failures
        locked_until: datetime | None = None
        # Any n failures within one window lock the serial for lockout_seconds from the n-th.
        for i in range(n - 1, len(times)):
            if times[i] - times[i - n + 1] <= window:
                until = times[i] + lockout
                if until > now and (locked_until is None or until > locked_until):
                    locked_until = until
        return locked_until

    def _check_serial_lockout(self, session: Session, serial: str, now: datetime) -> None:
        until = self._serial_locked_until(session, serial, now)
        if until is not None:
            raise Refusal(
                ErrorCode.LOCKED_OUT,
                "too many wrong codes for this order: try again later",
                {"scope": "serial", "retry_after_s": math.ceil((until - now).total_seconds())},
            )

    # ---- order checks ----------------------------------------------------------------

    def _check_order_open(self, session: Session, order: Order, kiosk: Kiosk, now: datetime) -> Showing:
        if order.cinema_id != kiosk.cinema_id:
            cinema = session.get(Cinema, order.cinema_id)
            raise Refusal(
                ErrorCode.OTHER_CINEMA,
                "this order is for another cinema",
                {"cinema_id": order.cinema_id, "cinema_name": cinema.name if cinema else None},
            )
        if order.status == "refunded":
            raise Refusal(ErrorCode.REFUNDED, "this order has been refunded")
        showing = session.get_one(Showing, order.showing_id)
        if now >= showing.ends_at:
            raise Refusal(ErrorCode.SHOW_OVER, "this show is over", {"show_end": iso(showing.ends_at)})
        opens_at = self.pickup_opens_at(showing)
        if now < opens_at:
            raise Refusal(ErrorCode.OUTSIDE_WINDOW, "pickup has not opened yet", {"opens_at": iso(opens_at)})
        return showing

    def pickup_opens_at(self, showing: Showing) -> datetime:
        return showing.starts_at - timedelta(hours=self.settings.pickup_opens_hours)

    def _order_tickets(self, session: Session, order_id: str) -> list[Ticket]:
        return list(
            session.scalars(select(Ticket).where(Ticket.order_id == order_id).order_by(Ticket.row, Ticket.seat))
        )

    def _unavailable_refusal(self, session: Session, tickets: Iterable[Ticket], now: datetime) -> Refusal:
        tickets = list(tickets)
        statuses = [effective_status(t, now) for t in tickets]
        if TicketStatus.CLAIMED in statuses:
            return Refusal(ErrorCode.BEING_COLLECTED, "these tickets are being collected at another kiosk")
        printed = [t for t in tickets if t.status == TicketStatus.PRINTED.value and t.printed_at is not None]
        if printed:
            latest = max(printed, key=lambda t: t.printed_at or now)
            kiosk = session.get(Kiosk, latest.printed_by) if latest.printed_by else None
            return Refusal(
                ErrorCode.ALREADY_COLLECTED,
                "these tickets have already been collected",
                {
                    "collected_at": iso(latest.printed_at or now),
                    "kiosk": mask_kiosk_name(kiosk.name) if kiosk else None,
                },
            )
        return Refusal(ErrorCode.TICKET_NOT_AVAILABLE, "these tickets cannot be collected here: ask staff")

    def _open_order_view(self, session: Session, order: Order, kiosk: Kiosk, now: datetime) -> OrderView:
        showing = self._check_order_open(session, order, kiosk, now)
        self.expire_leases(session, now, order.id)
        tickets = self._order_tickets(session, order.id)
        if not any(effective_status(t, now) == TicketStatus.AVAILABLE for t in tickets):
            raise self._unavailable_refusal(session, tickets, now)
        return self._order_view(session, order, showing, tickets, kiosk, now)

    def _order_view(
        self, session: Session, order: Order, showing: Showing, tickets: list[Ticket], kiosk: Kiosk, now: datetime
    ) -> OrderView:
        cinema = session.get_one(Cinema, order.cinema_id)
        film = session.get_one(Film, showing.film_id)
        hall = session.get_one(Hall, showing.hall_id)
        names = {
            k.id: k.name for k in session.scalars(select(Kiosk).where(Kiosk.id.in_({t.printed_by for t in tickets})))
        }
        return OrderView(
            order_id=order.id,
            cinema_id=cinema.id,
            cinema_name=cinema.name,
            film_title=film.title,
            film_original_title=film.original_title,
            hall_name=hall.name,
            show_start=showing.starts_at,
            show_end=showing.ends_at,
            pickup_opens_at=self.pickup_opens_at(showing),
            tickets=[
                TicketView(
                    ticket_id=t.id,
                    row=t.row,
                    seat=t.seat,
                    price_fen=t.price_fen,
                    status=effective_status(t, now),
                    printed_at=t.printed_at,
                    printed_by=mask_kiosk_name(names[t.printed_by]) if t.printed_by in names else None,
                )
                for t in tickets
            ],
            claim_grant=self.grants.issue(kiosk.id, order.id, now),
        )

    # ---- claims ----------------------------------------------------------------------

    def claim(self, kiosk: Kiosk, request: ClaimRequest, idempotency_key: str | None) -> ClaimResponse:
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise Refusal(ErrorCode.BAD_REQUEST, f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        ticket_ids = list(request.ticket_ids)
        if len(set(ticket_ids)) != len(ticket_ids):
            raise Refusal(ErrorCode.BAD_REQUEST, "a ticket is named twice")
        replay = self._replay_claim(kiosk, request, idempotency_key)
        if replay is not None:
            return replay  # the original claim had its grant checked; a retry may come after it expired
        self._check_claim_grant(kiosk, request)
        session = self.sessions()
        try:
            with session.begin():
                return self._take_tickets(session, kiosk, request, idempotency_key)
        except (_TicketsTaken, IntegrityError):
            # Lost a race: the same Idempotency-Key may have won it, else say why.
            replay = self._replay_claim(kiosk, request, idempotency_key)
            if replay is not None:
                return replay
            with session.begin():
                tickets = session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids))).all()
                raise self._unavailable_refusal(session, tickets, self.clock.now()) from None
        finally:
            session.close()

    def _check_claim_grant(self, kiosk: Kiosk, request: ClaimRequest) -> None:
        # Without this a kiosk could claim any order of its cinema by id, bypassing the code and its lockouts.
        try:
            self.grants.check(request.claim_grant, kiosk.id, request.order_id, self.clock.now())
        except ClaimGrantRefused as exc:
            raise Refusal(
                ErrorCode.CLAIM_NOT_ALLOWED, CLAIM_NOT_ALLOWED_MESSAGE, {"reason": exc.reason}
            ) from None

    def _take_tickets(
        self, session: Session, kiosk: Kiosk, request: ClaimRequest, idempotency_key: str | None
    ) -> ClaimResponse:
        now = self.clock.now()
        order = session.get(Order, request.order_id)
        if order is None:
            raise Refusal(ErrorCode.UNKNOWN_CODE, "no such order")
        showing = self._check_order_open(session, order, kiosk, now)
        owned = {t.id: t for t in self._order_tickets(session, order.id)}
        missing = [tid for tid in request.ticket_ids if tid not in owned]
        if missing:
            raise Refusal(ErrorCode.TICKET_NOT_AVAILABLE, "a ticket is not part of this order", {"ticket_ids": missing})
        self.expire_leases(session, now, order.id)
        claim_id = new_id("clm")
        lease = now + timedelta(seconds=self.settings.claim_lease_seconds)
        # One conditional UPDATE: on PostgreSQL a concurrent claim waits on the row locks and then
        # re-checks the condition, on SQLite writers are serialised; either way one claim wins.
        taken: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(Ticket)
            .where(
                Ticket.id.in_(request.ticket_ids),
                Ticket.order_id == order.id,
                or_(
                    Ticket.status == TicketStatus.AVAILABLE.value,
                    # Never a ticket that may have reached a printer (expire_leases above settled
                    # the lapsed ones already; this keeps the rule in the statement itself).
                    and_(
                        Ticket.status == TicketStatus.CLAIMED.value,
                        Ticket.lease_expires_at <= now,
                        Ticket.print_started_at.is_(None),
                    ),
                ),
            )
            .values(
                status=TicketStatus.CLAIMED.value, claim_id=claim_id, lease_expires_at=lease, print_started_at=None
            )
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != len(request.ticket_ids):
            raise _TicketsTaken()
        session.add(
            Claim(
                id=claim_id,
                kiosk_id=kiosk.id,
                order_id=order.id,
                idempotency_key=idempotency_key,
                created_at=now,
                lease_expires_at=lease,
                open=True,
            )
        )
        session.flush()
        signer = self.keyring.current(session, now)
        for position, tid in enumerate(request.ticket_ids):
            token = tokens.sign_token(
                signer.private_key,
                tokens.TokenClaims(
                    kind=tokens.KIND_TICKET,
                    key_id=signer.key_id,
                    token_id=new_id("et"),
                    order_id=order.id,
                    cinema_id=order.cinema_id,
                    expires_at=showing.ends_at,
                    ticket_id=tid,
                ),
            )
            session.add(ClaimTicket(claim_id=claim_id, ticket_id=tid, position=position, entrance_token=token))
        audit(session, now, kiosk.id, "claim", order.id, claim_id=claim_id, tickets=request.ticket_ids)
        session.flush()
        return self._claim_response(session, session.get_one(Claim, claim_id))

    def _claim_response(self, session: Session, claim: Claim) -> ClaimResponse:
        rows = session.execute(
            select(ClaimTicket, Ticket)
            .join(Ticket, Ticket.id == ClaimTicket.ticket_id)
            .where(ClaimTicket.claim_id == claim.id)
            .order_by(ClaimTicket.position)
        ).all()
        return ClaimResponse(
            claim_id=claim.id,
            order_id=claim.order_id,
            lease_expires_at=claim.lease_expires_at,
            tickets=[
                ClaimedTicket(
                    ticket_id=t.id, row=t.row, seat=t.seat, price_fen=t.price_fen, entrance_token=ct.entrance_token
                )
                for ct, t in rows
            ],
        )

    def _replay_claim(self, kiosk: Kiosk, request: ClaimRequest, idempotency_key: str | None) -> ClaimResponse | None:
        if idempotency_key is None:
            return None
        with self.sessions() as session:
            claim = session.scalars(
                select(Claim).where(Claim.kiosk_id == kiosk.id, Claim.idempotency_key == idempotency_key)
            ).first()
            if claim is None:
                return None
            response = self._claim_response(session, claim)
        if claim.order_id != request.order_id or [t.ticket_id for t in response.tickets] != list(request.ticket_ids):
            raise Refusal(ErrorCode.BAD_REQUEST, "this Idempotency-Key was used for a different claim")
        return response

    # ---- leases ----------------------------------------------------------------------

    def expire_leases(self, session: Session, now: datetime, order_id: str | None = None) -> int:
        """Settle every open claim whose lease has passed (of one order, or all). Returns how many.

        A ticket its kiosk never said was about to print is released (collectable again) and
        its entrance token revoked; one that may have reached a printer becomes in doubt and is
        never offered to another kiosk: staff decide.  Runs inside the caller's transaction.
        """
        query = select(Claim).where(Claim.open.is_(True), Claim.lease_expires_at <= now)
        if order_id is not None:
            query = query.where(Claim.order_id == order_id)
        claims = list(session.scalars(query.order_by(Claim.id).with_for_update()))
        for claim in claims:
            self._lapse(session, claim, now)
        return len(claims)

    def _lapse(self, session: Session, claim: Claim, now: datetime) -> None:
        if not claim.open or now < claim.lease_expires_at:
            return  # settled meanwhile by another transaction, or renewed
        members = {
            ct.ticket_id: ct for ct in session.scalars(select(ClaimTicket).where(ClaimTicket.claim_id == claim.id))
        }
        held = session.scalars(
            select(Ticket)
            .where(Ticket.claim_id == claim.id, Ticket.status == TicketStatus.CLAIMED.value)
            .order_by(Ticket.id)
            .with_for_update()
        ).all()
        released: list[str] = []
        doubtful: list[str] = []
        for ticket in held:
            ticket.lease_expires_at = None
            if ticket.print_started_at is not None:
                ticket.status = TicketStatus.IN_DOUBT.value
                doubtful.append(ticket.id)
                audit(session, now, "central", "ticket_in_doubt", claim.order_id, claim_id=claim.id,
                      ticket_id=ticket.id, reason="lease_expired")
            else:
                ticket.status = TicketStatus.AVAILABLE.value
                ticket.claim_id = None
                released.append(ticket.id)
                revoke_entrance_token(session, members[ticket.id], claim.order_id, "lease_expired", now)
        claim.open = False
        audit(session, now, "central", "lease_expired", claim.order_id, claim_id=claim.id, kiosk_id=claim.kiosk_id,
              released=released, in_doubt=doubtful)

    def _locked_claim(self, session: Session, kiosk: Kiosk, claim_id: str, now: datetime) -> Claim:
        claim = session.get(Claim, claim_id, with_for_update=True)
        if claim is None or claim.kiosk_id != kiosk.id:
            raise Refusal(ErrorCode.CLAIM_NOT_FOUND, "no such claim for this kiosk")
        if claim.open and claim.lease_expires_at <= now:
            self._lapse(session, claim, now)
        return claim

    def _renew_lease(self, session: Session, claim: Claim, now: datetime) -> None:
        claim.lease_expires_at = now + timedelta(seconds=self.settings.claim_lease_seconds)
        # The tickets carry their own copy of the lease: it is what a competing claim checks.
        session.execute(
            update(Ticket)
            .where(Ticket.claim_id == claim.id, Ticket.status == TicketStatus.CLAIMED.value)
            .values(lease_expires_at=claim.lease_expires_at)
            .execution_options(synchronize_session=False)
        )

    # ---- about to print --------------------------------------------------------------

    def start_printing(self, kiosk: Kiosk, claim_id: str, notice: PrintNotice) -> PrintPermit:
        """The kiosk is about to send a ticket's bytes to its printer: allowed only under a live lease.

        Idempotent: the same notice again answers the same permit while the lease lives.
        """
        with self.sessions.begin() as session:
            now = self.clock.now()
            claim = self._locked_claim(session, kiosk, claim_id, now)
            member = session.get(ClaimTicket, (claim.id, notice.ticket_id))
            if member is None:
                raise Refusal(ErrorCode.BAD_REQUEST, "this ticket is not part of this claim",
                              {"ticket_ids": [notice.ticket_id]})
            if not claim.open or now >= claim.lease_expires_at:
                raise Refusal(ErrorCode.CLAIM_EXPIRED, "this claim's lease has run out: do not print it",
                              {"lease_expired_at": iso(claim.lease_expires_at)})
            ticket = session.get_one(Ticket, notice.ticket_id, with_for_update=True)
            if member.outcome is not None or ticket.claim_id != claim.id or \
                    ticket.status != TicketStatus.CLAIMED.value:
                # Reported already, or refunded meanwhile: it is not this claim's to print.
                raise Refusal(ErrorCode.TICKET_NOT_AVAILABLE, "this ticket is no longer held by this claim",
                              {"ticket_ids": [notice.ticket_id]})
            if ticket.print_started_at is None:
                ticket.print_started_at = now
                audit(session, now, kiosk.id, "print_started", claim.order_id, claim_id=claim.id,
                      ticket_id=ticket.id)
            self._renew_lease(session, claim, now)
            return PrintPermit(claim_id=claim.id, ticket_id=ticket.id, lease_expires_at=claim.lease_expires_at)

    # ---- reports ---------------------------------------------------------------------

    def report(self, kiosk: Kiosk, claim_id: str, report: ClaimReport) -> ClaimStatus:
        with self.sessions.begin() as session:
            now = self.clock.now()
            claim = self._locked_claim(session, kiosk, claim_id, now)
            members = {
                ct.ticket_id: ct for ct in session.scalars(select(ClaimTicket).where(ClaimTicket.claim_id == claim.id))
            }
            strangers = sorted(set(report.outcomes) - set(members))
            if strangers:
                raise Refusal(
                    ErrorCode.BAD_REQUEST, "a reported ticket is not part of this claim", {"ticket_ids": strangers}
                )
            lease_live = claim.open and now < claim.lease_expires_at
            for ticket_id, outcome in sorted(report.outcomes.items()):
                self._apply_outcome(session, kiosk, claim, members[ticket_id], outcome, lease_live, now)
            if lease_live:
                self._renew_lease(session, claim, now)
                claim.open = any(ct.outcome is None for ct in members.values())
            return self._claim_status(session, claim, list(members.values()), now)

    def _apply_outcome(
        self,
        session: Session,
        kiosk: Kiosk,
        claim: Claim,
        member: ClaimTicket,
        outcome: TicketOutcome,
        lease_live: bool,
        now: datetime,
    ) -> None:
        if member.outcome == outcome.value:
            return  # a repeated report: nothing to do
        upgrade = member.outcome == TicketOutcome.IN_DOUBT.value and outcome == TicketOutcome.PRINTED
        if member.outcome is not None and not upgrade:
            audit(
                session,
                now,
                kiosk.id,
                "report_conflict",
                claim.order_id,
                claim_id=claim.id,
                ticket_id=member.ticket_id,
                first=member.outcome,
                now_reported=outcome.value,
            )
            return
        ticket = session.get_one(Ticket, member.ticket_id, with_for_update=True)
        still_ours = ticket.claim_id == claim.id and ticket.status in (
            TicketStatus.CLAIMED.value,
            TicketStatus.IN_DOUBT.value,
        )
        member.reported_at = now
        if not still_ours:
            # The lease ran out before the ticket was about to print (or a refund took it): it was
            # released and may belong to another claim now.
            member.outcome = (
                TicketOutcome.RELEASED.value if outcome == TicketOutcome.RELEASED else TicketOutcome.IN_DOUBT.value
            )
            if outcome != TicketOutcome.RELEASED:
                audit(
                    session,
                    now,
                    kiosk.id,
                    "late_report_conflict",
                    claim.order_id,
                    claim_id=claim.id,
                    ticket_id=ticket.id,
                    reported=outcome.value,
                    ticket_status=ticket.status,
                    held_by_claim=ticket.claim_id,
                )
            return
        if not lease_live:
            audit(
                session,
                now,
                kiosk.id,
                "late_report",
                claim.order_id,
                claim_id=claim.id,
                ticket_id=ticket.id,
                reported=outcome.value,
            )
        member.outcome = outcome.value
        ticket.lease_expires_at = None
        if outcome == TicketOutcome.PRINTED:
            ticket.status = TicketStatus.PRINTED.value
            ticket.printed_at = now
            ticket.printed_by = kiosk.id
        elif outcome == TicketOutcome.RELEASED:
            # The kiosk knows its bytes never reached the printer: collectable again, under a new token.
            ticket.status = TicketStatus.AVAILABLE.value
            ticket.claim_id = None
            ticket.print_started_at = None
            revoke_entrance_token(session, member, claim.order_id, "released", now)
        else:
            ticket.status = TicketStatus.IN_DOUBT.value
            audit(session, now, kiosk.id, "ticket_in_doubt", claim.order_id, claim_id=claim.id, ticket_id=ticket.id)

    @staticmethod
    def _claim_status(session: Session, claim: Claim, members: list[ClaimTicket], now: datetime) -> ClaimStatus:
        by_outcome = {
            TicketOutcome.PRINTED.value: TicketStatus.PRINTED,
            TicketOutcome.RELEASED.value: TicketStatus.AVAILABLE,
            TicketOutcome.IN_DOUBT.value: TicketStatus.IN_DOUBT,
        }
        ids = [m.ticket_id for m in members]
        tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(ids)))}

        def unreported(ticket: Ticket) -> TicketStatus:
            if ticket.claim_id != claim.id:
                return TicketStatus.AVAILABLE  # released by the lease, or refunded: no longer this claim's
            return effective_status(ticket, now)

        return ClaimStatus(
            claim_id=claim.id,
            open=claim.open and now < claim.lease_expires_at,
            tickets={
                ct.ticket_id: by_outcome[ct.outcome] if ct.outcome else unreported(tickets[ct.ticket_id])
                for ct in members
            },
        )

    # ---- keys and revocations --------------------------------------------------------

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
