"""Comparing a replay with its session: what counts as the same run."""

from __future__ import annotations

from kiosk.recording.compare import first_difference
from kiosk.recording.session import Event


def _central(t: float, method: str, path: str) -> Event:
    return Event(t, "central", {"method": method, "path": path, "attempt": 1, "body": None})


def test_a_status_poll_may_fall_anywhere_between_a_journeys_requests() -> None:
    # The status poll runs on its own thread: recorded after the report, replayed before it.
    recorded = [_central(1.0, "POST", "/api/v1/claims/c1/printing"), _central(1.1, "POST", "/api/v1/claims/c1/report"),
                _central(1.2, "GET", "/api/v1/hello")]
    replayed = [_central(1.0, "POST", "/api/v1/claims/c1/printing"), _central(1.05, "GET", "/api/v1/hello"),
                _central(1.1, "POST", "/api/v1/claims/c1/report")]
    assert first_difference(recorded, replayed) is None


def test_a_journeys_requests_out_of_order_or_a_missing_poll_still_differ() -> None:
    recorded = [_central(1.0, "POST", "/api/v1/claims/c1/printing"), _central(1.1, "POST", "/api/v1/claims/c1/report"),
                _central(1.2, "GET", "/api/v1/hello")]
    swapped = [recorded[1], recorded[0], recorded[2]]
    difference = first_difference(recorded, swapped)
    assert difference is not None and difference.stream == "central"
    no_poll = first_difference(recorded, recorded[:2])
    assert no_poll is not None and no_poll.stream == "central polls"
