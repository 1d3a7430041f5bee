"""bench/im_throughput.py in a tiny configuration: it runs, prints its figures, checks the store."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "im_throughput.py"
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def run_bench(tmp_path: Path, backend: str, *extra: str) -> tuple[str, dict[str, Any]]:
    """Run the benchmark for a few seconds; its stdout and its --json figures."""
    figures = tmp_path / "figures.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--backend",
            backend,
            "--senders",
            "4",
            "--conversations",
            "2",
            "--warmup",
            "0.5",
            "--seconds",
            "1.5",
            "--rate",
            "40",
            "--workers",
            "1",
            "--json",
            str(figures),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, json.loads(figures.read_text())


def assert_figures(stdout: str, data: dict[str, Any], backend: str) -> None:
    """Both phases printed with rate and latency; every acked message stored, seqs gap-free."""
    lines = [line for line in stdout.splitlines() if line.startswith(backend)]
    closed = [line for line in lines if " closed w=" in line]
    opened = [line for line in lines if " open " in line]
    assert len(closed) == 1 and len(opened) == 1, stdout
    for line in closed + opened:
        assert re.search(r"[\d,]+ msg/s acked", line), line
        assert re.search(r"ack p50 [\d.]+ ms p99 [\d.]+ ms max [\d.]+ ms", line), line
        assert re.search(r"server [\d.]+ core = [\d.]+ CPU-s/1k msg", line), line
    assert re.search(rf"^{backend}\s+check: .* -> OK$", stdout, re.MULTILINE), stdout

    results = [r for r in data["results"] if r["backend"] == backend]
    assert {r["mode"].split()[0] for r in results} == {"closed", "open"}
    for r in results:
        assert r["acked"] > 0 and r["rate"] > 0
        assert math.isfinite(r["p50_ms"]) and 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert r["errors"] == {} and r["unacked"] == 0
        assert r["deliveries_received"] == r["deliveries_expected"] > 0
        assert r["server_cpu_per_1k"] > 0
    check = data["checks"][backend]
    assert check["ok"], check
    assert check["acked"] == check["stored"] > 0
    assert check["missing"] == check["wrong_seq"] == check["gap_conversations"] == 0
    assert check["count_mismatch"] == 0


def test_bench_on_sqlite(tmp_path: Path) -> None:
    stdout, data = run_bench(tmp_path, "sqlite")
    assert_figures(stdout, data, "sqlite")


@pytest.mark.postgres
def test_bench_on_postgresql(tmp_path: Path) -> None:
    url = make_url(os.environ.get("DATABASE_URL_PG", DEFAULT_PG_URL))
    admin = url.set(drivername="postgresql+asyncpg", database="postgres")
    stdout, data = run_bench(
        tmp_path, "postgres", "--pg-admin-url", admin.render_as_string(hide_password=False)
    )
    assert_figures(stdout, data, "postgres")
