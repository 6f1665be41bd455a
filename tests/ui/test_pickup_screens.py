"""The real kiosk app, offscreen, driven by touches: the pickup journey and its screens."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from backend_client.errors import CentralRefused
from backend_client.wire import ErrorCode
from devices.health import Health, HealthLevel
from kiosk.availability import Availability
from kiosk.config import PickupSection
from tests.support.fakes import PAPER_OUT, SERIAL, VERIFICATION
from tests.ui.conftest import Kiosk

pytestmark = pytest.mark.ui

StartKiosk = Callable[..., Kiosk]


def assert_real_picture(path: Path, size: tuple[int, int]) -> None:
    """A saved screenshot of the whole window that shows something (not one flat colour)."""
    with Image.open(path) as image:
        assert image.size == size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20, f"{path} looks blank"


def enter_code(kiosk: Kiosk) -> None:
    ui = kiosk.ui
    ui.tap("collect_button")
    ui.wait_for("pickup.enter_code")
    ui.type_digits(SERIAL)
    assert not ui.is_enabled("submit"), "submit must wait for both fields"
    ui.type_digits(VERIFICATION)
    assert ui.is_enabled("submit")
    ui.tap("submit")


def test_code_pickup_by_touches_prints_the_chosen_tickets(start_kiosk: StartKiosk, shots: Path) -> None:
    from kivy.core.window import Window

    kiosk = start_kiosk()
    ui = kiosk.ui
    assert ui.current_screen_name == "home"
    ui.screenshot(shots / "01-idle.png")

    enter_code(kiosk)
    ui.wait_for("pickup.review")
    assert kiosk.rig.central.looked_up == [(SERIAL, VERIFICATION)]
    texts = " ".join(ui.visible_texts())
    for expected in ("流浪地球", "The Wandering Earth", "星光影城 人民广场店", "3号厅 IMAX",
                     "2026年11月22日 周日\u00a019:30", "5排11座", "已取票", "5排12座", "5排13座"):
        assert expected in texts
    assert ui.text_of("confirm") == "打印2张票"
    ui.screenshot(shots / "02-review.png")

    ui.tap("ticket_t3")  # leave 5-13 for later
    assert ui.text_of("confirm") == "打印1张票"
    ui.tap("ticket_t1")  # already collected: nothing happens
    assert kiosk.rig.flow.state.selected_ids == ["t2"]

    ui.tap("confirm")
    ui.wait_for("pickup.done")
    assert [ticket.seat for ticket in kiosk.rig.printer.printed] == ["12"]
    assert [ids for _, ids, _ in kiosk.rig.central.claims] == [["t2"]]
    texts = " ".join(ui.visible_texts())
    assert "已打印1张票。" in texts
    assert "请从下方出票口取票。" in texts
    assert "还有1张票未取。" in texts and "同一取票码" in texts
    done_shot = ui.screenshot(shots / "03-done.png")
    assert done_shot == shots / "03-done.png"

    for name in ("01-idle.png", "02-review.png", "03-done.png"):
        assert_real_picture(shots / name, (Window.width, Window.height))

    ui.tap("finish")
    ui.wait_for("home")


def test_printing_shows_each_ticket_and_cancel_stops_after_the_current_one(start_kiosk: StartKiosk,
                                                                          shots: Path) -> None:
    kiosk = start_kiosk(threaded=True)
    ui, printer = kiosk.ui, kiosk.rig.printer
    printer.hold = True
    enter_code(kiosk)
    ui.wait_for("pickup.review")
    ui.wait_for(lambda: ui.is_enabled("confirm"))  # the printer check came back
    ui.tap("confirm")
    ui.wait_for("pickup.printing")
    assert printer.started.acquire(timeout=5)
    ui.wait_for(lambda: "打印中…" in ui.visible_texts())
    texts = ui.visible_texts()
    assert "等待中" in texts and "0 / 2" in texts
    assert ui.text_of("nav_cancel") == "打完这张后停止"

    ui.screenshot(shots / "printing.png")
    ui.tap("nav_cancel")
    assert ui.text_of("nav_cancel") == "打完这张后停止…"
    assert not ui.is_enabled("nav_cancel")
    printer.go.release()
    ui.wait_for("pickup.done")

    assert len(printer.printed) == 1
    done_texts = " ".join(ui.visible_texts())
    assert "已打印1张票。" in done_texts
    assert "您停止了打印。" in done_texts and "还有1张票未取。" in done_texts


def test_paper_running_out_says_what_is_still_owed_and_why(start_kiosk: StartKiosk) -> None:
    kiosk = start_kiosk(language="en")
    kiosk.rig.printer.status_after_print = PAPER_OUT
    enter_code(kiosk)
    ui = kiosk.ui
    ui.wait_for("pickup.review")
    ui.tap("confirm")
    ui.wait_for("pickup.done")
    assert len(kiosk.rig.printer.printed) == 1
    assert ui.text_of("printed") == "1 ticket printed."
    assert ui.text_of("take") == "Take your tickets from the slot below."
    assert ui.text_of("owed") == ("1 ticket is still waiting for you. The ticket printer ran out of paper. "
                                  "You can collect it later with the same code, or ask staff.")


def test_refusal_shows_the_translated_reason_with_its_facts(start_kiosk: StartKiosk, shots: Path) -> None:
    kiosk = start_kiosk()
    kiosk.rig.central.refuse_with = CentralRefused(
        ErrorCode.ALREADY_COLLECTED, "already collected",
        {"collected_at": "2026-11-21T12:05:00+00:00", "kiosk": "Lobby-**-03"})
    enter_code(kiosk)
    ui = kiosk.ui
    ui.wait_for("pickup.refused")
    assert ui.text_of("message") == "这些票已经被取走。于 2026年11月21日 周六\u00a020:05 在取票机Lobby-**-03取出。"
    assert ui.text_of("hint") == "请到售票处找工作人员帮助。"
    ui.screenshot(shots / "refused.png")

    ui.tap("lang_en")
    assert ui.text_of("message") == ("These tickets have already been collected. "
                                     "Collected on Sat 21 Nov 2026, 20:05 at kiosk Lobby-**-03.")

    # Back returns to the keypad with the serial kept, ready for a corrected verification code.
    ui.tap("nav_back")
    ui.wait_for("pickup.enter_code")
    assert kiosk.rig.flow.state.serial == SERIAL and kiosk.rig.flow.state.verification == ""


LOCKED_SERIAL_TEXTS = {
    "en": ("This pickup code is paused after too many wrong tries. It works again in 15 min.",
           "Other pickup codes still work. If this is your code, staff at the box office can help you."),
    "zh_CN": ("此取票码因错误次数过多已暂停使用。15分钟后可再次使用。",
              "其他取票码不受影响。如这是您的取票码，请联系售票处工作人员。"),
    "zh_TW": ("此取票碼因錯誤次數過多已暫停使用。15分鐘後可再次使用。",
              "其他取票碼不受影響。如這是您的取票碼，請洽售票處工作人員。"),
}


@pytest.mark.parametrize("language", sorted(LOCKED_SERIAL_TEXTS))
def test_a_locked_serial_is_refused_in_minutes_and_blocks_nobody_else(start_kiosk: StartKiosk,
                                                                     language: str) -> None:
    """Issue 6, section 2: the central's 15-minute lock of one serial is not the keypad's countdown."""
    kiosk = start_kiosk(language=language)
    kiosk.rig.central.refuse_with = CentralRefused(ErrorCode.LOCKED_OUT, "locked",
                                                   {"retry_after_s": 873, "scope": "serial"})
    enter_code(kiosk)
    ui = kiosk.ui
    ui.wait_for("pickup.refused")
    assert (ui.text_of("message"), ui.text_of("hint")) == LOCKED_SERIAL_TEXTS[language]
    kiosk.rig.central.refuse_with = None
    ui.tap("nav_back")
    ui.wait_for("pickup.enter_code")
    ui.type_digits(VERIFICATION)
    assert ui.text_of("locked") == ""
    assert ui.is_enabled("submit")  # another order's valid code goes through at once
    ui.tap("submit")
    ui.wait_for("pickup.review")


PAUSE_TEXTS = {
    "en": ("Please check the code in your order confirmation. After several wrong codes the keypad pauses for "
           "5 minutes.", "Too many wrong codes. You can try again in 5 minutes."),
    "zh_CN": ("请核对订单确认信息中的取票码。多次输错后，键盘将暂停5分钟。", "错误次数过多，请5分钟后再试。"),
    "zh_TW": ("請核對訂單確認資訊中的取票碼。多次輸錯後，鍵盤將暫停5分鐘。", "錯誤次數過多，請5分鐘後再試。"),
}


@pytest.mark.parametrize("language", sorted(PAUSE_TEXTS))
def test_the_keypads_pause_is_in_minutes_and_ends_with_the_session(start_kiosk: StartKiosk, language: str) -> None:
    kiosk = start_kiosk(language=language, settings=PickupSection(wrong_code_free_tries=0, wrong_code_delay_s=300.0,
                                                                  wrong_code_delay_max_s=300.0))
    ui = kiosk.ui
    ui.tap("collect_button")
    ui.wait_for("pickup.enter_code")
    ui.type_digits("999999" + VERIFICATION)
    ui.tap("submit")
    ui.wait_for("pickup.refused")
    hint, countdown = PAUSE_TEXTS[language]
    assert ui.text_of("hint") == hint  # not "type it again": the keypad is paused
    ui.tap("nav_back")
    ui.wait_for("pickup.enter_code")
    assert ui.text_of("locked") == countdown
    ui.type_digits(VERIFICATION)
    assert not ui.is_enabled("submit")
    ui.tap("nav_cancel")  # this person leaves; the next one comes
    ui.wait_for("home")
    ui.tap("collect_button")
    ui.wait_for("pickup.enter_code")
    assert ui.text_of("locked") == ""
    ui.type_digits(SERIAL + VERIFICATION)
    assert ui.is_enabled("submit")


def test_offline_refusal_and_printer_problem_on_review(start_kiosk: StartKiosk) -> None:
    kiosk = start_kiosk(language="zh_TW")
    kiosk.rig.central.unreachable = True
    enter_code(kiosk)
    ui = kiosk.ui
    ui.wait_for("pickup.refused")
    assert ui.text_of("message") == "本機暫時無法連線票務中心。"

    kiosk.rig.central.unreachable = False
    kiosk.rig.printer.status_now = PAPER_OUT
    ui.tap("nav_back")
    ui.type_digits(VERIFICATION)
    ui.tap("submit")
    ui.wait_for("pickup.review")
    assert ui.text_of("printer_problem") == "出票印表機缺紙。您的票仍然有效：請洽工作人員，或使用其他取票機。"
    assert not ui.is_enabled("confirm")
    ui.tap("confirm")
    assert ui.current_screen_name == "pickup.review" and kiosk.rig.printer.printed == []


def test_language_switch_rerenders_every_visible_text(start_kiosk: StartKiosk) -> None:
    kiosk = start_kiosk()
    enter_code(kiosk)
    ui = kiosk.ui
    ui.wait_for("pickup.review")
    chinese = set(ui.visible_texts())
    assert {"返回", "取消", "全选", "自助取票机"} <= chinese

    ui.tap("lang_en")
    english = set(ui.visible_texts())
    assert {"Back", "Cancel", "Select all", "Ticket kiosk", "Print 2 tickets"} <= english
    assert "Show time: Sun 22 Nov 2026, 19:30" in english
    assert "Row 5, seat 12    ¥45.00    ·  Print" in english
    # Everything that was translated changed: only names, titles and language names stay.
    unchanged = chinese & english
    assert unchanged <= {"流浪地球", "The Wandering Earth", "简体中文", "繁體中文", "English"}, unchanged

    ui.tap("lang_zh_TW")
    assert {"返回", "取消", "全選", "自助取票機", "列印2張票"} <= set(ui.visible_texts())
    assert kiosk.app.language == "zh_TW"


def test_still_there_prompt_covers_the_screen_and_continue_keeps_the_session(start_kiosk: StartKiosk,
                                                                            shots: Path) -> None:
    kiosk = start_kiosk()
    ui = kiosk.ui
    ui.tap("collect_button")
    ui.type_digits("1234")
    kiosk.rig.clock.now += 50  # past idle_timeout_s - still_there_s (60 - 15)
    ui.wait_for(lambda: kiosk.rig.flow.state.still_there, timeout_s=5)
    assert ui.text_of("still_there_continue") == "继续"
    assert "您还在吗？" in ui.visible_texts()
    ui.screenshot(shots / "still-there.png")

    ui.tap("key_9")  # covered by the prompt: the touch does not reach the keypad
    assert kiosk.rig.flow.state.serial == "1234"

    ui.tap("still_there_continue")
    ui.wait_for(lambda: not kiosk.rig.flow.state.still_there)
    with pytest.raises(AssertionError):
        ui.find("still_there_continue")
    assert ui.current_screen_name == "pickup.enter_code"
    ui.type_digits("56")
    assert kiosk.rig.flow.state.serial == "123456"


def test_idle_says_what_works_and_why_it_is_out_of_service(start_kiosk: StartKiosk) -> None:
    camera_down = Availability(camera=Health(HealthLevel.CRITICAL, "camera_offline"))
    kiosk = start_kiosk(availability=camera_down, language="en")
    ui = kiosk.ui
    texts = ui.visible_texts()
    assert "or hold your QR code to the camera" not in texts
    assert "The camera is not working right now: please type your pickup code." in texts
    assert ui.is_enabled("collect_button")

    kiosk.rig.availability = Availability(central_reachable=False)
    ui.wait_for(lambda: not ui.is_enabled("collect_button"), timeout_s=5)  # polled on the app's tick
    assert "Out of service" in ui.visible_texts()
    assert ui.text_of("status") == ("The kiosk cannot reach the ticketing service, and tickets can only be handed "
                                    "out online. Staff at the box office can help you.")

    kiosk.rig.availability = Availability()
    ui.wait_for(lambda: ui.is_enabled("collect_button"), timeout_s=5)
    assert "or hold your QR code to the camera" in ui.visible_texts()


def test_a_code_from_the_camera_thread_reaches_the_screen_through_post_to_main(start_kiosk: StartKiosk) -> None:
    import threading

    from devices.camera_api import DecodedCode

    kiosk = start_kiosk(language="en")
    flow = kiosk.rig.flow
    code = DecodedCode(text="https://example.com/not-a-ticket", raw=b"https://example.com/not-a-ticket",
                       decoder="zxing")
    camera = threading.Thread(target=lambda: kiosk.app.post_to_main(lambda: flow.qr_scanned(code)))
    camera.start()
    camera.join(5)
    kiosk.ui.wait_for("pickup.refused")
    assert kiosk.ui.text_of("message") == "This QR code is not one of our pickup codes."
    assert kiosk.ui.text_of("hint") == "Type your pickup code instead."


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920)], ids=["landscape-1080p", "portrait-1080p"])
def test_layout_scales_with_the_window(start_kiosk: StartKiosk, shots: Path, size: tuple[int, int]) -> None:
    from kivy.core.window import Window

    design = tuple(Window.size)
    kiosk = start_kiosk()
    ui = kiosk.ui
    small_button = ui.find("collect_button").height
    try:
        Window.size = size
        ui.wait_for(lambda: tuple(Window.size) == size)
        ui.pump(3)
        assert ui.find("collect_button").height > small_button  # larger screen, larger touch target
        enter_code(kiosk)
        ui.wait_for("pickup.review")
        for widget_id in ("confirm", "select_all", "nav_back", "nav_cancel", "ticket_t2", "lang_en"):
            widget = ui.find(widget_id)
            left, bottom = widget.to_window(widget.x, widget.y)
            assert left >= 0 and left + widget.width <= size[0] + 1, widget_id
            assert bottom >= 0 and bottom + widget.height <= size[1] + 1, widget_id
            assert widget.height >= 60, f"{widget_id} is too small to touch"
        ui.screenshot(shots / f"review-{size[0]}x{size[1]}.png")
        assert_real_picture(shots / f"review-{size[0]}x{size[1]}.png", size)
    finally:
        Window.size = design
        ui.wait_for(lambda: tuple(Window.size) == design)
