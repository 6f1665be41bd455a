"""What a moviegoer met at the screen (issue 6, section 5), on the real app offscreen, in each language."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from backend_client.errors import CentralRefused
from backend_client.wire import ErrorCode
from devices.camera_api import DecodedCode
from devices.health import Health, HealthLevel
from devices.printer_api import PrintResult, TicketContent
from kiosk.availability import Availability
from kiosk.config import PickupSection
from kiosk.i18n import LANGUAGES
from tests.support.fakes import PAPER_OUT, READY, SERIAL, VERIFICATION, make_order, sample_order
from tests.ui.conftest import Kiosk

pytestmark = pytest.mark.ui

StartKiosk = Callable[..., Kiosk]
PAPER_OUT_HEALTH = Health(HealthLevel.CRITICAL, "paper_out")


def to_review(kiosk: Kiosk) -> None:
    ui = kiosk.ui
    ui.tap("collect_button")
    ui.wait_for("pickup.enter_code")
    ui.type_digits(SERIAL + VERIFICATION)
    ui.tap("submit")
    ui.wait_for("pickup.review")


PRINTER_FAULT_TEXTS = {
    "en": "The ticket printer ran out of paper. Your tickets are safe: please ask staff, or use another kiosk.",
    "zh_CN": "出票打印机缺纸。您的票仍然有效：请联系工作人员，或使用其他取票机。",
    "zh_TW": "出票印表機缺紙。您的票仍然有效：請洽工作人員，或使用其他取票機。",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_review_says_what_to_do_and_enables_print_once_the_paper_is_refilled(start_kiosk: StartKiosk,
                                                                            language: str, shots: Path) -> None:
    kiosk = start_kiosk(language=language)
    kiosk.rig.printer.status_now = PAPER_OUT
    to_review(kiosk)
    ui = kiosk.ui
    assert ui.text_of("printer_problem") == PRINTER_FAULT_TEXTS[language]
    assert not ui.is_enabled("confirm")
    ui.screenshot(shots / f"review-paper-out-{language}.png")
    kiosk.rig.availability = Availability(printer=PAPER_OUT_HEALTH)  # the monitor sees the fault
    ui.wait_for(lambda: kiosk.app.availability_now.printer.critical, timeout_s=5)
    kiosk.rig.printer.status_now = READY  # staff refill the paper
    kiosk.rig.availability = Availability()
    ui.wait_for(lambda: ui.is_enabled("confirm"), timeout_s=5)  # no Back needed
    assert ui.current_screen_name == "pickup.review" and ui.text_of("printer_problem") == ""


QR_OUT_OF_SERVICE = {
    "en": "This kiosk cannot print tickets right now, so your code was not checked. Your tickets are safe: "
          "please use another kiosk or ask staff.",
    "zh_CN": "本机暂时无法出票，未核验您的取票码。您的票仍然有效，请使用其他取票机或联系工作人员。",
    "zh_TW": "本機暫時無法出票，未核驗您的取票碼。您的票仍然有效，請使用其他取票機或洽詢工作人員。",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_qr_held_up_while_out_of_service_is_refused_on_the_home_screen(start_kiosk: StartKiosk,
                                                                         language: str) -> None:
    kiosk = start_kiosk(language=language, availability=Availability(printer=PAPER_OUT_HEALTH))
    ui = kiosk.ui
    assert not ui.is_enabled("collect_button")
    kiosk.app.kiosk.qr(DecodedCode(text="TK1.order.sig", raw=b"TK1.order.sig", decoder="zxing"))
    ui.pump()
    assert ui.current_screen_name == "home"  # not a review screen that cannot print
    assert ui.text_of("notice") == QR_OUT_OF_SERVICE[language]
    assert kiosk.rig.central.looked_up == []


def test_the_next_person_gets_the_kiosks_own_language(start_kiosk: StartKiosk) -> None:
    kiosk = start_kiosk(language="zh_CN")
    ui = kiosk.ui
    ui.tap("lang_en")
    ui.tap("collect_button")
    ui.wait_for("pickup.enter_code")
    assert ui.text_of("title") == "Enter your pickup code"
    ui.tap("nav_cancel")  # this person leaves
    ui.wait_for("home")
    assert kiosk.app.language == "zh_CN"
    assert ui.text_of("collect_button") == "取票"


def test_a_language_chosen_at_home_and_left_goes_back_for_the_next_person(start_kiosk: StartKiosk) -> None:
    kiosk = start_kiosk(language="zh_TW")
    ui = kiosk.ui
    ui.tap("lang_en")
    assert ui.text_of("title") == "Welcome"
    kiosk.rig.clock.now += 61  # nobody touches the screen for a minute
    ui.wait_for(lambda: kiosk.app.language == "zh_TW", timeout_s=5)  # on the app's once-a-second tick
    assert ui.text_of("title") != "Welcome"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_keypads_title_stays_on_screen_when_the_pause_message_wraps(start_kiosk: StartKiosk, language: str,
                                                                        shots: Path) -> None:
    kiosk = start_kiosk(language=language, settings=PickupSection(wrong_code_free_tries=0, wrong_code_delay_s=300.0,
                                                                  wrong_code_delay_max_s=300.0))
    ui = kiosk.ui
    ui.tap("collect_button")
    ui.wait_for("pickup.enter_code")
    ui.type_digits("999999" + VERIFICATION)
    ui.tap("submit")
    ui.wait_for("pickup.refused")
    ui.tap("nav_back")
    ui.wait_for("pickup.enter_code")
    ui.pump(3)
    ui.screenshot(shots / f"keypad-paused-{language}.png")
    screen = kiosk.app.kiosk_root.ids.screens.current_screen  # type: ignore[union-attr]
    for name in ("title", "serial", "verification", "locked", "submit"):
        widget = screen.ids[name]
        top = widget.to_window(widget.x, widget.top)[1]
        bottom = widget.to_window(widget.x, widget.y)[1]
        screen_top = screen.to_window(screen.x, screen.top)[1]
        screen_bottom = screen.to_window(screen.x, screen.y)[1]
        assert screen_bottom - 0.5 <= bottom and top <= screen_top + 0.5, f"{name} is cut off ({language})"
    assert ui.text_of("locked")


@pytest.mark.parametrize("language", LANGUAGES)
def test_four_tickets_fit_or_the_list_says_it_scrolls(start_kiosk: StartKiosk, language: str, shots: Path) -> None:
    for problem in (False, True):
        kiosk = start_kiosk(language=language, order=make_order(tickets=4))
        if problem:  # the printer's message takes room from the list
            kiosk.rig.printer.status_now = PAPER_OUT
        to_review(kiosk)
        ui = kiosk.ui
        ui.pump(3)
        ui.screenshot(shots / f"review-4-{language}-{problem}.png")
        screen = kiosk.app.kiosk_root.ids.screens.current_screen  # type: ignore[union-attr]
        view = screen.ids.ticket_scroll
        view_bottom = view.to_window(view.x, view.y)[1]
        view_top = view.to_window(view.x, view.top)[1]
        rows = [ui.find(f"ticket_t{i}") for i in range(4)]
        fits = all(view_bottom - 0.5 <= row.to_window(row.x, row.y)[1] and
                   row.to_window(row.x, row.top)[1] <= view_top + 0.5 for row in rows)
        cue = screen.ids.scroll_cue
        assert fits or (cue.opacity == 1 and cue.height > 0 and cue.text), f"ticket 4 hidden, no cue ({language})"
        assert all(row.height >= 40 for row in rows)  # never a thin strip
        if not problem:
            assert fits, "four tickets fit a review screen with nothing else on it"
        kiosk.app.stop_headless()


SINGLE_TEXTS = {"en": "This ticket will be printed.", "zh_CN": "将打印这张票。", "zh_TW": "將列印這張票。"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_one_collectable_ticket_is_not_one_of_one_tickets_selected(start_kiosk: StartKiosk, language: str) -> None:
    kiosk = start_kiosk(language=language, order=make_order(tickets=2, printed=1))
    to_review(kiosk)
    assert kiosk.ui.text_of("selected_count") == SINGLE_TEXTS[language]


HERE_TEXTS = {
    "en": "These tickets have already been collected at this kiosk. Collected on Sat 21 Nov 2026, 20:05.",
    "zh_CN": "这些票已在本机取出。取票时间： 2026年11月21日 周六\u00a020:05。",
    "zh_TW": "這些票已在本機取出。取票時間： 2026年11月21日 週六\u00a020:05。",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_already_collected_at_this_kiosk_says_so(start_kiosk: StartKiosk, language: str) -> None:
    kiosk = start_kiosk(language=language, kiosk_name="Lobby-01-03", order=sample_order())
    kiosk.rig.central.refuse_with = CentralRefused(
        ErrorCode.ALREADY_COLLECTED, "collected", {"collected_at": "2026-11-21T12:05:00+00:00", "kiosk": "Lobby-**-03"})
    ui = kiosk.ui
    ui.tap("collect_button")
    ui.wait_for("pickup.enter_code")
    ui.type_digits(SERIAL + VERIFICATION)
    ui.tap("submit")
    ui.wait_for("pickup.refused")
    assert ui.text_of("message") == HERE_TEXTS[language]


CARD_TEXTS = {
    "en": "Cards cannot be used at this kiosk yet. Please collect your tickets with your pickup code.",
    "zh_CN": "本机暂不支持刷卡，请使用取票码取票。",
    "zh_TW": "本機暫不支援刷卡，請使用取票碼取票。",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_card_at_home_is_answered_on_screen_until_the_card_journey_exists(start_kiosk: StartKiosk,
                                                                            language: str) -> None:
    from devices.card_api import CardEvent, CardEventKind

    kiosk = start_kiosk(language=language)
    kiosk.app.kiosk.card(CardEvent(CardEventKind.INSERTED, "Virtual PCD 00 00", b"\x3b\x00"))
    kiosk.ui.pump()
    assert kiosk.ui.current_screen_name == "home"
    assert kiosk.ui.text_of("notice") == CARD_TEXTS[language]


SAME_CODE_CLAUSE = {"en": "later with the same code", "zh_CN": "用同一取票码", "zh_TW": "用同一取票碼"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_done_after_a_lost_connection_fits_the_screen_and_says_collect_later_once(
    start_kiosk: StartKiosk, language: str, shots: Path
) -> None:
    kiosk = start_kiosk(language=language, order=make_order(tickets=4))
    rig = kiosk.rig
    print_one = rig.printer.print_ticket

    def print_then_lose_the_central(ticket: TicketContent) -> PrintResult:
        result = print_one(ticket)
        rig.central.unreachable = True  # the network goes after the first ticket is out
        return result

    rig.printer.print_ticket = print_then_lose_the_central  # type: ignore[method-assign]
    to_review(kiosk)
    ui = kiosk.ui
    ui.tap("confirm")
    ui.wait_for("pickup.done")
    ui.pump(3)
    ui.screenshot(shots / f"done-lost-connection-{language}.png")
    assert len(rig.printer.printed) == 1
    owed = ui.text_of("owed")
    assert owed.count(SAME_CODE_CLAUSE[language]) == 1, owed
    screen = kiosk.app.kiosk_root.ids.screens.current_screen  # type: ignore[union-attr]
    screen_top = screen.to_window(screen.x, screen.top)[1]
    screen_bottom = screen.to_window(screen.x, screen.y)[1]
    boxes = []
    for name in ("title", "printed", "take", "owed", "finish"):
        widget = screen.ids[name]
        top = widget.to_window(widget.x, widget.top)[1]
        bottom = widget.to_window(widget.x, widget.y)[1]
        assert screen_bottom - 0.5 <= bottom and top <= screen_top + 0.5, f"{name} is cut off ({language})"
        boxes.append((name, bottom, top))
    for (upper, upper_bottom, _), (lower, _, lower_top) in itertools.pairwise(boxes):
        assert lower_top <= upper_bottom + 0.5, f"{lower} overlaps {upper} ({language})"


NOT_FOUND_TITLES = {"en": "We could not find your tickets", "zh_CN": "未找到您的票", "zh_TW": "找不到您的票"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_wrong_code_is_not_told_we_cannot_print_these_tickets(start_kiosk: StartKiosk, language: str) -> None:
    kiosk = start_kiosk(language=language)
    ui = kiosk.ui
    ui.tap("collect_button")
    ui.wait_for("pickup.enter_code")
    ui.type_digits("999999" + VERIFICATION)  # no such order: no tickets were ever shown
    ui.tap("submit")
    ui.wait_for("pickup.refused")
    assert ui.text_of("title") == NOT_FOUND_TITLES[language]


def test_the_done_screen_offers_no_back_to_tickets_already_printed(start_kiosk: StartKiosk) -> None:
    kiosk = start_kiosk(language="en")
    to_review(kiosk)
    ui = kiosk.ui
    ui.tap("confirm")
    ui.wait_for("pickup.done")
    ui.pump(2)
    assert ui.find("nav_back").disabled  # Back did what Finish does: two buttons for one thing
    assert not ui.find("finish").disabled and not ui.find("nav_cancel").disabled
