"""Stand-ins for the lost-ticket journey's far ends: the central's recovery routes and the face check.

:class:`FakeRecoveryCentral` keeps the central's rules in memory (3 face attempts and 3 SMS codes
per session, a code's wrong tries, idempotent completion, codes revoked) on top of
:class:`tests.support.fakes.FakeCentral` (claims and print reports).  :class:`FakeFaceChecker`
is a face check the test drives: it records what the journey began and cancelled, and the test
sends progress and results to the journey's listener.  Unit tests only: the journeys against the
real central and a real face check live in tests/integration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from backend_client.errors import CentralRefused, CentralUnreachable
from backend_client.masking import mask_phone
from backend_client.wire import (
    ErrorCode,
    FaceAttempt,
    FaceVerdict,
    OrderView,
    RecoverableOrder,
    RecoveryDelivery,
    RecoveryMethod,
    RecoveryResult,
    RecoverySession,
    RecoveryStart,
    SmsSent,
    SmsVerdict,
    TicketStatus,
)
from devices.face_api import (
    Challenge,
    FaceCheckResult,
    FaceListener,
    FaceOutcome,
    FaceProgress,
    FacePrompt,
)
from kiosk.claims import ClaimPrinter, Outbox
from kiosk.config import RecoverySection
from kiosk.flows.recovery import RecoveryFlow
from kiosk.flows.runtime import InlineWorker, Worker
from kiosk.journal import Journal
from tests.support.clocks import ManualClock
from tests.support.fakes import NOW, FakeCentral, FakePrinter, make_order

PHONE = "13812345678"
SMS_CODE = "246810"
THRESHOLD = 0.45
ENCODING = tuple(0.01 * i for i in range(128))


def recoverable(order: OrderView, open_: bool = True) -> RecoverableOrder:
    deadline = order.show_start - timedelta(minutes=30)
    return RecoverableOrder(order_id=order.order_id, film_title=order.film_title,
                            film_original_title=order.film_original_title, hall_name=order.hall_name,
                            show_start=order.show_start,
                            tickets=sum(1 for t in order.tickets if t.status is TicketStatus.AVAILABLE),
                            report_deadline=deadline, open=open_)


@dataclass
class FakeRecoveryCentral(FakeCentral):
    """One account (:data:`PHONE`) with ``orders``; ``template``: a face enrolled; ``matches``: the
    verdicts of the live attempts in turn (then "not matched")."""

    phone: str = PHONE
    template: bool = True
    id_last4: str | None = None  # set: the central asks for it
    closed: set[str] = field(default_factory=set)  # orders past their deadline
    matches: list[bool] = field(default_factory=lambda: [True])
    sms_unavailable: bool = False
    refuse_start: CentralRefused | None = None
    complete_unreachable: int = 0  # the next N completions fail as unreachable (after the central did them)
    starts: list[tuple[RecoveryStart, str]] = field(default_factory=list)
    attempts: list[tuple[str, FaceAttempt, str]] = field(default_factory=list)
    sms_sent: list[str] = field(default_factory=list)
    checks: list[tuple[str, str]] = field(default_factory=list)
    completions: list[tuple[str, str, RecoveryDelivery, str]] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    _sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _done: dict[str, RecoveryResult] = field(default_factory=dict)

    def _session(self, sid: str) -> RecoverySession:
        s = self._sessions[sid]
        methods = ([RecoveryMethod.FACE] if s["face"] else []) + [RecoveryMethod.SMS]
        return RecoverySession(
            session_id=sid, expires_at=NOW + timedelta(minutes=10), phone_masked=mask_phone(self.phone),
            orders=[recoverable(self.order, self.order.order_id not in self.closed)], methods=methods,
            face_attempts_left=s["face_left"], sms_codes_left=s["codes_left"], verified_by=s["verified"])

    def start_recovery(self, start: RecoveryStart, idempotency_key: str) -> RecoverySession:
        self.starts.append((start, idempotency_key))
        self._check()
        if self.refuse_start is not None:
            raise self.refuse_start
        if self.id_last4 is not None and start.id_last4 is None:
            raise CentralRefused(ErrorCode.RECOVERY_ID_REQUIRED, "the ID number's last 4 characters, please")
        if start.phone != self.phone or (self.id_last4 is not None and start.id_last4 != self.id_last4):
            raise CentralRefused(ErrorCode.RECOVERY_NO_ORDERS, "no collectable order")
        sid = f"rs-{len(self._sessions) + 1}"
        self._sessions[sid] = {"face": self.template and start.face_consent is not None, "face_left": 3,
                               "codes_left": 3, "verified": None, "code": None, "tries": 0}
        return self._session(sid)

    def face_attempt(self, session_id: str, attempt: FaceAttempt, idempotency_key: str) -> FaceVerdict:
        self.attempts.append((session_id, attempt, idempotency_key))
        self._check()
        s = self._sessions[session_id]
        if not s["face"]:
            raise CentralRefused(ErrorCode.RECOVERY_NO_TEMPLATE, "no face enrolled")
        if s["face_left"] <= 0:
            raise CentralRefused(ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED, "no attempt left")
        s["face_left"] -= 1
        matched = False
        distance = None
        if attempt.liveness.passed and attempt.encoding is not None:
            matched = self.matches.pop(0) if self.matches else False
            distance = 0.31 if matched else 0.72
        if matched:
            s["verified"] = RecoveryMethod.FACE
        return FaceVerdict(matched=matched, distance=distance, threshold=THRESHOLD, attempts_left=s["face_left"],
                           session=self._session(session_id))

    def send_recovery_sms(self, session_id: str, idempotency_key: str) -> SmsSent:
        self._check()
        s = self._sessions[session_id]
        if self.sms_unavailable:
            raise CentralRefused(ErrorCode.SMS_UNAVAILABLE, "the gateway did not take it")
        if s["codes_left"] <= 0:
            raise CentralRefused(ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED, "no code left")
        s["codes_left"] -= 1
        s["code"], s["tries"] = SMS_CODE, 3
        self.sms_sent.append(idempotency_key)
        return SmsSent(sent_to=mask_phone(self.phone), codes_left=s["codes_left"],
                       code_expires_at=NOW + timedelta(minutes=5))

    def check_recovery_sms(self, session_id: str, code: str, idempotency_key: str) -> SmsVerdict:
        self.checks.append((session_id, code))
        self._check()
        s = self._sessions[session_id]
        if s["code"] is None or s["tries"] <= 0:
            raise CentralRefused(ErrorCode.RECOVERY_ATTEMPTS_EXHAUSTED, "no code to check")
        matched = code == s["code"]
        s["tries"] = s["tries"] if matched else s["tries"] - 1
        if matched:
            s["verified"] = RecoveryMethod.SMS
        return SmsVerdict(matched=matched, attempts_left=s["tries"], session=self._session(session_id))

    def complete_recovery(self, session_id: str, order_id: str, delivery: RecoveryDelivery,
                          idempotency_key: str) -> RecoveryResult:
        self.completions.append((session_id, order_id, delivery, idempotency_key))
        self._check()
        if idempotency_key in self._done:
            result = self._done[idempotency_key]
        else:
            if self._sessions[session_id]["verified"] is None:
                raise CentralRefused(ErrorCode.RECOVERY_NOT_VERIFIED, "not verified")
            self.revoked.add(order_id)
            result = RecoveryResult(
                order_id=order_id, revoked_codes=1, delivery=delivery,
                order=self.order.model_copy(update={"claim_grant": "grant-recovered"})
                if delivery is RecoveryDelivery.PRINT else None,
                new_code_sent_to=mask_phone(self.phone) if delivery is RecoveryDelivery.SMS else None)
            self._done[idempotency_key] = result
        if self.complete_unreachable > 0:
            self.complete_unreachable -= 1
            raise CentralUnreachable("read timeout")
        if result.order is not None:
            self.order = self.order.model_copy(update={"claim_grant": "grant-recovered"})
        return result


class FakeFaceChecker:
    """A face check the test drives: ``progress()`` and ``finish()`` call the journey's listener."""

    def __init__(self) -> None:
        self.begun: list[Challenge] = []
        self.cancelled = 0
        self._listener: FaceListener | None = None
        self.fail_to_begin: Exception | None = None

    @property
    def running(self) -> bool:
        return self._listener is not None

    def begin(self, challenge: Challenge, listener: FaceListener) -> None:
        if self.fail_to_begin is not None:
            raise self.fail_to_begin
        self.begun.append(challenge)
        self._listener = listener

    def cancel(self) -> None:
        self.cancelled += 1
        listener, self._listener = self._listener, None
        if listener is not None and self.begun:  # as a real check: its CANCELLED result may still arrive
            listener(FaceCheckResult(FaceOutcome.CANCELLED, self.begun[-1], None, 3, 0.5))

    def preview(self) -> np.ndarray | None:
        return None

    def progress(self, prompt: FacePrompt = FacePrompt.BLINK, steps_done: int = 0, frames: int = 5) -> None:
        assert self._listener is not None, "no check is running"
        self._listener(FaceProgress(prompt, (0.3, 0.2, 0.4, 0.5), steps_done, frames))

    def finish(self, outcome: FaceOutcome = FaceOutcome.LIVE, listener: FaceListener | None = None) -> None:
        target = listener or self._listener
        assert target is not None, "no check is running"
        if listener is None:
            self._listener = None
        challenge = self.begun[-1]
        target(FaceCheckResult(outcome, challenge, ENCODING if outcome is FaceOutcome.LIVE else None, 42, 4.2))


@dataclass
class RecoveryRig:
    flow: RecoveryFlow
    central: FakeRecoveryCentral
    face: FakeFaceChecker
    printer: FakePrinter
    clock: ManualClock
    journal: Journal


def build_recovery_rig(data_dir: Path, *, worker: Worker | None = None, face: bool = True,
                       settings: RecoverySection | None = None, order: OrderView | None = None,
                       language: str = "zh_CN") -> RecoveryRig:
    central = FakeRecoveryCentral(order or make_order(tickets=2))
    checker = FakeFaceChecker()
    printer = FakePrinter()
    clock = ManualClock()
    journal = Journal(data_dir / "journal.sqlite3")
    claim_printer = ClaimPrinter(journal, printer, Outbox(journal, central))
    flow = RecoveryFlow(client=central, face=checker if face else None, printer=printer, claim_printer=claim_printer,
                        worker=worker or InlineWorker(), settings=settings or RecoverySection(),
                        timezone="Asia/Shanghai", now=clock, language=lambda: language)
    return RecoveryRig(flow, central, checker, printer, clock, journal)


__all__ = ["ENCODING", "PHONE", "SMS_CODE", "FakeFaceChecker", "FakeRecoveryCentral", "RecoveryRig",
           "build_recovery_rig", "recoverable"]
