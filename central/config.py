"""The central's settings: environment variables with defaults (documented in central/README.md).

Every setting read from the environment is declared once, with its variable and its valid
range (:func:`ranged`); ``Settings`` checks them all, however it is built, so a value the
central cannot use stops it at start with one line naming the variable, never a crash later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_VAR_DIR = Path("var")

HOUR = 3600
DAY = 24 * HOUR
# Field metadata keys of a ranged setting.
ENV_VAR = "env"
VALID_RANGE = "range"


class SettingsError(ValueError):
    """An environment variable holds a value the central cannot use."""


def ranged(default: int, env: str, low: int, high: int) -> Any:
    """A whole-number setting read from ``env``, valid from ``low`` to ``high`` (both included)."""
    return field(default=default, metadata={ENV_VAR: env, VALID_RANGE: (low, high)})


def _env_absolute_path(name: str) -> Path | None:
    """A file or folder named by the environment: absolute, so every command finds the same one."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    path = Path(raw)
    if not path.is_absolute():
        raise SettingsError(f"{name} must be an absolute path (it must not depend on the working folder), got {raw!r}")
    return path


FACE_THRESHOLD_RANGE = (0.30, 0.60)
SMS_GATEWAYS = ("spool", "http")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw[:40]!r}") from None
    if value != value:  # NaN
        raise SettingsError(f"{name} must be a number, got {raw[:40]!r}")
    return value


def default_db_url() -> str:
    return os.environ.get("CENTRAL_DB_URL") or f"sqlite:///{DEFAULT_VAR_DIR / 'central.db'}"


@dataclass(frozen=True)
class Settings:
    db_url: str = field(default_factory=default_db_url)
    # The one place the central's secrets live (CENTRAL_SECRETS_DIR, absolute); None: not configured.
    secrets_dir: Path | None = None
    # Pickup opens this many hours before the show starts.
    pickup_opens_hours: int = ranged(24, "CENTRAL_PICKUP_OPENS_HOURS", 0, 365 * 24)
    claim_lease_seconds: int = ranged(120, "CENTRAL_CLAIM_LEASE_SECONDS", 1, HOUR)
    # A lookup's claim grant stays valid this long: enough for a person to review the order.
    claim_grant_seconds: int = ranged(900, "CENTRAL_CLAIM_GRANT_SECONDS", 1, DAY)
    # Per-serial lockout: this many wrong codes within the window lock the serial.
    serial_max_failures: int = ranged(5, "CENTRAL_SERIAL_MAX_FAILURES", 1, 1000)
    serial_window_seconds: int = ranged(900, "CENTRAL_SERIAL_WINDOW_SECONDS", 1, 7 * DAY)
    lockout_seconds: int = ranged(900, "CENTRAL_LOCKOUT_SECONDS", 1, 7 * DAY)
    # Per-kiosk delay: after this many failures within the window each attempt waits longer.
    kiosk_free_failures: int = ranged(5, "CENTRAL_KIOSK_FREE_FAILURES", 1, 1000)
    kiosk_window_seconds: int = ranged(600, "CENTRAL_KIOSK_WINDOW_SECONDS", 1, 7 * DAY)
    kiosk_delay_base_seconds: int = ranged(2, "CENTRAL_KIOSK_DELAY_BASE_SECONDS", 1, HOUR)
    kiosk_delay_max_seconds: int = ranged(300, "CENTRAL_KIOSK_DELAY_MAX_SECONDS", 1, DAY)
    # A rotated-out signing key keeps verifying this long (tokens printed with it stay valid).
    key_overlap_seconds: int = ranged(7 * DAY, "CENTRAL_KEY_OVERLAP_SECONDS", 0, 366 * DAY)
    # -- year-cards and staff --
    # Visits a card type gets when head office does not say (the seed: at least 10 by default).
    card_default_visits: int = ranged(10, "CENTRAL_CARD_DEFAULT_VISITS", 1, 9999)
    # A redemption's seats are held this long for the card to be debited (until the debit is announced).
    card_hold_seconds: int = ranged(300, "CENTRAL_CARD_HOLD_SECONDS", 10, HOUR)
    # An owed redemption prints at a kiosk only this long after its card was tapped there.
    card_tap_window_seconds: int = ranged(300, "CENTRAL_CARD_TAP_WINDOW_SECONDS", 10, HOUR)
    staff_session_seconds: int = ranged(12 * HOUR, "CENTRAL_STAFF_SESSION_SECONDS", 60, 7 * DAY)
    staff_max_failures: int = ranged(5, "CENTRAL_STAFF_MAX_FAILURES", 1, 100)
    staff_lockout_seconds: int = ranged(900, "CENTRAL_STAFF_LOCKOUT_SECONDS", 1, 7 * DAY)
    # -- lost-ticket recovery (central/recovery.py) --
    # A recovery session (phone named, verification, completion) lasts this long.
    recovery_session_seconds: int = ranged(600, "CENTRAL_RECOVERY_SESSION_SECONDS", 60, HOUR)
    recovery_face_attempts: int = ranged(3, "CENTRAL_RECOVERY_FACE_ATTEMPTS", 1, 10)
    recovery_sms_codes: int = ranged(3, "CENTRAL_RECOVERY_SMS_CODES", 1, 10)
    recovery_sms_code_seconds: int = ranged(300, "CENTRAL_RECOVERY_SMS_CODE_SECONDS", 60, HOUR)
    recovery_sms_wrong_entries: int = ranged(3, "CENTRAL_RECOVERY_SMS_WRONG_ENTRIES", 1, 10)
    # A new code for the same session only after this wait (the SMS may just be slow).
    recovery_sms_resend_seconds: int = ranged(30, "CENTRAL_RECOVERY_SMS_RESEND_SECONDS", 0, 600)
    # Kiosk recovery closes this many minutes before the show (the counter helps after that).
    recovery_deadline_minutes: int = ranged(30, "CENTRAL_RECOVERY_DEADLINE_MINUTES", 0, 24 * 60)
    # Sessions started per phone number and per kiosk within an hour (refused starts count too).
    recovery_phone_sessions_per_hour: int = ranged(5, "CENTRAL_RECOVERY_PHONE_SESSIONS_PER_HOUR", 1, 1000)
    recovery_kiosk_sessions_per_hour: int = ranged(30, "CENTRAL_RECOVERY_KIOSK_SESSIONS_PER_HOUR", 1, 100000)
    # 1: a recovery start must name the ID number's last 4 characters too.
    recovery_require_id_last4: int = ranged(0, "CENTRAL_RECOVERY_REQUIRE_ID_LAST4", 0, 1)
    # Largest Euclidean distance between 128-d encodings accepted as the same person
    # (docs/benchmarks.md: measured on ../shared/data/faces).
    face_match_threshold: float = 0.50  # CENTRAL_FACE_MATCH_THRESHOLD, 0.30 to 0.60
    # The SMS gateway: None (SMS not offered), "spool" (the simulator's file) or "http".
    sms_gateway: str | None = None  # CENTRAL_SMS_GATEWAY
    sms_spool: Path | None = None  # CENTRAL_SMS_SPOOL: the simulator's file (absolute)
    sms_gateway_url: str | None = None  # CENTRAL_SMS_GATEWAY_URL: https://... of the provider
    # Optional fixed secrets from the environment instead of files in secrets_dir.
    code_secret: str | None = None
    signing_key: str | None = None

    # -- where and how `serve` listens (fail closed: TLS, or plain HTTP on loopback only) --
    listen_host: str = "127.0.0.1"  # CENTRAL_HOST
    listen_port: int = ranged(8700, "CENTRAL_PORT", 1, 65535)
    tls_cert_file: Path | None = None  # CENTRAL_TLS_CERT: PEM certificate chain; with the key, serve HTTPS
    tls_key_file: Path | None = None  # CENTRAL_TLS_KEY: PEM private key of that certificate

    def __post_init__(self) -> None:
        check_ranges(self)
        if not FACE_THRESHOLD_RANGE[0] <= self.face_match_threshold <= FACE_THRESHOLD_RANGE[1]:
            raise SettingsError(
                f"CENTRAL_FACE_MATCH_THRESHOLD must be from {FACE_THRESHOLD_RANGE[0]} to {FACE_THRESHOLD_RANGE[1]}, "
                f"got {self.face_match_threshold}"
            )
        if self.sms_gateway not in (None, *SMS_GATEWAYS):
            raise SettingsError(
                f"CENTRAL_SMS_GATEWAY must be one of {', '.join(SMS_GATEWAYS)}, got {self.sms_gateway!r}")
        if self.sms_gateway == "spool" and self.sms_spool is None:
            raise SettingsError("CENTRAL_SMS_GATEWAY=spool needs CENTRAL_SMS_SPOOL (an absolute file path)")
        if self.sms_gateway == "http" and not (self.sms_gateway_url or "").startswith(("https://", "http://")):
            raise SettingsError("CENTRAL_SMS_GATEWAY=http needs CENTRAL_SMS_GATEWAY_URL (https://...)")

    @classmethod
    def from_env(cls, db_url: str | None = None) -> Settings:
        return cls(
            db_url=db_url or default_db_url(),
            secrets_dir=_env_absolute_path("CENTRAL_SECRETS_DIR"),
            code_secret=os.environ.get("CENTRAL_CODE_SECRET") or None,
            signing_key=os.environ.get("CENTRAL_SIGNING_KEY") or None,
            listen_host=os.environ.get("CENTRAL_HOST") or "127.0.0.1",
            tls_cert_file=_env_absolute_path("CENTRAL_TLS_CERT"),
            tls_key_file=_env_absolute_path("CENTRAL_TLS_KEY"),
            face_match_threshold=_env_float("CENTRAL_FACE_MATCH_THRESHOLD", 0.50),
            sms_gateway=(os.environ.get("CENTRAL_SMS_GATEWAY") or "").strip() or None,
            sms_spool=_env_absolute_path("CENTRAL_SMS_SPOOL"),
            sms_gateway_url=(os.environ.get("CENTRAL_SMS_GATEWAY_URL") or "").strip() or None,
            **ranged_from_env(cls),
        )


# -- ranged settings: generic, for every field declared with ranged() --------------------------


def ranged_from_env(cls: type) -> dict[str, int]:
    """The ranged settings of ``cls`` that the environment sets (blank means the default)."""
    values: dict[str, int] = {}
    for spec in fields(cls):
        name = spec.metadata.get(ENV_VAR)
        raw = os.environ.get(name) if name else None
        if name is None or raw is None or raw.strip() == "":
            continue
        try:
            values[spec.name] = int(raw.strip())
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {raw[:40]!r}") from None
    return values


def check_ranges(settings: object) -> None:
    """Raise SettingsError for the first ranged setting outside its range (named by its variable)."""
    for spec in fields(settings):  # type: ignore[arg-type]  # a dataclass instance
        if VALID_RANGE not in spec.metadata:
            continue
        low, high = spec.metadata[VALID_RANGE]
        value = getattr(settings, spec.name)
        name = spec.metadata.get(ENV_VAR, spec.name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{name} must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise SettingsError(f"{name} must be from {low} to {high}, got {value}")
