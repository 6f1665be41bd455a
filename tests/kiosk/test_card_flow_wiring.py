"""How the kiosk builds the year-card journey from its configuration: the PSAM, the switch, the sim card."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.sim.psam import psam_image
from devices.yearcard import crypto
from devices.yearcard import profile as p
from kiosk.config import ConfigError, load_config
from kiosk.flows.runtime import InlineWorker
from kiosk.hardware import build_psam
from kiosk.host import KioskHost
from kiosk.services import KioskServices, ServiceHooks
from tests.support.fakes import CARD_TERMINAL_ID, year_card_kit


def config_for(tmp_path: Path, **overrides: object) -> KioskServices:
    config = load_config(None, {"kiosk.data_dir": str(tmp_path / "data"), "central.url": "http://127.0.0.1:9",
                                "printer.kind": "file", "camera.source": "", **overrides})
    return KioskServices(config, hooks=ServiceHooks(credential="kiosk-test.secret-of-the-test",
                                                    background_threads=False))


def test_offline_redemption_cannot_be_switched_on() -> None:
    with pytest.raises(ConfigError, match=r"yearcard\.offline_redemption: not supported"):
        load_config(None, {"yearcard.offline_redemption": True})


def test_no_psam_configured_means_no_psam() -> None:
    assert build_psam(load_config(None, {"card.reader": "pcsc"}).card) is None
    assert build_psam(load_config(None, {"card.reader": "sim"}).card) is None
    assert build_psam(load_config(None, {"card.reader": ""}).card) is None


def test_a_missing_or_broken_sim_psam_image_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"card.sim_psam_image: .*no such file"):
        build_psam(load_config(None, {"card.reader": "sim", "card.sim_psam_image": str(tmp_path / "none.json")}).card)
    broken = tmp_path / "broken.json"
    broken.write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"card.sim_psam_image: not a PSAM image"):
        build_psam(load_config(None, {"card.reader": "sim", "card.sim_psam_image": str(broken)}).card)


def test_a_sim_psam_image_answers_as_the_kiosks_psam(tmp_path: Path) -> None:
    psam_image(tmp_path / "psam.json", crypto.MasterKeys.generate(), CARD_TERMINAL_ID)
    section = load_config(None, {"card.reader": "sim", "card.sim_psam_image": str(tmp_path / "psam.json")}).card
    psam = build_psam(section)
    assert callable(psam)
    assert psam(p.select_aid(p.PSAM_AID)).ok


def test_the_journey_is_built_only_with_a_psam_and_when_enabled(tmp_path: Path) -> None:
    kit = year_card_kit(tmp_path)
    psam_path = str(kit.psam.store.path)
    without = config_for(tmp_path / "a", **{"card.reader": "sim"})
    assert without.year_cards is None and without.build_card_flow(InlineWorker()) is None
    disabled = config_for(tmp_path / "b", **{"card.reader": "sim", "card.sim_psam_image": psam_path,
                                             "yearcard.enabled": False})
    assert disabled.build_card_flow(InlineWorker()) is None
    on = config_for(tmp_path / "c", **{"card.reader": "sim", "card.sim_psam_image": psam_path,
                                       "card.sim_card_image": str(kit.card_path)})
    try:
        flow = on.build_card_flow(InlineWorker())
        assert flow is not None
        assert on.card_reader is not None
        host = KioskHost(on.availability, now=lambda: 0.0)
        host.register(flow, lambda availability: True)
        host.set_card_handler(flow.handle_card)
        on.card_reader.start(host.card)
        assert on.insert_sim_year_card()
        assert flow.state.card is not None  # read through the services' reader and PSAM (offline here)
        assert flow.state.card.masked_number == "8800********0042" and flow.state.card.offline
    finally:
        on.stop()
        without.stop()
        disabled.stop()
