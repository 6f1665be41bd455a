"""`python -m bench.face --json DIR` on a small manifest of real photos."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.shared_data import REPO_ROOT

KEYS = {"genuine_pairs", "impostor_pairs", "false_accepts", "false_rejects", "threshold", "closest_impostor",
        "p50_ms", "p95_ms", "skipped"}


def test_bench_face_prints_one_json_object_with_the_rates(faces_dir, tmp_path):
    rows = [("obama_1.jpg", "obama"), ("obama_3.jpg", "obama"), ("biden_1.jpg", "biden"), ("group_2.jpg", "group")]
    for name, _ in rows:
        (tmp_path / name).symlink_to(faces_dir / name)
    (tmp_path / "manifest.csv").write_text("file,person\n" + "".join(f"{f},{p}\n" for f, p in rows))
    done = subprocess.run([sys.executable, "-m", "bench.face", "--json", "--threshold", "0.5", str(tmp_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= KEYS
    assert (result["genuine_pairs"], result["impostor_pairs"], result["skipped"]) == (1, 2, 1)
    assert (result["false_accepts"], result["false_rejects"], result["threshold"]) == (0, 0, 0.5)
    assert result["closest_impostor"] > 0.5 and result["p95_ms"] >= result["p50_ms"] > 0


def test_bench_face_without_a_manifest_says_so_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench.face", "--json", str(tmp_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "manifest.csv" in done.stderr
