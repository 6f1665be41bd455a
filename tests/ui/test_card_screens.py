"""The patron's year-card journey on the real kiosk app, offscreen, driven by touches and card taps.

Every screen is shown in the three languages and photographed into the test's folder; the key
texts are read back from the screen; nothing may stick out of the screen, be cut, or overlap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend_client.wire import CardStatus
from devices.yearcard.terminal import CardIntegrityError, NotAYearCard, PsamError, UnreadableCard
from kiosk.flows.card import Step
from kiosk.flows.runtime import Message
from kiosk.i18n import LANGUAGES
from tests.ui.card_screens_support import (  # noqa: F401  (the start_card_kiosk fixture)
    MASKED,
    CardKiosk,
    StartCardKiosk,
    card_kiosk_fixture,
    card_view,
)
from tests.ui.screen_checks import assert_fits, assert_real_picture, assert_wraps_cleanly

pytestmark = pytest.mark.ui


def test_a_redemption_by_touches_from_the_card_to_the_printed_tickets(start_card_kiosk: StartCardKiosk,
                                                                      shots: Path) -> None:
    kiosk = start_card_kiosk()
    ui = kiosk.ui
    kiosk.tap_card()
    ui.wait_for("card.card")
    texts = " ".join(ui.visible_texts())
    for expected in ("卡号" + MASKED, "卡类型：银卡 12次 年票", "剩余12次", "有效期至2027年11月30日",
                     "本卡最近使用记录", "2026年11月20日 周五 19:05", "星光影城 人民广场店", "影票", "卖品",
                     "余12次", "兑换电影票"):
        assert expected in texts, expected
    assert "6200123456780001" not in texts  # the number is shown masked only
    ui.screenshot(shots / "card.png")
    assert_fits(kiosk)

    ui.tap("redeem")
    ui.wait_for("card.showings")
    texts = " ".join(ui.visible_texts())
    for expected in ("流浪地球", "19:30–21:40", "3号厅 · 2D", "每人1次", "余座86", "长津湖之水门桥", "5号厅 · IMAX",
                     "每人2次", "已满座"):
        assert expected in texts, expected
    ui.screenshot(shots / "showings.png")
    assert_fits(kiosk)

    ui.tap("showing_s1930")
    ui.wait_for("card.people")
    assert ui.text_of("count") == "1"
    ui.tap("add_person")
    assert ui.text_of("count") == "2" and kiosk.flow.state.people == 2
    assert ui.text_of("visits") == "将使用2次"
    ui.screenshot(shots / "people.png")
    ui.tap("next")
    ui.wait_for("card.seats")
    assert not ui.is_enabled("next")
    ui.tap("seat_5_7")  # held by another redemption: the flow ignores it
    assert kiosk.flow.state.selected == ()
    ui.tap("seat_5_8")  # a seat tap reaches the flow
    assert kiosk.flow.state.selected == (("5", "8"),)
    assert ui.text_of("selected_count") == "已选1 / 2"
    ui.tap("best")  # best available: the whole party, together
    chosen = kiosk.flow.state.selected
    assert len(chosen) == 2 and chosen[0][0] == chosen[1][0]
    assert ui.is_enabled("next")
    ui.screenshot(shots / "seats.png")
    assert_fits(kiosk)

    ui.tap("next")
    ui.wait_for("card.confirm")
    ui.wait_for(lambda: ui.is_enabled("confirm"))
    texts = " ".join(ui.visible_texts())
    for expected in ("流浪地球", "3号厅 · 2D", "本次扣除：2次", "扣除后剩余：10次", "出票完成前请勿移开卡片。"):
        assert expected in texts, expected
    assert ui.text_of("confirm") == "扣2次并出票"
    ui.screenshot(shots / "confirm.png")
    assert_fits(kiosk)

    ui.tap("confirm")
    ui.wait_for("card.done")
    assert [(s.row, s.seat) for s in kiosk.central.holds[0].seats] == list(chosen)
    assert [ticket.seat for ticket in kiosk.rig.printer.printed] == [seat for _, seat in chosen]
    texts = " ".join(ui.visible_texts())
    for expected in ("祝您观影愉快！", "已打印2张票。", "请从下方出票口取票。", "本次扣除2次。卡内剩余10次。",
                     "请取回您的卡片。"):
        assert expected in texts, expected
    ui.screenshot(shots / "done.png")
    assert_fits(kiosk)
    for name in ("card", "showings", "people", "seats", "confirm", "done"):
        assert_real_picture(shots / f"{name}.png")

    ui.tap("finish")
    ui.wait_for("home")


# What each screen must say, per language (a few key texts; every text is also checked to fit).
EVERY_SCREEN_TEXTS: dict[str, dict[str, tuple[str, ...]]] = {
    "zh_CN": {
        "home": ("年票卡", "持年票卡的观众：随时将卡放在读卡区即可使用。"),
        "insert_card": ("请将年票卡放在读卡区",),
        "reading": ("正在读卡…", "请将卡片保持在读卡区，不要移开。"),
        "card": ("我的年票卡", "剩余12次", "兑换电影票"),
        "card-owed": ("打印之前兑换未出的2张票",),
        "card-offline": ("本机暂时离线，现在不能兑换电影票。以下信息读取自卡片本身。", "以下为卡内记录。",
                         "终端31000001"),
        "showings": ("您的卡今天可兑换的场次", "19:30–21:40"),
        "people": ("几位观影？", "本卡本场次最多可兑换4人。"),
        "seats": ("请选择1个座位", "银幕", "可选", "已售", "锁定中", "已选", "无障碍座位", "一键选最佳座位"),
        "confirm": ("请核对后确认", "本次扣除：1次", "扣除后剩余：11次"),
        "holding": ("正在为您保留座位…",),
        "debiting": ("正在扣次…", "请将卡片保持在读卡区，不要移开。"),
        "put_card_back": ("请将卡片放回读卡区", "请放回同一张卡。"),
        "put_card_back-wrong": ("这不是刚才的卡，请放回原来那张卡。",),
        "recovering": ("正在核对卡片…",),
        "printing": ("正在出票", "1 / 2", "已扣2次，剩余10次。"),
        "done": ("祝您观影愉快！", "已打印1张票。", "本次扣除1次。卡内剩余11次。"),
        "done-partial": ("部分票未打印", "已打印1张票。",
                         "出票打印机缺纸。还有1张票未打印，已扣次数为您保留。请稍后在取票机再次刷卡打印，或询问工作人员。",
                         "有1张票可能没有打印完整，请将此画面出示给工作人员。"),
        "done-owed": ("没有打印任何票", "本次扣除2次。卡内剩余10次。",
                      "还有2张票未打印，已扣次数为您保留。请稍后在取票机再次刷卡打印，或询问工作人员。"),
    },
    "zh_TW": {
        "home": ("年票卡", "持年票卡的觀眾：隨時將卡放在讀卡區即可使用。"),
        "insert_card": ("請將年票卡放在讀卡區",),
        "reading": ("正在讀卡…",),
        "card": ("我的年票卡", "剩餘12次", "兌換電影票"),
        "card-owed": ("列印之前兌換未出的2張票",),
        "card-offline": ("本機暫時離線，現在不能兌換電影票。以下資訊讀取自卡片本身。",),
        "showings": ("您的卡今天可兌換的場次",),
        "people": ("幾位觀影？",),
        "seats": ("請選擇1個座位", "銀幕", "無障礙座位", "一鍵選最佳座位"),
        "confirm": ("請核對後確認", "本次扣除：1次", "扣除後剩餘：11次"),
        "holding": ("正在為您保留座位…",),
        "debiting": ("正在扣次…",),
        "put_card_back": ("請將卡片放回讀卡區",),
        "put_card_back-wrong": ("這不是剛才的卡，請放回原來那張卡。",),
        "recovering": ("正在核對卡片…",),
        "printing": ("正在出票", "已扣2次，剩餘10次。"),
        "done": ("祝您觀影愉快！", "卡內剩餘11次。"),
        "done-partial": ("部分票未列印", "有1張票可能沒有列印完整，請將此畫面出示給工作人員。"),
        "done-owed": ("沒有列印任何票",
                      "還有2張票未列印，已扣次數為您保留。請稍後在取票機再次刷卡列印，或詢問工作人員。"),
    },
    "en": {
        "home": ("Year-card", "Year-card holders: put your card on the reader at any time."),
        "insert_card": ("Place your year-card on the reader",),
        "reading": ("Reading your card…", "Please keep the card on the reader."),
        "card": ("Your year-card", "12 visits left", "Redeem tickets", "Valid until 30 Nov 2027",
                 "Fri 20 Nov 2026, 19:05"),
        "card-owed": ("Print your 2 tickets from an earlier visit",),
        "card-offline": ("The kiosk is offline, so tickets cannot be redeemed now. These details come from the card "
                         "itself.", "Kiosk 31000001"),
        "showings": ("Today's showings for your card", "19:30 – 21:40", "1 visit per person", "86 seats free",
                     "Sold out"),
        "people": ("How many people?", "Up to 4 people with this card for this showing.", "1 visit will be used"),
        "seats": ("Choose 1 seat", "SCREEN", "Free", "Taken", "Held", "Your seats", "Accessible", "Best available"),
        "confirm": ("Please check and confirm", "Visits to use: 1", "Visits left afterwards: 11",
                    "Use 1 visit and print"),
        "holding": ("Holding your seats…",),
        "debiting": ("Using your visits…", "Keep your card on the reader. Do not move it."),
        "put_card_back": ("Please put your card back", "It must be the same card."),
        "put_card_back-wrong": ("This is a different card. Please put back the card you started with.",),
        "recovering": ("Checking your card…",),
        "printing": ("Printing your tickets", "2 visits used. Visits left: 10."),
        "done": ("Enjoy the film!", "1 ticket printed.", "1 visit used. Visits left on your card: 11."),
        "done-partial": ("Not all tickets were printed",
                         "1 ticket may not have printed completely: please show this screen to staff."),
        "done-owed": ("No ticket was printed", "2 visits used. Visits left on your card: 10."),
    },
}


def photograph(kiosk: CardKiosk, shots: Path, language: str, name: str) -> None:
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
def test_every_screen_in_every_language(start_card_kiosk: StartCardKiosk, shots: Path, language: str) -> None:
    kiosk = start_card_kiosk(language=language)
    ui, flow = kiosk.ui, kiosk.flow
    photograph(kiosk, shots, language, "home")
    ui.tap("card_button")
    ui.wait_for("card.insert_card")
    photograph(kiosk, shots, language, "insert_card")
    kiosk.set_state(step=Step.READING)
    ui.wait_for("card.reading")
    photograph(kiosk, shots, language, "reading")
    kiosk.set_state(step=Step.INSERT_CARD)  # (the reading above was only shown)

    kiosk.tap_card()
    ui.wait_for("card.card")
    photograph(kiosk, shots, language, "card")
    ui.tap("redeem")
    ui.wait_for("card.showings")
    photograph(kiosk, shots, language, "showings")
    ui.tap("showing_s1930")
    ui.wait_for("card.people")
    photograph(kiosk, shots, language, "people")
    ui.tap("next")
    ui.wait_for("card.seats")
    photograph(kiosk, shots, language, "seats")
    ui.tap("best")
    ui.tap("next")
    ui.wait_for("card.confirm")
    ui.wait_for(lambda: ui.is_enabled("confirm"))
    photograph(kiosk, shots, language, "confirm")

    # The steps where the kiosk works with the card: shown from the flow's state.
    for step, name in ((Step.HOLDING, "holding"), (Step.DEBITING, "debiting"), (Step.RECOVERING, "recovering")):
        kiosk.set_state(step=step)
        ui.wait_for(f"card.{name}")
        photograph(kiosk, shots, language, name)
        assert not ui.is_enabled("nav_cancel") and not ui.is_enabled("nav_back")  # never leave mid-debit
    kiosk.set_state(step=Step.PUT_CARD_BACK, wrong_card=False, card_present=False)
    ui.wait_for("card.put_card_back")
    photograph(kiosk, shots, language, "put_card_back")
    kiosk.set_state(wrong_card=True)
    photograph(kiosk, shots, language, "put_card_back-wrong")
    kiosk.set_state(step=Step.PRINTING, people=2, printed=1, total_tickets=2, redemption_id="r1")
    ui.wait_for("card.printing")
    photograph(kiosk, shots, language, "printing")
    kiosk.set_state(step=Step.DONE, people=1, printed=1, total_tickets=1, visits_used=1, tickets_owed=0, in_doubt=0,
                    result_note=None)
    ui.wait_for("card.done")
    photograph(kiosk, shots, language, "done")
    kiosk.set_state(printed=1, total_tickets=3, visits_used=3, tickets_owed=1, in_doubt=1,
                    result_note=Message.of("printer.paper_out"))
    photograph(kiosk, shots, language, "done-partial")
    kiosk.set_state(printed=0, total_tickets=2, visits_used=2, tickets_owed=2, in_doubt=0,
                    result_note=Message.of("card.tickets_at_next_tap"))
    photograph(kiosk, shots, language, "done-owed")
    ui.tap("finish")
    ui.wait_for("home")
    assert flow.state.step is Step.IDLE

    kiosk.central.view = card_view(owed=1)  # an earlier redemption's tickets were never printed
    kiosk.tap_card()
    ui.wait_for("card.card")
    photograph(kiosk, shots, language, "card-owed")
    kiosk.central.unreachable = True  # offline: the card's own data, no redemption
    kiosk.tap_card()
    ui.wait_for("card.card")
    photograph(kiosk, shots, language, "card-offline")
    assert not ui.is_enabled("redeem")


# Each refusal at the tap: what happened and what to do next, in every language.
REFUSALS: dict[str, dict[str, tuple[str, str]]] = {
    "blacklisted": {
        "zh_CN": ("此卡已被停用。原因：挂失。", "请到售票处找工作人员帮助。"),
        "zh_TW": ("此卡已被停用。原因：挂失。", "請到售票處找工作人員協助。"),
        "en": ("This card has been blocked. Reason: 挂失.", "Please ask staff at the box office for help."),
    },
    "expired": {
        "zh_CN": ("此卡已过期。有效期至2027-11-30。", "请到售票处办理续期。"),
        "zh_TW": ("此卡已過期。有效期至2027-11-30。", "請到售票處辦理續期。"),
        "en": ("This card has expired. It was valid until 2027-11-30.", "You can renew it at the box office."),
    },
    "not_sold": {
        "zh_CN": ("此卡尚未激活。", "请到售票处激活。"),
        "zh_TW": ("此卡尚未啟用。", "請到售票處啟用。"),
        "en": ("This card has not been activated yet.", "Please have it activated at the box office."),
    },
    "recycled": {
        "zh_CN": ("此卡次数已用完。", "请将卡片交回售票处，工作人员可为您办理新卡。"),
        "zh_TW": ("此卡次數已用完。", "請將卡片交回售票處，工作人員可為您辦理新卡。"),
        "en": ("All visits on this card have been used.",
               "Please hand the card in at the box office; staff can issue you a new one."),
    },
    "unknown": {
        "zh_CN": ("此卡不是本院线的卡，或无法识别。", "本机只受理本院线的年票卡。如有疑问，请到售票处找工作人员。"),
        "zh_TW": ("此卡不是本院線的卡，或無法識別。", "本機只受理本院線的年票卡。如有疑問，請到售票處找工作人員。"),
        "en": ("This card is not one of ours, or it cannot be recognised.",
               "Only this cinema chain's year-cards work here. Staff at the box office can help you."),
    },
    "integrity": {
        "zh_CN": ("此卡未通过安全校验。", "请到售票处找工作人员帮助。"),
        "zh_TW": ("此卡未通過安全校驗。", "請到售票處找工作人員協助。"),
        "en": ("This card failed its security check.", "Please ask staff at the box office for help."),
    },
    "unreadable": {
        "zh_CN": ("无法读取您的卡。", "请将卡片平放在读卡区并保持不动后重试。如仍无法读取，请到售票处找工作人员。"),
        "zh_TW": ("無法讀取您的卡。", "請將卡片平放在讀卡區並保持不動後重試。如仍無法讀取，請到售票處找工作人員。"),
        "en": ("Your card could not be read.", "Place the card flat on the reader and hold it still. If it still "
               "cannot be read, staff at the box office can help you."),
    },
    "service_down": {
        "zh_CN": ("本机暂时无法受理年票卡。", "请到售票处找工作人员帮助。"),
        "zh_TW": ("本機暫時無法受理年票卡。", "請到售票處找工作人員協助。"),
        "en": ("Year-cards cannot be used at this kiosk right now.", "Please ask staff at the box office for help."),
    },
}


def script_refusal(kiosk: CardKiosk, case: str) -> None:
    kiosk.terminal.read_error = None
    statuses = {"blacklisted": CardStatus.BLACKLISTED, "expired": CardStatus.EXPIRED, "not_sold": CardStatus.MADE,
                "recycled": CardStatus.RECYCLED}
    if case in statuses:
        kiosk.central.view = card_view(statuses[case], blacklist_reason="挂失" if case == "blacklisted" else None)
    else:
        errors = {"unknown": NotAYearCard("no year-card application"),
                  "integrity": CardIntegrityError("public file MAC does not verify"),
                  "unreadable": UnreadableCard("6F00"),
                  "service_down": PsamError("the PSAM does not answer")}
        kiosk.terminal.read_error = errors[case]


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_refusal_says_what_happened_and_what_to_do_next(start_card_kiosk: StartCardKiosk, shots: Path,
                                                             language: str) -> None:
    kiosk = start_card_kiosk(language=language)
    ui = kiosk.ui
    for case, texts in REFUSALS.items():
        script_refusal(kiosk, case)
        kiosk.tap_card()
        ui.wait_for("card.refused")
        message, hint = texts[language]
        assert (ui.text_of("message"), ui.text_of("hint")) == (message, hint), case
        if case in ("expired", "blacklisted"):  # the card was read: its facts show under the refusal
            assert any(MASKED in text for text in ui.visible_texts())
        path = ui.screenshot(shots / language / f"refused-{case}.png")
        assert_real_picture(path)
        assert_fits(kiosk)
        assert_wraps_cleanly(kiosk)
    ui.tap("nav_back")
    ui.wait_for("home")


def to_confirm(kiosk: CardKiosk, people: int = 1) -> None:
    ui = kiosk.ui
    kiosk.tap_card()
    ui.wait_for("card.card")
    ui.tap("redeem")
    ui.wait_for("card.showings")
    ui.tap("showing_s1930")
    ui.wait_for("card.people")
    for _ in range(people - 1):
        ui.tap("add_person")
    ui.tap("next")
    ui.wait_for("card.seats")
    ui.tap("best")
    ui.tap("next")
    ui.wait_for("card.confirm")
    ui.wait_for(lambda: ui.is_enabled("confirm"))


def test_a_card_pulled_during_the_debit_is_asked_back_and_the_redemption_voided(start_card_kiosk: StartCardKiosk,
                                                                                shots: Path) -> None:
    kiosk = start_card_kiosk(language="en")
    ui = kiosk.ui
    to_confirm(kiosk, people=2)
    kiosk.terminal.pull_during_debit = True
    ui.tap("confirm")
    ui.wait_for("card.put_card_back")
    assert ui.text_of("title") == "Please put your card back"
    assert not ui.is_enabled("nav_cancel") and not ui.is_enabled("nav_back")  # nobody walks away from it
    ui.screenshot(shots / "put-card-back.png")
    kiosk.tap_card()  # the card comes back: it was never debited
    ui.wait_for("card.refused")
    assert ui.text_of("message") == "The redemption was stopped: your card was not charged."
    assert ui.text_of("hint") == "No visit was used. You can start again."
    assert ui.text_of("title") == "Tickets could not be redeemed"
    assert kiosk.central.cancelled == [("r1", "not_debited")] and kiosk.rig.printer.printed == []


def test_a_card_taken_away_before_confirming_turns_confirm_off_until_it_is_back(start_card_kiosk: StartCardKiosk
                                                                               ) -> None:
    kiosk = start_card_kiosk()
    ui = kiosk.ui
    to_confirm(kiosk)
    kiosk.pull_card()
    assert not ui.is_enabled("confirm")
    assert ui.text_of("keep_card") == "请将卡片放回读卡区后再确认。"
    ui.tap("confirm")
    assert kiosk.central.holds == []  # no seats held, nothing debited
    kiosk.tap_card()
    assert ui.is_enabled("confirm") and ui.text_of("keep_card") == "出票完成前请勿移开卡片。"


def test_paper_running_out_leaves_the_rest_owed_to_the_card(start_card_kiosk: StartCardKiosk, shots: Path) -> None:
    kiosk = start_card_kiosk(language="zh_TW")
    kiosk.rig.printer.paper_after = 1
    to_confirm(kiosk, people=2)
    ui = kiosk.ui
    ui.tap("confirm")
    ui.wait_for("card.done")
    assert len(kiosk.rig.printer.printed) == 1
    assert ui.text_of("title") == "部分票未列印"
    assert ui.text_of("printed") == "已列印1張票。"
    assert ui.text_of("visits") == "本次扣除2次。卡內剩餘10次。"
    owed = ui.text_of("owed")
    assert "缺紙" in owed and "還有1張票未列印" in owed and owed.count("刷卡") == 1, owed
    ui.screenshot(shots / "done-paper-out.png")
    assert_fits(kiosk)
    assert_wraps_cleanly(kiosk)


def test_tickets_owed_from_an_earlier_visit_print_from_the_card_screen(start_card_kiosk: StartCardKiosk) -> None:
    kiosk = start_card_kiosk(language="en")
    kiosk.central.view = card_view(owed=1)
    kiosk.tap_card()
    ui = kiosk.ui
    ui.wait_for("card.card")
    assert ui.text_of("print_owed") == "Print your 2 tickets from an earlier visit"
    ui.tap("print_owed")
    ui.wait_for("card.done")
    assert kiosk.central.owed_claims == ["owed-0"]
    assert [t.seat for t in kiosk.rig.printer.printed] == ["8", "9"]
    assert ui.text_of("printed") == "2 tickets printed."


def test_seats_are_big_enough_to_touch_and_marked_beyond_colour(start_card_kiosk: StartCardKiosk) -> None:
    """A hall of 10 rows of 16 seats (two aisles) at the kiosk's 1280x800: every seat a finger's target."""
    kiosk = start_card_kiosk()
    to_confirm(kiosk)
    ui = kiosk.ui
    ui.tap("nav_back")
    ui.wait_for("card.seats")
    seats = [w for w in shown_texts_and_seats(kiosk) if getattr(w, "driver_id", "").startswith("seat_")]
    assert len(seats) == 160
    assert min(min(seat.size) for seat in seats) >= 34  # px at 1280x800 (about 12 mm on a 21.5" lobby screen)
    looks = {seat.look for seat in seats}
    assert {"free", "taken", "held", "selected"} <= looks
    assert sum(seat.accessible for seat in seats) == 4
    # Aisles are gaps: the 4th and 5th seat of a row are further apart than the 3rd and 4th.
    row = sorted((s for s in seats if s.row == "1"), key=lambda s: s.x)
    assert row[4].x - row[3].right > 2 * (row[3].x - row[2].right)


def shown_texts_and_seats(kiosk: CardKiosk) -> list[Any]:
    from kivy.core.window import Window

    from kiosk.widgets.finding import visible_widgets

    return list(visible_widgets(Window))


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920)], ids=["landscape-1080p", "portrait-1080p"])
def test_the_card_screens_scale_with_the_window(start_card_kiosk: StartCardKiosk, shots: Path,
                                                size: tuple[int, int]) -> None:
    from kivy.core.window import Window

    design = tuple(Window.size)
    kiosk = start_card_kiosk()
    ui = kiosk.ui
    try:
        Window.size = size
        ui.wait_for(lambda: tuple(Window.size) == size)
        ui.pump(3)
        kiosk.central.view = card_view(owed=1)
        to_confirm(kiosk, people=2)
        for name in ("confirm", "seats", "people", "showings"):  # Back, step by step
            ui.wait_for(f"card.{name}")
            ui.pump(3)
            ui.screenshot(shots / f"{name}-{size[0]}x{size[1]}.png")
            assert_fits(kiosk)
            assert_wraps_cleanly(kiosk)
            if name == "seats":
                seats = [w for w in shown_texts_and_seats(kiosk) if getattr(w, "driver_id", "").startswith("seat_")]
                assert min(min(seat.size) for seat in seats) >= 40, "seats grow with the screen (37 px at 1280x800)"
            ui.tap("nav_back")
        ui.wait_for("card.card")
        ui.pump(3)
        ui.screenshot(shots / f"card-{size[0]}x{size[1]}.png")
        assert_fits(kiosk)
        assert_wraps_cleanly(kiosk)
    finally:
        Window.size = design
        ui.wait_for(lambda: tuple(Window.size) == design)
