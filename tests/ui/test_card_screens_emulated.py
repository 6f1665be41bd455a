"""The year-card screens on the kiosk's real card service: an emulated year-card and PSAM
in-process (the card operating system, its purse and log, the PSAM's MACs), the real flow,
journal and claim printing; the central's card ledger in memory checks every TAC.

Through pcscd and the real central, the same journey runs in tests/integration and the demo.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.app import KioskApp
from kiosk.ui_driver import UiDriver
from tests.support.fakes import CardRig, build_card_rig
from tests.ui.screen_checks import assert_fits, assert_real_picture, assert_wraps_cleanly

pytestmark = pytest.mark.ui

DEBIT_CARD_APDUS = 5  # the card's commands of a debit; pulled at the last one: the debit is done, its answer lost


class EmulatedKiosk:
    def __init__(self, rig: CardRig, app: KioskApp) -> None:
        self.rig, self.app, self.ui = rig, app, UiDriver(app)


@pytest.fixture
def emulated(tmp_path: Path) -> Iterator[EmulatedKiosk]:
    rig = build_card_rig(tmp_path, visits=10)
    app = KioskApp(rig.host, lambda: rig.availability, language="zh_CN")
    app.start_headless()
    yield EmulatedKiosk(rig, app)
    app.stop_headless()
    rig.journal.close()


def test_the_emulated_card_is_shown_redeemed_torn_and_recovered_on_screen(emulated: EmulatedKiosk,
                                                                          shots: Path) -> None:
    rig, ui = emulated.rig, emulated.ui
    rig.kit.insert()
    ui.wait_for("card.card")
    texts = ui.visible_texts()
    assert "卡号8800********0042" in texts and "剩余10次" in texts and "卡类型：年卡 10次" in texts
    assert not any("8800000000000042" in text for text in texts)
    ui.screenshot(shots / "emulated-card.png")

    ui.tap("redeem")
    ui.wait_for("card.showings")
    ui.tap("showing_show-1")
    ui.wait_for("card.people")
    ui.tap("add_person")
    ui.tap("next")
    ui.wait_for("card.seats")
    ui.tap("best")
    ui.tap("next")
    ui.wait_for("card.confirm")
    ui.wait_for(lambda: ui.is_enabled("confirm"))
    assert "扣除后剩余：8次" in ui.visible_texts()

    rig.kit.reader.pull_at_command(DEBIT_CARD_APDUS - 1, executed=True)  # the card leaves as it debits
    ui.tap("confirm")
    ui.wait_for("card.put_card_back")
    assert ui.text_of("title") == "请将卡片放回读卡区"
    path = ui.screenshot(shots / "emulated-put-card-back.png")
    assert_real_picture(path)
    assert_fits(emulated)
    assert_wraps_cleanly(emulated)

    rig.kit.put_back()  # the debit is found on the card, proven, confirmed, and the tickets print
    ui.wait_for("card.done")
    assert rig.kit.balance() == 8 and rig.central.visits_recorded == 2
    assert len(rig.printer.printed) == 2
    texts = ui.visible_texts()
    assert "已打印2张票。" in texts and "本次扣除2次。卡内剩余8次。" in texts
    ui.screenshot(shots / "emulated-done.png")
