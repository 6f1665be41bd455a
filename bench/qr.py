"""QR decoding benchmark: decode rate, false positives and latency per image.

    python -m bench.qr [--json] [--repeat N] DIR [DIR ...]

Each DIR holds images ``N.png|webp|jpg``; ``N.txt`` next to an image is its expected payload
(UTF-8 text, compared with CRLF taken as LF and surrounding whitespace ignored). An image
without a ``.txt`` must yield nothing. An image that cannot be read counts as one without a
code. Only the decode call is timed (image loading excluded), on one core and one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from bench.stats import summary_ms
from devices.camera import IMAGE_SUFFIXES, read_image_file
from devices.camera_api import DecodedCode
from devices.qr import decode_frame, read_pyzbar, read_zxing, to_gray

Decoder = Callable[[np.ndarray], list[DecodedCode]]

DECODERS: dict[str, Decoder] = {
    "pipeline": decode_frame,
    # The single decoders see the same grayscale frame the pipeline starts from.
    "zxing": lambda image: read_zxing(to_gray(image)),
    "pyzbar": lambda image: read_pyzbar(to_gray(image)),
}


@dataclass
class Sample:
    name: str
    image: np.ndarray | None  # None: the file could not be read
    expected: str | None  # None: the image shows no code


@dataclass
class FolderResult:
    images: int = 0
    with_code: int = 0
    decoded: int = 0  # the expected payload was among the decoded codes
    wrong_text: int = 0  # a code was decoded but none matched the expected payload
    missed: int = 0  # nothing decoded although the image has a code
    without_code: int = 0
    false_positives: int = 0  # something decoded from an image without a code
    unreadable: int = 0  # files no image library could read (counted as without code)
    errors: int = 0  # the decoder raised
    times_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        data: dict[str, float | int] = {k: v for k, v in asdict(self).items() if k != "times_ms"}
        data.update(summary_ms(self.times_ms))
        return data


def normalize_payload(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def load_folder(folder: Path) -> list[Sample]:
    samples: list[Sample] = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        expected_path = path.with_suffix(".txt")
        expected = None
        if expected_path.is_file():
            expected = normalize_payload(expected_path.read_text(encoding="utf-8"))
        samples.append(Sample(path.name, read_image_file(path), expected))
    return samples


def _timed(decoder: Decoder, image: np.ndarray, repeat: int) -> tuple[list[DecodedCode], float]:
    durations: list[float] = []
    codes: list[DecodedCode] = []
    for _ in range(repeat):
        start = time.perf_counter()
        codes = decoder(image)
        durations.append((time.perf_counter() - start) * 1000.0)
    return codes, statistics.median(durations)


def run_folder(decoder: Decoder, samples: Sequence[Sample], repeat: int) -> FolderResult:
    result = FolderResult()
    for sample in samples:
        result.images += 1
        if sample.expected is None:
            result.without_code += 1
        else:
            result.with_code += 1
        if sample.image is None:
            result.unreadable += 1
            if sample.expected is not None:
                result.missed += 1
            continue
        try:
            codes, elapsed_ms = _timed(decoder, sample.image, repeat)
        except Exception as error:  # a crash is a finding to report, not a reason to stop
            print(f"{sample.name}: decoder raised {type(error).__name__}: {error}", file=sys.stderr)
            result.errors += 1
            codes, elapsed_ms = [], 0.0
        else:
            result.times_ms.append(elapsed_ms)
        if sample.expected is None:
            result.false_positives += bool(codes)
        elif any(normalize_payload(code.text) == sample.expected for code in codes):
            result.decoded += 1
        elif codes:
            result.wrong_text += 1
        else:
            result.missed += 1
    return result


def merge(results: Sequence[FolderResult]) -> FolderResult:
    total = FolderResult()
    for result in results:
        for name, value in asdict(result).items():
            setattr(total, name, getattr(total, name) + value)
    return total


def run(folders: Sequence[Path], repeat: int) -> dict[str, dict[str, FolderResult]]:
    """Results per decoder, per folder (loading every folder once)."""
    loaded = {str(folder): load_folder(folder) for folder in folders}
    warm_up = next((s.image for samples in loaded.values() for s in samples if s.image is not None), None)
    results: dict[str, dict[str, FolderResult]] = {}
    for name, decoder in DECODERS.items():
        if warm_up is not None:
            decoder(warm_up)  # first-call costs (library loading) are not per-image costs
        results[name] = {key: run_folder(decoder, samples, repeat) for key, samples in loaded.items()}
    return results


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def pin_to_one_core() -> str:
    cv2.setNumThreads(1)
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[0]})
    return f"cpu {cpus[0]} of {os.cpu_count()}"


def as_json(results: dict[str, dict[str, FolderResult]], meta: dict[str, str | int]) -> dict[str, object]:
    def block(per_folder: dict[str, FolderResult]) -> dict[str, object]:
        return {
            "total": merge(list(per_folder.values())).summary(),
            "folders": {key: value.summary() for key, value in per_folder.items()},
        }

    report = block(results["pipeline"])
    report["single_decoders"] = {name: block(r) for name, r in results.items() if name != "pipeline"}
    report["meta"] = meta
    return report


# (column, width, decimals or None for integers)
_COLUMNS: tuple[tuple[str, int, int | None], ...] = (
    ("decoded", 7, None),
    ("with_code", 9, None),
    ("wrong_text", 10, None),
    ("false_positives", 15, None),
    ("without_code", 12, None),
    ("unreadable", 10, None),
    ("errors", 6, None),
    ("p50_ms", 7, 2),
    ("p95_ms", 7, 2),
    ("max_ms", 7, 2),
)
_LABEL_WIDTH = 18


def print_table(title: str, per_folder: dict[str, FolderResult]) -> None:
    print(f"\n{title}")
    print("folder".ljust(_LABEL_WIDTH), *(column.rjust(width) for column, width, _ in _COLUMNS))
    rows = [(Path(key).name, result.summary()) for key, result in per_folder.items()]
    rows.append(("total", merge(list(per_folder.values())).summary()))
    for label, summary in rows:
        cells = [
            f"{summary[column]:>{width}}" if decimals is None else f"{summary[column]:>{width}.{decimals}f}"
            for column, width, decimals in _COLUMNS
        ]
        print(label.ljust(_LABEL_WIDTH), *cells)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.qr", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, metavar="DIR")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--repeat", type=int, default=1, help="decode each image N times, keep the median")
    args = parser.parse_args(argv)
    missing = [str(folder) for folder in args.folders if not folder.is_dir()]
    if missing:
        print(f"not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("--repeat must be at least 1", file=sys.stderr)
        return 2
    core = pin_to_one_core()
    results = run(args.folders, args.repeat)
    meta: dict[str, str | int] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{_cpu_model()}, {platform.machine()}, {platform.platform()}",
        "cores": os.cpu_count() or 0,
        "pinned": core,
        "opencv_threads": cv2.getNumThreads(),
        "repeat": args.repeat,
    }
    if args.json:
        json.dump(as_json(results, meta), sys.stdout, ensure_ascii=False)
        print()
        return 0
    print(f"QR decoding, {meta['date']}, {core}, OpenCV threads {meta['opencv_threads']}, repeat {args.repeat}")
    print_table("pipeline (devices.qr.decode_frame)", results["pipeline"])
    for name in DECODERS:
        if name != "pipeline":
            print_table(f"{name} alone, for comparison", results[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
