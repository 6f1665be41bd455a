"""Every text the kiosk can show exists in all three languages; unknown keys never crash."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import kiosk.i18n as i18n
from backend_client.wire import ErrorCode
from devices.face_api import FaceOutcome
from devices.printer_api import PaperLevel, PrinterStatus
from kiosk.flows.runtime import Message
from kiosk.i18n import LANGUAGES, Translator, load_catalog, template_fields

KIOSK_DIR = Path(i18n.__file__).parent
DATE_PARTS = {"year", "month", "month_name", "day", "weekday", "hour", "minute"}
KEY = re.compile(r"^[a-z_]+\.[a-z0-9_.]+$")


def printer_reasons() -> set[str]:
    """Every reason a printer status can give, plus the flow's and claim printing's own."""
    reasons = {"unknown", "printer_error"}
    for online in (True, False, None):
        for paper in PaperLevel:
            for cover_open in (True, False, None):
                reason = PrinterStatus(online, paper, cover_open).health().reason
                if reason:
                    reasons.add(reason)
    return reasons


# Keys built at run time from a prefix: what each prefix can be followed by.
EXPANSIONS: dict[str, set[str]] = {
    "refusal.": {code.value for code in ErrorCode},
    "printer.": printer_reasons(),
    "weekday.": {str(day) for day in range(7)},
    "month.": {str(month) for month in range(1, 13)},
    "recovery.face_": {outcome.value for outcome in FaceOutcome if outcome is not FaceOutcome.LIVE},  # failed checks
}


def families() -> set[str]:
    return {key.split(".", 1)[0] for key in load_catalog("en")} | {"refusal", "hint", "printer", "done",
                                                                   "out_of_service"}


def screen_names() -> set[str]:
    """The journeys' screen names ("card.confirm"): they look like text keys and are not."""
    from kiosk.screens.registry import JOURNEY_SCREENS, screen_name

    return {screen_name(journey, step) for journey, entry in JOURNEY_SCREENS.items() for step in entry.screens}


def keys_used_in_kiosk() -> Iterator[tuple[str, str]]:
    """(key, where) for every literal text key and every expanded key prefix in kiosk/."""
    known = families()
    screens = screen_names()
    for path in sorted(KIOSK_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Configuration keys ({"printer.kind": ...}, ConfigError(..., "card.poll_s", ...)) look like text
        # keys but are dictionary keys or name a setting.
        dict_keys = {id(key) for node in ast.walk(tree) if isinstance(node, ast.Dict) for key in node.keys}
        dict_keys |= {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
                      and getattr(node.func, "id", None) == "ConfigError" for arg in node.args}
        # An f-string's head ("recovery.face_" of f"recovery.face_{outcome}") is a prefix, not a key.
        dict_keys |= {id(node.values[0]) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) and node.values}
        for node in ast.walk(tree):
            if id(node) in dict_keys:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY.match(node.value) \
                    and node.value.split(".", 1)[0] in known and node.value not in screens:
                yield node.value, f"{path.relative_to(KIOSK_DIR)}:{node.lineno}"
            elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                prefix = str(node.values[0].value)
                if re.match(r"^[a-z_]+\.[a-z_.]*$", prefix) and prefix.split(".", 1)[0] in known:
                    assert prefix in EXPANSIONS, f"{path}:{node.lineno}: tell this test what follows {prefix!r}"
                    for tail in EXPANSIONS[prefix]:
                        yield prefix + tail, f"{path.relative_to(KIOSK_DIR)}:{node.lineno}"
    for path in sorted(KIOSK_DIR.rglob("*.kv")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for candidate in re.findall(r"[\"']([a-z_]+\.[a-z0-9_.]+)[\"']", line):
                if candidate.split(".", 1)[0] in known:
                    yield candidate, f"{path.relative_to(KIOSK_DIR)}:{number}"


def test_the_scan_finds_the_flows_keys() -> None:
    used = {key for key, _ in keys_used_in_kiosk()}
    # From the flow, claim printing, availability and the screens: if these vanish the scan is broken.
    assert {"refusal.not_our_code", "refusal.unknown_code", "hint.see_staff", "printer.paper_out",
            "printer.printer_error", "done.stopped", "out_of_service.offline", "idle.collect",
            "print.waiting"} <= used


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_used_in_the_kiosk_has_a_text(language: str) -> None:
    catalog = load_catalog(language)
    missing = sorted({f"{key} ({where})" for key, where in keys_used_in_kiosk() if key not in catalog})
    assert not missing, f"{language} lacks: {missing}"


def test_the_wire_refusals_flow_hints_and_printer_reasons_all_have_texts() -> None:
    wanted = {f"refusal.{code.value}" for code in ErrorCode} | {
        f"refusal.{name}" for name in ("not_our_code", "invalid_token", "ticket_token", "offline", "central_error",
                                       "kiosk_error", "kiosk_unauthorized")} | {
        f"printer.{name}" for name in ("printer_offline", "cover_open", "paper_out", "paper_near_end",
                                       "status_unknown", "unknown", "printer_error")} | {
        "done.stopped", "out_of_service.printer", "out_of_service.offline"}
    for language in LANGUAGES:
        assert not wanted - set(load_catalog(language)), language


def test_catalogs_agree_on_keys_and_parameters() -> None:
    english = load_catalog("en")
    for language in LANGUAGES:
        catalog = load_catalog(language)
        assert set(catalog) == set(english), language
        for key, text in catalog.items():
            assert text.strip(), f"{language} {key} is empty"
            if key == "format.datetime":  # each language picks its own date parts
                assert set(template_fields(text)) <= DATE_PARTS, language
                continue
            assert sorted(template_fields(text)) == sorted(template_fields(english[key])), f"{language} {key}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_fills_in_without_error(language: str) -> None:
    tr = Translator(language)
    for key, text in load_catalog(language).items():
        values = {name: 7 for name in template_fields(text)}
        shown = tr.datetime(datetime(2026, 1, 2, tzinfo=UTC)) if key == "format.datetime" else tr.text(key, **values)
        assert "{" not in shown and shown, (key, shown)


def test_unknown_keys_fall_back_to_something_readable() -> None:
    tr = Translator("zh_CN")
    assert tr.text("refusal.a_code_added_later") == "这些票无法在此取出。"
    assert tr.message(Message.of("printer.connection refused by 10.0.0.9")) == "出票打印机出现问题。"
    assert tr.text("nobody.knows_this_key") == "knows this key"
    assert tr.message(None) == ""
    assert Translator("en").text("hint.something_new") == "Please ask staff for help."


def test_missing_or_odd_parameters_never_break_a_text() -> None:
    tr = Translator("en")
    assert tr.text("done.printed") == "tickets printed."  # a flow that forgot the count: still a sentence
    assert tr.text("done.printed", count="many") == "many tickets printed."
    assert tr.text("refusal.already_collected", collected_at=None, kiosk=None) == \
        "These tickets have already been collected."
    assert tr.text("nav.back", unexpected={"nested": [1]}) == "Back"


def test_refusal_facts_are_shown_only_when_the_central_gave_them() -> None:
    tr = Translator("en")
    assert tr.message(Message.of("refusal.locked_out")) == "This pickup code is paused after too many wrong tries."
    assert tr.message(Message.of("refusal.locked_out", retry_after_min=13)) == \
        "This pickup code is paused after too many wrong tries. It works again in 13 min."
    assert tr.message(Message.of("refusal.invalid_token", reason="expired")) == \
        "This QR code cannot be used. It has expired."
    assert tr.message(Message.of("refusal.invalid_token", reason="something_internal")) == \
        "This QR code cannot be used."
    assert Translator("zh_CN").message(Message.of("refusal.outside_window", opens_at="2026-11-22T02:00:00+00:00")) \
        == "本场次尚未开放取票。开放时间： 2026年11月22日 周日\u00a010:00。"


def test_times_are_shown_in_the_cinemas_timezone() -> None:
    show = datetime(2026, 11, 22, 11, 30, tzinfo=UTC)
    assert Translator("zh_CN", "Asia/Shanghai").datetime(show) == "2026年11月22日 周日\u00a019:30"
    assert Translator("zh_TW", "Asia/Taipei").datetime(show) == "2026年11月22日 週日\u00a019:30"
    assert Translator("en", "Asia/Shanghai").datetime(show) == "Sun 22 Nov 2026, 19:30"
    assert Translator("en", "Not/A_Zone").datetime(show) == "Sun 22 Nov 2026, 11:30"  # logged, shown in UTC
    assert Translator("en", "Asia/Shanghai").datetime(show.replace(tzinfo=None)) == "Sun 22 Nov 2026, 19:30"


def test_an_unknown_language_shows_the_default() -> None:
    assert Translator("fr").language == "zh_CN"


def test_a_broken_catalog_file_degrades_to_readable_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "en.json").write_text("{ not json", encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    load_catalog.cache_clear()
    try:
        assert Translator("en").text("nav.back") == "back"
        assert Translator("en").datetime(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "2026-01-02 11:04"
    finally:
        monkeypatch.undo()
        load_catalog.cache_clear()
    assert Translator("en").text("nav.back") == "Back"


def test_a_journeys_own_catalog_adds_its_texts_and_cannot_override_anothers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "en.json").write_text('{"nav.back": "Back"}', encoding="utf-8")
    (tmp_path / "card").mkdir()
    (tmp_path / "card" / "en.json").write_text('{"card.title": "Your card", "nav.back": "Go back"}', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    load_catalog.cache_clear()
    try:
        assert Translator("en").text("card.title") == "Your card"
        assert Translator("en").text("nav.back") == "Back"
        assert "defined twice" in caplog.text
    finally:
        monkeypatch.undo()
        load_catalog.cache_clear()
