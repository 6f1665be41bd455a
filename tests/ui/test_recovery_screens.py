"""The lost-ticket journey on the real kiosk app, offscreen, driven by touches and the face check's news.

Every screen is shown in the three languages and photographed into the test's folder; the key
texts are read back from the screen; nothing may stick out of the screen, be cut, or overlap.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backend_client.errors import CentralRefused
from backend_client.wire import ErrorCode, RecoveryDelivery, RecoveryMethod
from devices.face_api import FaceOutcome, FacePrompt
from kiosk.config import RecoverySection
from kiosk.flows.recovery import Step
from kiosk.i18n import LANGUAGES
from tests.ui.recovery_screens_support import (  # noqa: F401  (the start_recovery_kiosk fixture)
    ENCODING,
    MASKED,
    PHONE,
    SMS_CODE,
    RecoveryKiosk,
    StartRecoveryKiosk,
    recovery_kiosk_fixture,
)
from tests.ui.screen_checks import assert_fits, assert_real_picture, assert_wraps_cleanly

pytestmark = pytest.mark.ui


def snap(kiosk: RecoveryKiosk, path: Path) -> None:
    kiosk.ui.pump(3)
    assert_real_picture(kiosk.ui.screenshot(path))
    assert_fits(kiosk)
    assert_wraps_cleanly(kiosk)


def test_a_recovery_by_face_from_the_home_screen_to_the_printed_tickets(start_recovery_kiosk: StartRecoveryKiosk,
                                                                      shots: Path) -> None:
    kiosk = start_recovery_kiosk(language="en")
    ui, face = kiosk.ui, kiosk.face
    assert ui.text_of("lost_button") == "Lost your ticket?"
    ui.tap("lost_button")
    ui.wait_for("recovery.consent")
    texts = " ".join(ui.visible_texts())
    for expected in ("face encoding", "No photo and no video is saved", "180 days", "If you decline",
                     "Consent text version face-consent-1"):
        assert expected in texts, expected
    snap(kiosk, shots / "consent.png")
    ui.tap("agree")
    ui.wait_for("recovery.phone")
    assert not ui.is_enabled("submit")
    ui.type_digits(PHONE[:5])
    assert ui.text_of("number") == "138 **__ ____"  # the middle digits never show
    ui.type_digits(PHONE[5:])
    assert ui.text_of("number") == "138 **** 5678"
    snap(kiosk, shots / "phone.png")
    ui.tap("submit")
    ui.wait_for("recovery.orders")
    assert kiosk.central.starts[-1].phone == PHONE
    assert kiosk.central.starts[-1].face_consent == "face-consent-1"  # the consent text's version, recorded
    texts = " ".join(ui.visible_texts())
    for expected in ("流浪地球", "3号厅  ·  Sun 22 Nov 2026, 20:00", "4 tickets", "深海", "2 tickets",
                     "Too close to the show: please go to the counter.", f"Account {MASKED}"):
        assert expected in texts, expected
    assert PHONE not in texts
    assert not ui.is_enabled("order_order-2")  # closed: greyed, not a way forward
    snap(kiosk, shots / "orders.png")

    ui.tap("order_order-1")
    ui.wait_for("recovery.face")
    assert face.begun == 1 and face.challenge is not None
    frame = ui.find("frame")
    ui.wait_for(lambda: frame.frames_shown >= 2)  # the live preview runs on the screen's own clock
    assert frame.texture is not None and tuple(frame.texture.size) == (320, 240)
    assert ui.text_of("prompt") == "Put your face inside the oval"
    face.sees(FacePrompt.BLINK)
    assert ui.text_of("prompt") == "Blink" and frame.box is not None and frame.ready
    assert ui.find("steps").ticked == 0
    face.sees(FacePrompt.TURN_LEFT, steps_done=1)
    assert ui.text_of("prompt") == "Turn your head to your left" and ui.find("steps").ticked == 1
    texts = ui.visible_texts()
    for expected in ("Look at the camera", "Blink", "Turn to your left", "3 attempts left",
                     "No photo is taken or kept.", "Use an SMS code instead"):
        assert expected in texts, expected
    assert "Try again" not in texts  # no retry while the check runs
    snap(kiosk, shots / "face.png")
    face.sees(FacePrompt.HOLD_STILL, steps_done=2)
    assert ui.find("steps").ticked == 2
    face.ends(FaceOutcome.LIVE)
    ui.wait_for("recovery.delivery")
    attempt = kiosk.central.face_attempts[-1]
    assert attempt.encoding == list(ENCODING) and attempt.liveness.passed
    assert attempt.liveness.challenge == "blink,turn_left"
    assert frame.texture is None and not frame.running  # the last picture went with the screen
    texts = " ".join(ui.visible_texts())
    for expected in ("It's you. How do you want your tickets?", "流浪地球", "Print here", "Send me a new code",
                     "4 tickets print at this kiosk now.", f"A new pickup code goes to {MASKED}",
                     "Your old pickup code and QR code stop working as soon as you choose."):
        assert expected in texts, expected
    ui.wait_for(lambda: ui.is_enabled("print_here"))
    snap(kiosk, shots / "delivery.png")

    ui.tap("print_here")
    ui.wait_for("recovery.done")
    assert kiosk.central.completed == [("order-1", RecoveryDelivery.PRINT)]
    assert len(kiosk.rig.printer.printed) == 4
    texts = " ".join(ui.visible_texts())
    for expected in ("Here are your tickets", "4 tickets printed.", "Take your tickets from the slot below.",
                     "Your old pickup code and QR code no longer work."):
        assert expected in texts, expected
    snap(kiosk, shots / "done.png")
    ui.tap("finish")
    ui.wait_for("home")
    assert kiosk.flow.state.step is Step.IDLE
