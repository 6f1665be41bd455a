"""The patron's year-card journey on the real kiosk app, offscreen, driven by touches and card taps.

Every screen is shown in the three languages and photographed into the test's folder; the key
texts are read back from the screen; nothing may stick out of the screen, be cut, or overlap.
"""

from __future__ import annotations

from pathlib import Path

import pytest

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
from tests.ui.screen_checks import assert_chinese_wraps_cleanly, assert_fits, assert_real_picture

pytestmark = pytest.mark.ui


def test_a_redemption_by_touches_from_the_card_to_the_printed_tickets(start_card_kiosk: StartCardKiosk,
                                                                      shots: Path) -> None:
    kiosk = start_card_kiosk()
    ui = kiosk.ui
    kiosk.tap_card()
    ui.wait_for("card.card")
    texts = " ".join(ui.visible_texts())
    for expected in ("卡号" + MASKED, "卡类型：银卡 12次 年票", "剩余12次", "有效期至2027年11月30日",
                     "本卡最近使用记录", "2026年11月20日周五\u00a019:05", "星光影城 人民广场店", "影票", "卖品",
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
    if language.startswith("zh"):
        assert_chinese_wraps_cleanly(kiosk)


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
