"""Per-track and composite recording of calls on a media Router, with real aiortc peers,
filed in the real recording catalog (SQLite)."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from media_helpers import (
    VIDEO_CLOCK,
    Encoded,
    _config,
    encoded_audio,
    encoded_video,
    publish,
    router_with_transports,
    subscriber,
    wait_for,
)
from support.flashbeep import beep_onsets, flash_beep_tracks, flash_onsets
from support.textures import encode_pattern, laplacian_variance, region

from carertc.config import Settings
from db import migrate
from db.engine import create_engine, session_factory
from media import Router
from media.compositor import Compositor
from media.compositor.layout import compute
from media.depacketize import FrameAssembler
from media.keyframe import vp8_is_keyframe
from media.pixelate import set_pixelation
from recording.catalog import RecordingCatalog
from recording.paths import recording_key, recordings_dir
from recording.room_recorder import RoomRecorder
from recording.service import RecordingService
from vault import EncryptedReader

KEY = bytes(range(1, 33))


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[RecordingCatalog]:
    """The real recording catalog on a migrated SQLite database."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}")
    await migrate.upgrade(engine)
    yield RecordingCatalog(session_factory(engine))
    await engine.dispose()


async def files_of(catalog: RecordingCatalog, rid: str) -> list[dict[str, Any]]:
    """The recording's files as the catalog holds them, with their stored paths."""
    rec = await catalog.get(rid)
    assert rec is not None
    return [{**f, "path": await catalog.file_path(rid, f["id"])} for f in rec["files"]]


def _demux(path: Path, key: bytes) -> dict[str, list[av.Packet]]:
    with EncryptedReader(path, key) as reader, av.open(reader) as container:
        out: dict[str, list[av.Packet]] = defaultdict(list)
        for packet in container.demux():
            if packet.size:
                out[packet.stream.type].append(packet)
        return out


def _decoded(path: Path, key: bytes, kind: str) -> list[Any]:
    with EncryptedReader(path, key) as reader, av.open(reader) as container:
        return list(container.decode(**{kind: 0}))


def _span(packets: list[av.Packet]) -> tuple[float, float]:
    times = [float(p.pts * p.time_base) for p in packets]
    return min(times), max(times)


def _contiguous_in(part: list[bytes], whole: list[bytes]) -> bool:
    return any(whole[i : i + len(part)] == part for i in range(len(whole) - len(part) + 1))


async def test_call_of_three_is_recorded_per_track_for_each_span(
        settings: Settings, catalog: RecordingCatalog) -> None:
    service = RecordingService(catalog, settings, update_interval=1.0)
    router = Router()
    video, audio = encoded_video(), encoded_audio()
    people: dict[str, tuple[Any, Any, list[Any]]] = {}
    for who in ("ann", "bob"):
        send_t = await router.create_transport("send", app_data={"user_id": who,
                                                                 "name": who.title()})
        pub, producers = await publish(send_t, video, audio)
        people[who] = (send_t, pub, producers)
    watcher_t = await router.create_transport("recv")
    watcher = subscriber(watcher_t, capture_rtp=True)
    ann_video = next(p for p in people["ann"][2] if p.kind == "video")
    consumer = watcher_t.consume(ann_video)
    await watcher.negotiate()
    await watcher.wait_frames([consumer.id], 10)
    await wait_for(lambda: all(p.wallclock(0) is not None for _, _, ps in people.values()
                               for p in ps), what="sender reports")
    try:
        t0 = time.time()
        rid = await service.start("room-1", router, None, org_id="org", started_by="ann",
                                  context={"meeting_id": "m1"}, title="Ward round")
        assert service.active("room-1") == rid
        await asyncio.sleep(1.5)
        send_c = await router.create_transport("send", app_data={"user_id": "cat",
                                                                 "name": "Cat"})
        joined = time.time() - t0
        pub_c, producers_c = await publish(send_c, video, audio)
        people["cat"] = (send_c, pub_c, producers_c)
        await asyncio.sleep(2.5)
        left = time.time() - t0
        during = await files_of(catalog, rid)  # sizes and durations are filed on the way
        assert any(f["status"] == "recording" and f["size_bytes"] > 0 for f in during), during
        await people["bob"][0].close()  # bob leaves: his producers close
        await asyncio.sleep(2.0)
        await service.stop("room-1", "stopped")
        ended = time.time() - t0
        assert service.active("room-1") is None
    finally:
        await watcher.close()
        for _, pub, _ in people.values():
            await pub.close()
        await router.close()

    rec = await catalog.get(rid)
    assert rec is not None and rec["status"] == "complete"
    assert {p["user_id"]: p["name"] for p in rec["participants"]} == {
        "ann": "Ann", "bob": "Bob", "cat": "Cat"}
    assert (rec["meeting_id"], rec["title"], rec["org_id"]) == ("m1", "Ward round", "org")
    root = recordings_dir(settings, create=False)
    key = recording_key(settings)
    files = {(f["user_id"], f["media_kind"]): f for f in await files_of(catalog, rid)}
    assert len(files) == 6 and all(f["status"] == "complete" for f in files.values())
    expected = {"ann": (0.0, ended), "bob": (0.0, left), "cat": (joined, ended)}
    for (who, kind), row in files.items():
        path = root / row["path"]
        assert row["path"].startswith(time.strftime('%Y/%m/', time.gmtime(t0))) and rid in row["path"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.suffix == ".webm" and row["container"] == "webm"
        packets = _demux(path, key)[kind]
        first, last = _span(packets)
        start, end = expected[who]
        assert abs(first - start) < 0.5, (who, kind, first, start)
        assert abs(last - end) < 0.5, (who, kind, last, end)
        assert abs(row["duration_s"] - (end - start)) < 0.5, (who, kind, row["duration_s"])
        assert row["size_bytes"] == EncryptedReader(path, key).size
        frames = _decoded(path, key, kind)
        assert len(frames) >= 0.9 * len(packets) > 0

    # the video in ann's file is, frame for frame, what a subscriber received
    assembler = FrameAssembler("video/VP8")
    received = [f.data for p in watcher.received_rtp if p.ssrc == consumer.ssrc
                for f in assembler.push(p.payload, p.sequence_number, p.timestamp,
                                        bool(p.marker), vp8_is_keyframe(p.payload))]
    recorded = [bytes(p) for p in _demux(root / files[("ann", "video")]["path"], key)["video"]]
    assert len(recorded) > 100
    assert _contiguous_in(recorded, received)


async def _publish_tracks(send_t: Any, tracks: list[Any]) -> RTCPeerConnection:
    pc = RTCPeerConnection(_config())
    for track in tracks:
        pc.addTrack(track)
    await pc.setLocalDescription(await pc.createOffer())
    sources = {t.mid: "camera" if t.kind == "video" else "microphone"
               for t in pc.getTransceivers()}
    answer, _ = await send_t.receive_offer(pc.localDescription.sdp, sources)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return pc


async def test_flash_and_beep_stay_within_40ms_in_the_track_and_composite_files(
        tmp_path: Path, catalog: RecordingCatalog) -> None:
    router, send_t, _ = await router_with_transports()
    video_track, audio_track = flash_beep_tracks()
    pc = await _publish_tracks(send_t, [video_track, audio_track])
    comp = Compositor(width=320, height=240, fps=25, video_codec="vp8")
    recorder: RoomRecorder | None = None
    try:
        await wait_for(lambda: len(router.producers) == 2, what="producers")
        by_kind = {p.kind: p for p in router.producers}
        comp.set_input("p", video=by_kind["video"], audio=by_kind["audio"])
        rid = await catalog.create_recording(room_id="r", org_id=None, started_by=None)
        recorder = RoomRecorder(rid, router, comp, catalog=catalog, root=tmp_path,
                                rel_dir="2026/01/" + rid, key=KEY)
        await recorder.start()
        await asyncio.sleep(5.5)
        await recorder.stop()
    finally:
        await comp.close()
        await pc.close()
        await router.close()
    paths = {f["media_kind"]: tmp_path / f["path"] for f in await files_of(catalog, rid)}

    def offsets(flashes: list[float], beeps: list[float]) -> list[float]:
        assert len(flashes) >= 3 and len(beeps) >= 3, (flashes, beeps)
        return [round(min(beeps, key=lambda b, f=f: abs(b - f)) - f, 3) for f in flashes]

    # per track: the audio file and the video file on the recording's timeline
    tracks = offsets(flash_onsets(_decoded(paths["video"], KEY, "video")),
                     beep_onsets(_decoded(paths["audio"], KEY, "audio")))
    assert all(abs(o) < 0.040 for o in tracks), tracks
    # the composite file (its picture changes only on a 40 ms output tick)
    composite = offsets(flash_onsets(_decoded(paths["av"], KEY, "video")),
                        beep_onsets(_decoded(paths["av"], KEY, "audio")))
    assert all(abs(o) <= 0.040 for o in composite), composite


CRASH_CHILD = textwrap.dedent("""
    import asyncio, sys, time
    sys.path[:0] = [{integration!r}, {root!r}]
    from media_helpers import encoded_audio, encoded_video, publish, router_with_transports
    from recording.track_recorder import TrackRecorder

    async def main():
        router, send_t, _ = await router_with_transports()
        pub, producers = await publish(send_t, encoded_video(gop=30), encoded_audio())
        while not all(p.wallclock(0) is not None for p in producers):
            await asyncio.sleep(0.05)
        started = time.time()
        for p in producers:
            TrackRecorder(p, {out!r} + "/" + p.kind + ".webm", {key!r}, started)
        print("recording", flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
""")


async def test_a_killed_recorder_leaves_a_playable_partial_file(tmp_path: Path) -> None:
    integration = str(Path(__file__).parent)
    root = str(Path(__file__).parents[2])
    code = CRASH_CHILD.format(integration=integration, root=root, out=str(tmp_path), key=KEY)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, cwd=root,
        env={**os.environ, "PYTHONPATH": root})
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.strip() == b"recording"
        await asyncio.sleep(3.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    for kind in ("video", "audio"):
        packets = _demux(tmp_path / f"{kind}.webm", KEY)[kind]
        first, last = _span(packets)
        assert last - first >= 2.0, (kind, first, last)
        assert len(_decoded(tmp_path / f"{kind}.webm", KEY, kind)) >= 0.9 * len(packets)


def _streams(path: Path) -> dict[str, tuple[int, float, float]]:
    """kind -> (decoded frames, first time, last time)."""
    out: dict[str, tuple[int, float, float]] = {}
    for kind in ("video", "audio"):
        with EncryptedReader(path, KEY) as reader, av.open(reader) as container:
            if not getattr(container.streams, kind):
                continue
            times = [float(f.time) for f in container.decode(**{kind: 0})]
        out[kind] = (len(times), min(times), max(times))
    return out


async def test_composite_and_h264_tracks_are_recorded(
        tmp_path: Path, catalog: RecordingCatalog) -> None:
    router, send_t, _ = await router_with_transports()
    pub, producers = await publish(send_t, encoded_video("h264"), encoded_audio())
    comp = Compositor(width=320, height=240, fps=15, video_codec="vp8")
    video = next(p for p in producers if p.kind == "video")
    audio = next(p for p in producers if p.kind == "audio")
    comp.set_input("p1", label="Ann", video=video, audio=audio)
    rid = await catalog.create_recording(room_id="r", org_id=None, started_by=None)
    recorder = RoomRecorder(rid, router, comp, catalog=catalog, root=tmp_path,
                            rel_dir=f"2026/02/{rid}", key=KEY)
    try:
        await recorder.start()
        assert comp.started_at is not None  # started by the recorder
        await asyncio.sleep(4.0)
        await recorder.stop()
    finally:
        await comp.close()
        await pub.close()
        await router.close()
    rows = {(f["kind"], f["media_kind"]): f for f in await files_of(catalog, rid)}
    assert set(rows) == {("track", "video"), ("track", "audio"), ("composite", "av")}
    assert all(f["status"] == "complete" and f["size_bytes"] > 0 for f in rows.values())
    h264 = rows[("track", "video")]
    assert h264["container"] == "mkv" and h264["codec"] == "h264"
    frames, first, last = _streams(tmp_path / h264["path"])["video"]
    assert frames > 60 and last - first > 2.5
    composite = rows[("composite", "av")]
    assert composite["container"] == "webm" and composite["path"].endswith("composite.webm")
    streams = _streams(tmp_path / composite["path"])
    assert streams["video"][0] > 20 and streams["audio"][0] > 50
    assert streams["video"][2] - streams["video"][1] > 2.0
    assert abs(streams["video"][2] - streams["audio"][2]) < 1.0


async def test_a_pixelated_camera_is_pixelated_in_its_track_file_and_the_composite(
        tmp_path: Path, catalog: RecordingCatalog) -> None:
    router, send_a, _ = await router_with_transports()
    send_b = await router.create_transport("send")
    checker = Encoded("video", "vp8", encode_pattern("checker", "vp8"), VIDEO_CLOCK // 30,
                      VIDEO_CLOCK, 1 / 30)
    pub_a, (camera_a,) = await publish(send_a, checker)
    pub_b, (camera_b,) = await publish(send_b, checker)
    camera_a.app_data = {"source": "camera", "user_id": "u_a", "name": "A"}
    camera_b.app_data = {"source": "camera", "user_id": "u_b", "name": "B"}
    set_pixelation(camera_a, True)
    comp = Compositor(width=640, height=240, fps=15, video_codec="vp8")
    comp.set_input("a", label="A", video=camera_a)
    comp.set_input("b", label="B", video=camera_b)
    rid = await catalog.create_recording(room_id="r", org_id=None, started_by=None)
    recorder = RoomRecorder(rid, router, comp, catalog=catalog, root=tmp_path,
                            rel_dir=f"2026/03/{rid}", key=KEY)
    try:
        await recorder.start()
        await asyncio.sleep(4.0)
        await recorder.stop()
    finally:
        await comp.close()
        await pub_a.close()
        await pub_b.close()
        await router.close()

    def last_gray(path: Path) -> Any:
        return _decoded(path, KEY, "video")[-1].to_ndarray(format="gray")

    tracks = {f["user_id"]: tmp_path / f["path"] for f in await files_of(catalog, rid)
              if f["kind"] == "track"}
    detail_a = laplacian_variance(last_gray(tracks["u_a"]))
    detail_b = laplacian_variance(last_gray(tracks["u_b"]))
    assert detail_b > 10_000 and detail_a < detail_b / 10  # the file holds what subscribers saw

    composite = next(tmp_path / f["path"] for f in await files_of(catalog, rid)
                     if f["kind"] == "composite")
    gray = last_gray(composite)
    cells = {c.key: c.video for c in compute("grid", ["a", "b"], 640, 240)}

    def tile(key: str) -> Any:
        r = cells[key]
        return region(gray, (r.x / 640, r.y / 240, r.w / 640, r.h / 240), margin=12)

    assert laplacian_variance(tile("a")) < laplacian_variance(tile("b")) / 10
