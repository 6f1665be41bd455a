"""The face check as recorded and as replayed, never keeping a face.

:class:`RecordingFaceChecker` wraps the kiosk's face check (the services install it when a
recorder is attached): each check begun, cancelled and its result become ``face`` events, with
the challenge, the outcome, the number of frames and the seconds it took; never a frame, never
the encoding.  The central's answer to the attempt (``FaceVerdict``, with its distance) is in
the session as every central answer is.

:class:`ReplayFaceChecker` stands in for the check in a replay: the replayer feeds it the
session's recorded results at their instants; a live result carries a placeholder encoding
(the central's recorded verdict decides, as it did), and the challenges the journey asks are
the recorded ones, in order, so the screens show what the person saw.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from backend_client.wire import FACE_ENCODING_LENGTH
from devices.face_api import (
    Challenge,
    FaceChecker,
    FaceCheckResult,
    FaceEvent,
    FaceListener,
    FaceOutcome,
    random_challenge,
)
from kiosk.recording.session import Event

FACE = "face"  # the event kind
PLACEHOLDER_ENCODING: tuple[float, ...] = (0.0,) * FACE_ENCODING_LENGTH


class FaceObserver(Protocol):
    """Where a recording face check reports (the recorder's ``event``)."""

    def event(self, kind: str, **data: Any) -> None: ...


def result_fields(result: FaceCheckResult) -> dict[str, Any]:
    """A result as a session keeps it: what happened, not who it was."""
    return {"op": "result", "outcome": result.outcome.value, "challenge": result.challenge.text,
            "frames": int(result.frames), "seconds": round(float(result.seconds), 3)}


class RecordingFaceChecker:
    """The kiosk's face check, with every check begun, cancelled and ended told to the recorder."""

    def __init__(self, inner: FaceChecker, observer: FaceObserver) -> None:
        self.inner = inner
        self._observer = observer

    def begin(self, challenge: Challenge, listener: FaceListener) -> None:
        self._observer.event(FACE, op="begin", challenge=challenge.text)

        def recorded(event: FaceEvent) -> None:  # on the check's thread, before the kiosk sees it
            if isinstance(event, FaceCheckResult):
                self._observer.event(FACE, **result_fields(event))
            listener(event)

        self.inner.begin(challenge, recorded)

    def cancel(self) -> None:
        self._observer.event(FACE, op="cancel")
        self.inner.cancel()

    def preview(self) -> np.ndarray | None:
        return self.inner.preview()


class ReplayFaceChecker:
    """A face check that plays a session back: results fed by the replayer, never a camera."""

    def __init__(self, events: Iterable[Event], notes: list[str]) -> None:
        self._notes = notes
        begun = [e for e in events if e.kind == FACE and e.data.get("op") == "begin"]
        self._challenges: collections.deque[Challenge] = collections.deque()
        for event in begun:
            try:
                self._challenges.append(Challenge.parse(str(event.data.get("challenge") or "")))
            except ValueError:
                notes.append(f"t={event.t:.3f}: a face check's challenge that cannot be replayed: {event.describe()}")
        self._listener: FaceListener | None = None

    def next_challenge(self) -> Challenge:
        """The challenge the journey asked at this point of the session (random past the recorded ones)."""
        return self._challenges.popleft() if self._challenges else random_challenge()

    def feed(self, event: Event) -> None:
        """A recorded ``face`` event: a result reaches the journey as the check delivered it."""
        if event.data.get("op") != "result":
            return
        try:
            outcome = FaceOutcome(str(event.data.get("outcome")))
            challenge = Challenge.parse(str(event.data.get("challenge") or ""))
            frames, seconds = int(event.data.get("frames") or 0), float(event.data.get("seconds") or 0.0)
        except (ValueError, TypeError):
            self._notes.append(f"t={event.t:.3f}: a face result that cannot be replayed: {event.describe()}")
            return
        listener = self._listener
        if listener is None:
            self._notes.append(f"t={event.t:.3f}: a face result while no check was running")
            return
        encoding = PLACEHOLDER_ENCODING if outcome is FaceOutcome.LIVE else None
        listener(FaceCheckResult(outcome, challenge, encoding, frames, seconds))

    # ---- FaceChecker ----

    def begin(self, challenge: Challenge, listener: FaceListener) -> None:
        self._listener = listener

    def cancel(self) -> None:
        """The recorded session holds what came of the cancel (if anything reached the journey)."""

    def preview(self) -> np.ndarray | None:
        return None
