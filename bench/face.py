"""Face matching benchmark: false accepts and rejects over all pairs of a folder of photos.

    python -m bench.face [--json] [--threshold T] [--work-size PX] DIR

DIR holds a ``manifest.csv`` with the columns ``file`` and ``person`` (as ../shared/data/faces).
Each photo is analysed as the kiosk does it (devices/face.py: downscaled to the working size,
HOG detector, 68 landmarks, encoding with one jitter); photos with no face or more than one are
left out of the pairs and counted as ``skipped``.  Every pair of the rest is compared: a pair of
one person is genuine, of two people an impostor pair; a pair at or below the threshold is a
match.  Times are per photo (detect + landmarks + encode; reading the file excluded), on one core.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.stats import summary_ms
from devices.camera import read_image_file
from devices.face import WORK_SIZE, FaceAnalyser, face_distance

# The match threshold (encoding distance at or below: the same person), chosen from this
# benchmark on ../shared/data/faces (docs/face.md "Threshold"); the central's default is the same.
DEFAULT_THRESHOLD = 0.50
SWEEP = (0.40, 0.45, 0.50, 0.55, 0.60)


@dataclass(frozen=True)
class Photo:
    file: str
    person: str
    faces: int
    encoding: np.ndarray | None
    ms: float


def pin_to_one_core() -> str:
    cv2.setNumThreads(1)
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[0]})
    return f"cpu {cpus[0]}"


def read_manifest(folder: Path) -> list[tuple[str, str]]:
    path = folder / "manifest.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"file", "person"} <= set(reader.fieldnames):
            raise ValueError(f"{path} needs the columns file and person")
        return [(row["file"], row["person"]) for row in reader if row.get("file")]


def analyse_photos(folder: Path, analyser: FaceAnalyser) -> list[Photo]:
    photos = []
    warm = False
    for name, person in read_manifest(folder):
        image = read_image_file(folder / name)
        if image is None:
            photos.append(Photo(name, person, 0, None, 0.0))
            continue
        if not warm:  # the models load on first use: not part of a photo's time
            analyser.encode(image)
            warm = True
        started = time.perf_counter()
        analysis, encoding = analyser.encode(image)
        photos.append(Photo(name, person, analysis.count, encoding, (time.perf_counter() - started) * 1000))
    return photos


def rates(genuine: list[float], impostor: list[float], threshold: float) -> dict[str, float | int]:
    false_accepts = sum(1 for d in impostor if d <= threshold)
    false_rejects = sum(1 for d in genuine if d > threshold)
    return {
        "threshold": threshold,
        "false_accepts": false_accepts,
        "false_rejects": false_rejects,
        "far": round(false_accepts / len(impostor), 4) if impostor else 0.0,
        "frr": round(false_rejects / len(genuine), 4) if genuine else 0.0,
    }


def measure(folder: Path, threshold: float, work_size: int) -> dict[str, object]:
    photos = analyse_photos(folder, FaceAnalyser(work_size))
    used = [p for p in photos if p.faces == 1 and p.encoding is not None]
    skipped = [p.file for p in photos if not (p.faces == 1 and p.encoding is not None)]
    genuine: list[float] = []
    genuine_pairs: list[tuple[float, str, str]] = []
    impostor: list[tuple[float, str, str]] = []
    for a, b in itertools.combinations(used, 2):
        assert a.encoding is not None and b.encoding is not None
        distance = face_distance(a.encoding, b.encoding)
        if a.person == b.person:
            genuine.append(distance)
            genuine_pairs.append((distance, a.file, b.file))
        else:
            impostor.append((distance, a.file, b.file))
    impostor_distances = [d for d, _, _ in impostor]
    closest = min(impostor) if impostor else None
    at = rates(genuine, impostor_distances, threshold)
    timing = summary_ms([p.ms for p in photos if p.ms > 0])
    return {
        "photos": len(photos),
        "skipped": len(skipped),
        "skipped_files": skipped,
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "false_accepts": at["false_accepts"],
        "false_rejects": at["false_rejects"],
        "far": at["far"],
        "frr": at["frr"],
        "threshold": threshold,
        "closest_impostor": round(closest[0], 4) if closest else None,
        "closest_impostor_pair": [closest[1], closest[2]] if closest else None,
        "farthest_genuine": round(max(genuine), 4) if genuine else None,
        "margin": round(closest[0] - threshold, 4) if closest else None,
        "rejected_genuine_pairs": [[f1, f2, round(d, 4)] for d, f1, f2 in sorted(genuine_pairs, reverse=True)
                                   if d > threshold],
        "sweep": [rates(genuine, impostor_distances, t) for t in SWEEP],
        "work_size": work_size,
        "p50_ms": timing["p50_ms"],
        "p95_ms": timing["p95_ms"],
        "max_ms": timing["max_ms"],
    }


def print_table(result: dict[str, object]) -> None:
    print(f"photos {result['photos']}, skipped {result['skipped']} (not exactly one face: "
          f"{', '.join(result['skipped_files']) or '-'})")  # type: ignore[arg-type]
    print(f"genuine pairs {result['genuine_pairs']}, impostor pairs {result['impostor_pairs']}, "
          f"working size {result['work_size']} px")
    print(f"farthest genuine pair {result['farthest_genuine']}, closest impostor pair "
          f"{result['closest_impostor']} {result['closest_impostor_pair']}")
    print()
    print(f"{'threshold':>9} {'false acc':>9} {'FAR':>7} {'false rej':>9} {'FRR':>7} {'margin':>7}")
    sweep = list(result["sweep"])  # type: ignore[call-overload]
    chosen = float(result["threshold"])  # type: ignore[arg-type]
    if all(abs(row["threshold"] - chosen) > 1e-9 for row in sweep):
        sweep.append(rates([], [], chosen) | {k: result[k] for k in ("false_accepts", "false_rejects", "far", "frr")})
    closest = result["closest_impostor"]
    for row in sorted(sweep, key=lambda r: r["threshold"]):
        margin = f"{closest - row['threshold']:.3f}" if isinstance(closest, float) else "-"
        mark = "  <- chosen" if abs(row["threshold"] - chosen) < 1e-9 else ""
        print(f"{row['threshold']:>9.2f} {row['false_accepts']:>9} {row['far']:>7.2%} "
              f"{row['false_rejects']:>9} {row['frr']:>7.2%} {margin:>7}{mark}")
    print()
    rejected = result["rejected_genuine_pairs"]
    print("genuine pairs over the threshold:",
          ", ".join(f"{a}/{b} {d}" for a, b, d in rejected) or "-")  # type: ignore[attr-defined]
    print(f"per photo (detect + landmarks + encode): p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
          f"max {result['max_ms']} ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.face", description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="a folder with manifest.csv (columns file, person)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"match at or below this distance (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--work-size", type=int, default=WORK_SIZE, help="long side analysed, px")
    args = parser.parse_args(argv)
    if not 0 < args.threshold < 2:
        print("bench.face: --threshold must be between 0 and 2", file=sys.stderr)
        return 2
    try:
        manifest_ok = (args.folder / "manifest.csv").is_file()
        if not manifest_ok:
            raise ValueError(f"{args.folder / 'manifest.csv'} not found")
        core = pin_to_one_core()
        result = measure(args.folder, args.threshold, args.work_size)
    except (OSError, ValueError, KeyError) as error:
        print(f"bench.face: {error}", file=sys.stderr)
        return 2
    result["pinned"] = core
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
