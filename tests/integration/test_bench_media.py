"""bench/recording.py and bench/pixelate.py run briefly and print their figures (no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(120)


def _run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args],
                            check=False, capture_output=True, text=True, timeout=100, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_recording_bench_prints_the_cost_per_track() -> None:
    out = _run("recording.py", "--seconds", "1.5")
    assert re.search(r"video track -?\d+\.\d+", out) and re.search(r"audio track -?\d+\.\d+", out)
    assert re.search(r"video: \d+ frames", out) and "dropped 0" in out


def test_pixelate_bench_prints_the_cost_of_one_track() -> None:
    out = _run("pixelate.py", "--seconds", "1.5")
    assert re.search(r"pixelation \(difference\)\s+: -?\d+\.\d+ s/s", out)
    assert "'decode_errors': 0" in out
