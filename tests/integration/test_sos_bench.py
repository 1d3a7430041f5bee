"""The SOS ring benchmark runs end to end (a tiny load) and reports every ring."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sos_ring_bench_small_run() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "sos_ring.py"), "--raises", "6", "--elders", "3",
         "--contacts", "3", "--rate", "20", "--json"],
        check=False, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rings_received"] == result["rings_expected"] == 18
    assert result["ring_p99_ms"] < 1000
