"""Real aiortc client peers and pre-encoded media for the SFU integration tests.

Media is encoded once with /usr/bin/ffmpeg (testsrc + sine) into a temp dir and
demuxed with PyAV; publishers send those packets as they are (aiortc packs
av.Packet without re-encoding), so what subscribers receive can be compared
byte for byte with what publishers sent.
"""

from __future__ import annotations

import asyncio
import fractions
import functools
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RtpPacket

from media import Router
from media.client import recycle_receivers

FFMPEG = "/usr/bin/ffmpeg"
VIDEO_CLOCK = 90000
_CACHE_DIR = Path(tempfile.gettempdir()) / "carertc-media-test-cache"


@dataclass
class Encoded:
    """Pre-encoded packets of one stream."""

    kind: str
    codec: str  # "vp8", "h264", "opus"
    packets: list[tuple[bytes, bool]]  # (data, is_keyframe)
    step: int  # pts step per packet in `clock` units
    clock: int
    interval: float  # seconds between packets


def _run_ffmpeg(args: list[str], out: Path) -> None:
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".part" + out.suffix)
        subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args, str(tmp)],
                       check=True)
        tmp.rename(out)


@functools.cache
def encoded_video(codec: str = "vp8", width: int = 320, height: int = 240, fps: int = 30,
                  seconds: float = 2.0, gop: int | None = None, bitrate: str = "400k") -> Encoded:
    """Encoded testsrc video; one keyframe at the start unless `gop` says otherwise."""
    frames = int(seconds * fps)
    gop = gop or frames
    name = f"{codec}-{width}x{height}-{fps}-{frames}-{gop}-{bitrate}"
    src = ["-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate={fps}", "-frames:v", str(frames)]
    if codec == "vp8":
        out = _CACHE_DIR / f"{name}.ivf"
        _run_ffmpeg(src + ["-c:v", "libvpx", "-b:v", bitrate, "-g", str(gop), "-keyint_min", str(gop),
                           "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0",
                           "-auto-alt-ref", "0", "-f", "ivf"], out)
    elif codec == "h264":
        out = _CACHE_DIR / f"{name}.h264"
        _run_ffmpeg(src + ["-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast",
                           "-tune", "zerolatency", "-b:v", bitrate, "-g", str(gop),
                           "-keyint_min", str(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
                           "-bsf:v", "h264_mp4toannexb", "-f", "h264"], out)
    else:
        raise ValueError(codec)
    packets: list[tuple[bytes, bool]] = []
    with av.open(str(out)) as container:
        for packet in container.demux(video=0):
            if packet.size:
                packets.append((bytes(packet), bool(packet.is_keyframe)))
    assert packets and packets[0][1], "stream must start with a keyframe"
    return Encoded("video", codec, packets, VIDEO_CLOCK // fps, VIDEO_CLOCK, 1 / fps)


@functools.cache
def encoded_audio(seconds: float = 2.0) -> Encoded:
    """Opus, 20 ms packets of a 440 Hz tone."""
    out = _CACHE_DIR / f"opus-{seconds}.ogg"
    _run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                 "-ac", "2", "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20",
                 "-application", "voip"], out)
    packets: list[tuple[bytes, bool]] = []
    with av.open(str(out)) as container:
        for packet in container.demux(audio=0):
            if packet.size:
                packets.append((bytes(packet), True))
    return Encoded("audio", "opus", packets, 960, 48000, 0.02)


class PacketTrack(MediaStreamTrack):
    """Plays pre-encoded packets in a loop in real time; a keyframe request restarts the loop."""

    def __init__(self, encoded: Encoded) -> None:
        super().__init__()
        self.kind = encoded.kind
        self._enc = encoded
        self._index = 0
        self._count = 0
        self._start: float | None = None
        self._time_base = fractions.Fraction(1, encoded.clock)
        self.keyframe_requests = 0
        self.sent: list[bytes] = []
        self.record = False

    def request_keyframe(self) -> None:
        """Next packet is the loop's first keyframe."""
        self.keyframe_requests += 1
        self._index = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._count * self._enc.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        data, _ = self._enc.packets[self._index]
        self._index = (self._index + 1) % len(self._enc.packets)
        packet = av.Packet(data)
        packet.pts = self._count * self._enc.step
        packet.time_base = self._time_base
        self._count += 1
        if self.record:
            self.sent.append(data)
        return packet


def _config() -> RTCConfiguration:
    # max-bundle: aiortc's own "balanced" answerer leaves a second m-line of a kind on a
    # transport it discards when applying BUNDLE (an aiortc client bug; browsers are fine)
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


@dataclass
class Publisher:
    """A client peer that publishes tracks through a `send` transport."""

    pc: RTCPeerConnection
    tracks: dict[str, PacketTrack]  # source -> track
    sent_rtp: list[RtpPacket] = field(default_factory=list)

    async def close(self) -> None:
        await self.pc.close()


async def publish(transport: Any, video: Encoded | None = None, audio: Encoded | None = None,
                  capture_rtp: bool = False) -> tuple[Publisher, list[Any]]:
    """Connect a publisher (camera + microphone) to a send transport; returns it and the producers."""
    pc = RTCPeerConnection(_config())
    tracks: dict[str, PacketTrack] = {}
    pub = Publisher(pc, tracks)
    sources: dict[str, str] = {}
    for source, enc in (("camera", video), ("microphone", audio)):
        if enc is None:
            continue
        track = PacketTrack(enc)
        tracks[source] = track
        sender = pc.addTrack(track)
        if enc.codec == "h264":  # the publisher must offer (and so send) H.264 first
            transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
            caps = RTCRtpSender.getCapabilities("video").codecs
            transceiver.setCodecPreferences(
                [c for c in caps if c.mimeType == "video/H264"] + [c for c in caps if c.mimeType == "video/rtx"])
        sender._send_keyframe = track.request_keyframe  # type: ignore[method-assign]
    await pc.setLocalDescription(await pc.createOffer())
    for t in pc.getTransceivers():
        sources[t.mid] = "camera" if t.kind == "video" else "microphone"
    if capture_rtp:
        dtls = pc.getTransceivers()[0].sender.transport
        original = dtls._send_rtp

        async def send_rtp(data: bytes) -> None:
            if not (192 <= data[1] <= 223):  # not RTCP
                pub.sent_rtp.append(RtpPacket.parse(data))
            await original(data)

        dtls._send_rtp = send_rtp  # type: ignore[method-assign]
    answer, producers = await transport.receive_offer(pc.localDescription.sdp, sources)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return pub, producers


@dataclass
class Subscriber:
    """A client peer that answers a `recv` transport's offers and reads (decodes) its tracks."""

    pc: RTCPeerConnection
    transport: Any
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)  # track id (= consumer id)
    frames: dict[str, int] = field(default_factory=dict)
    first_frame_at: dict[str, float] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    received_rtp: list[RtpPacket] = field(default_factory=list)
    capture_rtp: bool = False
    recycled: list[str] = field(default_factory=list)  # mids given a fresh receiver
    offers: list[str] = field(default_factory=list)  # every offer SDP answered
    _readers: list[asyncio.Task[Any]] = field(default_factory=list)
    _negotiating: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def negotiate(self) -> list[Any]:
        """One offer/answer round with the server; returns the consumers offered."""
        async with self._negotiating:
            offer, consumers = await self.transport.create_offer()
            self.offers.append(offer)
            self.recycled += await recycle_receivers(self.pc, offer)
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            if self.capture_rtp:
                self._hook_receivers()
            await self.transport.receive_answer(self.pc.localDescription.sdp)
            return consumers

    def _hook_receivers(self) -> None:
        for t in self.pc.getTransceivers():
            receiver = t.receiver
            if getattr(receiver, "_capture_hooked", False):
                continue
            receiver._capture_hooked = True  # type: ignore[attr-defined]
            original = receiver._handle_rtp_packet

            async def handle(packet: RtpPacket, arrival_time_ms: int, _orig: Any = original) -> None:
                self.received_rtp.append(packet)
                await _orig(packet, arrival_time_ms)

            receiver._handle_rtp_packet = handle  # type: ignore[method-assign]

    def auto_negotiate(self) -> None:
        """Answer every `negotiationneeded` of the transport."""
        def on_needed() -> None:
            self._readers.append(asyncio.ensure_future(self.negotiate()))
        self.transport.observer.on("negotiationneeded", on_needed)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.tracks[track.id] = track
        self.frames[track.id] = 0
        self._readers.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        start = time.monotonic()
        try:
            while True:
                await track.recv()
                if track.id not in self.first_frame_at:
                    self.first_frame_at[track.id] = time.monotonic() - start
                self.frames[track.id] += 1
        except MediaStreamError:
            self.ended.add(track.id)

    async def wait_frames(self, ids: list[str], count: int, timeout: float = 10.0) -> None:
        """Until every track in `ids` has decoded `count` frames."""
        deadline = time.monotonic() + timeout
        while any(self.frames.get(i, 0) < count for i in ids):
            if time.monotonic() > deadline:
                raise AssertionError(f"frames {self.frames} (wanted {count} on {ids})")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await self.pc.close()


def subscriber(transport: Any, capture_rtp: bool = False) -> Subscriber:
    """A client peer for a recv transport (call `negotiate()` or `auto_negotiate()`)."""
    pc = RTCPeerConnection(_config())
    sub = Subscriber(pc, transport, capture_rtp=capture_rtp)
    pc.on("track", sub._on_track)
    return sub


async def wait_for(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate()` until true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class PubSub:
    """A router with one publisher on a send transport and one subscriber on a recv
    transport consuming every producer."""

    router: Router
    send_t: Any
    recv_t: Any
    pub: Publisher
    producers: list[Any]
    sub: Subscriber
    consumers: list[Any]

    async def close(self) -> None:
        """Subscriber, publisher, then router."""
        await self.sub.close()
        await self.pub.close()
        await self.router.close()


async def router_with_transports(**router_kwargs: Any) -> tuple[Router, Any, Any]:
    """A new router with a send transport and a recv transport."""
    router = Router(**router_kwargs)
    send_t = await router.create_transport("send")
    recv_t = await router.create_transport("recv")
    return router, send_t, recv_t


async def pub_sub(video: Encoded | None, audio: Encoded | None = None, *, frames: int = 0,
                  pub_capture_rtp: bool = False, sub_capture_rtp: bool = False) -> PubSub:
    """A new router, a publisher of `video`/`audio` and a subscriber consuming all of it,
    negotiated; with `frames`, once every consumer's track has decoded that many."""
    router, send_t, recv_t = await router_with_transports()
    pub, producers = await publish(send_t, video, audio, capture_rtp=pub_capture_rtp)
    sub = subscriber(recv_t, capture_rtp=sub_capture_rtp)
    consumers = [recv_t.consume(p) for p in producers]
    await sub.negotiate()
    if frames:
        await sub.wait_frames([c.id for c in consumers], frames)
    return PubSub(router, send_t, recv_t, pub, producers, sub, consumers)


@dataclass
class Participant:
    """One person of a meeting: publishes camera + microphone, subscribes to the others."""

    pub: Publisher
    send_t: Any
    producers: list[Any]
    sub: Subscriber
    recv_t: Any
    ids: list[str] = field(default_factory=list)  # consumer ids of the others' producers


async def meeting(router: Router, count: int = 3) -> list[Participant]:
    """`count` participants on `router`, each consuming every other one's audio and video
    (negotiated, not yet waited for)."""
    people = []
    for _ in range(count):
        send_t = await router.create_transport("send")
        recv_t = await router.create_transport("recv")
        pub, producers = await publish(send_t, encoded_video(), encoded_audio())
        people.append(Participant(pub, send_t, producers, subscriber(recv_t), recv_t))
    for i, person in enumerate(people):
        person.ids = [person.recv_t.consume(p).id
                      for j, other in enumerate(people) if j != i for p in other.producers]
        await person.sub.negotiate()
    return people
