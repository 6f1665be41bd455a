"""The lost-ticket journey on the real Kivy app offscreen: the real flow, journal and claim
printing; only the central's recovery calls and the camera's face check are scripted here.

The journeys against the real central, the real face check on photos and the virtual printer
live in tests/integration and the headless demo; these tests are about what a person sees and touches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backend_client.errors import CentralRefused
from backend_client.wire import (
    ErrorCode,
    FaceAttempt,
    FaceVerdict,
    RecoverableOrder,
    RecoveryDelivery,
    RecoveryMethod,
    RecoveryResult,
    RecoverySession,
    RecoveryStart,
    SmsSent,
    SmsVerdict,
)
from devices.face_api import (
    Challenge,
    FaceCheckResult,
    FaceListener,
    FaceOutcome,
    FaceProgress,
    FacePrompt,
    LivenessStep,
)
from kiosk.app import KioskApp
from kiosk.availability import Availability
from kiosk.claims import ClaimPrinter, Outbox
from kiosk.config import RecoverySection
from kiosk.flows.recovery import RecoveryFlow
from kiosk.flows.runtime import InlineWorker
from kiosk.ui_driver import UiDriver
from tests.support.fakes import NOW, FakeCentral, Rig, build_rig, make_order

PHONE = "13812345678"
MASKED = "138****5678"
SMS_CODE = "246810"
CHALLENGE = Challenge((LivenessStep.BLINK, LivenessStep.TURN_LEFT))
ENCODING = tuple(0.01 * i for i in range(128))


def recoverable_orders() -> list[RecoverableOrder]:
    """The account's orders today: one open (the fake central's order-1, 4 tickets), one too close to its show."""
    return [
        RecoverableOrder(order_id="order-1", film_title="流浪地球", film_original_title="The Wandering Earth",
                         hall_name="3号厅", show_start=NOW + timedelta(hours=2), tickets=4,
                         report_deadline=NOW + timedelta(hours=1, minutes=30), open=True),
        RecoverableOrder(order_id="order-2", film_title="深海", film_original_title="Deep Sea", hall_name="1号厅",
                         show_start=NOW + timedelta(minutes=20), tickets=2,
                         report_deadline=NOW - timedelta(minutes=10), open=False),
    ]


@dataclass
class FakeRecoveryCentral(FakeCentral):
    """The central's recovery calls, scripted: one account (:data:`PHONE`), its orders, a face
    template that matches while ``face_matches``, and the SMS code :data:`SMS_CODE`."""

    orders: list[RecoverableOrder] = field(default_factory=recoverable_orders)
    methods: list[RecoveryMethod] = field(default_factory=lambda: [RecoveryMethod.FACE, RecoveryMethod.SMS])
    face_matches: bool = True
    start_refusal: CentralRefused | None = None
    face_left: int = 3
    codes_left: int = 3
    code_tries_left: int = 3
    starts: list[RecoveryStart] = field(default_factory=list)
    face_attempts: list[FaceAttempt] = field(default_factory=list)
    codes_checked: list[str] = field(default_factory=list)
    sms_sent: int = 0
    completed: list[tuple[str, RecoveryDelivery]] = field(default_factory=list)
    verified_by: RecoveryMethod | None = None

    def _session(self) -> RecoverySession:
        methods: list[RecoveryMethod] = list(self.methods) if self.starts and self.starts[-1].face_consent else \
            [m for m in self.methods if m is not RecoveryMethod.FACE]
        return RecoverySession(session_id="rs-1", expires_at=datetime.now(UTC) + timedelta(minutes=10),
                               phone_masked=MASKED, orders=self.orders, methods=methods,
                               face_attempts_left=self.face_left, sms_codes_left=self.codes_left,
                               verified_by=self.verified_by)

    def start_recovery(self, start: RecoveryStart, idempotency_key: str) -> RecoverySession:
        self.starts.append(start)
        if self.start_refusal is not None:
            raise self.start_refusal
        if start.phone != PHONE:
            raise CentralRefused(ErrorCode.RECOVERY_NO_ORDERS, "no orders")
        return self._session()

    def face_attempt(self, session_id: str, attempt: FaceAttempt, idempotency_key: str) -> FaceVerdict:
        self.face_attempts.append(attempt)
        self.face_left -= 1
        matched = attempt.encoding is not None and attempt.liveness.passed and self.face_matches
        if matched:
            self.verified_by = RecoveryMethod.FACE
        return FaceVerdict(matched=matched, distance=0.31 if matched else (0.72 if attempt.encoding else None),
                           threshold=0.5, attempts_left=self.face_left, session=self._session())

    def send_recovery_sms(self, session_id: str, idempotency_key: str) -> SmsSent:
        self.sms_sent += 1
        self.codes_left -= 1
        self.code_tries_left = 3
        return SmsSent(sent_to=MASKED, codes_left=self.codes_left,
                       code_expires_at=datetime.now(UTC) + timedelta(minutes=5))

    def check_recovery_sms(self, session_id: str, code: str, idempotency_key: str) -> SmsVerdict:
        self.codes_checked.append(code)
        matched = code == SMS_CODE
        if matched:
            self.verified_by = RecoveryMethod.SMS
        else:
            self.code_tries_left -= 1
        return SmsVerdict(matched=matched, attempts_left=self.code_tries_left, session=self._session())

    def complete_recovery(self, session_id: str, order_id: str, delivery: RecoveryDelivery,
                          idempotency_key: str) -> RecoveryResult:
        self.completed.append((order_id, delivery))
        if delivery is RecoveryDelivery.PRINT:
            return RecoveryResult(order_id=order_id, revoked_codes=1, delivery=delivery, order=self.order)
        return RecoveryResult(order_id=order_id, revoked_codes=1, delivery=delivery, new_code_sent_to=MASKED)


def camera_picture(width: int = 320, height: int = 240) -> np.ndarray:
    """A stand-in camera frame (RGB): a dark left half and a light right half, to see the mirror."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[:, : width // 2] = (40, 60, 80)
    frame[:, width // 2:] = (220, 200, 180)
    return frame


@dataclass
class FakeFaceChecker:
    """The camera's face check, scripted: the test says what the check sees and how it ends."""

    frame: np.ndarray | None = field(default_factory=camera_picture)
    listener: FaceListener | None = None
    challenge: Challenge | None = None
    begun: int = 0
    cancelled: int = 0
    previews: int = 0

    def begin(self, challenge: Challenge, listener: FaceListener) -> None:
        self.begun += 1
        self.challenge, self.listener = challenge, listener

    def cancel(self) -> None:
        self.cancelled += 1

    def preview(self) -> np.ndarray | None:
        self.previews += 1
        return self.frame

    def sees(self, prompt: FacePrompt, steps_done: int = 0,
             box: tuple[float, float, float, float] | None = (0.3, 0.2, 0.4, 0.5)) -> None:
        assert self.listener is not None
        self.listener(FaceProgress(prompt=prompt, box=box, steps_done=steps_done, frames=10 + steps_done))

    def ends(self, outcome: FaceOutcome = FaceOutcome.LIVE) -> None:
        assert self.listener is not None and self.challenge is not None
        self.listener(FaceCheckResult(outcome=outcome, challenge=self.challenge,
                                      encoding=ENCODING if outcome is FaceOutcome.LIVE else None,
                                      frames=40, seconds=3.2))


class RecoveryKiosk:
    """A started app with the recovery journey registered, its driver and its fakes."""

    def __init__(self, rig: Rig, flow: RecoveryFlow, central: FakeRecoveryCentral, face: FakeFaceChecker,
                 app: KioskApp) -> None:
        self.rig, self.flow, self.central, self.face, self.app = rig, flow, central, face, app
        self.ui = UiDriver(app)

    def set_state(self, **changes: Any) -> None:
        """Put the flow in a state directly (the screens show whatever state they are given)."""
        self.flow._set(**changes)
        self.ui.pump(3)

    def to_orders(self, *, face: bool = True) -> None:
        ui = self.ui
        ui.tap("lost_button")
        ui.wait_for("recovery.consent")
        ui.tap("agree" if face else "use_sms")
        ui.wait_for("recovery.phone")
        ui.type_digits(PHONE)
        ui.tap("submit")
        ui.wait_for("recovery.orders")


StartRecoveryKiosk = Callable[..., RecoveryKiosk]


@pytest.fixture(name="start_recovery_kiosk")
def recovery_kiosk_fixture(tmp_path: Path) -> Iterator[StartRecoveryKiosk]:
    """``start_recovery_kiosk(language="zh_CN", availability=None, settings=None, face=True)``."""
    started: list[RecoveryKiosk] = []

    def start(language: str = "zh_CN", availability: Availability | None = None,
              settings: RecoverySection | None = None, face: bool = True) -> RecoveryKiosk:
        rig = build_rig(tmp_path / f"kiosk-{len(started)}", availability=availability, order=make_order())
        central = FakeRecoveryCentral(order=rig.central.order)
        checker = FakeFaceChecker()
        claim_printer = ClaimPrinter(rig.journal, rig.printer, Outbox(rig.journal, central))
        apps: list[KioskApp] = []
        flow = RecoveryFlow(client=central, face=checker if face else None, printer=rig.printer,
                            claim_printer=claim_printer, worker=InlineWorker(), settings=settings or RecoverySection(),
                            timezone="Asia/Shanghai", now=rig.clock,
                            language=lambda: str(apps[0].language) if apps else language,
                            challenge=lambda: CHALLENGE)
        rig.host.register(flow, lambda current: current.central_reachable)
        app = KioskApp(rig.host, lambda: rig.availability, language=language)
        apps.append(app)
        app.start_headless()
        kiosk = RecoveryKiosk(rig, flow, central, checker, app)
        started.append(kiosk)
        return kiosk

    yield start
    for kiosk in started:
        kiosk.app.stop_headless()
        kiosk.rig.journal.close()
