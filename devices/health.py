"""Device health as every device kind reports it."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class HealthLevel(str, enum.Enum):
    OK = "ok"
    WARNING = "warning"  # works, but needs attention soon (paper near end)
    CRITICAL = "critical"  # cannot do its job (offline, paper out, cover open)


@dataclass(frozen=True)
class Health:
    level: HealthLevel
    reason: str = ""  # short machine-readable reason, e.g. "paper_out"; empty when OK

    @property
    def ok(self) -> bool:
        return self.level is HealthLevel.OK

    @property
    def critical(self) -> bool:
        return self.level is HealthLevel.CRITICAL


HEALTH_OK = Health(HealthLevel.OK)
