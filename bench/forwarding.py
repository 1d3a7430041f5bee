"""Forwarding benchmark: server CPU per subscriber, CareRTC SFU vs aiortc MediaRelay.

One publisher sends pre-encoded VP8 640x480 30 fps (~1 Mbps) + Opus; N subscribers
count (never decode) the RTP packets they receive. The server runs in its own process
(this script with --serve), so its CPU is read from /proc/<pid>/stat. Every (mode, N)
gets a fresh server. Prints one row per run and the per-subscriber ratio.

    .venv/bin/python bench/forwarding.py            # full run (~4 min)
    .venv/bin/python bench/forwarding.py --quick    # short run (~1.5 min)
    .venv/bin/python bench/forwarding.py --janus    # also Janus 1.1.2 in the same run (root)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import loadgen
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy


def _config() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


# ---------------------------------------------------------------------------- server

class SfuServer:
    """CareRTC media Router: RTP-level forwarding."""

    def __init__(self) -> None:
        from media import Router
        self.router = Router()
        self.producers: list[Any] = []
        self.recv: dict[str, Any] = {}

    async def publish(self, sdp: str) -> str:
        t = await self.router.create_transport("send")
        answer, self.producers = await t.receive_offer(sdp, {})
        return answer

    async def subscribe(self) -> tuple[str, str]:
        t = await self.router.create_transport("recv")
        for p in self.producers:
            t.consume(p)
        offer, _ = await t.create_offer()
        self.recv[t.id] = t
        return t.id, offer

    async def answer(self, sid: str, sdp: str) -> None:
        await self.recv[sid].receive_answer(sdp)

    def stats(self) -> dict[str, Any]:
        from media import totals
        return totals()

    async def close(self) -> None:
        await self.router.close()


class RelayServer:
    """aiortc's MediaRelay: decode once, encode per subscriber (the baseline)."""

    def __init__(self) -> None:
        from aiortc.contrib.media import MediaBlackhole, MediaRelay
        self.relay = MediaRelay()
        self.blackhole = MediaBlackhole()
        self.tracks: list[Any] = []
        self.pcs: dict[str, RTCPeerConnection] = {}

    async def publish(self, sdp: str) -> str:
        pc = RTCPeerConnection(_config())
        self.pcs["pub"] = pc
        pc.on("track", self.tracks.append)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for track in self.tracks:  # keep the decoded source drained even with no subscriber
            self.blackhole.addTrack(self.relay.subscribe(track))
        await self.blackhole.start()
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    async def subscribe(self) -> tuple[str, str]:
        pc = RTCPeerConnection(_config())
        sid = f"s{len(self.pcs)}"
        self.pcs[sid] = pc
        for track in self.tracks:
            pc.addTrack(self.relay.subscribe(track))
        await pc.setLocalDescription(await pc.createOffer())
        return sid, pc.localDescription.sdp

    async def answer(self, sid: str, sdp: str) -> None:
        await self.pcs[sid].setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    def stats(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        await self.blackhole.stop()
        for pc in self.pcs.values():
            await pc.close()


async def serve(mode: str) -> None:
    """Line-delimited JSON commands on stdin, answers on stdout."""
    server: Any = SfuServer() if mode == "sfu" else RelayServer()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "publish":
            out: Any = {"sdp": await server.publish(cmd["sdp"])}
        elif op == "subscribe":
            sid, sdp = await server.subscribe()
            out = {"id": sid, "sdp": sdp}
        elif op == "answer":
            await server.answer(cmd["id"], cmd["sdp"])
            out = {"ok": True}
        elif op == "stats":
            out = server.stats()
        else:
            await server.close()
            sys.stdout.write(json.dumps({"ok": True}) + "\n")
            sys.stdout.flush()
            break
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


# ---------------------------------------------------------------------------- clients

class Server:
    """The server process and its command pipe."""

    def __init__(self, mode: str) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", mode],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)

    async def call(self, **cmd: Any) -> Any:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()
        line = await asyncio.get_running_loop().run_in_executor(None, self.proc.stdout.readline)
        return json.loads(line)

    def cpu_seconds(self) -> float:
        return loadgen.cpu_seconds(self.proc.pid)

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.call(op="quit"), 10)
        except (TimeoutError, OSError, ValueError) as exc:
            print(f"server did not quit cleanly: {exc!r}", file=sys.stderr)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def run_one(mode: str, n: int, media: loadgen.Media,
                  warmup: float, duration: float) -> dict[str, Any]:
    server = Server(mode)
    pcs: list[RTCPeerConnection] = []
    counters: list[loadgen.Counter] = []
    try:
        pub = RTCPeerConnection(_config())
        pcs.append(pub)
        loadgen.add_publisher_tracks(pub, media)
        await pub.setLocalDescription(await pub.createOffer())
        answer = await server.call(op="publish", sdp=pub.localDescription.sdp)
        await pub.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        await asyncio.sleep(0.5)
        for _ in range(n):
            offer = await server.call(op="subscribe")
            pc = RTCPeerConnection(_config())
            pcs.append(pc)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            loadgen.count_received(pc, counters)  # count, never decode
            await pc.setLocalDescription(await pc.createAnswer())
            await server.call(op="answer", id=offer["id"], sdp=pc.localDescription.sdp)
        await asyncio.sleep(warmup)
        stats0 = await server.call(op="stats")
        snaps0 = [c.snapshot() for c in counters]
        cpu0, t0 = server.cpu_seconds(), time.monotonic()
        await asyncio.sleep(duration)
        cpu1, t1 = server.cpu_seconds(), time.monotonic()
        snaps1 = [c.snapshot() for c in counters]
        stats1 = await server.call(op="stats")
        elapsed = t1 - t0
        cpu = (cpu1 - cpu0) / elapsed
        fwd = stats1.get("packets_forwarded", 0) - stats0.get("packets_forwarded", 0)
        return {
            "mode": mode, "n": n, "cpu": cpu,
            **loadgen.window_rates(counters, snaps0, snaps1, elapsed, n),
            "fwd_pps": fwd / elapsed,
        }
    finally:
        for pc in pcs:
            await pc.close()
        await server.stop()


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.gettempdir()) / "carertc-bench"
    workdir.mkdir(exist_ok=True)
    media = loadgen.encode_media_ffmpeg(workdir)
    sfu_ns = [0, 1, 2, 4, 8] if args.quick else [0, 1, 2, 4, 8, 16, 32]
    relay_ns = [0, 1, 2, 4] if args.quick else [0, 1, 2, 4, 8]
    if args.sfu_n is not None:
        sfu_ns = _ints(args.sfu_n)
    if args.relay_n is not None:
        relay_ns = _ints(args.relay_n)
    warmup, duration = (2.0, 3.0) if args.quick else (3.0, 8.0)
    if args.duration:
        duration = args.duration
    rows: list[dict[str, Any]] = []
    for mode, ns in (("sfu", sfu_ns), ("relay", relay_ns)):
        for n in ns:
            row = await run_one(mode, n, media, warmup, duration)
            rows.append(row)
            print(_fmt(row, rows), flush=True)
    if args.janus:
        rows.extend(await janus_rows(sfu_ns, warmup, duration))
    print()
    print(table(rows))
    print()
    print(slopes(rows))


async def janus_rows(ns: list[int], warmup: float, duration: float) -> list[dict[str, Any]]:
    """Janus 1.1.2 videoroom under the same load (bench/janus_baseline.py), as rows here."""
    from janus_baseline import run_janus_async

    rows = []
    for j in await run_janus_async(sorted(set(ns) | {0}), duration, warmup):
        row = {"mode": "janus", "n": j["n"], "cpu": j["cpu_per_s"], "fps": j["fps"],
               "loss": j["loss"], "kbps": j.get("kbps", 0.0), "pps": j.get("pps", 0.0),
               "fwd_pps": j.get("pps", 0.0)}
        rows.append(row)
        print(_fmt(row, rows), flush=True)
    return rows


def slope(rows: list[dict[str, Any]], mode: str) -> float | None:
    """Least-squares CPU per subscriber over every N measured for `mode`."""
    pts = [(r["n"], r["cpu"]) for r in rows if r["mode"] == mode]
    if len(pts) < 2:
        return None
    mx = sum(n for n, _ in pts) / len(pts)
    my = sum(c for _, c in pts) / len(pts)
    var = sum((n - mx) ** 2 for n, _ in pts)
    return sum((n - mx) * (c - my) for n, c in pts) / var if var else None


def slopes(rows: list[dict[str, Any]]) -> str:
    """One line: fitted per-subscriber CPU of each mode and their ratio."""
    s, r, j = slope(rows, "sfu"), slope(rows, "relay"), slope(rows, "janus")
    text = "fitted CPU per subscriber (least squares over N):"
    text += f" SFU {s:.4f} s/s" if s is not None else " SFU –"
    text += f", relay {r:.4f} s/s" if r is not None else ", relay –"
    if s and r:
        text += f", relay/SFU {r / s:.0f}×"
    if j is not None:
        text += f", Janus {j:.4f} s/s"
        if s:
            text += f", SFU/Janus {s / j:.2f}×"
    return text


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _marginal(row: dict[str, Any], rows: list[dict[str, Any]]) -> float | None:
    base = next((r for r in rows if r["mode"] == row["mode"] and r["n"] == 0), None)
    if not row["n"] or base is None:
        return None
    return (row["cpu"] - base["cpu"]) / row["n"]


def _us_per_packet(row: dict[str, Any], rows: list[dict[str, Any]]) -> float | None:
    """Marginal server CPU per forwarded packet (CPU above N=0, over forwarded packets/s)."""
    base = next((r for r in rows if r["mode"] == row["mode"] and r["n"] == 0), None)
    if not row["n"] or base is None or not row.get("fwd_pps"):
        return None
    return (row["cpu"] - base["cpu"]) / row["fwd_pps"] * 1e6


def _fmt(row: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    m = _marginal(row, rows)
    us = _us_per_packet(row, rows)
    return (f"{row['mode']:5} N={row['n']:2}  cpu {row['cpu']:.3f} s/s  "
            f"per-sub {'-' if m is None else f'{m:.4f}'}  fps {row['fps']:.1f}  "
            f"loss {row['loss'] * 100:.1f}%  {row['kbps']:.0f} kbps/sub  "
            f"{'' if us is None else f'{us:.0f} us/fwd-pkt'}")


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table: per N, both modes side by side."""
    janus = any(r["mode"] == "janus" for r in rows)
    out = [("| N | SFU CPU s/s | SFU per sub | SFU fps | SFU loss | SFU µs/pkt | "
            "relay CPU s/s | relay per sub | relay fps | relay loss | ratio per sub |"
            + (" Janus CPU s/s | Janus per sub | Janus fps | Janus loss | SFU/Janus per sub |"
               if janus else "")),
           "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" * 5 if janus else "")]
    ns = sorted({r["n"] for r in rows})
    for n in ns:
        s = next((r for r in rows if r["mode"] == "sfu" and r["n"] == n), None)
        r = next((r for r in rows if r["mode"] == "relay" and r["n"] == n), None)
        sm = _marginal(s, rows) if s else None
        rm = _marginal(r, rows) if r else None

        def cell(row: dict[str, Any] | None, m: float | None) -> str:
            if row is None:
                return "– | – | – | –"
            return (f"{row['cpu']:.3f} | {'–' if m is None else f'{m:.4f}'} | "
                    f"{row['fps']:.1f} | {row['loss'] * 100:.1f}%")
        us = _us_per_packet(s, rows) if s else None
        ratio = f"{rm / sm:.0f}×" if sm and rm and sm > 0 else "–"
        line = (f"| {n} | {cell(s, sm)} | {'–' if us is None else f'{us:.0f}'} | "
                f"{cell(r, rm)} | {ratio} |")
        if janus:
            j = next((r for r in rows if r["mode"] == "janus" and r["n"] == n), None)
            jm = _marginal(j, rows) if j else None
            jratio = f"{sm / jm:.2f}×" if sm and jm and jm > 0 else "–"
            line += f" {cell(j, jm)} | {jratio} |"
        out.append(line)
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer N, shorter windows")
    parser.add_argument("--sfu-n", help="comma-separated subscriber counts for the SFU")
    parser.add_argument("--relay-n", help="comma-separated subscriber counts for MediaRelay ('' = none)")
    parser.add_argument("--duration", type=float, help="measurement window per run, seconds")
    parser.add_argument("--janus", action="store_true",
                        help="also measure Janus 1.1.2 (needs root and Debian's janus package)")
    parser.add_argument("--serve", choices=["sfu", "relay"], help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve:
        asyncio.run(serve(parsed.serve))
    else:
        asyncio.run(main(parsed))
