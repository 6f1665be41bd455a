"""Texts for people, in Simplified Chinese (default), Traditional Chinese and English.

Flows speak in :class:`~kiosk.flows.runtime.Message` (a key and its parameters); the screens
turn them into text here.  Catalogs are flat JSON files in ``kiosk/locale/`` (one per language, plus one per language
in a journey's own subfolder).  Beyond a plain
``{param}`` template a key may have:

- ``<key>.one``: the text when the ``count`` parameter is 1 (English singulars);
- ``<key>.detail``: appended only when every parameter it names has a value, so a refusal
  without the central's facts still reads well;
- ``<key>.<param>.<value>``: the text shown for a machine value of a parameter (a token
  refusal's ``reason``); a value without such a text leaves the detail out.

An unknown key never raises: it falls back to its family's ``<family>._default`` text and,
failing that, to the key's last part made readable.

Chinese catalogs may keep spaces around numbers and ``{param}`` for readability: when the text
is filled in, a space between a Chinese character and a number or value is dropped (the kiosk's
screen would break a line there), and a date keeps a space on each side so it wraps whole.
"""

from __future__ import annotations

import json
import logging
import math
import re
import string
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kiosk.flows.runtime import Message

log = logging.getLogger(__name__)

LANGUAGES = ("zh_CN", "zh_TW", "en")
DEFAULT_LANGUAGE = "zh_CN"
# Each language is offered in its own name, whatever language is showing.
LANGUAGE_NAMES = {"zh_CN": "简体中文", "zh_TW": "繁體中文", "en": "English"}
# Where a key is missing in one language, the closest one is tried before English.
_FALLBACKS = {"zh_CN": ("zh_CN", "en"), "zh_TW": ("zh_TW", "zh_CN", "en"), "en": ("en",)}

LOCALE_DIR = Path(__file__).with_name("locale")
_FORMATTER = string.Formatter()

# Kivy breaks a line only at an ASCII space (and cuts a word too long for a line anywhere), so
# in Chinese a space between a character and a number is where "还有 3" / "张票未取" would split.
# Chinese text needs no such spaces: they go.  A date keeps a space on each side instead, so it
# moves to the next line whole rather than being cut ("2026年12" / "月1日").
_CJK = "\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_SPACE = re.compile(f"(?<=[{_CJK}]) +(?=[0-9A-Za-z])|(?<=[0-9A-Za-z]) +(?=[{_CJK}])")
_IS_CJK = re.compile(f"[{_CJK}]")
_IS_IDEOGRAPH = re.compile("[\u3400-\u9fff\uf900-\ufaff]")


@cache
def load_catalog(language: str) -> Mapping[str, str]:
    """One language's catalog: ``locale/<language>.json`` and each journey's own
    ``locale/<journey>/<language>.json`` (so journeys keep their texts apart).  A broken file is
    logged and left out (its texts fall back); a key in two files keeps the first one's text."""
    merged: dict[str, str] = {}
    for path in [LOCALE_DIR / f"{language}.json", *sorted(LOCALE_DIR.glob(f"*/{language}.json"))]:
        for key, value in _read_catalog_file(path, language).items():
            if key in merged:
                log.error("text %r of %s is defined twice (again in %s)", key, language, path)
                continue
            merged[key] = value
    return merged


def _read_catalog_file(path: Path, language: str) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.error("cannot read the %s texts from %s: %s", language, path, exc)
        return {}
    if not isinstance(data, dict):
        log.error("%s must hold one JSON object of key -> text", path)
        return {}
    return {str(key): str(value) for key, value in data.items()}


def readable_key(key: str) -> str:
    """Last resort for a key nobody translated: "refusal.some_new_code" -> "some new code"."""
    tail = key.rsplit(".", 1)[-1].replace("_", " ").strip()
    return tail or key


def template_fields(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in _FORMATTER.parse(template) if name]
    except ValueError:
        return []


class Translator:
    def __init__(self, language: str = DEFAULT_LANGUAGE, timezone: str = "Asia/Shanghai") -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        try:
            self._zone = ZoneInfo(timezone)
        except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
            log.error("unknown cinema timezone %r: showing times in UTC", timezone)
            self._zone = ZoneInfo("UTC")

    # -- lookups --------------------------------------------------------------------------

    def lookup(self, key: str) -> str | None:
        for language in _FALLBACKS[self.language]:
            text = load_catalog(language).get(key)
            if text is not None:
                return text
        return None

    # -- texts ----------------------------------------------------------------------------

    def text(self, key: str, **params: Any) -> str:
        """The text of ``key`` with its parameters filled in; never raises."""
        template = None
        if params.get("count") == 1:
            template = self.lookup(key + ".one")
        if template is None:
            template = self.lookup(key)
        if template is None:
            family = key.split(".", 1)[0]
            template = self.lookup(family + "._default")
            if template is None:
                return readable_key(key)
        values = {name: self._shown_value(key, name, value) for name, value in params.items()}
        dates = {name for name, value in params.items() if _is_time(value)}
        text = self._fill(self._spaced(template, dates), values)
        detail = self.lookup(key + ".detail")
        if detail is not None:
            fields = template_fields(detail)
            if fields and all(values.get(name) not in (None, "") for name in fields):
                text = self.join(text, self._fill(self._spaced(detail, dates), values))
        return text

    def _spaced(self, template: str, dates: set[str]) -> str:
        """In Chinese, ``template`` with no space between a character and a number or value (see _CJK_SPACE)."""
        if not self.language.startswith("zh"):
            return template
        try:
            parts = list(_FORMATTER.parse(template))
        except ValueError:
            return template  # _fill reports it
        out: list[str] = []
        after_date = False
        for literal, name, spec, conversion in parts:
            literal = _CJK_SPACE.sub("", literal)
            if out:  # the literal follows a field: a Chinese character right after it needs no space
                stripped = literal.lstrip(" ")
                if stripped and _IS_CJK.match(stripped):
                    # Before a full stop or comma no space, and no line break either.
                    literal = (" " if after_date and _IS_IDEOGRAPH.match(stripped) else "") + stripped
            if name is not None:
                stripped = literal.rstrip(" ")
                if stripped and _IS_CJK.match(stripped[-1]):
                    literal = stripped + (" " if name in dates else "")
            out.append(literal.replace("{", "{{").replace("}", "}}"))
            if name is not None:
                out.append("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
            after_date = name in dates
        return "".join(out)

    def join(self, first: str, second: str) -> str:
        """Two sentences in a row: a space in English, none after Chinese punctuation."""
        if not first or not second:
            return first or second
        return self._fill(self.lookup("format.join") or "{first} {second}", {"first": first, "second": second})

    def message(self, message: Message | None) -> str:
        return "" if message is None else self.text(message.key, **message.param_dict())

    def _fill(self, template: str, values: Mapping[str, Any]) -> str:
        """``str.format`` that never raises: a missing value shows as nothing, a bad spec as the plain value."""
        try:
            parts = list(_FORMATTER.parse(template))
        except ValueError as exc:
            log.warning("bad text template %r: %s", template, exc)
            return template.replace("{", "").replace("}", "")
        out: list[str] = []
        for literal, name, spec, _conversion in parts:
            out.append(literal)
            if name is None:
                continue
            value = values.get(name, "")
            try:
                out.append(format(value, spec or ""))
            except (ValueError, TypeError):
                out.append(str(value))
        return "".join(out).strip()

    def _shown_value(self, key: str, name: str, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            translated = self.lookup(f"{key}.{name}.{value}")
            if translated is not None:
                return translated
            if any(k.startswith(f"{key}.{name}.") for k in load_catalog("en")):
                return ""  # a machine value we have no words for: leave the detail out
            parsed = _parse_time(value)
            return self.datetime(parsed) if parsed is not None else value
        if isinstance(value, datetime):
            return self.datetime(value)
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, float):
            return str(math.ceil(value))  # seconds to wait: never show less than is true
        return str(value)

    # -- numbers and times ----------------------------------------------------------------

    def local(self, value: datetime) -> datetime:
        """A wire time (UTC; naive means UTC) in the cinema's timezone, for texts built from its parts."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo("UTC"))  # the wire carries UTC
        return value.astimezone(self._zone)

    def datetime(self, value: datetime) -> str:
        """A time in the cinema's timezone, e.g. "11月22日 周日 19:30"."""
        local = self.local(value)
        weekday = self.lookup(f"weekday.{local.weekday()}") or ""
        month_name = self.lookup(f"month.{local.month}") or str(local.month)
        template = self.lookup("format.datetime") or "{year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}"
        if self.language.startswith("zh"):
            # "周二 19:30" is one piece: a no-break space keeps the weekday with its time.
            template = re.sub(r"(?<=\{weekday\}) +", "\u00a0", template)
        return self._fill(template,
                          {"year": local.year, "month": local.month, "month_name": month_name, "day": local.day,
                           "weekday": weekday, "hour": local.hour, "minute": local.minute})

    def money(self, fen: int) -> str:
        return self.text("format.money", yuan=f"{fen / 100:.2f}")


def _is_time(value: Any) -> bool:
    return isinstance(value, datetime) or (isinstance(value, str) and _parse_time(value) is not None)


def _parse_time(value: str) -> datetime | None:
    # Only full ISO timestamps ("2026-11-22T19:30:00+00:00"): a plain number stays a number.
    if len(value) < 16 or "T" not in value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
