"""Pickup lookups by code or QR token, and the brakes on guessing codes (per serial and per kiosk)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend_client import tokens
from backend_client.wire import ErrorCode, LookupResponse, OrderView, TicketStatus
from central.common import Refusal, audit, effective_status
from central.leases import LeasesArea
from central.models import Kiosk, LookupFailure, Order, PickupCode, Revocation
from central.orders import OrdersArea


class PickupArea(OrdersArea, LeasesArea):
    """Lookups by pickup code or QR token, with the brakes on guessing codes."""

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

    def _open_order_view(self, session: Session, order: Order, kiosk: Kiosk, now: datetime) -> OrderView:
        showing = self._check_order_open(session, order, kiosk, now)
        self.expire_leases(session, now, order.id)
        tickets = self._order_tickets(session, order.id)
        if not any(effective_status(t, now) == TicketStatus.AVAILABLE for t in tickets):
            raise self._unavailable_refusal(session, tickets, now)
        return self._order_view(session, order, showing, tickets, kiosk, now)
