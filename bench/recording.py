"""What recording costs the kiosk: time per recorded event, and per pickup, by event kind.

    python -m bench.recording [--events 2000]

A pickup by code records about 60 events (docs/recording.md counts them); each is JSON-encoded,
encrypted (AES-256-GCM) and appended to the session file under the recorder's lock, on the thread
where it happens.  Prints a table; results are written down in docs/recording.md, not asserted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import percentile
from kiosk.recording.session import Event, SessionHeader, SessionWriter, load_or_create_key

ORDER = {"order": {"order_id": "ord-1", "cinema_id": "c", "cinema_name": "星光影城", "film_title": "流浪地球",
                   "hall_name": "3号厅", "show_start": "2026-11-20T12:00:00+00:00",
                   "show_end": "2026-11-20T14:00:00+00:00", "pickup_opens_at": "2026-11-19T12:00:00+00:00",
                   "tickets": [{"ticket_id": f"tkt-{i}", "row": "7", "seat": str(i), "price_fen": 4500,
                                "status": "available"} for i in range(4)]}}
SAMPLES: dict[str, dict[str, Any]] = {
    "tap": {"widget": "key_7", "pos": [0.6, 0.77], "screen": "enter_code"},
    "timer": {"name": "tick"},
    "printer ask": {"op": "ask", "request": "100401", "answer": "12", "error": None},
    "printer job (240 B)": {"op": "job", "data": "1b40" * 120, "error": None},
    "central lookup": {"method": "POST", "path": "/api/v1/lookup/code", "attempt": 1, "headers": {},
                       "body": {"serial": "100003", "verification": "161803"}, "status": 200, "response": ORDER,
                       "error": None},
}
# Events of one pickup by code with 2 tickets, counted in a recorded demo session.
PICKUP_MIX = {"tap": 15, "timer": 10, "printer ask": 24, "printer job (240 B)": 2, "central lookup": 6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        key = load_or_create_key(Path(folder) / "k")
        writer = SessionWriter(Path(folder) / "s", key, SessionHeader("0", "0", "2026-11-20T10:00:00+00:00"),
                               8 << 20)
        per_kind: dict[str, float] = {}
        print(f"{'event':24} {'median µs':>10} {'bytes':>7}")
        for kind, data in SAMPLES.items():
            times = []
            for index in range(args.events):
                started = time.perf_counter()
                writer.write(Event(index * 0.01, kind.split()[0], data))
                times.append(time.perf_counter() - started)
            per_kind[kind] = percentile(times, 50)
            size = len(json.dumps(data, ensure_ascii=False).encode())
            print(f"{kind:24} {per_kind[kind] * 1e6:10.1f} {size:7d}")
        writer.close()
        cost = sum(per_kind[kind] * count for kind, count in PICKUP_MIX.items())
        print(f"{'one pickup (mix)':24} {cost * 1e6:10.1f}   ({sum(PICKUP_MIX.values())} events)")


if __name__ == "__main__":
    main()
