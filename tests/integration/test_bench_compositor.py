"""bench/compositor.py runs briefly and prints its figures (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(180)


def test_compositor_bench_prints_its_figures_for_four_inputs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compositor.py"), "--seconds", "2",
         "--warmup", "0.5", "--inputs", "4", "--codecs", "vp8"],
        check=False, capture_output=True, text=True, timeout=150, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "cpu/real" in out and "load average" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:2] == ["4", "vp8"]]
    assert len(rows) == 1, out
    ratio, fps = float(rows[0][2]), float(rows[0][3])
    assert ratio > 0 and fps > 0
    assert "decode" in out and "compose" in out and "encode" in out
