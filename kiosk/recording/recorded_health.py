"""A replay's device health: what the kiosk's monitor saw, as recorded."""

from __future__ import annotations

from typing import Any

from devices.health import HEALTH_OK, Health, HealthLevel
from kiosk.recording.session import Event


class RecordedHealth:
    """The camera's and card reader's health for a replay: the session's "health" events, not probes.

    The services ask it instead of the devices (``ServiceHooks.device_health``); each recorded
    change is fed at its instant and taken at once (``KioskServices.apply_device_health``).
    """

    DEVICES = ("camera", "card")

    def __init__(self, snapshot: dict[str, Any], notes: list[str]) -> None:
        self._notes = notes
        self._health = {device: _health_of(snapshot.get(f"{device}_health")) or HEALTH_OK
                        for device in self.DEVICES}

    def __call__(self, device: str) -> Health:
        return self._health.get(device, HEALTH_OK)

    def feed(self, event: Event) -> bool:
        device = event.data.get("device")
        health = _health_of([event.data.get("level"), event.data.get("reason", "")])
        if device not in self.DEVICES or health is None:
            self._notes.append(f"t={event.t:.3f}: a health event that cannot be replayed: {event.describe()}")
            return False
        self._health[str(device)] = health
        return True


def _health_of(pair: Any) -> Health | None:
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return None
    try:
        return Health(HealthLevel(str(pair[0])), str(pair[1] or ""))
    except ValueError:
        return None
