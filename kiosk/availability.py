"""What the kiosk can do right now, from its devices' health and the central's reachability."""

from __future__ import annotations

from dataclasses import dataclass

from devices.health import HEALTH_OK, Health


@dataclass(frozen=True)
class Availability:
    printer: Health = HEALTH_OK
    camera: Health = HEALTH_OK
    card: Health = HEALTH_OK  # shown to staff; no journey needs the card yet, so never out of service
    central_reachable: bool = True

    @property
    def can_pick_up(self) -> bool:
        """Every pickup prints and needs the central (no offline ticketing)."""
        return not self.printer.critical and self.central_reachable

    @property
    def can_scan(self) -> bool:
        return not self.camera.critical

    @property
    def out_of_service_reason(self) -> str:
        """Empty when in service; else a translation key for the idle screen."""
        if self.printer.critical:
            return "out_of_service.printer"
        if not self.central_reachable:
            return "out_of_service.offline"
        return ""
