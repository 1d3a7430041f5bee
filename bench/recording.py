"""Per-track recording benchmark: CPU seconds per second that a TrackRecorder adds.

One aiortc publisher sends pre-encoded VP8 640x480 30 fps (~1 Mbps) + Opus to a Router in
this process. Process CPU time (all threads) is read over three windows: no recorder, a
recorder on the video track, recorders on both tracks; the differences are the cost of
recording (tap, frame assembly, Matroska muxing, AES-GCM, file writes) per track.

    .venv/bin/python bench/recording.py                # 10 s windows
    .venv/bin/python bench/recording.py --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "integration")]

from media_helpers import (
    encoded_audio,
    encoded_video,
    publish,
    router_with_transports,
)

from recording.track_recorder import TrackRecorder


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _window(seconds: float) -> float:
    cpu, wall = _cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    return (_cpu() - cpu) / (time.monotonic() - wall)


async def main(seconds: float) -> None:
    """Print CPU seconds per second for each window and per recorded track."""
    video = encoded_video("vp8", 640, 480, 30, seconds=4.0, gop=60, bitrate="1000k")
    router, send_t, _ = await router_with_transports()
    pub, producers = await publish(send_t, video, encoded_audio(4.0))
    by_kind = {p.kind: p for p in producers}
    while not all(p.wallclock(0) is not None for p in producers):
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    recorders: list[TrackRecorder] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = await _window(seconds)
        recorders.append(TrackRecorder(by_kind["video"], Path(tmp) / "v.webm", bytes(32),
                                       time.time()))
        await asyncio.sleep(1.0)
        with_video = await _window(seconds)
        recorders.append(TrackRecorder(by_kind["audio"], Path(tmp) / "a.webm", bytes(32),
                                       time.time()))
        await asyncio.sleep(1.0)
        with_both = await _window(seconds)
        stats = [await r.stop() for r in recorders]
    await pub.close()
    await router.close()
    print(f"no recorder      {base:.4f} cpu-s/s")
    print(f"+ video recorder {with_video:.4f} cpu-s/s  -> video track {with_video - base:.4f}")
    print(f"+ audio recorder {with_both:.4f} cpu-s/s  -> audio track {with_both - with_video:.4f}")
    for kind, s in zip(("video", "audio"), stats, strict=True):
        rate = s.bytes * 8 / max(s.duration, 1e-9) / 1000
        print(f"{kind}: {s.frames} frames, {s.duration:.1f} s, {rate:.0f} kbit/s, "
              f"file {s.size} bytes, dropped {s.dropped}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    asyncio.run(main(parser.parse_args().seconds))
