"""How the kiosk builds and hosts the lost-ticket journey: its config, its face check, the host's routing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from devices.camera_api import DecodedCode
from kiosk.availability import Availability
from kiosk.config import ConfigError, load_config
from kiosk.flows.pickup import Step as PickupStep
from kiosk.flows.recovery import Step
from kiosk.flows.runtime import InlineWorker
from kiosk.services import FACE_CHECK_MODULE, KioskServices, ServiceHooks
from tests.support.fakes import build_rig
from tests.support.recovery_fakes import build_recovery_rig


def services_for(tmp_path: Path, overrides: dict[str, object] | None = None) -> KioskServices:
    config = load_config(None, {"kiosk.data_dir": str(tmp_path / "data"), "central.url": "http://127.0.0.1:9",
                                "printer.kind": "file", "printer.file_path": str(tmp_path / "printer.bin"),
                                "camera.source": "injected", **(overrides or {})})
    return KioskServices(config, hooks=ServiceHooks(credential="kiosk-test.secret-of-the-test",
                                                    background_threads=False))


def test_the_consent_version_must_be_a_version() -> None:
    with pytest.raises(ConfigError, match=r"recovery.consent_version"):
        load_config(None, {"recovery.consent_version": "v 1; drop"})
    assert load_config(None, {"recovery.consent_version": "face-v2.1"}).recovery.consent_version == "face-v2.1"


def test_the_default_config_file_documents_every_recovery_setting() -> None:
    config_file = Path(__file__).resolve().parents[2] / "config" / "default.toml"
    text = config_file.read_text(encoding="utf-8")
    section = load_config(None).recovery
    for name in type(section).__dataclass_fields__:
        assert f"\n{name} = " in text.split("[recovery]", 1)[1].split("\n[", 1)[0], name
    assert load_config(config_file).recovery == section


def test_without_the_face_check_installed_the_kiosk_offers_the_sms_code_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    real = importlib.import_module

    def missing(name: str, *args: object) -> object:
        if name == FACE_CHECK_MODULE:
            raise ImportError("No module named 'face_recognition_models'")
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib, "import_module", missing)
    caplog.set_level(logging.WARNING)
    services = services_for(tmp_path)
    try:
        assert services.face_checker is None
        assert "the face check is unavailable" in caplog.text
        flow = services.build_recovery_flow(InlineWorker(), language=lambda: "zh_CN")
        assert flow is not None and not flow.face_available
        flow.start()
        assert flow.state.step is Step.PHONE  # no consent screen for a face check that is not there
    finally:
        services.stop()


def test_no_camera_means_no_face_check(tmp_path: Path) -> None:
    services = services_for(tmp_path, {"camera.source": ""})
    try:
        assert services.face_checker is None
    finally:
        services.stop()


def test_the_face_switched_off_builds_no_face_check(tmp_path: Path) -> None:
    services = services_for(tmp_path, {"recovery.face": False})
    try:
        assert services.face_checker is None
    finally:
        services.stop()


def test_a_qr_during_a_recovery_never_starts_a_pickup(tmp_path: Path) -> None:
    pickup = build_rig(tmp_path / "pickup")
    recovery = build_recovery_rig(tmp_path / "recovery")
    host = pickup.host
    host.register(recovery.flow, lambda availability: availability.central_reachable)
    assert "recovery" in host.home.offered
    assert host.start("recovery") and host.active is recovery.flow
    host.qr(DecodedCode("TK1.the-lost-ticket", b"TK1.the-lost-ticket", "test"))
    assert host.active is recovery.flow and pickup.flow.state.step is PickupStep.IDLE
    assert pickup.central.looked_up == []


def test_recovery_is_offered_only_while_the_central_is_reachable(tmp_path: Path) -> None:
    pickup = build_rig(tmp_path / "pickup")
    recovery = build_recovery_rig(tmp_path / "recovery")
    pickup.host.register(recovery.flow, lambda availability: availability.central_reachable)
    pickup.availability = Availability(central_reachable=False)
    assert not pickup.host.start("recovery")
    assert recovery.flow.state.step is Step.IDLE
