"""Kiosk configuration: built-in defaults, optionally overridden by one TOML file.

Every key is documented in docs/config.md and config/default.toml.  A named file that is
missing or invalid stops the kiosk with one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

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


@dataclass(frozen=True)
class KioskSection:
    name: str = "Lobby-Demo-01"  # shown to staff; masked when shown to moviegoers
    language: str = "zh_CN"  # zh_CN | zh_TW | en
    cinema_timezone: str = "Asia/Shanghai"
    data_dir: str = "var/kiosk"  # journal, caches, screenshots
    dev_mode: bool = False

    # -- fail closed (docs/config.md "Production and simulators") --
    allow_simulators: bool = False  # `kiosk run` accepts simulated devices (demo and dev machines only)


@dataclass(frozen=True)
class CentralSection:
    url: str = "https://central.invalid:8700"  # must be set per site; .invalid never resolves
    credential_file: str = "/etc/ticket-kiosk/kiosk.credential"  # "<kiosk_id>.<secret>"; never in the repo
    timeout_s: float = 4.0
    retries: int = 2
    trust_refresh_s: float = 300.0  # key set and revocation list
    outbox_retry_s: float = 15.0

    # -- TLS to the central (fail closed; docs/config.md "TLS to the central") --
    ca_file: str = ""  # PEM of the CA the central's certificate must chain to; "" = the system's CAs
    cert_sha256: str = ""  # pin: SHA-256 fingerprint of the central's certificate (hex, colons ok); "" = none
    allow_plain_http: bool = False  # `kiosk run` accepts an http:// central anywhere (never in a lobby)


@dataclass(frozen=True)
class PrinterSection:
    kind: str = "network"  # network | usb | serial | file
    host: str = "127.0.0.1"
    port: int = 9100
    usb_vendor_id: int = 0
    usb_product_id: int = 0
    serial_device: str = "/dev/ttyUSB0"
    serial_baudrate: int = 19200
    file_path: str = "var/kiosk/printer.bin"
    timeout_s: float = 2.0
    print_timeout_s: float = 15.0  # a ticket may take this long to print before it is in doubt
    status_policy: str = "require"  # require | trust: see docs/printer.md
    simulate: bool = False  # start the virtual printer on host:port (a simulator: demo and dev only)
    simulator_out_dir: str = "var/kiosk/printed"


@dataclass(frozen=True)
class CameraSection:
    # device index ("0"), a video file or an image folder; "injected" = the simulated camera (frames
    # pushed by the demo, dev mode or tests); "" = no camera (the QR path is off: code entry only)
    source: str = "0"
    fps: float = 10.0
    loop: bool = True
    dedupe_s: float = 3.0


@dataclass(frozen=True)
class CardSection:
    reader: str = "pcsc"  # "" = none | sim (in-process simulator) | pcsc (pyscard through pcscd)
    reader_name_pattern: str = ""  # pcsc: the first reader whose name contains this; "" = the first
    poll_s: float = 0.5  # pcsc: how often the reader list and card state are looked at


@dataclass(frozen=True)
class PickupSection:
    idle_timeout_s: float = 60.0  # a screen left alone this long returns to idle
    still_there_s: float = 15.0  # the "still there?" prompt shows this long before the timeout
    done_screen_s: float = 12.0
    wrong_code_free_tries: int = 2  # wrong codes before the kiosk starts to slow down
    wrong_code_delay_s: float = 3.0  # first delay; doubles for each further wrong code
    wrong_code_delay_max_s: float = 120.0
    wrong_code_forget_s: float = 600.0  # a quiet kiosk forgets earlier wrong codes


@dataclass(frozen=True)
class RecordingSection:
    enabled: bool = False  # record from start-up (`kiosk run`); staff can also switch it on and off
    dir: str = "var/kiosk/recordings"  # one folder per session
    key_file: str = "var/kiosk/recording.key"  # AES-256 key, made (0600) on first use; never in the repo
    max_minutes: float = 30.0  # a recording stops by itself after this long
    keep_days: float = 7.0  # older sessions are deleted (at start and whenever they are listed)
    part_max_mb: float = 8.0  # a session file past this size continues in a new part
    camera_frames: bool = False  # keep reduced frames where a QR was seen but not read
    frame_max_side: int = 320  # pixels, longest side of a kept frame
    frames_max: int = 50  # kept frames per session at most


@dataclass(frozen=True)
class KioskConfig:
    kiosk: KioskSection = field(default_factory=KioskSection)
    central: CentralSection = field(default_factory=CentralSection)
    printer: PrinterSection = field(default_factory=PrinterSection)
    camera: CameraSection = field(default_factory=CameraSection)
    card: CardSection = field(default_factory=CardSection)
    pickup: PickupSection = field(default_factory=PickupSection)
    recording: RecordingSection = field(default_factory=RecordingSection)

    def data_path(self, *parts: str) -> Path:
        return Path(self.kiosk.data_dir, *parts)


_CHOICES: dict[str, tuple[str, ...]] = {
    "kiosk.language": ("zh_CN", "zh_TW", "en"),
    "printer.kind": ("network", "usb", "serial", "file"),
    "printer.status_policy": ("require", "trust"),
    "card.reader": ("", "sim", "pcsc"),
}


def load_config(path: Path | str | None = None, overrides: dict[str, Any] | None = None) -> KioskConfig:
    """Defaults, then the file (if named), then overrides such as {"printer.port": 9101}."""
    data: dict[str, Any] = {}
    source = "built-in defaults"
    if path is not None:
        source = str(path)
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(source, "", "file not found") from None
        except OSError as exc:
            raise ConfigError(source, "", f"cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, "", f"not valid TOML: {exc}") from None
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        data.setdefault(section, {})[key] = value
    return _build(KioskConfig, data, source, "")


def _build(cls: Any, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(source, prefix.rstrip("."), "must be a table")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(source, prefix + key, f"unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for name in known:
        if name not in data:
            continue
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, data[name], source, f"{prefix}{name}.")
        else:
            values[name] = _check_value(hint, data[name], source, prefix + name)
    return cls(**values)


def _check_value(hint: Any, value: Any, source: str, key: str) -> Any:
    allowed = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    if isinstance(value, bool) and bool not in allowed:
        raise ConfigError(source, key, f"expected {_type_names(allowed)}, got a boolean")
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, tuple(allowed)):
        raise ConfigError(source, key, f"expected {_type_names(allowed)}, got {type(value).__name__}")
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ConfigError(source, key, "must not be negative")
    choices = _CHOICES.get(key)
    if choices is not None and value not in choices:
        shown = ", ".join(choice or '""' for choice in choices)  # "" (none) must stay visible
        raise ConfigError(source, key, f"must be one of {shown}, got {value!r}")
    return value


def _type_names(types_: tuple[Any, ...]) -> str:
    return " or ".join({int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(t, str(t))
                       for t in types_)
