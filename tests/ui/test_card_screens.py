"""The patron's year-card journey on the real kiosk app, offscreen, driven by touches and card taps.

Every screen is shown in the three languages and photographed into the test's folder; the key
texts are read back from the screen; nothing may stick out of the screen, be cut, or overlap.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.card_screens_support import MASKED, CardKiosk, StartCardKiosk, start_card_kiosk  # noqa: F401
from tests.ui.conftest import shots  # noqa: F401
from tests.ui.screen_checks import assert_fits, assert_real_picture

pytestmark = pytest.mark.ui


def test_a_redemption_by_touches_from_the_card_to_the_printed_tickets(start_card_kiosk: StartCardKiosk,
                                                                      shots: Path) -> None:
    kiosk = start_card_kiosk()
    ui = kiosk.ui
    kiosk.tap_card()
    ui.wait_for("card.card")
    texts = " ".join(ui.visible_texts())
    for expected in ("卡号" + MASKED, "卡类型：银卡 12次 年票", "剩余12次", "有效期至2027年11月30日",
                     "本卡最近使用记录", "2026年11月20日周五\u00a019:05", "星光影城 人民广场店", "影票", "卖品", "余12次",
                     "兑换电影票"):
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
    for expected in ("祝您观影愉快！", "已打印2张票。", "请从下方出票口取票。", "本次扣除2次。卡内剩余10次。", "请取回您的卡片。"):
        assert expected in texts, expected
    ui.screenshot(shots / "done.png")
    assert_fits(kiosk)
    for name in ("card", "showings", "people", "seats", "confirm", "done"):
        assert_real_picture(shots / f"{name}.png")

    ui.tap("finish")
    ui.wait_for("home")
