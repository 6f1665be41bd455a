"""The lost-ticket journey on the real kiosk app, offscreen, driven by touches and the face check's news.

Every screen is shown in the three languages and photographed into the test's folder; the key
texts are read back from the screen; nothing may stick out of the screen, be cut, or overlap.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backend_client.wire import RecoveryDelivery, RecoveryResult
from devices.face_api import FaceOutcome, FacePrompt
from kiosk.config import RecoverySection
from kiosk.flows.recovery import RecoveryTicketLine, Step
from kiosk.flows.runtime import Message
from kiosk.i18n import LANGUAGES
from kiosk.journal import TicketState
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
    for expected in ("face encoding", "No photo and no video is saved", "audit log", "If you decline",
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
    shown = ui.visible_texts()
    for expected in ("Look at the camera", "Blink", "Turn to your left", "3 attempts left",
                     "No photo is taken or kept.", "Use an SMS code instead"):
        assert expected in shown, expected
    assert "Try again" not in shown  # no retry while the check runs
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


# What each screen must say, per language (a few key texts; every text is also checked to fit).
EVERY_SCREEN_TEXTS: dict[str, dict[str, tuple[str, ...]]] = {
    "zh_CN": {
        "home": ("取票码丢了？",),
        "consent": ("人脸核验：请您确认是否同意", "同意，使用人脸核验", "改用短信验证码", "同意书版本face-consent-1"),
        "phone": ("请输入账户绑定的手机号", "138 **** 5678", "下一步"),
        "id_digits": ("请输入身份证号码的后4位", "123X"),
        "looking_up": ("正在查找您的订单…",),
        "orders": ("请选择要找回的订单", "4张票", "距开场太近：请到售票处办理。"),
        "face": ("请看向摄像头", "请眨眨眼", "眨眼", "向左转头", "还可尝试3次"),
        "face-not-matched": ("您的面部与此账户录入的人脸不一致。", "还可尝试2次", "再试一次"),
        "matching": ("正在核对您的面部…",),
        "sms_sending": (f"正在向{MASKED}发送验证码…",),
        "sms_code": ("请输入短信中的验证码", f"已发送至{MASKED}", "重新发送", "还可再发送2次"),
        "sms_code-wrong": ("验证码不正确，还可输入2次。",),
        "sms_checking": ("正在核对验证码…",),
        "delivery": ("身份已确认，请选择取票方式", "在本机打印", "发送新取票码", "本机现在打印4张票。"),
        "delivery-printer": ("出票打印机缺纸。",),
        "done-sms": ("新取票码已发送", f"新取票码已发送至{MASKED}。", "原取票码和二维码已失效。"),
        "completing": ("正在作废原取票码…",),
        "printing": ("正在出票", "您的原取票码已失效。", "1 / 4"),
        "done": ("请取走您的票", "已打印4张票。", "原取票码和二维码已失效。"),
        "refused": ("无法在本机找回您的票", "距开场太近，不能在取票机找回这些票。",
                    "请到售票处，工作人员核对证件后为您办理。"),
    },
    "zh_TW": {
        "home": ("取票碼遺失？",),
        "consent": ("人臉核驗：請您確認是否同意", "同意，使用人臉核驗", "改用簡訊驗證碼"),
        "phone": ("請輸入帳戶綁定的手機號碼", "138 **** 5678"),
        "id_digits": ("請輸入身分證號碼的後4位",),
        "looking_up": ("正在查找您的訂單…",),
        "orders": ("請選擇要找回的訂單", "4張票", "距開場太近：請到售票處辦理。"),
        "face": ("請看向攝影機", "請眨眨眼", "還可嘗試3次"),
        "face-not-matched": ("您的臉部與此帳戶登錄的人臉不一致。", "再試一次"),
        "matching": ("正在核對您的臉部…",),
        "sms_sending": (f"正在向{MASKED}傳送驗證碼…",),
        "sms_code": ("請輸入簡訊中的驗證碼", f"已傳送至{MASKED}", "重新傳送"),
        "sms_code-wrong": ("驗證碼不正確，還可輸入2次。",),
        "sms_checking": ("正在核對驗證碼…",),
        "delivery": ("身分已確認，請選擇取票方式", "在本機列印", "傳送新取票碼"),
        "delivery-printer": ("出票印表機缺紙。",),
        "done-sms": ("新取票碼已傳送", f"新取票碼已傳送至{MASKED}。"),
        "completing": ("正在作廢原取票碼…",),
        "printing": ("您的原取票碼已失效。",),
        "done": ("請取走您的票", "原取票碼和QR碼已失效。"),
        "refused": ("無法在本機找回您的票", "距開場太近，不能在取票機找回這些票。"),
    },
    "en": {
        "home": ("Lost your ticket?",),
        "consent": ("Check by face: your consent", "Agree and use my face", "Use an SMS code instead"),
        "phone": ("Your account's phone number", "138 **** 5678", "Next"),
        "id_digits": ("Last 4 characters of your ID number", "123X"),
        "looking_up": ("Finding your orders…",),
        "orders": ("Which order are your tickets in?", "4 tickets", "Too close to the show: please go to the counter."),
        "face": ("Look at the camera", "Blink", "Turn to your left", "3 attempts left"),
        "face-not-matched": ("Your face did not match the one enrolled for this account.", "2 attempts left",
                             "Try again"),
        "matching": ("Checking your face…",),
        "sms_sending": (f"Sending a code to {MASKED}…",),
        "sms_code": ("Enter the code from the SMS", f"Sent to {MASKED}", "Send again", "2 more codes can be sent"),
        "sms_code-wrong": ("That code is not right: 2 tries left.",),
        "sms_checking": ("Checking the code…",),
        "delivery": ("It's you. How do you want your tickets?", "Print here", "Send me a new code"),
        "delivery-printer": ("The ticket printer ran out of paper.",),
        "done-sms": ("A new code is on its way", f"We sent a new pickup code to {MASKED}.",
                     "Your old pickup code and QR code no longer work."),
        "completing": ("Cancelling your old code…",),
        "printing": ("Your old pickup code no longer works.", "1 of 4"),
        "done": ("Here are your tickets", "4 tickets printed."),
        "refused": ("Your tickets could not be recovered here",
                    "It is too close to the show to recover these tickets at a kiosk.",
                    "Please go to the counter: staff will check your ID and help you."),
    },
}


def photograph(kiosk: RecoveryKiosk, shots: Path, language: str, name: str) -> None:
    """Screenshot, then: the key texts are on screen, everything fits, Chinese wraps cleanly."""
    ui = kiosk.ui
    ui.pump(3)
    path = ui.screenshot(shots / language / f"{name}.png")
    assert_real_picture(path)
    texts = ui.visible_texts()
    joined = "\n".join(texts)
    for expected in EVERY_SCREEN_TEXTS[language][name]:
        assert expected in texts or expected in joined, f"{name} ({language}) does not show {expected!r}"
    assert_fits(kiosk)
    assert_wraps_cleanly(kiosk)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_screen_in_every_language(start_recovery_kiosk: StartRecoveryKiosk, shots: Path, language: str) -> None:
    kiosk = start_recovery_kiosk(language=language)
    ui, face, central = kiosk.ui, kiosk.face, kiosk.central
    photograph(kiosk, shots, language, "home")
    ui.tap("lost_button")
    ui.wait_for("recovery.consent")
    photograph(kiosk, shots, language, "consent")
    ui.tap("agree")
    ui.wait_for("recovery.phone")
    ui.type_digits(PHONE)
    photograph(kiosk, shots, language, "phone")
    kiosk.set_state(step=Step.ID_DIGITS, id_digits="123")  # (shown only; the ID is asked by config)
    ui.wait_for("recovery.id_digits")
    ui.tap("key_x")
    assert kiosk.flow.state.id_digits == "123X"
    photograph(kiosk, shots, language, "id_digits")
    kiosk.set_state(step=Step.LOOKING_UP, id_digits="")
    ui.wait_for("recovery.looking_up")
    photograph(kiosk, shots, language, "looking_up")
    kiosk.set_state(step=Step.PHONE)
    ui.wait_for("recovery.phone")
    ui.tap("submit")
    ui.wait_for("recovery.orders")
    photograph(kiosk, shots, language, "orders")

    ui.tap("order_order-1")
    ui.wait_for("recovery.face")
    face.sees(FacePrompt.BLINK)
    photograph(kiosk, shots, language, "face")
    central.face_matches = False
    face.ends(FaceOutcome.LIVE)
    ui.wait_for(lambda: ui.current_screen_name == "recovery.face" and kiosk.flow.state.face_note is not None)
    photograph(kiosk, shots, language, "face-not-matched")
    for step, name in ((Step.MATCHING, "matching"), (Step.SMS_SENDING, "sms_sending")):
        kiosk.set_state(step=step)
        ui.wait_for(f"recovery.{name}")
        photograph(kiosk, shots, language, name)
    kiosk.set_state(step=Step.FACE)
    ui.wait_for("recovery.face")

    ui.tap("use_sms")
    ui.wait_for("recovery.sms_code")
    assert central.sms_sent == 1
    photograph(kiosk, shots, language, "sms_code")
    ui.type_digits("111111")
    ui.tap("submit")
    ui.wait_for(lambda: kiosk.flow.state.code_note is not None)
    photograph(kiosk, shots, language, "sms_code-wrong")
    kiosk.set_state(step=Step.SMS_CHECKING)
    ui.wait_for("recovery.sms_checking")
    photograph(kiosk, shots, language, "sms_checking")
    kiosk.set_state(step=Step.SMS_CODE)
    ui.wait_for("recovery.sms_code")
    ui.type_digits(SMS_CODE)
    ui.tap("submit")
    ui.wait_for("recovery.delivery")
    ui.wait_for(lambda: ui.is_enabled("print_here"))
    photograph(kiosk, shots, language, "delivery")
    kiosk.set_state(printer_problem=Message.of("printer.paper_out"))
    assert not ui.is_enabled("print_here") and ui.is_enabled("send_code")  # the new code by SMS still works
    photograph(kiosk, shots, language, "delivery-printer")
    ui.tap("send_code")
    ui.wait_for("recovery.done")
    assert central.completed == [("order-1", RecoveryDelivery.SMS)]
    photograph(kiosk, shots, language, "done-sms")

    # The print path's screens, shown from the flow's state.
    lines = tuple(RecoveryTicketLine(f"t{i}", "5", str(i + 1), TicketState.PRINTED if i == 0 else
                                     (TicketState.SENT if i == 1 else TicketState.CLAIMED)) for i in range(4))
    result = RecoveryResult(order_id="order-1", revoked_codes=1, delivery=RecoveryDelivery.PRINT)
    kiosk.set_state(step=Step.COMPLETING, delivery=RecoveryDelivery.PRINT, result=None)
    ui.wait_for("recovery.completing")
    assert not ui.is_enabled("nav_cancel") and not ui.is_enabled("nav_back")  # the codes are being revoked
    photograph(kiosk, shots, language, "completing")
    kiosk.set_state(step=Step.PRINTING, lines=lines, printed=1, result=result)
    ui.wait_for("recovery.printing")
    photograph(kiosk, shots, language, "printing")
    kiosk.set_state(step=Step.DONE, lines=(), printed=4, owed=0, in_doubt=0, result_note=None)
    ui.wait_for("recovery.done")
    photograph(kiosk, shots, language, "done")
    kiosk.set_state(step=Step.REFUSED, refusal=Message.of("refusal.recovery_deadline_passed"),
                    refusal_hint=Message.of("hint.recovery_counter"))
    ui.wait_for("recovery.refused")
    photograph(kiosk, shots, language, "refused")
    ui.tap("finish")
    ui.wait_for("home")


def test_declining_the_face_check_costs_nothing_but_the_face(start_recovery_kiosk: StartRecoveryKiosk,
                                                             shots: Path) -> None:
    kiosk = start_recovery_kiosk(language="en")
    ui = kiosk.ui
    kiosk.to_orders(face=False)
    assert kiosk.central.starts[-1].face_consent is None  # no consent recorded: none was given
    ui.tap("order_order-1")
    ui.wait_for("recovery.sms_code")  # straight to the SMS code: the camera never looked
    assert kiosk.face.begun == 0 and kiosk.central.sms_sent == 1
    assert ui.text_of("sent_to") == f"Sent to {MASKED}"
    assert not ui.is_enabled("submit")
    ui.type_digits(SMS_CODE)
    snap(kiosk, shots / "sms-code.png")
    ui.tap("submit")
    ui.wait_for("recovery.delivery")
    assert kiosk.central.codes_checked == [SMS_CODE]
    ui.wait_for(lambda: ui.is_enabled("print_here"))
    ui.tap("print_here")
    ui.wait_for("recovery.done")
    assert kiosk.central.completed == [("order-1", RecoveryDelivery.PRINT)] and len(kiosk.rig.printer.printed) == 4


def test_the_id_number_keypad_takes_an_x_only_as_its_last_character(start_recovery_kiosk: StartRecoveryKiosk) -> None:
    kiosk = start_recovery_kiosk(language="en", settings=RecoverySection(ask_id_digits=True))
    ui = kiosk.ui
    ui.tap("lost_button")
    ui.wait_for("recovery.consent")
    ui.tap("agree")
    ui.wait_for("recovery.phone")
    ui.type_digits(PHONE)
    ui.tap("submit")
    ui.wait_for("recovery.id_digits")
    assert not ui.is_enabled("key_x") and not ui.is_enabled("submit")
    ui.type_digits("123")
    assert ui.text_of("id_digits") == "123_"
    assert ui.is_enabled("key_x")
    ui.tap("key_x")
    assert ui.text_of("id_digits") == "123X" and not ui.is_enabled("key_x")
    ui.tap("submit")
    ui.wait_for("recovery.orders")
    assert kiosk.central.starts[-1].id_last4 == "123X"


def test_a_phone_that_is_not_a_mobile_number_is_said_on_the_keypad(start_recovery_kiosk: StartRecoveryKiosk) -> None:
    kiosk = start_recovery_kiosk(language="en")
    ui = kiosk.ui
    ui.tap("lost_button")
    ui.wait_for("recovery.consent")
    ui.tap("agree")
    ui.type_digits("23812345678")
    ui.tap("submit")
    assert ui.current_screen_name == "recovery.phone"
    assert ui.text_of("note") == "That is not a mobile number. Please check it."
    assert kiosk.central.starts == []  # nothing was asked of the central


def test_a_number_without_orders_is_refused_with_the_next_step(start_recovery_kiosk: StartRecoveryKiosk,
                                                               shots: Path) -> None:
    kiosk = start_recovery_kiosk(language="zh_CN")
    ui = kiosk.ui
    ui.tap("lost_button")
    ui.wait_for("recovery.consent")
    ui.tap("agree")
    ui.type_digits("13900001111")
    ui.tap("submit")
    ui.wait_for("recovery.refused")
    assert ui.text_of("message") == "没有找到此号码今天可在本影院取票的订单。"
    assert ui.text_of("hint") == "请核对手机号后重试，或到售票处咨询。"
    snap(kiosk, shots / "refused-no-orders.png")
    ui.tap("finish")
    ui.wait_for("home")


def test_a_face_not_matched_offers_a_retry_then_the_sms_code(start_recovery_kiosk: StartRecoveryKiosk) -> None:
    kiosk = start_recovery_kiosk(language="en")
    ui, face, central = kiosk.ui, kiosk.face, kiosk.central
    kiosk.to_orders()
    ui.tap("order_order-1")
    ui.wait_for("recovery.face")
    central.face_matches = False
    face.ends(FaceOutcome.LIVE)
    ui.wait_for(lambda: kiosk.flow.state.face_note is not None)
    assert ui.text_of("note") == "Your face did not match the one enrolled for this account."
    assert ui.text_of("attempts") == "2 attempts left"
    assert ui.text_of("prompt") == "" and ui.find("frame").box is None  # no stale prompt or face box
    ui.tap("retry")
    assert face.begun == 2 and kiosk.flow.state.face_running
    face.ends(FaceOutcome.STILL_IMAGE)  # a photo held up: liveness failed, one attempt used
    ui.wait_for(lambda: kiosk.flow.state.face_note is not None)
    assert ui.text_of("note") == "We did not see you move as asked. A photo or a screen cannot be used."
    assert central.face_attempts[-1].encoding is None and ui.text_of("attempts") == "1 attempt left"
    ui.tap("use_sms")
    ui.wait_for("recovery.sms_code")
    assert central.sms_sent == 1


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920)], ids=["landscape-1080p", "portrait-1080p"])
def test_the_recovery_screens_scale_with_the_window(start_recovery_kiosk: StartRecoveryKiosk, shots: Path,
                                                    size: tuple[int, int]) -> None:
    from kivy.core.window import Window

    design = tuple(Window.size)
    kiosk = start_recovery_kiosk(language="zh_CN")
    ui = kiosk.ui
    try:
        Window.size = size
        ui.wait_for(lambda: tuple(Window.size) == size)
        ui.pump(3)
        name = f"{size[0]}x{size[1]}"
        snap(kiosk, shots / f"home-{name}.png")
        ui.tap("lost_button")
        ui.wait_for("recovery.consent")
        snap(kiosk, shots / f"consent-{name}.png")
        ui.tap("agree")
        ui.wait_for("recovery.phone")
        ui.type_digits(PHONE)
        snap(kiosk, shots / f"phone-{name}.png")
        ui.tap("submit")
        ui.wait_for("recovery.orders")
        snap(kiosk, shots / f"orders-{name}.png")
        ui.tap("order_order-1")
        ui.wait_for("recovery.face")
        kiosk.face.sees(FacePrompt.TURN_LEFT, steps_done=1)
        frame = ui.find("frame")
        ui.wait_for(lambda: frame.frames_shown >= 1)
        snap(kiosk, shots / f"face-{name}.png")
        ui.tap("use_sms")
        ui.wait_for("recovery.sms_code")
        snap(kiosk, shots / f"sms_code-{name}.png")
        ui.type_digits(SMS_CODE)
        ui.tap("submit")
        ui.wait_for("recovery.delivery")
        ui.wait_for(lambda: ui.is_enabled("print_here"))
        snap(kiosk, shots / f"delivery-{name}.png")
    finally:
        Window.size = design
        ui.wait_for(lambda: tuple(Window.size) == design)
