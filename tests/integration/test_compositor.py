"""The compositor on a media Router with real aiortc publishers: colours land in the right
tiles (in the encoded output and at an aiortc subscriber of the composite), picture-in-
picture shows a shared screen full with the camera in its corner, leaving re-lays the grid."""

from __future__ import annotations

import asyncio
import fractions
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from media_helpers import Subscriber, router_with_transports, wait_for
from support.colours import (
    BLUE,
    GREEN,
    MAGENTA,
    RED,
    YELLOW,
    SolidColourTrack,
    ToneTrack,
    close_to,
    mean_rgb,
    publish_tracks,
)
from support.flashbeep import flash_beep_tracks

from media.compositor import Compositor, FrameFeed
from media.compositor.layout import Rect, fit, grid, pip, speaker

pytestmark = pytest.mark.timeout(90)

W, H, FPS = 640, 360, 15
COLOURS = {"p0": RED, "p1": GREEN, "p2": BLUE, "p3": YELLOW}


class PacketSink:
    """A compositor sink keeping every packet (called from the compositor's threads)."""

    def __init__(self) -> None:
        self.video: list[av.Packet] = []
        self.audio: list[av.Packet] = []
        self._lock = threading.Lock()
        self._read = 0
        self._decoder: Any = None
        self._last: np.ndarray | None = None

    def on_video(self, packet: av.Packet) -> None:
        with self._lock:
            self.video.append(packet)

    def on_audio(self, packet: av.Packet) -> None:
        with self._lock:
            self.audio.append(packet)

    def latest_rgb(self, codec: str = "vp8") -> np.ndarray | None:
        """The last composed picture (decoding the packets that came since the last call)."""
        with self._lock:
            packets = self.video[self._read:]
            self._read = len(self.video)
        if self._decoder is None:
            self._decoder = av.CodecContext.create(codec, "r")
        for packet in packets:
            for frame in self._decoder.decode(av.Packet(bytes(packet))):
                self._last = frame.to_ndarray(format="rgb24")
        return self._last


@dataclass
class FrameSubscriber(Subscriber):
    """An aiortc subscriber keeping the last decoded frame of each track."""

    last: dict[str, av.VideoFrame] = field(default_factory=dict)

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.frames[track.id] += 1
                if isinstance(frame, av.VideoFrame):
                    self.last[track.id] = frame
        except MediaStreamError:
            self.ended.add(track.id)


def frame_subscriber(transport: Any) -> FrameSubscriber:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[],
                                            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    sub = FrameSubscriber(pc, transport)
    pc.on("track", sub._on_track)
    return sub


def colours_match(rgb: np.ndarray, expected: dict[str, tuple[int, int, int]],
                  cells: dict[str, Rect]) -> dict[str, tuple[float, float, float]] | None:
    """None when each cell shows its colour, else the colours seen."""
    seen = {key: mean_rgb(rgb, cells[key]) for key in expected}
    if all(close_to(seen[k], expected[k]) for k in expected):
        return None
    return seen


async def wait_colours(read: Any, expected: dict[str, tuple[int, int, int]],
                       cells: dict[str, Rect], timeout: float = 15.0) -> None:
    """Until the picture from `read()` shows `expected` in `cells`."""
    seen: Any = "nothing decoded"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        rgb = read()
        if rgb is not None:
            seen = colours_match(rgb, expected, cells)
            if seen is None:
                return
        await asyncio.sleep(0.3)
    raise AssertionError(f"cells show {seen}, expected {expected}")


async def start_room(screen_for: str | None = None) -> tuple[Any, Any, list[Any], dict[str, Any]]:
    """A router with four publishers (one solid colour each, on its own send transport)."""
    router, _, recv_t = await router_with_transports()
    pcs = []
    producers: dict[str, Any] = {}
    for key, colour in COLOURS.items():
        send_t = await router.create_transport("send")
        tracks: dict[str, MediaStreamTrack] = {"camera": SolidColourTrack(colour)}
        if key == screen_for:
            tracks["screen"] = SolidColourTrack(MAGENTA, 640, 360)
        pc, by_source = await publish_tracks(send_t, tracks)
        pcs.append(pc)
        producers[key] = by_source
    return router, recv_t, pcs, producers


async def test_four_publishers_appear_in_their_grid_cells_in_sink_and_subscriber() -> None:
    router, recv_t, pcs, producers = await start_room()
    comp = Compositor(W, H, FPS, "vp8")
    for key, by_source in producers.items():
        comp.set_input(key, label=f"Person {key}", video=by_source["camera"])
    sink = PacketSink()
    comp.add_sink(sink)
    video_lp, audio_lp = comp.create_producers(router)
    await comp.start()
    sub = frame_subscriber(recv_t)
    consumer = recv_t.consume(video_lp)
    recv_t.consume(audio_lp)
    await sub.negotiate()
    try:
        cells = {c.key: c.video for c in grid(list(COLOURS), W, H)}
        await wait_colours(sink.latest_rgb, COLOURS, cells)

        def subscriber_rgb() -> np.ndarray | None:
            frame = sub.last.get(consumer.id)
            return None if frame is None else frame.to_ndarray(format="rgb24")

        await wait_colours(subscriber_rgb, COLOURS, cells)
        frame = sub.last[consumer.id]
        assert (frame.width, frame.height) == (W, H)
        stats = comp.stats()
        assert stats["frames"] > 0 and stats["decoded_frames"] > 0
        assert stats["inputs"] == list(COLOURS)
        assert set(stats) >= {"dropped_ticks", "decode_ms", "compose_ms", "encode_ms",
                              "active_speaker"}
        assert len(sink.audio) > 0
    finally:
        await sub.close()
        await comp.close()
        for pc in pcs:
            await pc.close()
        await router.close()


async def test_pip_shows_the_screen_full_with_the_camera_in_the_corner() -> None:
    router, _, pcs, producers = await start_room(screen_for="p1")
    comp = Compositor(W, H, FPS, "vp8")
    for key, by_source in producers.items():
        comp.set_input(key, label=key, video=by_source["camera"],
                       screen=by_source.get("screen"))
    sink = PacketSink()
    comp.add_sink(sink)
    await comp.start()
    try:
        # grid: the share is one more tile, after its sharer's camera
        keys = ["p0", "p1", "p1#screen", "p2", "p3"]
        cells = {c.key: c.video for c in grid(keys, W, H)}
        await wait_colours(sink.latest_rgb, {**COLOURS, "p1#screen": MAGENTA}, cells)
        comp.set_layout("pip")
        screen, corner = pip("p1#screen", "p1", W, H)
        middle = Rect(W // 4, H // 4, W // 4, H // 4)  # away from the corner
        await wait_colours(sink.latest_rgb, {"screen": MAGENTA, "corner": GREEN},
                           {"screen": middle, "corner": corner.video})
        assert screen.video == Rect(0, 0, W, H)
        # the share ends while in pip: a grid of the cameras; it starts again: full again
        comp.set_input("p1", label="p1", video=producers["p1"]["camera"])
        cameras = {c.key: c.video for c in grid(list(COLOURS), W, H)}
        await wait_colours(sink.latest_rgb, COLOURS, cameras)
        comp.set_input("p1", label="p1", video=producers["p1"]["camera"],
                       screen=producers["p1"]["screen"])
        await wait_colours(sink.latest_rgb, {"screen": MAGENTA, "corner": GREEN},
                           {"screen": middle, "corner": corner.video})
        comp.set_layout("grid")
        await wait_colours(sink.latest_rgb, {**COLOURS, "p1#screen": MAGENTA}, cells)
    finally:
        await comp.close()
        for pc in pcs:
            await pc.close()
        await router.close()


async def test_removing_an_input_re_lays_the_grid_in_h264() -> None:
    router, recv_t, pcs, producers = await start_room()
    comp = Compositor(W, H, FPS, "h264")
    for key, by_source in producers.items():
        comp.set_input(key, label=key, video=by_source["camera"])
    sink = PacketSink()
    comp.add_sink(sink)
    video_lp, _ = comp.create_producers(router)
    assert video_lp.mime_type == "video/H264"
    await comp.start()
    sub = frame_subscriber(recv_t)
    consumer = recv_t.consume(video_lp)
    await sub.negotiate()

    def subscriber_rgb() -> np.ndarray | None:
        frame = sub.last.get(consumer.id)
        return None if frame is None else frame.to_ndarray(format="rgb24")

    try:
        cells = {c.key: c.video for c in grid(list(COLOURS), W, H)}
        await wait_colours(lambda: sink.latest_rgb("h264"), COLOURS, cells)
        comp.remove_input("p1")
        left = {k: v for k, v in COLOURS.items() if k != "p1"}
        cells = {c.key: c.video for c in grid(list(left), W, H)}
        await wait_colours(lambda: sink.latest_rgb("h264"), left, cells)
        await wait_colours(subscriber_rgb, left, cells)
        assert comp.inputs == list(left)
        await wait_for(lambda: comp.stats()["frames"] > 10, what="frames")
    finally:
        await sub.close()
        await comp.close()
        for pc in pcs:
            await pc.close()
        await router.close()


async def test_speaker_layout_shows_the_one_who_talks_large() -> None:
    router, _, _ = await router_with_transports()
    pcs = []
    comp = Compositor(W, H, FPS, "vp8", "speaker")
    people = {"quiet": (RED, None), "talker": (BLUE, ToneTrack()), "other": (GREEN, None)}
    for key, (colour, mic) in people.items():
        send_t = await router.create_transport("send")
        tracks: dict[str, MediaStreamTrack] = {"camera": SolidColourTrack(colour)}
        if mic is not None:
            tracks["microphone"] = mic
        pc, by_source = await publish_tracks(send_t, tracks)
        pcs.append(pc)
        comp.set_input(key, label=key, video=by_source["camera"],
                       audio=by_source.get("microphone"))
    sink = PacketSink()
    comp.add_sink(sink)
    await comp.start()
    try:
        await wait_for(lambda: comp.stats()["active_speaker"] == "talker", timeout=15,
                       what="the talker as active speaker")
        cells = {c.key: c.video for c in speaker(list(people), "talker", W, H)}
        assert cells["talker"].w > 2 * cells["quiet"].w
        await wait_colours(sink.latest_rgb, {k: v[0] for k, v in people.items()}, cells)
        assert comp.stats()["levels"]["talker"] > -40
    finally:
        await comp.close()
        for pc in pcs:
            await pc.close()
        await router.close()


def tile_flash_onsets(packets: list[av.Packet], rect: Rect, threshold: float = 128.0
                      ) -> list[float]:
    """Output times (s) at which the picture in `rect` turns white after being dark."""
    decoder = av.CodecContext.create("vp8", "r")
    out: list[float] = []
    dark = True
    for packet in packets:
        for frame in decoder.decode(av.Packet(bytes(packet))):
            luma = frame.to_ndarray()[:H]  # yuv420p: the first H rows are Y
            mean = float(luma[rect.y:rect.y + rect.h, rect.x:rect.x + rect.w].mean())
            if mean > threshold and dark:
                out.append(float(packet.pts * packet.time_base))
            dark = mean <= threshold
    return out


def mix_beep_onsets(packets: list[av.Packet], threshold: int = 3000,
                    min_gap: float = 0.5) -> list[float]:
    """Output times (s) at which the mix gets loud after at least `min_gap` s of quiet."""
    decoder: Any = av.CodecContext.create("opus", "r")
    decoder.sample_rate, decoder.layout = 48000, "stereo"
    out: list[float] = []
    last_loud: float | None = None
    for packet in packets:
        start = packet.pts  # samples; the decoder keeps the encoder's delay, as pts does
        offset = 0
        for frame in decoder.decode(av.Packet(bytes(packet))):
            left = frame.to_ndarray()[0] * 32768 if frame.format.is_planar else (
                frame.to_ndarray().reshape(-1, 2)[:, 0])
            for index in np.flatnonzero(np.abs(left) > threshold):
                t = (start + offset + int(index)) / 48000
                if last_loud is None or t - last_loud >= min_gap:
                    out.append(t)
                last_loud = t
            offset += frame.samples
    return out


async def test_flash_and_beep_of_one_publisher_stay_within_40ms_in_the_composite() -> None:
    router, _, _ = await router_with_transports()
    send_t = await router.create_transport("send")
    video, audio = flash_beep_tracks(period=1.0, fps=30)
    pc, by_source = await publish_tracks(send_t, {"camera": video, "microphone": audio})
    other_t = await router.create_transport("send")
    other_pc, other = await publish_tracks(other_t, {"camera": SolidColourTrack(BLUE)})
    comp = Compositor(W, H, 25, "vp8")
    comp.set_input("flash", label="flash", video=by_source["camera"],
                   audio=by_source["microphone"])
    comp.set_input("other", label="other", video=other["camera"])
    sink = PacketSink()
    comp.add_sink(sink)
    await comp.start()
    try:
        await asyncio.sleep(7.5)
    finally:
        await comp.close()
        await pc.close()
        await other_pc.close()
        await router.close()
    cell = grid(["flash", "other"], W, H)[0].video
    settle = 2.5  # output seconds before both tracks' sender reports surely came
    flashes = [t for t in tile_flash_onsets(sink.video, cell) if t >= settle]
    beeps = [t for t in mix_beep_onsets(sink.audio) if t >= settle]
    assert len(flashes) >= 3 and len(beeps) >= 3, (flashes, beeps)
    offsets = [min(beeps, key=lambda b, f=f: abs(b - f)) - f for f in flashes]  # type: ignore[misc]
    assert all(abs(o) <= 0.040 for o in offsets), list(zip(flashes, offsets, strict=True))


class ColourFeed:
    """A FrameFeed fed VP8 frames of one colour and size, in real time."""

    def __init__(self, width: int, height: int, rgb: tuple[int, int, int]) -> None:
        self.feed = FrameFeed("video/VP8")
        self.enc = av.CodecContext.create("libvpx", "w")
        self.enc.width, self.enc.height, self.enc.pix_fmt = width, height, "yuv420p"
        self.enc.time_base = fractions.Fraction(1, 10)
        self.enc.options = {"deadline": "realtime", "lag-in-frames": "0"}
        self.frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), rgb, np.uint8),
                                                format="rgb24").reformat(format="yuv420p")

    def push(self, i: int, base: float) -> None:
        self.frame.pts = i
        for packet in self.enc.encode(self.frame):
            self.feed.push(bytes(packet), i * 9000, packet.is_keyframe, base + i * 0.1)


async def composed(comp: Compositor, feeds: list[ColourFeed]) -> np.ndarray:
    """Feed every input for ~2 s and return the last composed picture (RGB)."""
    sink = PacketSink()
    comp.add_sink(sink)
    await comp.start()
    base = time.time()
    for i in range(20):
        for feed in feeds:
            feed.push(i, base)
        await asyncio.sleep(0.1)
    rgb = None
    for _ in range(30):
        rgb = sink.latest_rgb()
        if rgb is not None:
            break
        await asyncio.sleep(0.1)
    assert rgb is not None
    return rgb


async def test_the_name_sits_right_under_a_letterboxed_picture() -> None:
    # two 4:3 cameras and one 16:9: tiles are 4:3, the wide picture is letterboxed and
    # its name goes into the bar right under it
    comp = Compositor(640, 480, 10, "vp8")
    feeds = [ColourFeed(320, 180, (200, 30, 30)), ColourFeed(160, 120, (30, 30, 200)),
             ColourFeed(160, 120, (30, 200, 30))]
    for key, feed in zip(("p0", "p1", "p2"), feeds, strict=True):
        comp.set_input(key, label=f"Dr {key}", video=feed.feed)
    try:
        gray = (await composed(comp, feeds)).mean(axis=2)
    finally:
        await comp.close()
    cell = grid(["p0", "p1", "p2"], 640, 480)[0]  # 4:3 tiles
    box = fit(320, 180, cell.video)
    assert cell.label is not None and box.h < cell.video.h - 2 * cell.label.h  # letterboxed
    under = gray[box.y + box.h + 2: box.y + box.h + cell.label.h - 2, box.x: box.x + box.w]
    band = gray[cell.label.y + 2: cell.label.y + cell.label.h - 2, box.x: box.x + box.w]
    assert under.max() > 180  # white letters right under the picture
    assert band.max() < 60  # the tile's own band (further down) stays dark


async def test_tiles_take_the_shape_of_wide_cameras() -> None:
    # four 16:9 cameras: 16:9 tiles, each picture fills its tile (bigger than in 4:3 tiles)
    comp = Compositor(1280, 720, 10, "vp8")
    colours = [(200, 30, 30), (30, 30, 200), (30, 200, 30), (200, 200, 30)]
    feeds = [ColourFeed(320, 180, rgb) for rgb in colours]
    keys = [f"p{i}" for i in range(4)]
    for key, feed in zip(keys, feeds, strict=True):
        comp.set_input(key, label=key, video=feed.feed)
    try:
        rgb = await composed(comp, feeds)
    finally:
        await comp.close()
    wide = grid(keys, 1280, 720, aspect=16 / 9)
    narrow = grid(keys, 1280, 720)
    assert wide[0].video.w > fit(16, 9, narrow[0].video).w  # the point of adapting
    for cell, colour in zip(wide, colours, strict=True):
        r = cell.video
        for y, x in ((r.y + 6, r.x + r.w // 2), (r.y + r.h - 6, r.x + r.w // 2)):
            assert np.abs(rgb[y, x].astype(int) - colour).max() < 40, (cell.key, y, x)
