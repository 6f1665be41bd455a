"""A kv rule applies to every widget class of its name (and to their subclasses): two screens or
widgets of one name in different packages would draw each other's layout on top of their own."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

KIOSK = Path(__file__).resolve().parents[2] / "kiosk"
RULE = re.compile(r"^<([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
CLASS = re.compile(r"^class ([A-Za-z_][A-Za-z0-9_]*)\b", re.MULTILINE)


def test_each_kv_rule_names_one_class_of_the_kiosk() -> None:
    rules = Counter(name for path in KIOSK.rglob("*.kv") for name in RULE.findall(path.read_text(encoding="utf-8")))
    classes = Counter(name for path in KIOSK.rglob("*.py") for name in CLASS.findall(path.read_text(encoding="utf-8")))
    assert [name for name, count in rules.items() if count > 1] == []
    assert [name for name in rules if classes[name] > 1] == []
