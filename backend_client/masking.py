"""Masking of codes, phone numbers, card numbers and kiosk names: for logs, audits and answers.

Shared by the kiosk and the central, so both show the same masked forms."""

from __future__ import annotations

import logging
import re


def mask_code(code: str) -> str:
    """Keep the first two characters of a serial or code: enough for staff to tell orders apart."""
    code = code or ""
    return code[:2] + "*" * max(len(code) - 2, 0) if len(code) > 2 else "*" * len(code)


def mask_phone(phone: str) -> str:
    digits = phone or ""
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_card(number: str) -> str:
    number = number or ""
    return "*" * max(len(number) - 4, 0) + number[-4:]


def mask_token(token: str) -> str:
    return token[:8] + "…" if len(token) > 8 else "*" * len(token)


def mask_kiosk_name(name: str) -> str:
    """ "Lobby-01-03" -> "Lobby-**-03": staff can tell their machines apart, a stranger learns little."""
    parts = name.split("-")
    if len(parts) >= 3:
        return "-".join([parts[0], *("*" * len(p) for p in parts[1:-1]), parts[-1]])
    if len(name) <= 2:
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 2) + name[-1]


# Runs of 6+ digits (serials, codes, phone and card numbers) and our QR tokens.
_DIGITS = re.compile(r"\d{6,}")
_TOKEN = re.compile(r"TK1\.[A-Za-z0-9_.-]+")


def scrub(text: str) -> str:
    text = _TOKEN.sub(lambda m: mask_token(m.group(0)), text)
    return _DIGITS.sub(lambda m: mask_code(m.group(0)), text)


class MaskingFilter(logging.Filter):
    """Last line of defence: masks digit runs and tokens in every record a handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = scrub(message)
        record.args = None
        return True
