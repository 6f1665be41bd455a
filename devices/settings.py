"""Typed settings with a valid range, declared once and shared by the device configs and the
kiosk's config file (kiosk/config.py builds its sections on the device configs).

A setting is a dataclass field made with :func:`setting`; a plain field with a default is a
setting with the default rule.  :func:`check_value` (the config file loader, which names the
file and the key) and :func:`check_settings` (``__post_init__``, for configs built in code)
apply the same rules:

- the field's type: an integer is not a boolean, a number (float) also takes an integer, None
  only where the type allows it;
- numbers are finite (no nan, no inf) and, unless the rule gives a range, zero or more;
- text holds no control characters (a NUL in a path is a crash later, not a setting);
- the rule's own range (``low``/``high`` inclusive, ``above`` exclusive), ``choices`` and
  ``check`` (a function that returns what is wrong, or None).
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Union, get_args, get_origin, get_type_hints

RULE = "setting_rule"  # field metadata key

Check = Callable[[Any], "str | None"]


class SettingError(ValueError):
    """A setting's value cannot be used; ``name`` is the field (dotted for nested sections)."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


@dataclass(frozen=True)
class Rule:
    low: float | None = None
    high: float | None = None
    above: float | None = None  # exclusive lower bound: "more than"
    choices: tuple[Any, ...] | None = None
    check: Check | None = None


DEFAULT_RULE = Rule(low=0)


def setting(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    choices: tuple[Any, ...] | None = None,
    check: Check | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field with a default (or a ``factory`` for a mutable one) and the rule its values must keep."""
    if low is None and above is None and choices is None:
        low = DEFAULT_RULE.low  # numbers are never negative unless the rule says so
    metadata = {RULE: Rule(low, high, above, choices, check)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def rule_of(spec: dataclasses.Field[Any]) -> Rule:
    rule = spec.metadata.get(RULE)
    return rule if isinstance(rule, Rule) else DEFAULT_RULE


def check_value(hint: Any, rule: Rule, value: Any) -> Any:
    """The value, converted where the type allows (int to float); ValueError saying what is wrong otherwise."""
    allowed = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise ValueError(f"expected {_type_names(allowed)}, got nothing")
    if isinstance(value, bool) and bool not in allowed:
        raise ValueError(f"expected {_type_names(allowed)}, got a boolean")
    if float in allowed and isinstance(value, int) and not isinstance(value, bool) and int not in allowed:
        try:
            value = float(value)
        except OverflowError:
            raise ValueError("must be a finite number") from None
    if isinstance(value, str) and str not in allowed and PurePath in _classes(allowed):
        value = next(t for t in allowed if isinstance(t, type) and issubclass(t, PurePath))(value)
    if not isinstance(value, _classes(allowed)):
        raise ValueError(f"expected {_type_names(allowed)}, got {_kind(value)}")
    if isinstance(value, PurePath):
        _check_text(str(value))
    if isinstance(value, list | tuple):
        item_hint = next((get_args(t)[0] for t in allowed if get_origin(t) in (list, tuple) and get_args(t)), Any)
        items = []
        for index, item in enumerate(value):
            try:
                items.append(item if item_hint is Any else check_value(item_hint, DEFAULT_RULE, item))
            except ValueError as exc:
                raise ValueError(f"item {index + 1}: {exc}") from None
        value = type(value)(items)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        _check_range(rule, value)
    if isinstance(value, str):
        _check_text(value)
    if rule.choices is not None and value not in rule.choices:
        shown = ", ".join(str(choice) if choice != "" else '""' for choice in rule.choices)
        raise ValueError(f"must be one of {shown}, got {_shown(value)}")
    if rule.check is not None:
        problem = rule.check(value)
        if problem:
            raise ValueError(problem)
    return value


def _classes(allowed: tuple[Any, ...]) -> tuple[type, ...]:
    """The classes a value may be an instance of (list for list[str], Path and its parents for Path)."""
    classes: list[type] = []
    for hint in allowed:
        origin = get_origin(hint) or hint
        if isinstance(origin, type):
            classes.append(origin)
            if issubclass(origin, PurePath):
                classes.append(PurePath)
    return tuple(classes)


def _check_text(value: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")


def check_settings(instance: Any) -> None:
    """Check (and convert) every setting of a dataclass instance; nested dataclasses check themselves."""
    hints = get_type_hints(type(instance))
    for spec in dataclasses.fields(instance):
        hint = hints[spec.name]
        if dataclasses.is_dataclass(hint):
            continue
        value = getattr(instance, spec.name)
        try:
            checked = check_value(hint, rule_of(spec), value)
        except ValueError as exc:
            raise SettingError(spec.name, str(exc)) from None
        if checked is not value:
            object.__setattr__(instance, spec.name, checked)  # frozen: the converted value (int -> float)


def _check_range(rule: Rule, value: float) -> None:
    low, high, above = rule.low, rule.high, rule.above
    if above is not None and not value > above:
        raise ValueError(f"must be more than {_num(above)}" + (f" and at most {_num(high)}" if high is not None else "")
                         + f", got {_num(value)}")
    if low is not None and high is not None and not low <= value <= high:
        raise ValueError(f"must be from {_num(low)} to {_num(high)}, got {_num(value)}")
    if low is not None and value < low:
        raise ValueError("must not be negative" if low == 0 else f"must be at least {_num(low)}, got {_num(value)}")
    if high is not None and value > high:
        raise ValueError(f"must be at most {_num(high)}, got {_num(value)}")


def _num(value: float) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 24 else text[:20] + "..."


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    names: dict[Any, str] = {dict: "a table", list: "an array"}
    return names.get(type(value), type(value).__name__)


def _type_names(types_: tuple[Any, ...]) -> str:
    names: dict[Any, str] = {
        int: "an integer", float: "a number", str: "a string", bool: "true/false", list: "an array", tuple: "an array",
    }
    return " or ".join(names.get(get_origin(t) or t, "a path" if t in (Path, PurePath) else str(t))
                       for t in types_ if t is not type(None))


def replace_default(cls: type, name: str, default: Any) -> Any:
    """``name``'s field of ``cls`` with another default: a subclass changes a default, not the rule."""
    spec = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field(default=default, metadata=spec.metadata)
