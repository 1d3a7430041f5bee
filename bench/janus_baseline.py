"""Janus baseline: Janus 1.1.2 videoroom forwarding the same load as bench/forwarding.py.

One publisher sends pre-encoded VP8 640x480 30 fps (~1 Mbps, keyframe every 1 s) +
Opus 20 ms into the Janus videoroom plugin over Janus's HTTP API; N subscribers join
the feed, answer Janus's offer from aiortc and count RTP packets (never decode). Only
the Janus process's CPU is measured (utime+stime from /proc/<pid>/stat).

Janus 1.1.2 skips loopback interfaces for ICE, so it runs alone in a network namespace
made for the run (veth pair 10.203.0.1/30 <-> 10.203.0.2/30, nothing else routed);
the aiortc clients gather ICE candidates on 10.203.0.1 only. Every N gets a fresh
Janus. Namespace, veth and Janus are removed at the end, also on Ctrl-C or error.

Needs root and Debian's `janus` package (apt-get install -y janus).

    .venv/bin/python bench/janus_baseline.py                 # N = 0,1,2,4,8,16,32 (~1.5 min)
    .venv/bin/python bench/janus_baseline.py --quick         # N = 0,1,4,8, shorter (~30 s)
    .venv/bin/python bench/janus_baseline.py --repeat 3 --seconds 10   # median of 3 (~6 min)
    .venv/bin/python bench/janus_baseline.py --n 1,8 --seconds 10
    .venv/bin/python bench/janus_baseline.py --cleanup       # remove a stale namespace

From other code: ``run_janus([1, 8], 8.0)`` -> list of dicts (n, cpu_per_s,
cpu_per_sub, fps, loss, cpu_marginal_per_sub, us_per_pkt, ...); ``await
run_janus_async(...)`` inside an event loop. Compare cpu_marginal_per_sub (CPU above
the publisher-only N=0 run, per subscriber) with forwarding.py's per-sub figure:
cpu_per_sub = cpu_per_s / N also carries Janus's ~15 core-ms/s of publisher ingest
and timers. See docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from janus_api import JanusSession
from janus_netns import (
    HOST_IP,
    HTTP_PORT,
    JANUS_BIN,
    JANUS_IP,
    ROOM,
    JanusProcess,
    ice_only_on,
    netns_down,
    netns_up,
)
from loadgen import Counter, Media, add_publisher_tracks, count_received, media_kbps, window_rates
from loadgen import encode_media_pyav as encode_media

DEFAULT_NS = [0, 1, 2, 4, 8, 16, 32]
QUICK_NS = [0, 1, 4, 8]


# ---------------------------------------------------------------------------- one run

def _config() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[])


async def _connected(pcs: list[RTCPeerConnection], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while any(pc.connectionState != "connected" for pc in pcs):
        states = [pc.connectionState for pc in pcs]
        if "failed" in states or time.monotonic() > deadline:
            raise RuntimeError(f"peer connections not connected: {states}")
        await asyncio.sleep(0.05)


def _keep_sdp(workdir: Path, name: str, sdp: str) -> None:
    if os.environ.get("JANUS_BENCH_KEEP"):
        (workdir / name).write_text(sdp)


def _system_idle() -> tuple[float, float]:
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    return float(cpu[3] + cpu[4]), float(sum(cpu[:8]))


async def run_one(n: int, media: Media, workdir: Path,
                  warmup: float, seconds: float, event_loops: int = 1) -> dict[str, Any]:
    janus = JanusProcess(workdir / f"n{n}", event_loops=event_loops)
    pcs: list[RTCPeerConnection] = []
    counters: list[Counter] = []
    api: JanusSession | None = None
    try:
        janus.start()
        api = JanusSession(f"http://{JANUS_IP}:{HTTP_PORT}/janus")
        await api.create()

        # Publisher: join the room, publish with an aiortc offer.
        pub = RTCPeerConnection(_config())
        pcs.append(pub)
        add_publisher_tracks(pub, media)
        ph = await api.attach()
        joined = await api.message(ph, {"request": "join", "ptype": "publisher",
                                        "room": ROOM, "display": "publisher"})
        feed = joined["plugindata"]["data"]["id"]
        await pub.setLocalDescription(await pub.createOffer())
        ans = await api.message(ph, {"request": "publish", "audio": True, "video": True},
                                jsep={"type": "offer", "sdp": pub.localDescription.sdp})
        await pub.setRemoteDescription(RTCSessionDescription(**ans["jsep"]))
        _keep_sdp(janus.workdir, "publisher-offer.sdp", pub.localDescription.sdp)
        _keep_sdp(janus.workdir, "publisher-answer.sdp", ans["jsep"]["sdp"])
        await api.trickle_done(ph)
        await _connected([pub])  # the feed exists for subscribers once its media is up
        await asyncio.sleep(0.5)

        # Subscribers: Janus offers, aiortc answers, packets are counted, never decoded.
        for i in range(n):
            sh = await api.attach()
            att = await api.message(sh, {"request": "join", "ptype": "subscriber", "room": ROOM,
                                         "streams": [{"feed": feed}]})
            pc = RTCPeerConnection(_config())
            pcs.append(pc)
            await pc.setRemoteDescription(RTCSessionDescription(**att["jsep"]))
            count_received(pc, counters)
            await pc.setLocalDescription(await pc.createAnswer())
            if i == 0:
                _keep_sdp(janus.workdir, "subscriber-offer.sdp", att["jsep"]["sdp"])
                _keep_sdp(janus.workdir, "subscriber-answer.sdp", pc.localDescription.sdp)
            await api.message(sh, {"request": "start"},
                              jsep={"type": "answer", "sdp": pc.localDescription.sdp})
            await api.trickle_done(sh)

        await _connected(pcs)
        await asyncio.sleep(warmup)
        if any(c.first is None for c in counters):
            late = sum(c.first is None for c in counters)
            print(f"  warning: {late} of {len(counters)} tracks got no packet in warm-up",
                  file=sys.stderr)
        snaps0 = [c.snapshot() for c in counters]
        idle0, total0 = _system_idle()
        own0 = time.process_time()
        ns0, cpu0, t0 = janus.thread_ns(), janus.cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds)
        ns1, cpu1, t1 = janus.thread_ns(), janus.cpu_seconds(), time.monotonic()
        own1 = time.process_time()
        idle1, total1 = _system_idle()
        snaps1 = [c.snapshot() for c in counters]
        elapsed = t1 - t0
        # Threads alive at the end: their run time inside the window (a thread that
        # ended inside the window is missed; Janus's threads here live for the run).
        cpu = sum(v - ns0.get(tid, 0) for tid, v in ns1.items()) / 1e9 / elapsed
        by_thread: dict[str, float] = {}
        for tid, name in janus.thread_names().items():
            name = re.sub(r" \d+$", "", name)  # "hloop <handle id>" -> "hloop"
            if tid in ns1:
                run = (ns1[tid] - ns0.get(tid, 0)) / 1e9 / elapsed
                by_thread[name] = by_thread.get(name, 0.0) + run
        ncpu = os.cpu_count() or 1
        return {
            "n": n,
            "cpu_per_s": cpu,
            "cpu_per_sub": cpu / n if n else None,
            **window_rates(counters, snaps0, snaps1, elapsed, n),
            "client_cpu_per_s": (own1 - own0) / elapsed,
            "machine_busy": 1 - (idle1 - idle0) / (total1 - total0) if total1 > total0 else 0.0,
            "ncpu": ncpu,
            "cpu_ticks_per_s": (cpu1 - cpu0) / elapsed,  # utime+stime, 10 ms ticks
            "janus_threads": len(ns1),
            "thread_cpu": dict(sorted(by_thread.items(), key=lambda kv: -kv[1])[:4]),
            "seconds": elapsed,
        }
    finally:
        for pc in pcs:
            with contextlib.suppress(Exception):
                await pc.close()
        if api is not None:
            await api.close()
        janus.stop()


def _add_marginals(rows: list[dict[str, Any]]) -> None:
    """CPU above the N=0 (publisher only) run, per subscriber and per forwarded packet."""
    base = next((r for r in rows if r["n"] == 0), None)
    for r in rows:
        r["cpu_marginal_per_sub"] = r["us_per_pkt"] = None
        r["cpu_base_per_s"] = base["cpu_per_s"] if base is not None else None
        if base is not None and r["n"]:
            extra = r["cpu_per_s"] - base["cpu_per_s"]
            r["cpu_marginal_per_sub"] = extra / r["n"]
            if r["pps"]:
                r["us_per_pkt"] = extra / r["pps"] * 1e6


async def run_janus_async(ns: list[int], seconds: float, warmup: float = 3.0,
                          verbose: bool = False, event_loops: int = 1,
                          baseline: bool = True, repeat: int = 1) -> list[dict[str, Any]]:
    """Measure Janus for each N in `ns` (fresh Janus each); namespace up/down around it.

    Returns one dict per entry of `ns`, in order. With `baseline` and no 0 in `ns`, an
    N=0 run (publisher only) is measured first but not returned: it fills
    cpu_marginal_per_sub, us_per_pkt and cpu_base_per_s (like bench/forwarding.py's
    per-subscriber figure, CPU above N=0 divided by N). With `repeat` > 1 each N runs
    that many times (fresh Janus each) and the run with the median CPU is kept: the
    N=0 and N=1 figures move by +-2.5 core-ms/s between runs on a shared 2-core machine.
    """
    if os.geteuid() != 0:
        raise PermissionError("janus_baseline needs root (ip netns)")
    if not Path(JANUS_BIN).exists():
        raise FileNotFoundError("janus not installed: apt-get install -y janus")
    media = encode_media()
    if verbose:
        vk, ak = media_kbps(media)
        print(f"media: VP8 640x480 30 fps {vk:.0f} kbps, Opus 20 ms {ak:.0f} kbps", flush=True)
    rows: list[dict[str, Any]] = []
    extra = 1 if baseline and 0 not in ns else 0
    workdir = Path(tempfile.mkdtemp(prefix="carertc-janus-"))
    netns_up()
    try:
        with ice_only_on(HOST_IP):
            for n in [0] * extra + list(ns):
                tries = []
                for k in range(max(1, repeat)):
                    tries.append(await run_one(n, media, workdir / f"r{k}", warmup, seconds,
                                               event_loops))
                    if verbose and repeat > 1:
                        print(f"  (N={n} try {k + 1}: {tries[-1]['cpu_per_s']:.4f} s/s)",
                              flush=True)
                tries.sort(key=lambda r: r["cpu_per_s"])
                row = tries[len(tries) // 2]
                row["cpu_tries"] = [r["cpu_per_s"] for r in tries]
                rows.append(row)
                _add_marginals(rows)
                if verbose:
                    print(fmt_row(rows[-1]), flush=True)
    finally:
        netns_down()
        if os.environ.get("JANUS_BENCH_KEEP"):
            print(f"janus logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return rows[extra:]


def run_janus(ns: list[int], seconds: float, warmup: float = 3.0,
              repeat: int = 1) -> list[dict[str, Any]]:
    """Blocking wrapper. Keys: n, cpu_per_s, cpu_per_sub (= cpu_per_s / n, includes the
    publisher's ingest), fps, loss; extras: cpu_marginal_per_sub (above N=0, the figure
    to compare with forwarding.py's per-sub), us_per_pkt, pps, kbps, client_cpu_per_s,
    machine_busy, cpu_ticks_per_s, thread_cpu. An N=0 baseline is measured if not asked.

    Inside a running event loop this runs on a separate thread with its own loop (the
    caller's loop is blocked meanwhile: prefer ``await run_janus_async(...)`` there).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_janus_async(ns, seconds, warmup, repeat=repeat))
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        return ex.submit(asyncio.run,
                         run_janus_async(ns, seconds, warmup, repeat=repeat)).result()


# ---------------------------------------------------------------------------- output

def slope(rows: list[dict[str, Any]]) -> tuple[float, float] | None:
    """Least-squares fit cpu_per_s = a + b*N over all rows: (b per subscriber, a fixed)."""
    pts = [(r["n"], r["cpu_per_s"]) for r in rows]
    if len({n for n, _ in pts}) < 2:
        return None
    mx = sum(n for n, _ in pts) / len(pts)
    my = sum(c for _, c in pts) / len(pts)
    b = sum((n - mx) * (c - my) for n, c in pts) / sum((n - mx) ** 2 for n, _ in pts)
    return b, my - b * mx


def _f(v: float | None, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def fmt_row(r: dict[str, Any]) -> str:
    return (f"janus N={r['n']:2}  cpu {r['cpu_per_s']:.4f} s/s  "
            f"per-sub {_f(r['cpu_per_sub'], '.4f')}  "
            f"marginal {_f(r.get('cpu_marginal_per_sub'), '.4f')}  "
            f"{_f(r.get('us_per_pkt'), '.1f')} us/pkt  fps {r['fps']:.1f}  "
            f"loss {r['loss'] * 100:.2f}%  {r['kbps']:.0f} kbps/sub  "
            f"(ticks {r['cpu_ticks_per_s']:.3f})  thr {r['janus_threads']}  "
            f"client {r['client_cpu_per_s']:.2f} s/s  machine {r['machine_busy'] * 100:.0f}%")


def table(rows: list[dict[str, Any]]) -> str:
    out = [("| N | Janus CPU (core-s/s) | per sub | per sub above N=0 | µs/pkt | fps/sub | "
            "loss | kbps/sub | client CPU (core-s/s) | machine busy |"),
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['n']} | {r['cpu_per_s']:.4f} | {_f(r['cpu_per_sub'], '.4f')} | "
                   f"{_f(r.get('cpu_marginal_per_sub'), '.4f')} | "
                   f"{_f(r.get('us_per_pkt'), '.1f')} | "
                   f"{r['fps']:.1f} | {r['loss'] * 100:.2f}% | {r['kbps']:.0f} | "
                   f"{r['client_cpu_per_s']:.2f} | {r['machine_busy'] * 100:.0f}% of {r['ncpu']} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", help="comma-separated subscriber counts (0 = publisher only, "
                        "the base for the per-subscriber marginal)")
    parser.add_argument("--seconds", type=float,
                        help="measurement window per N (default 8, quick 4)")
    parser.add_argument("--warmup", type=float, help="seconds after the last subscriber joins")
    parser.add_argument("--quick", action="store_true", help=f"N = {QUICK_NS}, short windows")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per N, the median-CPU one is kept (default 1)")
    parser.add_argument("--event-loops", type=int, default=1,
                        help="Janus event_loops (1 = one shared loop, the default here; "
                        "0 = Janus's own default, a loop thread per handle)")
    parser.add_argument("--cleanup", action="store_true", help="remove a stale namespace and exit")
    args = parser.parse_args()
    if args.cleanup:
        netns_down()
        return
    ns = [int(x) for x in args.n.split(",")] if args.n else (QUICK_NS if args.quick else DEFAULT_NS)
    seconds = args.seconds or (4.0 if args.quick else 8.0)
    warmup = args.warmup if args.warmup is not None else (2.0 if args.quick else 3.0)

    async def guarded() -> list[dict[str, Any]]:
        # Ctrl-C / SIGTERM cancel the run, so every finally (peer connections, Janus,
        # namespace) runs before exit.
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        return await run_janus_async(ns, seconds, warmup, verbose=True,
                                     event_loops=args.event_loops, repeat=args.repeat)

    try:
        rows = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        netns_down()
        print("interrupted; Janus stopped and namespace removed", file=sys.stderr)
        sys.exit(130)
    print()
    print(table(rows))
    fit = slope(rows)
    if fit:
        print(f"\nfit over N: {fit[0] * 1000:.2f} core-ms/s per subscriber + "
              f"{fit[1] * 1000:.1f} core-ms/s fixed (publisher ingest, timers)")
    print("\nJanus CPU by thread (core-s/s):")
    for r in rows:
        print(f"  N={r['n']:2}  " + "  ".join(f"{k} {v:.4f}" for k, v in r["thread_cpu"].items()))


if __name__ == "__main__":
    main()
