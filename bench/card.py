"""Card reader benchmark: APDU round trips through pcscd to the card emulator behind vpcd.

    python -m bench.card [--repeat N] [--json]

Uses a running pcscd with vsmartcard-vpcd, or starts one (root) and stops it after. The card is
devices.sim.card_emulator's default card on "Virtual PCD 00 00". Each command is timed around
PcscCardReader.transmit, i.e. what a flow waits for; the connection is made before timing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Sequence

from devices.card_api import CardError, CardEvent
from devices.card_reader import PcscCardReader, list_readers
from devices.sim.card_emulator import DEFAULT_AID, VIRTUAL_READER, CardEmulator, PcscdError, PcscdProcess

COMMANDS: list[tuple[str, bytes]] = [
    ("SELECT by AID", bytes.fromhex("00A40400") + bytes([len(DEFAULT_AID)]) + DEFAULT_AID),
    ("SELECT EF", bytes.fromhex("00A4000C020002")),
    ("READ BINARY 16", bytes.fromhex("00B0000010")),
    ("READ BINARY 64", bytes.fromhex("00B0000040")),
    ("UPDATE BINARY 32", bytes.fromhex("00D6000020") + bytes(range(32))),
    ("GET DATA 5A", bytes.fromhex("00CA005A00")),
]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(reader: PcscCardReader, repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name, _ in COMMANDS}
    for _name, apdu in COMMANDS:  # warm-up: connect and select once
        reader.transmit(apdu)
    for _ in range(repeat):
        for name, apdu in COMMANDS:
            start = time.perf_counter()
            response = reader.transmit(apdu)
            times[name].append((time.perf_counter() - start) * 1000)
            if not response.ok:
                raise CardError(f"{name} answered {response}")
    return times


def run(repeat: int) -> dict[str, dict[str, float]]:
    pcscd = PcscdProcess()
    if PcscdProcess.running_pid() is None:
        pcscd.start()
    card = CardEmulator()
    inserted = threading.Event()
    reader = PcscCardReader(VIRTUAL_READER, poll_s=0.2)
    try:
        deadline = time.monotonic() + 10
        while VIRTUAL_READER not in list_readers():
            if time.monotonic() > deadline:
                raise PcscdError(f"pcscd shows no {VIRTUAL_READER!r}: is vsmartcard-vpcd installed?")
            time.sleep(0.1)

        def on_event(event: CardEvent) -> None:
            if event.inserted:
                inserted.set()

        reader.start(on_event)
        card.insert()
        if not inserted.wait(10):
            raise CardError("the emulated card never showed up in the reader")
        times = measure(reader, repeat)
    finally:
        reader.stop()
        card.remove()
        pcscd.stop()
    return {
        name: {
            "n": len(values),
            "p50_ms": round(statistics.median(values), 2),
            "p95_ms": round(percentile(values, 0.95), 2),
            "max_ms": round(max(values), 2),
        }
        for name, values in times.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="APDU round-trip latency through pcscd and the virtual reader.")
    parser.add_argument("--repeat", type=int, default=50, help="rounds of all commands (default 50)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        results = run(args.repeat)
    except (PcscdError, CardError, OSError, RuntimeError) as exc:
        print(f"bench.card: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"{'command':<18}{'n':>5}{'p50_ms':>9}{'p95_ms':>9}{'max_ms':>9}")
    for name, row in results.items():
        print(f"{name:<18}{row['n']:>5}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{row['max_ms']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
