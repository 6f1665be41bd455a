"""`kiosk devices` as a technician runs it: a subprocess on the real drivers and simulators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from central.process import free_port
from tests.integration.kiosk_rig import write_credential
from tests.shared_data import REPO_ROOT
from tests.support.central_server import RunningCentral


def kiosk_devices(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KIVY_NO_ARGS": "1"}
    return subprocess.run([sys.executable, "-m", "kiosk", "devices", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def table_rows(stdout: str) -> dict[str, str]:
    """device name -> its line of the table."""
    lines = stdout.splitlines()[1:]
    return {line.split()[0]: line for line in lines if line and not line.startswith(("result", "the "))}


def demo_config_text(printer_port: int) -> str:
    """config/demo.toml as it is, but with the virtual printer on a free port (9100 may be taken here)."""
    text = (REPO_ROOT / "config" / "demo.toml").read_text(encoding="utf-8")
    assert "\nsimulate = true" in text
    return text.replace("\nsimulate = true", f"\nsimulate = true\nport = {printer_port}", 1)


def test_the_demo_config_selects_the_simulators_and_passes_on_a_bare_machine(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "kiosk.toml").write_text(demo_config_text(port))
    done = kiosk_devices("--config", "kiosk.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = table_rows(done.stdout)
    assert set(rows) == {"printer", "camera", "card", "central"}
    assert "ok" in rows["printer"].split()[1] and "virtual printer" in rows["printer"]
    assert f"127.0.0.1:{port}" in rows["printer"]
    assert "online, paper ok, cover closed" in rows["printer"]
    assert rows["camera"].split()[1] == "ok" and "injected frames" in rows["camera"]
    assert rows["card"].split()[1] == "ok" and "Simulated Card Reader" in rows["card"]
    # No credential and no central on a bare machine: reported, but it does not fail the check.
    assert "warning (no_credential)" in rows["central"]
    assert "result: ok" in done.stdout
    assert "Traceback" not in done.stderr


def test_the_production_defaults_report_missing_hardware_as_critical(tmp_path: Path) -> None:
    # Only the printer's port is overridden (something may listen on 9100 here); every other key,
    # the choice of real devices among them, is the built-in default (config/default.toml).
    port = free_port()
    (tmp_path / "kiosk.toml").write_text(f"[printer]\nport = {port}\n")
    done = kiosk_devices("--config", "kiosk.toml", "--no-central", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    rows = table_rows(done.stdout)
    assert "critical (printer_unreachable)" in rows["printer"] and "Connection refused" in rows["printer"]
    assert "virtual printer" not in rows["printer"]
    if not Path("/dev/video0").exists():  # a bare machine: no camera is plugged in
        assert "critical (camera_missing)" in rows["camera"] and "/dev/video0" in rows["camera"]
    assert "camera 0" in rows["camera"]
    assert "PC/SC reader" in rows["card"]
    assert "Simulated" not in done.stdout and "injected" not in done.stdout
    assert "result: FAILED: printer critical (printer_unreachable)" in done.stdout
    assert "Traceback" not in done.stderr


def test_no_camera_is_critical_for_the_qr_path(tmp_path: Path) -> None:
    (tmp_path / "kiosk.toml").write_text(demo_config_text(free_port()).replace('source = "injected"', 'source = ""'))
    done = kiosk_devices("--config", "kiosk.toml", "--no-central", "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    devices = {entry["device"]: entry for entry in json.loads(done.stdout)["devices"]}
    assert (devices["camera"]["level"], devices["camera"]["reason"]) == ("critical", "no_camera")
    assert "can only type their code" in devices["camera"]["probe"]
    assert devices["printer"]["level"] == "ok" and devices["card"]["level"] == "ok"


def test_simulators_are_critical_unless_the_config_allows_them(tmp_path: Path) -> None:
    text = demo_config_text(free_port()).replace("allow_simulators = true", "allow_simulators = false")
    (tmp_path / "kiosk.toml").write_text(text)
    done = kiosk_devices("--config", "kiosk.toml", "--no-central", "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    devices = {entry["device"]: entry for entry in json.loads(done.stdout)["devices"]}
    for name in ("printer", "camera", "card"):
        assert (devices[name]["level"], devices[name]["reason"]) == ("critical", "simulator"), devices[name]
        assert "a simulator, which `kiosk run` refuses" in devices[name]["probe"]


def test_network_printer_on_a_closed_port_fails_naming_the_printer_and_why(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    (tmp_path / "kiosk.toml").write_text(
        f"[kiosk]\nallow_simulators = true\n[printer]\nsimulate = false\nhost = '127.0.0.1'\nport = {port}\n"
        "[camera]\nsource = 'injected'\n[card]\nreader = 'sim'\n")
    done = kiosk_devices("--config", "kiosk.toml", "--no-central", cwd=tmp_path)
    assert done.returncode == 1
    rows = table_rows(done.stdout)
    assert "central" not in rows
    assert "critical (printer_unreachable)" in rows["printer"]
    assert f"127.0.0.1:{port}" in rows["printer"] and "Connection refused" in rows["printer"]
    assert "result: FAILED: printer critical (printer_unreachable)" in done.stdout
    assert rows["camera"].split()[1] == "ok"  # the other devices are still probed
    assert "Traceback" not in done.stderr


def test_json_report_with_a_reachable_central(tmp_path: Path, sqlite_central: RunningCentral) -> None:
    credential = write_credential(tmp_path / "kiosk.credential", sqlite_central.kiosk_credential)
    (tmp_path / "kiosk.toml").write_text(
        f"[kiosk]\nallow_simulators = true\n[central]\nurl = '{sqlite_central.base_url}'\n"
        f"credential_file = '{credential}'\n[printer]\nsimulate = true\nport = {free_port()}\n"
        "[camera]\nsource = 'injected'\n[card]\nreader = ''\n"
    )
    done = kiosk_devices("--config", "kiosk.toml", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    devices = {entry["device"]: entry for entry in report["devices"]}
    assert report["ok"] is True
    assert devices["central"]["level"] == "ok" and sqlite_central.demo["cinema_id"] in devices["central"]["probe"]
    assert devices["card"] == {"device": "card", "selected": "none", "probe": "not selected", "level": "ok",
                               "reason": "", "counts": False}
    assert devices["printer"]["level"] == "ok"


def test_a_missing_camera_source_is_critical(tmp_path: Path) -> None:
    (tmp_path / "kiosk.toml").write_text(f"[camera]\nsource = 'no-such-video.mp4'\n[printer]\nport = {free_port()}\n")
    done = kiosk_devices("--config", "kiosk.toml", "--no-central", "--json", cwd=tmp_path)
    assert done.returncode == 1
    camera = next(entry for entry in json.loads(done.stdout)["devices"] if entry["device"] == "camera")
    assert (camera["level"], camera["reason"]) == ("critical", "camera_missing")
    assert "no-such-video.mp4" in camera["probe"]


def test_bad_config_is_one_line_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "kiosk.toml").write_text("[card]\nreader = 'nfc'\n")
    done = kiosk_devices("--config", "kiosk.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == \
        "kiosk: kiosk.toml: card.reader: must be one of \"\", sim, pcsc, got 'nfc'"
