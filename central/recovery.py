"""Lost-ticket recovery at a kiosk (挂失找回): sessions, face and SMS verification, completion.

A session belongs to the kiosk that opened it and lives ``recovery_session_seconds``. It lists
the account's collectable orders at this kiosk's cinema today (masked: film, hall, time, tickets);
a face attempt or an SMS code verifies it; completion revokes the order's live pickup codes and
QR tokens (every kiosk's revocation list) and answers a claim grant for this kiosk, or sends a new
code to the bound phone. Every step is recorded in ``recovery_attempts`` and the audit log (kiosk,
time, method, distance, outcome; never an encoding, a frame or a clear phone number).

Every POST is idempotent on its Idempotency-Key: the first answer is kept and a retry gets it
again without counting a second attempt (refusals are not kept: they changed nothing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend_client.masking import mask_phone
from backend_client.wire import (
    IDEMPOTENCY_HEADER,
    ErrorCode,
    FaceAttempt,
    FaceVerdict,
    RecoverableOrder,
    RecoveryComplete,
    RecoveryDelivery,
    RecoveryMethod,
    RecoveryResult,
    RecoverySession,
    RecoveryStart,
    SmsSent,
    SmsVerdict,
    TicketStatus,
)
from central.accounts import find_account, id_last4_matches, phone_hmac
from central.codes import issue_code, revoke_live_codes
from central.common import MAX_IDEMPOTENCY_KEY, Refusal, audit, effective_status, iso, new_id
from central.face_templates import FaceSealer, distance, encoding_problem
from central.models import (
    Account,
    Cinema,
    FaceTemplate,
    Film,
    Hall,
    Kiosk,
    Order,
    RecoveryAttempt,
    RecoveryReply,
    RecoverySessionRow,
    RecoverySmsCode,
    Showing,
    Ticket,
)
from central.pickup import PickupArea
from central.sms import SmsError, SmsGateway

T = TypeVar("T")
HOUR = timedelta(hours=1)
# "Today": shows not over that start before the end of the cinema's day, or within this many
# hours (someone at the kiosk at 23:00 still sees the 00:30 show).
TODAY_HORIZON = timedelta(hours=6)
NO_ORDERS_MESSAGE = "no collectable order for this phone number at this cinema today"
SESSION_GONE_MESSAGE = "this recovery session is over: start again"
ROUND_DISTANCE = 4
SMS_TEXTS = {
    "zh": "【{cinema}】取票找回验证码：{code}，{minutes}分钟内有效。请勿告诉他人。",
    "en": "{cinema}: your ticket recovery code is {code}, valid for {minutes} minutes. Never share it.",
}
PICKUP_TEXTS = {
    "zh": "【{cinema}】您的新取票码：{serial} {verification}（原取票码已作废）。",
    "en": "{cinema}: your new pickup code is {serial} {verification} (the old code no longer works).",
}


class _SmsFailed(Exception):
    """The gateway did not take a message: the transaction rolls back, nothing counted."""

    def __init__(self, session_id: str, method: str) -> None:
        super().__init__(method)
        self.session_id = session_id
        self.method = method


class RecoveryArea(PickupArea):
    """The kiosk routes of lost-ticket recovery."""

    sealer: FaceSealer
    sms: SmsGateway | None

    # ---- the routes ---------------------------------------------------------------------

    def start_recovery(self, kiosk: Kiosk, body: RecoveryStart, idempotency_key: str | None) -> RecoverySession:
        key = _check_key(idempotency_key)
        fingerprint = _fingerprint("start", "", body)

        def work(session: Session) -> RecoverySession | Refusal:
            now = self.clock.now()
            session.get(Kiosk, kiosk.id, with_for_update=True)  # one kiosk's starts one at a time
            replay = self._replay(session, kiosk.id, key, fingerprint, RecoverySession)
            if replay is not None:
                return replay
            if self.settings.recovery_require_id_last4 and body.id_last4 is None:
                raise Refusal(ErrorCode.RECOVERY_ID_REQUIRED,
                              "this cinema asks the last 4 characters of the ID number too")
            self._clear_lapsed_phones(session, now)
            hashed = phone_hmac(self, body.phone)
            masked = mask_phone(body.phone)
            limited = self._rate_limit(session, kiosk.id, hashed, now)
            if limited is not None:
                self._attempt(session, now, kiosk.id, "start", "rate_limited", phone_hmac=hashed, phone_masked=masked)
                return limited
            account = find_account(self, session, body.phone)
            orders = self._account_orders(session, account, body.id_last4, kiosk, now)
            if not orders:
                self._attempt(session, now, kiosk.id, "start", "no_orders", phone_hmac=hashed, phone_masked=masked)
                return Refusal(ErrorCode.RECOVERY_NO_ORDERS, NO_ORDERS_MESSAGE)
            assert account is not None
            row = RecoverySessionRow(
                id=new_id("rcv"), kiosk_id=kiosk.id, account_id=account.id,
                order_ids=json.dumps([order.id for order in orders]), face_consent=body.face_consent,
                language=body.language, created_at=now,
                expires_at=now + timedelta(seconds=self.settings.recovery_session_seconds),
                face_attempts=0, sms_codes=0,
            )
            row.phone_sealed = self._seal_phone(row.id, body.phone)
            session.add(row)
            session.flush()
            self._attempt(session, now, kiosk.id, "start", "opened", session_id=row.id, phone_hmac=hashed,
                          phone_masked=masked, orders=len(orders), face_consent=body.face_consent)
            answer = self._session_view(session, row, now)
            self._keep(session, kiosk.id, key, fingerprint, answer, now)
            return answer

        return self._tx(work)

    def recovery_session(self, kiosk: Kiosk, session_id: str) -> RecoverySession:
        with self.sessions.begin() as session:
            now = self.clock.now()
            row = self._own_session(session, kiosk, session_id, lock=False)
            self._check_live(row, now)
            return self._session_view(session, row, now)

    def recovery_face(
        self, kiosk: Kiosk, session_id: str, attempt: FaceAttempt, idempotency_key: str | None
    ) -> FaceVerdict:
        key = _check_key(idempotency_key)
        fingerprint = _fingerprint("face", session_id, attempt)

        def work(session: Session) -> FaceVerdict | Refusal:
            now = self.clock.now()
            row = self._own_session(session, kiosk, session_id)
            replay = self._replay(session, kiosk.id, key, fingerprint, FaceVerdict)
            if replay is not None:
                return replay
            self._check_live(row, now)
            if row.face_consent is None:
                raise Refusal(ErrorCode.FORBIDDEN, "the face check needs the person's consent at the start")
            template = session.get(FaceTemplate, row.account_id)
            if template is None:
                self._attempt(session, now, kiosk.id, "face", "no_template", session_id=row.id)
                return Refusal(ErrorCode.RECOVERY_NO_TEMPLATE,
                               "no face is enrolled for this account: use the SMS code")
            limit = self.settings.recovery_face_attempts
            if row.face_attempts >= limit:
                self._attempt(session, now, kiosk.id, "face", "exhausted", session_id=row.id)
                return Refusal(ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED,
                               "no face attempts left: please ask at the counter", {"attempts_left": 0})
            live = attempt.liveness.passed
            if live:
                problem = encoding_problem(attempt.encoding)
                if problem is not None:
                    raise Refusal(ErrorCode.BAD_REQUEST, problem)  # not an attempt: nothing counted
            row.face_attempts += 1
            measured: float | None = None
            if live:
                assert attempt.encoding is not None
                enrolled = self.sealer.open(row.account_id, template.ciphertext)
                measured = round(distance(enrolled, list(attempt.encoding)), ROUND_DISTANCE)
            threshold = self.settings.face_match_threshold
            matched = measured is not None and measured <= threshold
            if matched:
                row.verified_by, row.verified_at = RecoveryMethod.FACE.value, now
            if live:
                outcome = "matched" if matched else "no_match"
            else:
                outcome = f"liveness_failed:{attempt.liveness.reason or 'failed'}"
            self._attempt(session, now, kiosk.id, "face", outcome[:40], session_id=row.id, distance=measured,
                          challenge=attempt.liveness.challenge)
            session.flush()
            answer = FaceVerdict(matched=matched, distance=measured, threshold=threshold,
                                 attempts_left=max(0, limit - row.face_attempts),
                                 session=self._session_view(session, row, now))
            self._keep(session, kiosk.id, key, fingerprint, answer, now)
            return answer

        return self._tx(work)

    def recovery_send_sms(self, kiosk: Kiosk, session_id: str, idempotency_key: str | None) -> SmsSent:
        key = _check_key(idempotency_key)
        fingerprint = _fingerprint("sms", session_id, None)

        def work(session: Session) -> SmsSent | Refusal:
            now = self.clock.now()
            row = self._own_session(session, kiosk, session_id)
            replay = self._replay(session, kiosk.id, key, fingerprint, SmsSent)
            if replay is not None:
                return replay
            self._check_live(row, now)
            if self.sms is None:
                return Refusal(ErrorCode.SMS_UNAVAILABLE,
                               "SMS codes are not available here: use the face check or the counter")
            limit = self.settings.recovery_sms_codes
            if row.sms_codes >= limit:
                self._attempt(session, now, kiosk.id, "sms_send", "exhausted", session_id=row.id)
                return Refusal(ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED, "no SMS codes left: please ask at the counter",
                               {"codes_left": 0})
            last = self._latest_code(session, row.id)
            if last is not None:
                wait_until = last.sent_at + timedelta(seconds=self.settings.recovery_sms_resend_seconds)
                if now < wait_until:
                    return Refusal(ErrorCode.RECOVERY_RATE_LIMITED, "a code was just sent: wait a moment for it",
                                   {"retry_after_s": math.ceil((wait_until - now).total_seconds())})
            phone = self._open_phone(row)
            code = f"{secrets.randbelow(1_000_000):06d}"
            minutes = self.settings.recovery_sms_code_seconds // 60
            text = SMS_TEXTS.get(row.language, SMS_TEXTS["en"]).format(
                cinema=_cinema_name(session, kiosk), code=code, minutes=minutes)
            try:
                self.sms.send(phone, "recovery_code", text, now, {"code": code})
            except SmsError:
                raise _SmsFailed(row.id, "sms_send") from None
            for older in session.scalars(select(RecoverySmsCode).where(
                    RecoverySmsCode.session_id == row.id, RecoverySmsCode.closed.is_(False))):
                older.closed = True  # only the newest code works
            expires = now + timedelta(seconds=self.settings.recovery_sms_code_seconds)
            session.add(RecoverySmsCode(session_id=row.id, code_hmac=self._code_hmac(row.id, code), sent_at=now,
                                        expires_at=expires, wrong_entries=0, closed=False))
            row.sms_codes += 1
            self._attempt(session, now, kiosk.id, "sms_send", "sent", session_id=row.id)
            answer = SmsSent(sent_to=mask_phone(phone), codes_left=max(0, limit - row.sms_codes),
                             code_expires_at=expires)
            self._keep(session, kiosk.id, key, fingerprint, answer, now)
            return answer

        return self._with_sms_failure(kiosk, lambda: self._tx(work))

    def recovery_check_sms(self, kiosk: Kiosk, session_id: str, code: str, idempotency_key: str | None) -> SmsVerdict:
        key = _check_key(idempotency_key)
        fingerprint = _fingerprint("sms_check", session_id, {"code": self._code_hmac(session_id, code)})

        def work(session: Session) -> SmsVerdict | Refusal:
            now = self.clock.now()
            row = self._own_session(session, kiosk, session_id)
            replay = self._replay(session, kiosk.id, key, fingerprint, SmsVerdict)
            if replay is not None:
                return replay
            self._check_live(row, now)
            allowed = self.settings.recovery_sms_wrong_entries
            current = self._latest_code(session, row.id, open_only=True)
            if current is None and row.sms_codes == 0:
                raise Refusal(ErrorCode.BAD_REQUEST, "no code was sent yet: ask for one first")
            if current is not None and (current.expires_at <= now or current.wrong_entries >= allowed):
                current.closed = True
                current = None
            if current is None:
                if row.sms_codes >= self.settings.recovery_sms_codes:
                    self._attempt(session, now, kiosk.id, "sms_check", "exhausted", session_id=row.id)
                    return Refusal(ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED,
                                   "no SMS codes left: please ask at the counter", {"codes_left": 0})
                self._attempt(session, now, kiosk.id, "sms_check", "code_expired", session_id=row.id)
                answer = SmsVerdict(matched=False, attempts_left=0, session=self._session_view(session, row, now))
            else:
                matched = hmac.compare_digest(current.code_hmac, self._code_hmac(row.id, code))
                if matched:
                    current.closed = True
                    row.verified_by, row.verified_at = RecoveryMethod.SMS.value, now
                else:
                    current.wrong_entries += 1
                    current.closed = current.wrong_entries >= allowed
                self._attempt(session, now, kiosk.id, "sms_check", "matched" if matched else "wrong_code",
                              session_id=row.id)
                session.flush()
                answer = SmsVerdict(matched=matched, attempts_left=max(0, allowed - current.wrong_entries),
                                    session=self._session_view(session, row, now))
            self._keep(session, kiosk.id, key, fingerprint, answer, now)
            return answer

        return self._tx(work)

    def complete_recovery(
        self, kiosk: Kiosk, session_id: str, body: RecoveryComplete, idempotency_key: str | None
    ) -> RecoveryResult:
        key = _check_key(idempotency_key)
        fingerprint = _fingerprint("complete", session_id, body)

        def work(session: Session) -> RecoveryResult | Refusal:
            now = self.clock.now()
            row = self._own_session(session, kiosk, session_id)
            replay = self._replay(session, kiosk.id, key, fingerprint, RecoveryResult)
            if replay is not None:
                if replay.order is not None:  # the grant was not kept: a fresh one for this kiosk
                    fresh = self.grants.issue(kiosk.id, replay.order.order_id, now)
                    replay = replay.model_copy(update={"order": replay.order.model_copy(update={"claim_grant": fresh})})
                return replay
            self._check_live(row, now)
            if row.verified_by is None:
                raise Refusal(ErrorCode.RECOVERY_NOT_VERIFIED, "verify by face or SMS code first")
            if body.order_id not in json.loads(row.order_ids):
                raise Refusal(ErrorCode.BAD_REQUEST, "this order is not one of the session's orders")
            order = session.get_one(Order, body.order_id, with_for_update=True)
            showing = session.get_one(Showing, order.showing_id)
            deadline = self._deadline(showing)
            if now >= deadline:
                self._attempt(session, now, kiosk.id, "complete", "deadline_passed", session_id=row.id,
                              order_id=order.id)
                return Refusal(ErrorCode.RECOVERY_DEADLINE_PASSED, "too close to the show: please ask at the counter",
                               {"deadline": iso(deadline)})
            view = self._open_order_view(session, order, kiosk, now)  # refuses what cannot be collected
            revoked = revoke_live_codes(session, order.id, "recovered", now)
            sent_to: str | None = None
            if body.delivery is RecoveryDelivery.SMS:
                if self.sms is None:
                    raise Refusal(ErrorCode.SMS_UNAVAILABLE, "SMS is not available here: print the tickets instead")
                phone = self._open_phone(row)
                issued = issue_code(self, session, order, now)
                text = PICKUP_TEXTS.get(row.language, PICKUP_TEXTS["en"]).format(
                    cinema=_cinema_name(session, kiosk), serial=issued.serial, verification=issued.verification)
                try:
                    self.sms.send(phone, "pickup_code", text, now,
                                  {"serial": issued.serial, "code": issued.verification})
                except SmsError:
                    raise _SmsFailed(row.id, "complete") from None
                sent_to = mask_phone(phone)
            self._attempt(session, now, kiosk.id, "complete", "completed", session_id=row.id, order_id=order.id,
                          delivery=body.delivery.value, revoked_codes=revoked)
            answer = RecoveryResult(order_id=order.id, revoked_codes=revoked, delivery=body.delivery,
                                    order=view if body.delivery is RecoveryDelivery.PRINT else None,
                                    new_code_sent_to=sent_to)
            kept = answer.model_copy(update={"order": view.model_copy(update={"claim_grant": "-"})}) \
                if answer.order is not None else answer
            self._keep(session, kiosk.id, key, fingerprint, kept, now)
            return answer

        return self._with_sms_failure(kiosk, lambda: self._tx(work))

    # ---- sessions and their views -------------------------------------------------------

    def _tx(self, work: Callable[[Session], T | Refusal]) -> T:
        """One transaction; a Refusal returned (not raised) is committed (its attempt recorded), then raised."""
        try:
            with self.sessions.begin() as session:
                result = work(session)
        except IntegrityError:
            # Two retries of one Idempotency-Key raced: the winner's answer is kept; ask again.
            with self.sessions.begin() as session:
                result = work(session)
        if isinstance(result, Refusal):
            raise result
        return result

    def _with_sms_failure(self, kiosk: Kiosk, call: Callable[[], T]) -> T:
        try:
            return call()
        except _SmsFailed as failed:
            with self.sessions.begin() as session:
                self._attempt(session, self.clock.now(), kiosk.id, failed.method, "sms_unavailable",
                              session_id=failed.session_id)
            raise Refusal(ErrorCode.SMS_UNAVAILABLE, "the SMS could not be sent: try again later, or another way") \
                from None

    def _own_session(self, session: Session, kiosk: Kiosk, session_id: str, lock: bool = True) -> RecoverySessionRow:
        row = session.get(RecoverySessionRow, session_id, with_for_update=lock)
        if row is None or row.kiosk_id != kiosk.id:
            # Another kiosk's session is as unknown here as a made-up id.
            raise Refusal(ErrorCode.RECOVERY_SESSION_EXPIRED, SESSION_GONE_MESSAGE, {"reason": "unknown"})
        return row

    def _check_live(self, row: RecoverySessionRow, now: datetime) -> None:
        if now >= row.expires_at:
            raise Refusal(ErrorCode.RECOVERY_SESSION_EXPIRED, SESSION_GONE_MESSAGE, {"reason": "expired"})

    def _clear_lapsed_phones(self, session: Session, now: datetime) -> None:
        session.execute(
            update(RecoverySessionRow)
            .where(RecoverySessionRow.expires_at <= now, RecoverySessionRow.phone_sealed.is_not(None))
            .values(phone_sealed=None)
            .execution_options(synchronize_session=False)
        )

    def _deadline(self, showing: Showing) -> datetime:
        return showing.starts_at - timedelta(minutes=self.settings.recovery_deadline_minutes)

    def _account_orders(
        self, session: Session, account: Account | None, id_last4: str | None, kiosk: Kiosk, now: datetime
    ) -> list[Order]:
        """The account's orders with tickets to collect at this kiosk's cinema today; [] whatever the reason."""
        if account is None:
            return []
        if id_last4 is not None and account.id_last4_hmac is not None:
            if not id_last4_matches(self, account, id_last4):
                return []
        elif self.settings.recovery_require_id_last4:
            return []  # the chain asks the ID digits and none are on file to compare
        cinema = session.get_one(Cinema, kiosk.cinema_id)
        local_now = now.astimezone(ZoneInfo(cinema.timezone))
        end_of_day = (local_now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1))
        horizon = max(end_of_day, now + TODAY_HORIZON)
        found = []
        for order, showing in session.execute(
            select(Order, Showing).join(Showing, Showing.id == Order.showing_id)
            .where(Order.account_id == account.id, Order.cinema_id == kiosk.cinema_id, Order.status == "paid",
                   Showing.ends_at > now, Showing.starts_at < horizon)
            .order_by(Showing.starts_at, Order.id)
        ).tuples():
            if now < self.pickup_opens_at(showing):
                continue
            self.expire_leases(session, now, order.id)
            if self._collectable(session, order.id, now) > 0:
                found.append(order)
        return found

    def _collectable(self, session: Session, order_id: str, now: datetime) -> int:
        tickets = session.scalars(select(Ticket).where(Ticket.order_id == order_id))
        return sum(1 for ticket in tickets if effective_status(ticket, now) is TicketStatus.AVAILABLE)

    def _session_view(self, session: Session, row: RecoverySessionRow, now: datetime) -> RecoverySession:
        account = session.get_one(Account, row.account_id)
        orders = []
        for order_id in json.loads(row.order_ids):
            order = session.get_one(Order, order_id)
            showing = session.get_one(Showing, order.showing_id)
            film = session.get_one(Film, showing.film_id)
            hall = session.get_one(Hall, showing.hall_id)
            deadline = self._deadline(showing)
            orders.append(RecoverableOrder(
                order_id=order.id, film_title=film.title, film_original_title=film.original_title,
                hall_name=hall.name, show_start=showing.starts_at,
                tickets=self._collectable(session, order.id, now) if order.status == "paid" else 0,
                report_deadline=deadline, open=now < deadline,
            ))
        methods = []
        if row.face_consent is not None and session.get(FaceTemplate, row.account_id) is not None:
            methods.append(RecoveryMethod.FACE)
        if self.sms is not None:
            methods.append(RecoveryMethod.SMS)
        return RecoverySession(
            session_id=row.id, expires_at=row.expires_at, phone_masked=account.phone_masked, orders=orders,
            methods=methods,
            face_attempts_left=max(0, self.settings.recovery_face_attempts - row.face_attempts),
            sms_codes_left=max(0, self.settings.recovery_sms_codes - row.sms_codes),
            verified_by=RecoveryMethod(row.verified_by) if row.verified_by else None,
        )

    # ---- limits and records -------------------------------------------------------------

    def _rate_limit(self, session: Session, kiosk_id: str, hashed_phone: str, now: datetime) -> Refusal | None:
        """A refusal when this phone or this kiosk started too many sessions in the last hour."""
        checks = (
            ("phone", RecoveryAttempt.phone_hmac == hashed_phone, self.settings.recovery_phone_sessions_per_hour),
            ("kiosk", RecoveryAttempt.kiosk_id == kiosk_id, self.settings.recovery_kiosk_sessions_per_hour),
        )
        for scope, condition, limit in checks:
            count, oldest = session.execute(
                select(func.count(RecoveryAttempt.id), func.min(RecoveryAttempt.at)).where(
                    condition, RecoveryAttempt.method == "start", RecoveryAttempt.outcome != "rate_limited",
                    RecoveryAttempt.at > now - HOUR)
            ).one()
            if count >= limit and oldest is not None:
                oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
                retry = max(1, math.ceil((oldest_at + HOUR - now).total_seconds()))
                return Refusal(ErrorCode.RECOVERY_RATE_LIMITED, "too many recovery attempts: try again later",
                               {"scope": scope, "retry_after_s": retry})
        return None

    def _attempt(
        self, session: Session, now: datetime, kiosk_id: str, method: str, outcome: str, *,
        session_id: str | None = None, phone_hmac: str | None = None, phone_masked: str | None = None,
        distance: float | None = None, order_id: str | None = None, **details: Any,
    ) -> None:
        """One recovery step in the attempts table and the audit log (never a face or a clear phone)."""
        session.add(RecoveryAttempt(at=now, kiosk_id=kiosk_id, session_id=session_id, phone_hmac=phone_hmac,
                                    phone_masked=phone_masked, method=method, outcome=outcome, distance=distance))
        extra = {key: value for key, value in details.items() if value is not None}
        if phone_masked is not None:
            extra["phone"] = phone_masked
        audit(session, now, kiosk_id, f"recovery_{method}", order_id, session_id=session_id, outcome=outcome,
              distance=distance, **extra)
        session.flush()

    def _latest_code(self, session: Session, session_id: str, open_only: bool = False) -> RecoverySmsCode | None:
        query = select(RecoverySmsCode).where(RecoverySmsCode.session_id == session_id)
        if open_only:
            query = query.where(RecoverySmsCode.closed.is_(False))
        return session.scalars(query.order_by(RecoverySmsCode.id.desc())).first()

    def _code_hmac(self, session_id: str, code: str) -> str:
        key = self.hasher.derived_key("recovery-sms-code-v1")
        return hmac.new(key, f"{session_id}:{code}".encode(), hashlib.sha256).hexdigest()

    def _seal_phone(self, session_id: str, phone: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.hasher.derived_key("recovery-session-phone-v1")).encrypt(
            nonce, phone.encode(), session_id.encode())
        return base64.b64encode(nonce + sealed).decode("ascii")

    def _open_phone(self, row: RecoverySessionRow) -> str:
        if row.phone_sealed is None:
            raise Refusal(ErrorCode.RECOVERY_SESSION_EXPIRED, SESSION_GONE_MESSAGE, {"reason": "expired"})
        raw = base64.b64decode(row.phone_sealed)
        try:
            return AESGCM(self.hasher.derived_key("recovery-session-phone-v1")).decrypt(
                raw[:12], raw[12:], row.id.encode()).decode()
        except InvalidTag:
            raise Refusal(ErrorCode.RECOVERY_SESSION_EXPIRED, SESSION_GONE_MESSAGE, {"reason": "expired"}) from None

    # ---- idempotency --------------------------------------------------------------------

    def _replay(
        self, session: Session, kiosk_id: str, key: str | None, fingerprint: str, model: type[T]
    ) -> T | None:
        if key is None:
            return None
        kept = session.scalars(select(RecoveryReply).where(
            RecoveryReply.kiosk_id == kiosk_id, RecoveryReply.idempotency_key == key)).first()
        if kept is None:
            return None
        if kept.fingerprint != fingerprint:
            raise Refusal(ErrorCode.BAD_REQUEST, f"this {IDEMPOTENCY_HEADER} was used for another request")
        return model.model_validate_json(kept.answer)  # type: ignore[attr-defined]

    def _keep(
        self, session: Session, kiosk_id: str, key: str | None, fingerprint: str, answer: BaseModel, now: datetime
    ) -> None:
        if key is None:
            return
        session.add(RecoveryReply(kiosk_id=kiosk_id, idempotency_key=key, fingerprint=fingerprint,
                                  answer=answer.model_dump_json(), created_at=now))
        session.flush()


def _check_key(key: str | None) -> str | None:
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise Refusal(ErrorCode.BAD_REQUEST, f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    return key


def _fingerprint(route: str, session_id: str, body: BaseModel | dict[str, Any] | None) -> str:
    """The route, the session and the body: a key reused for anything else is refused."""
    text = body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body, sort_keys=True)
    return hashlib.sha256(f"{route}\n{session_id}\n{text}".encode()).hexdigest()


def _cinema_name(session: Session, kiosk: Kiosk) -> str:
    cinema = session.get(Cinema, kiosk.cinema_id)
    return cinema.name if cinema else ""
