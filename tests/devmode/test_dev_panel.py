"""Dev mode's side panel: shown only in dev mode, and each button reaches its simulator."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from central.process import free_port
from devices.printer_api import PaperLevel
from devices.qr import decode_frame
from kiosk.config import DEMO_CONFIG_FILE, load_config
from kiosk.runner import KioskRuntime
from kiosk.ui_driver import UiDriver, UiDriverError
from tests.integration.kiosk_rig import write_credential

pytestmark = pytest.mark.ui

DEMO_TOKEN = "demo-order-qr-token"
StartRuntime = Callable[[bool], KioskRuntime]


@pytest.fixture
def start_runtime(tmp_path: Path) -> Iterator[StartRuntime]:
    """``start_runtime(dev_mode)``: the real kiosk runtime, its app shown offscreen, not yet serving."""
    runtimes: list[KioskRuntime] = []

    def start(dev_mode: bool) -> KioskRuntime:
        workdir = tmp_path / f"kiosk-{len(runtimes)}"
        credential = write_credential(workdir / "kiosk.credential", "kiosk-test.secret-of-the-test")
        config = load_config(DEMO_CONFIG_FILE, {
            "kiosk.dev_mode": dev_mode,
            "kiosk.data_dir": str(workdir / "data"),
            "central.url": f"http://127.0.0.1:{free_port()}",  # the panel's switch needs no live central
            "central.credential_file": str(credential),
            "printer.port": free_port(),
            "printer.simulator_out_dir": str(workdir / "printed"),
        })
        runtime = KioskRuntime(config, injected_camera=True, dev_qr_payloads=[DEMO_TOKEN])
        runtimes.append(runtime)
        runtime.app.start_headless()
        return runtime

    yield start
    for runtime in runtimes:
        runtime.app.stop_headless()
        runtime.stop()


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2.0).close()
    except ConnectionRefusedError:
        return True
    return False


def test_no_panel_and_no_network_switch_outside_dev_mode(start_runtime: StartRuntime) -> None:
    runtime = start_runtime(False)
    ui = UiDriver(runtime.app)
    assert ui.current_screen_name == "home"
    with pytest.raises(UiDriverError):
        ui.find("dev_qr")
    assert runtime.dev_controls is None and runtime.dev_network is None
    assert runtime.services.client.base_url == runtime.config.central.url


def test_dev_panel_buttons_reach_the_simulators(start_runtime: StartRuntime) -> None:
    runtime = start_runtime(True)
    ui = UiDriver(runtime.app)
    assert ui.current_screen_name == "home" and ui.text_of("dev_title") == "DEV MODE"
    network = runtime.dev_network
    assert network is not None and runtime.services.client.base_url == network.url

    frames = runtime.services.camera_frames
    assert frames is not None
    ui.tap("dev_qr")
    assert frames.pending == 1
    frame = frames.read(0.1)
    assert frame is not None and [code.text for code in decode_frame(frame)] == [DEMO_TOKEN]

    reader = runtime.services.card_reader
    assert ui.text_of("dev_card") == "Put card on"
    ui.tap("dev_card")
    assert reader is not None and reader.atr is not None
    assert ui.text_of("dev_card") == "Take card off"
    ui.tap("dev_card")
    assert reader.atr is None

    printer = runtime.services.printer  # the real driver, over TCP to the virtual printer
    ui.tap("dev_cover")
    assert printer.status().cover_open is True and ui.text_of("dev_cover") == "Close cover"
    ui.tap("dev_cover")
    ui.tap("dev_paper")
    status = printer.status()
    assert (status.cover_open, status.paper) == (False, PaperLevel.OUT)
    ui.tap("dev_paper")
    assert printer.status().paper is PaperLevel.OK

    ui.tap("dev_network")
    assert network.is_down and refuses_connections(network.port)
    assert ui.text_of("dev_network") == "Restore network"
    ui.tap("dev_network")
    assert not network.is_down and not refuses_connections(network.port)


def _window_rect(widget: Any) -> tuple[float, float, float, float]:
    x, y = widget.to_window(widget.x, widget.y)
    return x, y, x + widget.width, y + widget.height


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("screen, buttons", [("pickup.enter_code", ["key_3", "key_6", "key_9", "submit"]),
                                             ("pickup.review", ["confirm", "select_all"])])
def test_the_dev_panel_sits_beside_the_keypad_and_the_print_button(start_runtime: StartRuntime, screen: str,
                                                                   buttons: list[str]) -> None:
    """Before: the panel covered the keypad's right column and the Print button."""
    from kiosk.widgets.dev_panel import DevPanel

    runtime = start_runtime(True)
    ui = UiDriver(runtime.app)
    root = runtime.app.kiosk_root
    assert root is not None
    root.ids.screens.current = screen  # the layout only: no journey needed to measure it
    ui.pump(3)
    panel = next(child for child in root.children if isinstance(child, DevPanel))
    shown = root.ids.screens.get_screen(screen)
    for name in buttons:
        button = shown.ids[name] if name in shown.ids else shown.ids.keypad.ids[name]
        assert not _overlap(_window_rect(button), _window_rect(panel)), f"the dev panel covers {name}"
        assert button.width > 0 and button.height > 0
