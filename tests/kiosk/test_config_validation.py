"""Every kiosk setting has a type and a range: a bad file stops `kiosk run` with one line naming the
file and the setting, never a traceback; and the printer's and camera's settings are defined once,
by the devices, with the kiosk's sections built on them."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.camera import CameraConfig
from devices.printer import PrinterConfig
from devices.settings import RULE, SettingError, check_settings, setting
from kiosk.config import ConfigError, KioskConfig, load_config
from tests.kiosk.test_cli import run_kiosk

BAD_FILES = [
    # (file text, the setting named in the error)
    ("[printer]\nport = 65536\n", "printer.port"),  # was an OverflowError traceback
    ("[printer]\nport = 0\n", "printer.port"),
    ("[central]\ntimeout_s = inf\n", "central.timeout_s"),  # was a traceback
    ("[central]\ntimeout_s = 0\n", "central.timeout_s"),
    ("[kiosk]\ncinema_timezone = \"Mars/Olympus_Mons\"\n", "kiosk.cinema_timezone"),  # was accepted
    ("[kiosk]\ncinema_timezone = \"../../etc/passwd\"\n", "kiosk.cinema_timezone"),
    ("[camera]\nfps = nan\n", "camera.fps"),  # was accepted
    ("[camera]\nfps = 0\n", "camera.fps"),
    ("[central]\nurl = \"::not a url::\"\n", "central.url"),  # was accepted
    ("[central]\nurl = \"ftp://central\"\n", "central.url"),
    ("[central]\nurl = \"http://central:99999\"\n", "central.url"),
    ("[central]\nretries = 99999999999999999999\n", "central.retries"),
    ("[kiosk]\ndata_dir = \"var\\u0000kiosk\"\n", "kiosk.data_dir"),  # a NUL in a path
    ("[pickup]\nidle_timeout_s = 1e400\n", "pickup.idle_timeout_s"),
    ("[recording]\nframes_max = -1\n", "recording.frames_max"),
    ("[camera]\nsource = \"   \"\n", "camera.source"),
    ("[printer]\nstatus_policy = \"maybe\"\n", "printer.status_policy"),
]


def test_a_file_far_larger_than_a_config_is_refused_unread(tmp_path: Path) -> None:
    # The wrong path (a log, an image, /dev/zero) gives one line instead of being read without end.
    path = tmp_path / "kiosk.log"
    path.write_text("# a log line that happens to be valid TOML\n" * 100_000, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and "not a kiosk config" in str(caught.value)


@pytest.mark.parametrize("text, key", BAD_FILES, ids=[key + "-" + str(i) for i, (_, key) in enumerate(BAD_FILES)])
def test_out_of_range_values_name_the_file_and_the_setting(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [
        "[printer]\nport = 9100\n".encode("utf-16"),
        b"\xff\xfe\x00\x00garbage",
        bytes(range(256)),
        "[kiosk]\nname = \"大堂\"\n".encode("gb18030"),
    ],
    ids=["utf-16", "bom-garbage", "binary", "gb18030"],
)
def test_a_file_that_is_not_utf8_is_named(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "text, key",
    [
        ("[printer]\nport = 65536\n", "printer.port"),
        ("[central]\ntimeout_s = inf\n", "central.timeout_s"),
        ("[kiosk]\ncinema_timezone = \"Mars/Olympus_Mons\"\n", "kiosk.cinema_timezone"),
        ("[camera]\nfps = nan\n", "camera.fps"),
        ("[central]\nurl = \"::not a url::\"\n", "central.url"),
        (None, ""),  # a UTF-16 file
    ],
    ids=["port", "timeout-inf", "timezone", "fps-nan", "url", "utf-16"],
)
def test_kiosk_run_with_a_bad_file_exits_with_one_line(tmp_path: Path, text: str | None, key: str) -> None:
    path = tmp_path / "bad.toml"
    if text is None:
        path.write_bytes("[printer]\nport = 9100\n".encode("utf-16"))
    else:
        path.write_text(text, encoding="utf-8")
    done = run_kiosk("run", "--config", "bad.toml", cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"kiosk: bad.toml: {key}"), lines[0]


def test_valid_edge_values_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(
        "[printer]\nport = 65535\nprofile = \"TM-T88V\"\nsequence_check = false\n"
        "[central]\nurl = \"https://central.example:8443/base\"\ntimeout_s = 1\n"
        "[kiosk]\ncinema_timezone = \"Asia/Urumqi\"\n"
        "[camera]\nsource = \"0\"\nwidth = 1280\nheight = 720\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.printer.port == 65535 and config.printer.sequence_check is False
    assert config.central.timeout_s == 1.0 and isinstance(config.central.timeout_s, float)
    camera = config.camera.device_config()
    assert camera.source == 0 and (camera.width, camera.height) == (1280, 720)
    assert config.camera.device_config("injected").fps == config.camera.fps


def test_printer_and_camera_settings_are_defined_once_by_the_devices() -> None:
    config = KioskConfig()
    # The [printer] and [camera] sections are the devices' own configs, with the same rules.
    assert isinstance(config.printer, PrinterConfig)
    assert isinstance(config.camera, CameraConfig)
    for device in (PrinterConfig, CameraConfig):
        section = type(config.printer) if device is PrinterConfig else type(config.camera)
        own = {f.name: f for f in dataclasses.fields(section)}
        for spec in dataclasses.fields(device):
            assert spec.name in own
            if spec.name != "source":  # "" (no camera) is the kiosk's own meaning of the source
                assert own[spec.name].metadata.get(RULE) == spec.metadata.get(RULE), spec.name
    # The driver gets exactly the values the file gave.
    loaded = load_config(None, {"printer.port": 9101, "printer.timeout_s": 3})
    assert loaded.printer.port == 9101 and loaded.printer.timeout_s == 3.0


# -- property: any file gives a config or one ConfigError -------------------------------------

_KEYS = {
    name: sorted(f.name for f in dataclasses.fields(getattr(KioskConfig(), name)))
    for name in (f.name for f in dataclasses.fields(KioskConfig))
}
_SCALARS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.booleans(),
    st.sampled_from(["Asia/Shanghai", "UTC", "Mars/Olympus_Mons", "http://h:1", "::", "0", "", "/dev/video0"]),
)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's


@st.composite
def _config_files(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for section in draw(st.lists(st.sampled_from([*sorted(_KEYS), "extra"]), unique=True, max_size=4)):
        lines.append(f"[{section}]")
        keys = st.sampled_from(_KEYS.get(section, ["x"]))
        for key in draw(st.lists(st.one_of(keys, st.just("unknown_key")), unique=True, max_size=5)):
            value = draw(st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3)))
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_config_files())
def test_any_settings_give_a_usable_config_or_one_config_error(tmp_path_factory: pytest.TempPathFactory,
                                                               text: str) -> None:
    path = tmp_path_factory.getbasetemp() / "property.toml"
    path.write_text(text, encoding="utf-8")
    _load_or_refuse(path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=200).map(lambda t: t.encode("utf-8"))))
def test_any_bytes_give_a_config_or_one_config_error(tmp_path_factory: pytest.TempPathFactory, content: bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "bytes.toml"
    path.write_bytes(content)
    _load_or_refuse(path)


def _load_or_refuse(path: Path) -> None:
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc).strip()
        return
    # What the kiosk builds from an accepted config does not fail later.
    assert isinstance(config.printer, PrinterConfig)
    if config.camera.source:
        config.camera.device_config()
    config.camera.device_config("injected")


# -- the rules are generic: a new setting slots in with its type and (optionally) its range ------


@dataclasses.dataclass(frozen=True)
class _NewSection:
    """Fields as a new section would declare them: plain defaults, and setting() with rules."""

    enabled: bool = False
    ca_file: str = ""
    secrets_dir: Path = Path("var/secrets")
    pins: list[str] = setting(None, factory=list)  # noqa: RUF009 (a field(), like field(default_factory=list))
    window_s: float = 5.0
    level: int | None = setting(None, low=1, high=3)

    def __post_init__(self) -> None:
        check_settings(self)


@pytest.mark.parametrize(
    "values, name",
    [
        ({"window_s": -1.0}, "window_s"),  # numbers without a rule are zero or more
        ({"window_s": math.inf}, "window_s"),
        ({"ca_file": "a\x00b"}, "ca_file"),
        ({"pins": ["ok", 3]}, "pins"),
        ({"level": 4}, "level"),
        ({"enabled": "yes"}, "enabled"),
        ({"secrets_dir": 5}, "secrets_dir"),
    ],
)
def test_a_new_setting_gets_the_generic_rules(values: dict[str, object], name: str) -> None:
    with pytest.raises(SettingError) as caught:
        _NewSection(**values)  # type: ignore[arg-type]
    assert caught.value.name == name


def test_a_new_setting_converts_what_toml_gives() -> None:
    section = _NewSection(secrets_dir="/etc/kiosk", window_s=3, pins=["a"], level=2)  # type: ignore[arg-type]
    assert section.secrets_dir == Path("/etc/kiosk") and section.window_s == 3.0 and isinstance(section.window_s, float)
