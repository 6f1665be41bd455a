"""Fault scripts: the file format, its refusals, and the virtual timeline on real simulators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from central.process import free_port
from devices.camera import BLACK_FRAME_MEAN, CameraUnavailable, InjectedFrameSource
from devices.sim.card_emulator import CardEmulator
from devices.sim.card_reader_sim import SimCardReader
from devices.sim.central_proxy import CentralProxy, FaultKind
from devices.sim.faults import FaultRunner, FaultScript, FaultScriptError, FaultTargets
from devices.sim.printer import VirtualPrinter

TOML_SCRIPT = """
[[step]]
at = 0
do = "central.down"
for_s = 60

[[step]]
after = "ticket_sent"
at = 5
do = "printer.cover_open"

[[step]]
at = 30
do = "card.reader_gone"
"""


@pytest.fixture
def proxy() -> Iterator[CentralProxy]:
    # Nothing behind it: these tests only look at whether it is up or down.
    with CentralProxy(f"http://127.0.0.1:{free_port()}") as running:
        yield running


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[VirtualPrinter]:
    with VirtualPrinter(out_dir=tmp_path / "printed") as running:
        yield running


def test_toml_and_json_files_give_the_same_script(tmp_path: Path) -> None:
    toml_file = tmp_path / "faults.toml"
    toml_file.write_text(TOML_SCRIPT)
    json_file = tmp_path / "faults.json"
    json_file.write_text(json.dumps({"step": [
        {"at": 0, "do": "central.down", "for_s": 60},
        {"after": "ticket_sent", "at": 5, "do": "printer.cover_open"},
        {"at": 30, "do": "card.reader_gone"},
    ]}))
    script = FaultScript.load(toml_file)
    assert script == FaultScript.load(json_file)
    assert [step.action for step in script.steps] == ["central.down", "printer.cover_open", "card.reader_gone"]
    assert script.steps[0].params == {"for_s": 60}


@pytest.mark.parametrize("steps, message", [
    ([{"at": 0, "do": "printer.explode"}], "step 1: 'do' must be one of"),
    ([{"at": 0, "do": "printer.slow", "speed": 3}], "step 1 (printer.slow): unknown parameter 'speed'"),
    ([{"do": "printer.clear"}], "step 1 (printer.clear): needs 'at' (seconds) or 'after' (an event)"),
    ([{"at": -1, "do": "printer.clear"}], "'at' must be a number of seconds"),
    ([{"at": 0, "do": "central.down", "for_s": "a minute"}], "for_s has the wrong type"),
    ([{"at": 0, "do": "central.error_5xx", "count": 0}], "count must be at least 1"),
    ([{"at": 0, "do": "central.malformed", "kind": "gibberish"}], "kind must be one of truncated_json"),
    ([{"at": 0, "do": "printer.clear"}, "oops"], "step 2: must be a table"),
])
def test_bad_steps_are_refused_naming_the_step(steps: list[object], message: str) -> None:
    with pytest.raises(FaultScriptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FaultScript.parse({"step": steps})


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "faults.toml"
    broken.write_text("[[step]\nat = 0")
    with pytest.raises(FaultScriptError, match=r"faults\.toml: not a valid toml file"):
        FaultScript.load(broken)
    with pytest.raises(FaultScriptError, match=r"missing\.json: cannot read"):
        FaultScript.load(tmp_path / "missing.json")
    wrong_shape = tmp_path / "faults.json"
    wrong_shape.write_text('{"steps": []}')
    with pytest.raises(FaultScriptError, match="under the key 'step'"):
        FaultScript.load(wrong_shape)


def test_a_step_without_its_device_is_refused_before_anything_runs(proxy: CentralProxy) -> None:
    script = FaultScript.parse({"step": [{"at": 0, "do": "central.down"}, {"at": 1, "do": "printer.paper_out"}]})
    with pytest.raises(FaultScriptError, match=r"step 2 \(printer.paper_out\): the runner was given no printer"):
        FaultRunner(script, FaultTargets(central=proxy))
    assert not proxy.is_down
    reader_gone = FaultScript.parse({"step": [{"at": 0, "do": "card.reader_gone"}]})
    with pytest.raises(FaultScriptError, match="needs the simulated card reader"):
        FaultRunner(reader_gone, FaultTargets(card=CardEmulator()))


def test_timeline_runs_on_virtual_time_and_moves_the_central_clock(
    proxy: CentralProxy, printer: VirtualPrinter
) -> None:
    central_clock: list[float] = []
    reader = SimCardReader()
    reader.start(lambda _event: None)
    runner = FaultRunner(FaultScript.parse({"step": [
        {"at": 0, "do": "central.down", "for_s": 60},
        {"after": "ticket_sent", "at": 5, "do": "printer.cover_open"},
        {"at": 30, "do": "card.reader_gone"},
    ]}), FaultTargets(printer=printer, card=reader, central=proxy, central_clock=central_clock.append))

    runner.start()
    assert proxy.is_down and runner.log == ["t=0.0 central.down"]
    runner.advance(10)
    runner.event("ticket_sent")  # the cover opens 5 s after this
    assert printer.status_byte(2) & 0x04 == 0
    runner.advance(5)
    assert printer.status_byte(2) & 0x04, "cover should be open at t=15"
    runner.advance(44)
    assert proxy.is_down and reader.health().reason == "reader_gone"
    runner.advance(1)
    assert not proxy.is_down
    assert runner.log == ["t=0.0 central.down", "t=15.0 printer.cover_open", "t=30.0 card.reader_gone",
                          "t=60.0 central.up"]
    assert sum(central_clock) == pytest.approx(60.0)
    assert runner.pending == []


def test_camera_and_central_fault_steps_reach_their_simulators(proxy: CentralProxy) -> None:
    camera = InjectedFrameSource()
    runner = FaultRunner(FaultScript.parse({"step": [
        {"at": 0, "do": "camera.black", "count": 3},
        {"at": 0, "do": "camera.glare", "count": 2},
        {"at": 1, "do": "central.error_5xx", "status": 502, "count": 2},
        {"at": 1, "do": "central.malformed", "kind": "html_page", "path": "/lookup"},
        {"at": 2, "do": "camera.unplug"},
    ]}), FaultTargets(camera=camera, central=proxy))
    runner.start()
    frames = [camera.read(0.1) for _ in range(5)]
    means = [float(np.mean(frame)) for frame in frames if frame is not None]
    assert len(means) == 5
    assert all(mean < BLACK_FRAME_MEAN for mean in means[:3]) and all(mean > 240 for mean in means[3:])
    runner.advance(1)
    assert [(fault.kind, fault.count, fault.status) for fault in proxy.faults] == [
        (FaultKind.ERROR_5XX, 2, 502), (FaultKind.HTML_PAGE, None, None)]
    runner.advance(1)
    with pytest.raises(CameraUnavailable, match="unplugged"):
        camera.open()
