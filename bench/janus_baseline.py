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
and timers. See docs/PERFORMANCE-janus.md.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import concurrent.futures
import contextlib
import fractions
import math
import os
import pickle
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice
import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "janus"
CLK_TCK = os.sysconf("SC_CLK_TCK")

JANUS_BIN = shutil.which("janus") or "/usr/bin/janus"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")

# Our own namespace and a /30 used only between it and this machine's root namespace.
NETNS = "crtc-janus"
VETH_HOST, VETH_NS = "crtcj0", "crtcj1"
HOST_IP, JANUS_IP, PREFIX = "10.203.0.1", "10.203.0.2", 30
HTTP_PORT = 8088
ROOM = 1234

DEFAULT_NS = [0, 1, 2, 4, 8, 16, 32]
QUICK_NS = [0, 1, 4, 8]


# ---------------------------------------------------------------------------- media

def encode_media(cache_dir: Path | None = None) -> tuple[list[bytes], list[bytes]]:
    """10 s of VP8 640x480 30 fps ~1 Mbps (GOP 30) and 10 s of Opus 20 ms, encoded once."""
    cache_dir = cache_dir or Path(tempfile.gettempdir()) / "carertc-bench"
    cache_dir.mkdir(exist_ok=True)
    cache = cache_dir / "janus-media-v2.pickle"
    if cache.exists():
        with open(cache, "rb") as f:
            return pickle.load(f)

    # PyAV's libvpx rate control lands far from bit_rate (2 Mbps asked 1 Mbps here):
    # encode, measure, rescale the target, at most 4 times.
    target = 1_000_000
    asked = target
    for _ in range(4):
        video = _encode_vp8(asked)
        got = sum(map(len, video)) * 8 * 30 / len(video)
        if abs(got - target) / target < 0.1:
            break
        asked = int(asked * target / got)

    audio: list[bytes] = []
    aenc = av.CodecContext.create("libopus", "w")
    aenc.sample_rate, aenc.layout, aenc.format = 48000, "stereo", "s16"
    aenc.bit_rate = 32000
    aenc.time_base = fractions.Fraction(1, 48000)
    aenc.options = {"frame_duration": "20"}
    tone = array.array("h")
    for i in range(960):  # 20 ms of a 450 Hz tone (9 whole periods), looped 500 times
        v = int(8000 * math.sin(2 * math.pi * 450 * i / 48000))
        tone.extend((v, v))  # interleaved stereo
    pcm = tone.tobytes()
    for i in range(500):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(pcm)
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, aenc.time_base
        audio += [bytes(p) for p in aenc.encode(frame) if p.size]
    audio += [bytes(p) for p in aenc.encode(None) if p.size]

    media = (video, audio)
    with open(cache, "wb") as f:
        pickle.dump(media, f)
    return media


def _encode_vp8(bit_rate: int, frames: int = 300) -> list[bytes]:
    """testsrc2 640x480 30 fps, GOP 30 (a keyframe a second), realtime libvpx."""
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = 640, 480, "yuv420p"
    enc.time_base = fractions.Fraction(1, 30)
    enc.framerate = fractions.Fraction(30, 1)
    enc.bit_rate = bit_rate
    enc.gop_size = 30
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                   "auto-alt-ref": "0"}
    video: list[bytes] = []
    with av.open("testsrc2=size=640x480:rate=30", format="lavfi") as src:
        for i, frame in enumerate(src.decode(video=0)):
            if i >= frames:
                break
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = i, enc.time_base
            video += [bytes(p) for p in enc.encode(frame) if p.size]
    video += [bytes(p) for p in enc.encode(None) if p.size]
    return video


def media_kbps(media: tuple[list[bytes], list[bytes]]) -> tuple[float, float]:
    video, audio = media
    return (sum(map(len, video)) * 8 * 30 / len(video) / 1000,
            sum(map(len, audio)) * 8 * 50 / len(audio) / 1000)


class PacketTrack(MediaStreamTrack):
    """Loops pre-encoded packets in real time; aiortc's sender calls encoder.pack()."""

    def __init__(self, kind: str, packets: list[bytes], clock: int, step: int, interval: float):
        super().__init__()
        self.kind = kind
        self._packets, self._step, self._interval = packets, step, interval
        self._tb = fractions.Fraction(1, clock)
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n * self._interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(self._packets[self._n % len(self._packets)])
        packet.pts = self._n * self._step
        packet.time_base = self._tb
        self._n += 1
        return packet


class Counter:
    """Counts the RTP packets of one received track; replaces the receiver's RTP handler."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.packets = self.bytes = self.frames = 0
        self.first: int | None = None
        self.last = 0  # highest extended sequence number

    async def handle(self, packet: Any, arrival_time_ms: int) -> None:
        seq = packet.sequence_number
        if self.first is None:
            self.first = self.last = seq
        else:
            ext = self.last + ((seq - self.last + 0x8000) & 0xFFFF) - 0x8000
            self.last = max(self.last, ext)
        self.packets += 1
        self.bytes += len(packet.payload)
        if packet.marker:
            self.frames += 1

    def snapshot(self) -> tuple[int, int, int, int]:
        return self.packets, self.frames, self.last, self.bytes


# ---------------------------------------------------------------------------- namespace

def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def netns_down() -> None:
    """Remove our namespace and veth (only these names; quiet if absent)."""
    if NETNS in _ip("netns", "list", check=False).stdout.split():
        # Janus processes we started that somehow survived: end them by pid.
        for pid in _ip("netns", "pids", NETNS, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _ip("netns", "del", NETNS, check=False)
    _ip("link", "del", VETH_HOST, check=False)  # deleting one end removes the pair


def netns_up() -> None:
    netns_down()
    _ip("netns", "add", NETNS)
    _ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS, "netns", NETNS)
    _ip("addr", "add", f"{HOST_IP}/{PREFIX}", "dev", VETH_HOST)
    _ip("link", "set", VETH_HOST, "up")
    _ip("-n", NETNS, "link", "set", "lo", "up")
    _ip("-n", NETNS, "addr", "add", f"{JANUS_IP}/{PREFIX}", "dev", VETH_NS)
    _ip("-n", NETNS, "link", "set", VETH_NS, "up")


@contextlib.contextmanager
def ice_only_on(address: str) -> Iterator[None]:
    """Make aiortc (aioice) gather host candidates on `address` only, then restore."""
    original = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [address]
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


# ---------------------------------------------------------------------------- janus process

class JanusProcess:
    """Janus in our namespace with rendered configs; CPU read from /proc/<pid>/stat."""

    def __init__(self, workdir: Path, debug_level: int = 4, event_loops: int = 1) -> None:
        self.workdir = workdir
        conf, plugins, transports, empty = (workdir / d for d in
                                            ("conf", "plugins", "transports", "empty"))
        for d in (conf, plugins, transports, empty):
            d.mkdir(parents=True, exist_ok=True)
        # Only the videoroom plugin and the HTTP transport get loaded.
        for src, dst in ((JANUS_LIB / "plugins" / "libjanus_videoroom.so", plugins),
                         (JANUS_LIB / "transports" / "libjanus_http.so", transports)):
            link = dst / src.name
            if not link.exists():
                link.symlink_to(src)
        values = {"confdir": conf, "plugins": plugins, "transports": transports, "empty": empty,
                  "debug_level": debug_level, "event_loops": event_loops, "iface": VETH_NS,
                  "http_port": HTTP_PORT, "janus_ip": JANUS_IP, "room": ROOM,
                  "admin_key": uuid.uuid4().hex}
        for tpl in TEMPLATES.glob("*.jcfg.in"):
            text = string.Template(tpl.read_text()).substitute(values)
            (conf / tpl.name.removesuffix(".in")).write_text(text)
        self.log_path = workdir / "janus.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        # `ip netns exec` execs janus in place: the Popen pid is Janus's pid. Own session,
        # so a terminal's Ctrl-C reaches only us; we stop Janus ourselves.
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", NETNS, JANUS_BIN, "-C",
                 str(self.workdir / "conf" / "janus.jcfg"), "-F", str(self.workdir / "conf"),
                 "-o"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def thread_ns(self) -> dict[int, int]:
        """Per-thread run time in ns (schedstat): tick-free, unlike utime+stime."""
        out: dict[int, int] = {}
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                    out[int(tid)] = int(f.read().split()[0])
        return out

    def thread_names(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{self.pid}/task/{tid}/comm") as f:
                    out[int(tid)] = f.read().strip()
        return out

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # Janus shuts down cleanly on SIGINT
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------- janus API

class JanusError(RuntimeError):
    pass


class JanusSession:
    """Minimal Janus HTTP API client: one session, long-poll for async events."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = aiohttp.ClientSession()
        self.session_id: int | None = None
        self._waiters: dict[str, asyncio.Future] = {}
        self._poller: asyncio.Task | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": body.get("transaction") or uuid.uuid4().hex}
        async with self.http.post(self.url + path, json=body) as r:
            data = await r.json(content_type=None)
        if data.get("janus") == "error":
            raise JanusError(f"{body.get('janus')}: {data['error']}")
        return data

    async def create(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:  # Janus needs a moment after start to bind its HTTP port
            try:
                data = await self._post("", {"janus": "create"})
                break
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        self.session_id = data["data"]["id"]
        self._poller = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            try:
                async with self.http.get(f"{self.url}/{self.session_id}?maxev=20",
                                         timeout=aiohttp.ClientTimeout(total=40)) as r:
                    events = await r.json(content_type=None)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, ValueError):
                await asyncio.sleep(0.1)
                continue
            for ev in events if isinstance(events, list) else [events]:
                fut = self._waiters.pop(ev.get("transaction") or "", None)
                if fut is not None and not fut.done():
                    fut.set_result(ev)

    async def attach(self, plugin: str = "janus.plugin.videoroom") -> int:
        data = await self._post(f"/{self.session_id}", {"janus": "attach", "plugin": plugin})
        return data["data"]["id"]

    async def message(self, handle: int, body: dict[str, Any],
                      jsep: dict[str, Any] | None = None, timeout: float = 15.0) -> dict[str, Any]:
        """Send a plugin message; wait for the async event when Janus only acks it."""
        tx = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        self._waiters[tx] = fut
        msg: dict[str, Any] = {"janus": "message", "body": body, "transaction": tx}
        if jsep:
            msg["jsep"] = jsep
        data = await self._post(f"/{self.session_id}/{handle}", msg)
        if data.get("janus") == "ack":
            data = await asyncio.wait_for(fut, timeout)
        else:
            self._waiters.pop(tx, None)
        plugin = data.get("plugindata", {}).get("data", {})
        if "error" in plugin:
            raise JanusError(f"{body.get('request')}: {plugin['error']}")
        return data

    async def trickle_done(self, handle: int) -> None:
        await self._post(f"/{self.session_id}/{handle}",
                         {"janus": "trickle", "candidate": {"completed": True}})

    async def close(self) -> None:
        if self._poller:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
        if self.session_id is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._post(f"/{self.session_id}", {"janus": "destroy"}), 3)
        await self.http.close()


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


async def run_one(n: int, media: tuple[list[bytes], list[bytes]], workdir: Path,
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
        vp, ap = media
        pub.addTrack(PacketTrack("video", vp, 90000, 3000, 1 / 30))
        pub.addTrack(PacketTrack("audio", ap, 48000, 960, 0.02))
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
            for t in pc.getTransceivers():
                c = Counter(t.kind)
                counters.append(c)
                t.receiver._handle_rtp_packet = c.handle  # type: ignore[method-assign]
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

        vframes = received = expected = nbytes = 0
        for c, a, b in zip(counters, snaps0, snaps1):
            received += b[0] - a[0]
            expected += b[2] - a[2]
            nbytes += b[3] - a[3]
            if c.kind == "video":
                vframes += b[1] - a[1]
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
            "fps": vframes / elapsed / n if n else 0.0,
            "loss": max(0.0, 1 - received / expected) if expected else 0.0,
            "pps": received / elapsed,
            "kbps": nbytes * 8 / 1000 / elapsed / n if n else 0.0,
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
