"""One Kivy window per test process: each test gets a fresh app (and flow) on the same window."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiosk.kivy_setup import prepare_kivy

# Before Kivy's first import (kiosk.app imports it): a private Kivy home, no logs, no frame-rate cap.
prepare_kivy(kivy_home=os.environ.get("KIVY_HOME") or tempfile.mkdtemp(prefix="kiosk-kivy-home-"), quiet=True,
             max_fps=0)

from kiosk.app import KioskApp  # noqa: E402
from kiosk.availability import Availability  # noqa: E402
from kiosk.flows.runtime import ThreadWorker  # noqa: E402
from kiosk.ui_driver import UiDriver  # noqa: E402
from tests.support.fakes import Rig, build_rig  # noqa: E402


class Kiosk:
    """A started app, its driver and the fakes behind its flow."""

    def __init__(self, rig: Rig, app: KioskApp, worker: ThreadWorker | None) -> None:
        self.rig = rig
        self.app = app
        self.ui = UiDriver(app)
        self.worker = worker


@pytest.fixture
def start_kiosk(tmp_path: Path) -> Iterator[Callable[..., Kiosk]]:
    """``start_kiosk(threaded=False, language="zh_CN", availability=None, order=None)``.

    ``threaded`` runs the flow's slow work on a real ThreadWorker posting back through the
    app's ``post_to_main`` (as the kiosk does); otherwise everything runs inline.
    """
    started: list[Kiosk] = []

    def start(threaded: bool = False, language: str = "zh_CN", availability: Availability | None = None,
              **rig_options: object) -> Kiosk:
        apps: list[KioskApp] = []
        # The worker posts back through the app, which needs the flow first: look the app up late.
        worker = ThreadWorker(lambda callback: apps[0].post_to_main(callback), name="ui-test-worker") \
            if threaded else None
        rig = build_rig(tmp_path, worker=worker, availability=availability, **rig_options)  # type: ignore[arg-type]
        app = KioskApp(rig.host, lambda: rig.availability, language=language)
        apps.append(app)
        app.start_headless()
        kiosk = Kiosk(rig, app, worker)
        started.append(kiosk)
        return kiosk

    yield start
    for kiosk in started:
        kiosk.rig.printer.hold = False
        kiosk.rig.printer.go.release()
        if kiosk.worker is not None:
            kiosk.worker.stop()
        kiosk.app.stop_headless()
        kiosk.rig.journal.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder
