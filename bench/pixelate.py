"""Pixelation cost: CPU seconds per second for one VP8 640x480 30 fps track (~1 Mbps).

One aiortc publisher sends pre-encoded VP8 (testsrc, or a fine checkerboard with
--texture) through a router, in this process. The same run measures plain forwarding
and then pixelation; the difference of the process CPU (time.process_time) is the cost
of pixelating, and the worker thread's own CPU (time.thread_time) is reported too.

    .venv/bin/python bench/pixelate.py                 # 10 s per phase
    .venv/bin/python bench/pixelate.py --seconds 5 --codec h264
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from media_helpers import (
    VIDEO_CLOCK,
    Encoded,
    encoded_video,
    publish,
    router_with_transports,
    wait_for,
)

from media.pixelate import set_pixelation
from tests.support.textures import encode_pattern


async def measure(seconds: float, codec: str, texture: bool, block: int) -> None:
    """Run both phases and print the figures."""
    if texture:
        packets = encode_pattern("checker", codec, 640, 480, 30, 120, 1_000_000)
        video = Encoded("video", codec, packets, VIDEO_CLOCK // 30, VIDEO_CLOCK, 1 / 30)
    else:
        video = encoded_video(codec, 640, 480, 30, seconds=4.0, bitrate="1M")
    router, send_t, _ = await router_with_transports()
    pub, (producer,) = await publish(send_t, video)
    try:
        await wait_for(lambda: producer.packets > 30, what="media")
        await asyncio.sleep(1.0)
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        plain = (time.process_time() - cpu0) / (time.monotonic() - wall0)

        transform = set_pixelation(producer, True, block=block)
        assert transform is not None
        await wait_for(lambda: transform.frames_out > 10, what="pixelated frames")
        frames0, worker0 = transform.frames_out, transform.cpu_seconds
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        wall = time.monotonic() - wall0
        pixelated = (time.process_time() - cpu0) / wall
        worker = (transform.cpu_seconds - worker0) / wall
        fps = (transform.frames_out - frames0) / wall
        print(f"{codec} 640x480 {'checkerboard' if texture else 'testsrc'}, block {block}, "
              f"{seconds:g} s per phase")
        print(f"  process CPU, plain forwarding : {plain:.3f} s/s")
        print(f"  process CPU, pixelating       : {pixelated:.3f} s/s")
        print(f"  pixelation (difference)       : {pixelated - plain:.3f} s/s")
        print(f"  pixelation worker thread      : {worker:.3f} s/s at {fps:.1f} fps "
              f"({1000 * worker / max(fps, 1e-9):.1f} ms per frame)")
        print(f"  {transform.dump()}")
    finally:
        await pub.close()
        await router.close()


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--codec", choices=["vp8", "h264"], default="vp8")
    parser.add_argument("--texture", action="store_true", help="checkerboard instead of testsrc")
    parser.add_argument("--block", type=int, default=24)
    args = parser.parse_args()
    asyncio.run(measure(args.seconds, args.codec, args.texture, args.block))


if __name__ == "__main__":
    main()
