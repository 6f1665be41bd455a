"""Comparing a replay's own session with the recorded one: the first place they differ.

Screens, printer jobs, central requests, card commands and device health are compared in
order, each on the fields that must come out the same (nonces, times, idempotency keys and
claim grants normalised).  Sessions recorded before the screens were grouped per journey
name them the old way ("review"); they compare with the new names ("pickup.review").
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from backend_client.wire import Routes
from kiosk.recording.session import Event

# The kiosk's background polls of the central: their thread runs on its own clock, so where they
# fall between a journey's requests is chance.  They are compared as a stream of their own.
POLL_PATHS = frozenset({Routes.HELLO, Routes.KEYS, Routes.REVOCATIONS, Routes.CARD_BLACKLIST})

# The names the screens had before they were grouped per journey, as recorded sessions hold them.
LEGACY_SCREEN_NAMES = {
    "idle": "home",
    **{step: f"pickup.{step}" for step in ("enter_code", "looking_up", "review", "printing", "done", "refused")},
}


def screen_name(name: Any) -> Any:
    """A recorded screen name as this app names it."""
    return LEGACY_SCREEN_NAMES.get(name, name) if isinstance(name, str) else name


@dataclass
class Difference:
    stream: str  # screens | printer | central | central polls | card | health | face | inputs
    index: int
    t: float
    recorded: str
    replayed: str

    def describe(self) -> str:
        return (f"first difference in {self.stream} #{self.index + 1} (t={self.t:.3f} s):\n"
                f"  recorded: {self.recorded}\n  replayed: {self.replayed}")


_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
# A claim grant is an HMAC over an expiry time: fresh on every lookup, like a nonce.
_VOLATILE_KEYS = ("nonce", "timestamp", "time", "idempotency", "grant")


def normalise(value: Any, key: str = "") -> Any:
    """Identifiers made fresh on each run, nonces and times become placeholders."""
    lowered = key.lower()
    if lowered and (any(word in lowered for word in _VOLATILE_KEYS) or lowered.endswith("_at")):
        return f"<{key}>"
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and _TIME_RE.match(value):
        return "<time>"
    return value


def _view(event: Event) -> dict[str, Any]:
    """The part of an output event that must come out the same (only the fields the session has)."""
    data = event.data
    if event.kind == "screen":
        view = {"screen": screen_name(data.get("screen"))}
        if "detail" in data:
            view["detail"] = data["detail"]
        return view
    if event.kind == "printer":
        return {"data": data["data"]} if "data" in data else {}
    if event.kind == "apdu":
        return {"command": data.get("command"), "slot": data.get("slot") or "card"}
    if event.kind == "health":
        return {name: data.get(name) for name in ("device", "level", "reason")}
    if event.kind == "face":  # the checks the journey began and what came of them (never a face)
        return {name: data[name] for name in ("op", "challenge", "outcome", "frames") if name in data}
    view = {"method": data.get("method"), "path": data.get("path")}
    for name in ("attempt", "body", "body_text"):
        if name in data:
            view[name] = normalise(data[name])
    if "headers" in data:
        view["idempotency"] = "Idempotency-Key" in (data["headers"] or {})
    return view


def _same(recorded: dict[str, Any], replayed: dict[str, Any]) -> bool:
    return all(replayed.get(key) == value for key, value in recorded.items())


def streams(events: list[Event]) -> dict[str, list[Event]]:
    return {
        "screens": [e for e in events if e.kind == "screen"],
        "printer": [e for e in events if e.kind == "printer" and e.data.get("op") == "job"],
        "central": [e for e in events if e.kind == "central" and not _is_poll(e)],
        "central polls": [e for e in events if e.kind == "central" and _is_poll(e)],
        "card": [e for e in events if e.kind == "apdu"],  # the commands the kiosk sent to the card
        "health": [e for e in events if e.kind == "health"],  # camera and reader health as the kiosk took it
        "face": [e for e in events if e.kind == "face"],  # face checks begun, cancelled and their results
    }


def _is_poll(event: Event) -> bool:
    return event.data.get("method") == "GET" and str(event.data.get("path", "")).split("?")[0] in POLL_PATHS


def _short(event: Event | None) -> str:
    if event is None:
        return "(nothing)"
    view = _view(event)
    if "data" in view:
        data = str(view["data"])
        view["data"] = f"{len(data) // 2} bytes: {data[:96]}{'...' if len(data) > 96 else ''}"
    return json.dumps(view, ensure_ascii=False)[:400]


def first_difference(recorded: list[Event], replayed: list[Event]) -> Difference | None:
    """The earliest (by recorded time) place where the replay did something else."""
    found: list[Difference] = []
    replayed_streams = streams(replayed)
    for name, expected in streams(recorded).items():
        actual = replayed_streams[name]
        for index in range(max(len(expected), len(actual))):
            want = expected[index] if index < len(expected) else None
            got = actual[index] if index < len(actual) else None
            if want is not None and got is not None and _same(_view(want), _view(got)):
                continue
            t = want.t if want is not None else (got.t if got is not None else math.inf)
            found.append(Difference(name, index, t, _short(want), _short(got)))
            break
    return min(found, key=lambda d: d.t) if found else None
