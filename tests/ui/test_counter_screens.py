"""The counter app (kiosk.mode = "counter"), offscreen, driven by touches and keys, in three languages.

The flow behind it is the real one with the real card and PSAM emulators in-process and the small
fake central (tests/kiosk/test_counter_flow.build_counter).  Every screen is saved as a screenshot.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from kiosk.app import CounterApp, KioskApp
from kiosk.flows.counter import Step
from kiosk.i18n import LANGUAGES
from kiosk.ui_driver import UiDriver
from tests.kiosk.test_counter_flow import MADE, NUMBER, Counter, build_counter, showing
from tests.ui.test_pickup_screens import assert_real_picture

pytestmark = pytest.mark.ui

SHOTS_DIR = os.environ.get("KIOSK_SCREENSHOTS_DIR")  # keep them (e.g. for review); else a temp folder


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(SHOTS_DIR) / "counter" if SHOTS_DIR else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def start_counter(tmp_path: Path) -> Iterator[Callable[..., tuple[Counter, UiDriver]]]:
    apps: list[CounterApp] = []

    def start(language: str = "zh_CN") -> tuple[Counter, UiDriver]:
        counter = build_counter(tmp_path / f"c{len(apps)}", printer=True)
        counter.central.showings = [showing(), showing(visits_per_person=2)]
        app = CounterApp(counter.flow, language)
        app.start_headless()
        apps.append(app)
        return counter, UiDriver(cast(KioskApp, app))

    yield start
    for app in apps:
        app.stop_headless()


def press_keys(text: str) -> None:
    """A hardware keyboard: each character as a key press, then Enter."""
    from kivy.core.window import Window

    for char in text:
        Window.dispatch("on_key_down", ord(char.lower()), 0, char, [])
    Window.dispatch("on_key_down", 13, 0, None, [])


def log_in(ui: UiDriver, staff_no: str, password: str) -> None:
    letters, digits = staff_no[0], staff_no[1:]
    ui.tap("key_clear")
    ui.tap("staff_no_field")
    press_keys(letters)  # the letter from the keyboard (Enter moves to the password) ...
    ui.tap("staff_no_field")
    ui.type_digits(digits)  # ... the digits on the on-screen keypad
    ui.tap("password_field")
    press_keys(password)  # Enter logs in
    ui.pump()


def texts(ui: UiDriver) -> str:
    return " ".join(ui.visible_texts())


EXPECTED: dict[str, dict[str, str]] = {
    "zh_CN": {"login": "员工登录", "wrong": "工号或密码错误", "waiting": "请将年票卡放在读卡器上",
              "visits": "剩余10次", "done": "卖品已扣除2次", "sold": "售卡激活成功"},
    "zh_TW": {"login": "員工登入", "wrong": "工號或密碼錯誤", "waiting": "請將年票卡放在讀卡器上",
              "visits": "剩餘10次", "done": "賣品已扣除2次", "sold": "售卡啟用成功"},
    "en": {"login": "Staff login", "wrong": "Wrong staff number or password", "waiting": "Tap a year-card",
           "visits": "10 visits left", "done": "2 visits deducted for concessions", "sold": "Card sold and activated"},
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_sales_shift_at_the_counter_by_touches(
    start_counter: Callable[..., tuple[Counter, UiDriver]], shots: Path, language: str
) -> None:
    from kivy.core.window import Window

    counter, ui = start_counter(language)
    words = EXPECTED[language]
    size = tuple(Window.size)

    def shot(name: str) -> None:
        path = ui.screenshot(shots / f"{language}-{name}.png")
        assert_real_picture(path, cast(Any, size))

    assert ui.current_screen_name == "staff_login"
    assert words["login"] in texts(ui)
    counter.slot.card = None
    shot("01-login")

    log_in(ui, "S1001", "not-the-password")
    assert ui.current_screen_name == "staff_login" and words["wrong"] in texts(ui)
    assert "not-the-password" not in texts(ui)
    shot("02-login-refused")

    log_in(ui, "S1001", "sales-pw")
    ui.wait_for("counter.waiting")
    assert words["waiting"] in texts(ui) and "S1001" in texts(ui)
    shot("03-waiting")

    counter.insert(NUMBER)
    ui.wait_for("counter.card")
    shown = texts(ui)
    assert "8800********0042" in shown and NUMBER not in shown and words["visits"] in shown
    ui.find("action_concessions")
    with pytest.raises(AssertionError):
        ui.find("action_blacklist")  # a sales role does not see the manager's button
    shot("04-card")

    ui.tap("action_tickets")
    ui.wait_for("counter.tickets")
    assert "流浪地球" in texts(ui) and "IMAX" in texts(ui)
    ui.tap("showing_1")
    ui.tap("more_people")
    assert counter.flow.state.people == 2 and counter.flow.state.showing == 1
    shot("05-tickets")
    ui.tap("back")
    ui.wait_for("counter.card")

    ui.tap("action_concessions")
    ui.wait_for("counter.concessions")
    ui.tap("more")
    shot("06-concessions")
    ui.tap("confirm")
    ui.wait_for(lambda: words["done"] in texts(ui))
    assert counter.balance(NUMBER) == 8
    shot("07-deducted")

    counter.insert(MADE)
    ui.wait_for(lambda: ui.current_screen_name == "counter.card" and "8800********0077" in texts(ui))
    shot("08-made-card")
    ui.tap("action_sell")
    ui.wait_for(lambda: words["sold"] in texts(ui))
    shot("09-sold")

    counter.slot.card = None
    ui.tap("close")
    ui.wait_for("counter.waiting")
    counter.flow.tap_again()  # nothing on the reader
    ui.wait_for("counter.refused")
    shot("10-refused")
    ui.tap("close")

    ui.tap("logout")
    ui.wait_for("staff_login")
    assert counter.flow.login.session is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_manager_blacklists_and_a_torn_debit_asks_for_the_card(
    start_counter: Callable[..., tuple[Counter, UiDriver]], shots: Path, language: str
) -> None:
    counter, ui = start_counter(language)
    log_in(ui, "M1001", "manager-pw")
    ui.wait_for("counter.waiting")
    counter.insert(NUMBER)
    ui.wait_for("counter.card")
    ui.tap("action_blacklist")
    ui.wait_for("counter.blacklist")
    ui.screenshot(shots / f"{language}-11-blacklist.png")
    ui.tap("reason_lost")
    ui.wait_for(lambda: ui.current_screen_name == "counter.card" and counter.central.blacklist_reasons != {})
    ui.find("action_unblacklist")
    ui.screenshot(shots / f"{language}-12-blacklisted.png")
    ui.tap("action_unblacklist")
    ui.wait_for(lambda: counter.central.blacklist_reasons == {})

    ui.tap("action_concessions")
    ui.wait_for("counter.concessions")
    counter.slot.pull_after = 0x54  # the card leaves with DEBIT FOR PURCHASE done, its answer lost
    ui.tap("confirm")
    ui.wait_for("counter.card_back")
    assert "8800********0042" in texts(ui)
    ui.screenshot(shots / f"{language}-13-card-back.png")
    counter.insert(NUMBER)
    ui.wait_for("counter.card")
    assert counter.balance(NUMBER) == 9


def test_the_staff_session_ends_by_itself_and_shows_why(
    start_counter: Callable[..., tuple[Counter, UiDriver]], shots: Path
) -> None:
    counter, ui = start_counter("en")
    log_in(ui, "S1001", "sales-pw")
    ui.wait_for("counter.waiting")
    counter.insert(NUMBER)
    ui.wait_for("counter.card")
    counter.clock.advance(300)
    counter.flow.tick()
    ui.wait_for("staff_login")
    assert "logged out after a while" in texts(ui) and "8800" not in texts(ui)
    assert counter.flow.step is Step.LOGIN
    ui.screenshot(shots / "en-14-timed-out.png")
