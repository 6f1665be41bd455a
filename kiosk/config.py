"""Kiosk configuration: built-in defaults, optionally overridden by one TOML file.

Every key is documented in docs/config.md and config/default.toml.  A named file that is
missing or invalid stops the kiosk with one line naming the file and the key.

Every setting has a type and a range, declared once where it is defined (devices/settings.py):
the printer's and the camera's sections are the devices' own configs, extended with what only
the kiosk needs.  A new setting is a field with a default (numbers: zero or more, text: no
control characters) or ``setting(default, low=..., high=..., choices=..., check=...)``.
"""

from __future__ import annotations

import dataclasses
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit

from devices.camera import CameraConfig
from devices.printer import PrinterConfig
from devices.settings import SettingError, check_settings, check_value, replace_default, rule_of, setting

# The demo's and dev mode's devices: simulators, a local central over plain HTTP.
DEMO_CONFIG_FILE = Path(__file__).resolve().parents[1] / "config" / "demo.toml"
INJECTED_CAMERA = "injected"  # camera.source of the simulated camera


class ConfigError(Exception):
    def __init__(self, source: str, key: str, problem: str) -> None:
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


# -- checks of single settings (devices/settings.py applies them with the types and ranges) --------


def _timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"not a known time zone: {value[:60]!r} (an IANA name such as Asia/Shanghai)"
    return None


def _http_url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        port, parts = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return f"not an http(s) URL: {value[:60]!r} (e.g. http://central.example:8700)"
    if port == 0:
        return f"not an http(s) URL: {value[:60]!r} (port 0)"
    return None


def _not_empty(value: str) -> str | None:
    return "must not be empty" if not value.strip() else None


class Section:
    """A config section checks its settings however it is built (file, overrides, code)."""

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True)
class KioskSection(Section):
    name: str = setting("Lobby-Demo-01", check=_not_empty)  # shown to staff; masked when shown to moviegoers
    language: str = setting("zh_CN", choices=("zh_CN", "zh_TW", "en"))
    cinema_timezone: str = setting("Asia/Shanghai", check=_timezone)
    data_dir: str = setting("var/kiosk", check=_not_empty)  # journal, caches, screenshots
    dev_mode: bool = False

    # -- fail closed (docs/config.md "Production and simulators") --
    allow_simulators: bool = False  # `kiosk run` accepts simulated devices (demo and dev machines only)

    # -- counter mode (docs/counter.md): the same app at the sales counter, behind a staff login --
    mode: str = setting("lobby", choices=("lobby", "counter"))


@dataclass(frozen=True)
class CentralSection(Section):
    url: str = setting("https://central.invalid:8700", check=_http_url)  # set per site; .invalid never resolves
    credential_file: str = "/etc/ticket-kiosk/kiosk.credential"  # "<kiosk_id>.<secret>"; never in the repo
    timeout_s: float = setting(4.0, above=0, high=300)
    retries: int = setting(2, low=0, high=10)
    trust_refresh_s: float = setting(300.0, above=0, high=7 * 86400)  # key set and revocation list
    outbox_retry_s: float = setting(15.0, above=0, high=86400)

    # -- TLS to the central (fail closed; docs/config.md "TLS to the central") --
    ca_file: str = ""  # PEM of the CA the central's certificate must chain to; "" = the system's CAs
    cert_sha256: str = ""  # pin: SHA-256 fingerprint of the central's certificate (hex, colons ok); "" = none
    allow_plain_http: bool = False  # `kiosk run` accepts an http:// central anywhere (never in a lobby)


@dataclass(frozen=True)
class PrinterSection(PrinterConfig, Section):
    """The printer's own settings (devices.printer.PrinterConfig) plus the kiosk's virtual printer."""

    simulate: bool = False  # start the virtual printer on host:port (a simulator: demo and dev only)
    simulator_out_dir: str = "var/kiosk/printed"


@dataclass(frozen=True)
class CameraSection(CameraConfig, Section):
    """The camera's own settings (devices.camera.CameraConfig)."""

    # device index ("0"), a video file or an image folder; "injected" = the simulated camera (frames
    # pushed by the demo, dev mode or tests); "" = no camera (the QR path is off: code entry only)
    source: str = setting("0", check=lambda value: "must not be blank" if value and not value.strip() else None)
    fps: float = replace_default(CameraConfig, "fps", 10.0)
    loop: bool = True

    def device_config(self, source: str | None = None) -> CameraConfig:
        """The scanner's config: this section with its source (a digit string is a device index) or ``source``."""
        target = self.source if source is None else source
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in dataclasses.fields(CameraConfig)}
        values["source"] = int(target) if target.isdigit() else target
        return CameraConfig(**values)


@dataclass(frozen=True)
class CardSection(Section):
    reader: str = setting("pcsc", choices=("", "sim", "pcsc"))  # "" = none | sim (in-process) | pcsc (pcscd)
    reader_name_pattern: str = ""  # pcsc: the first reader whose name contains this; "" = the first
    poll_s: float = setting(0.5, above=0, high=60)  # pcsc: how often the reader list and card state are looked at
    # pcsc: the PSAM's reader (the kiosk's second slot): the first reader whose name contains this; "" = no
    # PSAM (year-cards are read by no one: the card journey is off)
    psam_reader_name_pattern: str = ""
    # sim: the PSAM in the simulator's second slot, from an image file (`python -m devices.sim.yearcard demo`
    # makes one with test keys); "" = no PSAM.  sim_card_image: the year-card dev mode and the demo put on
    # the simulated reader.
    sim_psam_image: str = ""
    sim_card_image: str = ""


@dataclass(frozen=True)
class PickupSection(Section):
    idle_timeout_s: float = setting(60.0, above=0, high=3600)  # a screen left alone this long returns to idle
    still_there_s: float = setting(15.0, low=0, high=3600)  # the "still there?" prompt shows this long before
    done_screen_s: float = setting(12.0, above=0, high=3600)
    wrong_code_free_tries: int = setting(2, low=0, high=100)  # wrong codes before the kiosk starts to slow down
    wrong_code_delay_s: float = setting(3.0, low=0, high=3600)  # first delay; doubles for each further wrong code
    wrong_code_delay_max_s: float = setting(120.0, low=0, high=3600)
    wrong_code_forget_s: float = setting(600.0, low=0, high=86400)  # a quiet kiosk forgets earlier wrong codes


def _offline_redemption(value: bool) -> str | None:
    # Seats cannot be held, nor tickets signed, without the central: nothing honest to switch on yet.
    return "not supported by this kiosk (seats and tickets need the central); leave it false" if value else None


@dataclass(frozen=True)
class YearCardSection(Section):
    enabled: bool = True  # the patron's year-card journey (needs card.reader and the PSAM)
    # Chinese cinema rules forbid ticketing offline: redemption is refused when the central is unreachable.
    offline_redemption: bool = setting(False, check=_offline_redemption)
    idle_timeout_s: float = setting(60.0, above=0, high=3600)  # a screen left alone this long returns to idle
    still_there_s: float = setting(15.0, low=0, high=3600)
    done_screen_s: float = setting(12.0, above=0, high=3600)
    put_back_timeout_s: float = setting(120.0, above=0, high=3600)  # a card pulled mid-debit: then staff
    card_timeout_s: float = setting(3.0, above=0, high=60)  # one APDU to the card or the PSAM
    blacklist_refresh_s: float = setting(60.0, low=0, high=86400)  # with the status poll, at most this often


def _consent_version(value: str) -> str | None:
    # Travels to the central as RecoveryStart.face_consent (backend_client.wire.CONSENT_VERSION_PATTERN).
    import re

    from backend_client.wire import CONSENT_VERSION_PATTERN

    return None if re.fullmatch(CONSENT_VERSION_PATTERN, value) else \
        "1 to 40 letters, digits, '.', '_' or '-' (the version of the consent text people agree to)"


@dataclass(frozen=True)
class RecoverySection(Section):
    """The lost-ticket journey (docs/recovery.md): who it asks for what, and how long it waits."""

    enabled: bool = True  # "Lost your ticket?" on the home screen
    ask_id_digits: bool = False  # ask the ID number's last 4 characters after the phone (the central may ask too)
    face: bool = True  # offer the face check (needs a camera and the face models; else the SMS code only)
    # The version of the face-check consent text shown; recorded by the central with the person's consent.
    consent_version: str = setting("face-consent-1", check=_consent_version)
    face_timeout_s: float = setting(20.0, above=0, high=300)  # one face check: the challenge done in this time
    idle_timeout_s: float = setting(60.0, above=0, high=3600)  # never while the camera is checking a face
    still_there_s: float = setting(15.0, low=0, high=3600)
    done_screen_s: float = setting(15.0, above=0, high=3600)


@dataclass(frozen=True)
class CounterSection(Section):
    """Counter mode (kiosk.mode = "counter"): the staff session and what the counter may do."""

    idle_logout_s: float = setting(300.0, above=0, high=8 * 3600)  # no touch and no tap this long: logged out
    max_concession_visits: int = setting(20, low=1, high=99)  # visits one concession deduction may take
    tickets: bool = True  # the counter has a ticket printer ([printer]): staff redeem visits for tickets too


@dataclass(frozen=True)
class RecordingSection(Section):
    enabled: bool = False  # record from start-up (`kiosk run`); staff can also switch it on and off
    dir: str = setting("var/kiosk/recordings", check=_not_empty)  # one folder per session
    key_file: str = setting("var/kiosk/recording.key", check=_not_empty)  # AES-256 key, made (0600) on first use
    max_minutes: float = setting(30.0, above=0, high=24 * 60)  # a recording stops by itself after this long
    keep_days: float = setting(7.0, above=0, high=366)  # older sessions are deleted
    part_max_mb: float = setting(8.0, above=0, high=1024)  # a session file past this size continues in a new part
    camera_frames: bool = False  # keep reduced frames where a QR was seen but not read
    frame_max_side: int = setting(320, low=16, high=4096)  # pixels, longest side of a kept frame
    frames_max: int = setting(50, low=0, high=10_000)  # kept frames per session at most


@dataclass(frozen=True)
class KioskConfig:
    kiosk: KioskSection = field(default_factory=KioskSection)
    central: CentralSection = field(default_factory=CentralSection)
    printer: PrinterSection = field(default_factory=PrinterSection)
    camera: CameraSection = field(default_factory=CameraSection)
    card: CardSection = field(default_factory=CardSection)
    pickup: PickupSection = field(default_factory=PickupSection)
    yearcard: YearCardSection = field(default_factory=YearCardSection)
    recovery: RecoverySection = field(default_factory=RecoverySection)
    recording: RecordingSection = field(default_factory=RecordingSection)
    counter: CounterSection = field(default_factory=CounterSection)

    def data_path(self, *parts: str) -> Path:
        return Path(self.kiosk.data_dir, *parts)


# A kiosk config is a few KiB; anything this large is the wrong file.
MAX_CONFIG_BYTES = 256 * 1024


def load_config(path: Path | str | None = None, overrides: dict[str, Any] | None = None) -> KioskConfig:
    """Defaults, then the file (if named), then overrides such as {"printer.port": 9101}."""
    data: dict[str, Any] = {}
    source = "built-in defaults"
    if path is not None:
        source = str(path)
        try:
            with open(path, "rb") as handle:
                # Bounded: a path to /dev/zero, a pipe or a log file must not be read without end.
                raw = handle.read(MAX_CONFIG_BYTES + 1)
            if len(raw) > MAX_CONFIG_BYTES:
                raise ConfigError(source, "", f"larger than {MAX_CONFIG_BYTES // 1024} KiB: not a kiosk config file")
            data = tomllib.loads(raw.decode("utf-8"))
        except FileNotFoundError:
            raise ConfigError(source, "", "file not found") from None
        except OSError as exc:
            raise ConfigError(source, "", f"cannot read: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, "", f"not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(source, "", "not UTF-8 text (save the file as UTF-8 TOML)") from None
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        data.setdefault(section, {})[key] = value
    return _build(KioskConfig, data, source, "")


def _build(cls: Any, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(source, prefix.rstrip("."), "must be a table")
    hints = get_type_hints(cls)
    specs = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in specs:
            shown = key if len(key) <= 40 and key.isprintable() else repr(key[:40])
            raise ConfigError(source, prefix + shown, f"unknown key (known: {', '.join(sorted(specs))})")
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        if name not in data:
            continue
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, data[name], source, f"{prefix}{name}.")
            continue
        try:
            values[name] = check_value(hint, rule_of(spec), data[name])
        except ValueError as exc:
            raise ConfigError(source, prefix + name, str(exc)) from None
    try:
        return cls(**values)
    except SettingError as exc:  # a rule across settings, or one the loop above could not see
        raise ConfigError(source, prefix + exc.name.rpartition(" ")[2], exc.problem) from None
