"""A kiosk process that collects one order by its pickup code, for the crash tests.

    python -m tests.integration.kiosk_driver CONFIG.json SERIAL VERIFICATION [--hold MOMENT]

CONFIG.json holds kiosk configuration overrides ("section.key": value).  The kiosk is built
exactly as the app builds it (KioskServices, recovery at start, the pickup flow) with an
InlineWorker, and prints one progress line per change on stdout.  The test kills it with
SIGKILL at the moment it wants, found by reading the journal.

``--hold`` stops the process at a moment too short to catch by polling, until it is killed:
``after-claim`` once the claim is journaled (nothing sent to the printer yet),
``before-reports`` once every ticket is printed, none of their reports sent to the central.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from kiosk.config import load_config
from kiosk.flows.pickup import PickupState, Step
from kiosk.flows.runtime import InlineWorker
from kiosk.services import KioskServices

HOLDS = ("after-claim", "before-reports")


def say(line: str) -> None:
    print(line, flush=True)


def hold_forever(moment: str) -> None:
    say(f"holding {moment}")
    threading.Event().wait()


def describe(state: PickupState) -> str:
    tickets = " ".join(line.print_state.value if line.print_state else "-" for line in state.lines)
    return f"step {state.step.value} tickets [{tickets}] printed {state.printed}"


def install_hold(services: KioskServices, moment: str) -> None:
    """Block the kiosk right after (or before) one real step; the step itself runs unchanged."""
    if moment == "after-claim":
        record = services.claim_printer.record

        def record_then_hold(*args: Any, **kwargs: Any) -> None:
            record(*args, **kwargs)
            hold_forever(moment)

        services.claim_printer.record = record_then_hold  # type: ignore[method-assign]
    else:
        # Reports are sent as each ticket settles: keep them all queued, then hold once the claim ends.
        services.outbox.flush = lambda: 0  # type: ignore[method-assign]
        print_claim = services.claim_printer.print_claim

        def print_then_hold(*args: Any, **kwargs: Any) -> Any:
            print_claim(*args, **kwargs)
            hold_forever(moment)

        services.claim_printer.print_claim = print_then_hold  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiosk_driver")
    parser.add_argument("config", type=Path)
    parser.add_argument("serial")
    parser.add_argument("verification")
    parser.add_argument("--hold", choices=HOLDS)
    args = parser.parse_args(argv)
    config = load_config(None, json.loads(args.config.read_text(encoding="utf-8")))
    services = KioskServices(config)
    services.start(lambda code: None)
    say(f"started, recovered {services.recovery}")
    if args.hold:
        install_hold(services, args.hold)
    flow = services.build_flow(InlineWorker())
    flow.subscribe(lambda state: say(describe(state)))
    flow.start_code_entry()
    for digit in args.serial + args.verification:
        flow.press_digit(digit)
    flow.submit_code()
    if flow.state.step is not Step.REVIEW:
        say(f"refused: {flow.state.refusal}")
        services.stop()
        return 1
    flow.confirm()
    state = flow.state
    say(f"finished {state.step.value} printed {state.printed} owed {state.owed} in_doubt {state.in_doubt}")
    services.stop()
    return 0 if state.step is Step.DONE else 1


if __name__ == "__main__":
    sys.exit(main())
