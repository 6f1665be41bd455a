"""A lobby kiosk fails closed: real devices by default, no simulator or plain-HTTP central unless told.

Before, config/default.toml (which deploy/install.sh copies to /etc) selected the virtual printer,
the card simulator and no camera, and `kiosk run` started on them: the kiosk "printed" to a
simulator and journaled the tickets as printed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from central.process import free_port
from kiosk.config import DEMO_CONFIG_FILE, KioskConfig, load_config
from kiosk.services import KioskServices, ServiceHooks, StartupError, refuse_unsafe_setup, simulated_devices
from tests.shared_data import REPO_ROOT

PRODUCTION_FILE = REPO_ROOT / "config" / "default.toml"


def run_kiosk(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SDL_VIDEODRIVER": "offscreen", "KIVY_NO_ARGS": "1",
           "KIVY_HOME": str(cwd / "kivy-home")}
    return subprocess.run([sys.executable, "-m", "kiosk", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def demo_file(tmp_path: Path, *, allow: bool) -> Path:
    """config/demo.toml with its virtual printer on a free port and the simulators allowed or not."""
    text = DEMO_CONFIG_FILE.read_text(encoding="utf-8")
    text = text.replace("\nsimulate = true", f"\nsimulate = true\nport = {free_port()}", 1)
    text = text.replace("allow_simulators = true", f"allow_simulators = {'true' if allow else 'false'}")
    text = text.replace('credential_file = "var/central-demo/kiosk.credential"',
                        f'credential_file = "{tmp_path / "missing.credential"}"')
    path = tmp_path / "kiosk.toml"
    path.write_text(text + f'\n[recording]\nkey_file = "{tmp_path / "recording.key"}"\n', encoding="utf-8")
    return path


def test_the_installed_default_config_selects_real_devices_and_https() -> None:
    config = load_config(PRODUCTION_FILE)
    assert config == KioskConfig()  # the file is the built-in defaults, written out
    assert simulated_devices(config) == []
    assert config.printer.simulate is False and config.card.reader == "pcsc" and config.camera.source == "0"
    assert config.central.url.startswith("https://") and config.kiosk.allow_simulators is False
    refuse_unsafe_setup(config)  # nothing to refuse


def test_the_demo_config_is_all_simulators_and_says_so() -> None:
    config = load_config(DEMO_CONFIG_FILE)
    assert len(simulated_devices(config)) == 3  # printer, camera, card
    assert config.kiosk.allow_simulators is True


def test_kiosk_run_refuses_simulators_in_one_line_and_starts_nothing(tmp_path: Path) -> None:
    config = demo_file(tmp_path, allow=False)
    done = run_kiosk("run", "--config", str(config), "--headless", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("kiosk: refusing to run on simulated devices: printer.simulate = true")
    assert 'card.reader = "sim"' in last and 'camera.source = "injected"' in last
    assert "kiosk.allow_simulators = true" in last and "--allow-simulators" in last
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "var").exists()  # no journal, nothing printed


@pytest.mark.parametrize("how", ["config", "flag"])
def test_simulators_run_only_when_allowed_explicitly_and_loudly(tmp_path: Path, how: str) -> None:
    config = demo_file(tmp_path, allow=how == "config")
    extra = ["--allow-simulators"] if how == "flag" else []
    done = run_kiosk("run", "--config", str(config), "--headless", *extra, cwd=tmp_path)
    # Past the refusal: it stops at the next thing this bare machine lacks, the kiosk's credential.
    assert done.returncode == 2
    assert "missing.credential: the kiosk credential file is missing" in done.stderr
    assert done.stderr.count("WARNING kiosk.services: SIMULATED DEVICE") == 3
    assert "PLAIN HTTP to the central http://127.0.0.1:8700" in done.stderr


@pytest.mark.parametrize("url, settings, refused", [
    ("https://central.example:8700", {}, False),
    ("http://10.1.2.3:8700", {}, True),
    ("http://10.1.2.3:8700", {"kiosk.allow_simulators": True}, True),  # dev allowance: loopback only
    ("http://127.0.0.1:8700", {}, True),
    ("http://127.0.0.1:8700", {"kiosk.allow_simulators": True}, False),
    ("http://localhost:8700", {"kiosk.allow_simulators": True}, False),
    ("http://10.1.2.3:8700", {"central.allow_plain_http": True}, False),
])  # a URL that is not http(s) at all never loads: tests/kiosk/test_config_validation.py
def test_plain_http_to_the_central_needs_an_explicit_allowance(url: str, settings: dict[str, object],
                                                               refused: bool) -> None:
    config = load_config(None, {"central.url": url, **settings})
    if refused:
        with pytest.raises(StartupError, match=r"plain HTTP|https://"):
            refuse_unsafe_setup(config)
    else:
        refuse_unsafe_setup(config)


def test_the_plain_http_flag_is_the_same_allowance(caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(None, {"central.url": "http://10.1.2.3:8700"})
    with caplog.at_level(logging.WARNING):
        refuse_unsafe_setup(config, allow_plain_http=True)
    assert any("PLAIN HTTP to the central" in record.getMessage() for record in caplog.records)


def test_kiosk_run_refuses_a_plain_http_central(tmp_path: Path) -> None:
    (tmp_path / "kiosk.toml").write_text('[central]\nurl = "http://10.1.2.3:8700"\n', encoding="utf-8")
    done = run_kiosk("run", "--config", "kiosk.toml", "--headless", cwd=tmp_path)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("kiosk: refusing plain HTTP to the central (http://10.1.2.3:8700)")
    assert "Traceback" not in done.stderr


def test_no_camera_is_critical_and_turns_the_qr_path_off(tmp_path: Path) -> None:
    config = load_config(DEMO_CONFIG_FILE, {"camera.source": "", "kiosk.data_dir": str(tmp_path / "data"),
                                            "printer.simulate": False, "printer.kind": "file",
                                            "printer.file_path": str(tmp_path / "printer.bin")})
    services = KioskServices(config, hooks=ServiceHooks(credential="kiosk-test.secret-of-the-test",
                                                        background_threads=False))
    try:
        assert services.scanner is None and services.camera_frames is None
        availability = services.refresh_availability()
        assert availability.camera.critical and availability.camera.reason == "no_camera"
        assert not availability.can_scan  # the idle screen offers code entry only
    finally:
        services.stop()


@pytest.mark.parametrize("settings, key", [
    ({"central.ca_file": "/nowhere/central-ca.pem"}, "central.ca_file"),
    ({"central.ca_file": "/etc/passwd"}, "central.ca_file"),  # a file, but not a CA certificate
    ({"central.cert_sha256": "AB:CD"}, "central.cert_sha256"),
])
def test_unusable_tls_settings_stop_the_kiosk_in_one_line(tmp_path: Path, settings: dict[str, str],
                                                          key: str) -> None:
    lines = [f'{k.split(".")[1]} = "{v}"' for k, v in settings.items()]
    (tmp_path / "kiosk.toml").write_text("[central]\n" + "\n".join(lines) + "\n"
                                         f'credential_file = "{tmp_path / "kiosk.credential"}"\n',
                                         encoding="utf-8")
    (tmp_path / "kiosk.credential").write_text("kiosk-test.secret-of-the-test\n", encoding="ascii")
    done = run_kiosk("run", "--config", "kiosk.toml", "--headless", cwd=tmp_path)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"kiosk: configuration: {key}: "), last
    assert "Traceback" not in done.stderr
