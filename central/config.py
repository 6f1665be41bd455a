"""The central's settings: environment variables with defaults (documented in central/README.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_VAR_DIR = Path("var")


class SettingsError(ValueError):
    """An environment variable holds a value the central cannot use."""


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _env_absolute_path(name: str) -> Path | None:
    """A file or folder named by the environment: absolute, so every command finds the same one."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    path = Path(raw)
    if not path.is_absolute():
        raise SettingsError(f"{name} must be an absolute path (it must not depend on the working folder), got {raw!r}")
    return path


def default_db_url() -> str:
    return os.environ.get("CENTRAL_DB_URL") or f"sqlite:///{DEFAULT_VAR_DIR / 'central.db'}"


@dataclass(frozen=True)
class Settings:
    db_url: str = field(default_factory=default_db_url)
    # The one place the central's secrets live (CENTRAL_SECRETS_DIR, absolute); None: not configured.
    secrets_dir: Path | None = None
    # Pickup opens this many hours before the show starts.
    pickup_opens_hours: int = 24
    claim_lease_seconds: int = 120
    # A lookup's claim grant stays valid this long: enough for a person to review the order.
    claim_grant_seconds: int = 900
    # Per-serial lockout: this many wrong codes within the window lock the serial.
    serial_max_failures: int = 5
    serial_window_seconds: int = 900
    lockout_seconds: int = 900
    # Per-kiosk delay: after this many failures within the window each attempt waits longer.
    kiosk_free_failures: int = 5
    kiosk_window_seconds: int = 600
    kiosk_delay_base_seconds: int = 2
    kiosk_delay_max_seconds: int = 300
    # A rotated-out signing key keeps verifying this long (tokens printed with it stay valid).
    key_overlap_seconds: int = 7 * 24 * 3600
    # Optional fixed secrets from the environment instead of files in secrets_dir.
    code_secret: str | None = None
    signing_key: str | None = None

    # -- where and how `serve` listens (fail closed: TLS, or plain HTTP on loopback only) --
    listen_host: str = "127.0.0.1"  # CENTRAL_HOST
    listen_port: int = 8700  # CENTRAL_PORT
    tls_cert_file: Path | None = None  # CENTRAL_TLS_CERT: PEM certificate chain; with the key, serve HTTPS
    tls_key_file: Path | None = None  # CENTRAL_TLS_KEY: PEM private key of that certificate

    @classmethod
    def from_env(cls, db_url: str | None = None) -> Settings:
        return cls(
            db_url=db_url or default_db_url(),
            secrets_dir=_env_absolute_path("CENTRAL_SECRETS_DIR"),
            pickup_opens_hours=_env_int("CENTRAL_PICKUP_OPENS_HOURS", 24),
            claim_lease_seconds=_env_int("CENTRAL_CLAIM_LEASE_SECONDS", 120, minimum=1),
            claim_grant_seconds=_env_int("CENTRAL_CLAIM_GRANT_SECONDS", 900, minimum=1),
            serial_max_failures=_env_int("CENTRAL_SERIAL_MAX_FAILURES", 5, minimum=1),
            serial_window_seconds=_env_int("CENTRAL_SERIAL_WINDOW_SECONDS", 900, minimum=1),
            lockout_seconds=_env_int("CENTRAL_LOCKOUT_SECONDS", 900, minimum=1),
            kiosk_free_failures=_env_int("CENTRAL_KIOSK_FREE_FAILURES", 5, minimum=1),
            kiosk_window_seconds=_env_int("CENTRAL_KIOSK_WINDOW_SECONDS", 600, minimum=1),
            kiosk_delay_base_seconds=_env_int("CENTRAL_KIOSK_DELAY_BASE_SECONDS", 2, minimum=1),
            kiosk_delay_max_seconds=_env_int("CENTRAL_KIOSK_DELAY_MAX_SECONDS", 300, minimum=1),
            key_overlap_seconds=_env_int("CENTRAL_KEY_OVERLAP_SECONDS", 7 * 24 * 3600, minimum=0),
            code_secret=os.environ.get("CENTRAL_CODE_SECRET") or None,
            signing_key=os.environ.get("CENTRAL_SIGNING_KEY") or None,
            listen_host=os.environ.get("CENTRAL_HOST") or "127.0.0.1",
            listen_port=_env_int("CENTRAL_PORT", 8700),
            tls_cert_file=_env_absolute_path("CENTRAL_TLS_CERT"),
            tls_key_file=_env_absolute_path("CENTRAL_TLS_KEY"),
        )
