"""Compositor benchmark: CPU seconds per second of composite output.

N inputs of 640x480 25 fps VP8 (+ 20 ms Opus) are fed as pre-encoded frames straight into
the compositor's decode stage (a short synthetic clip, encoded once with PyAV and looped;
no network, no RTP), composed into a 1280x720 25 fps grid and encoded with VP8 or H.264.
Process CPU time (all threads) over the measured window, divided by the window's real time,
is the share of one core the compositor needs. Also prints the per-stage ms per frame.

    .venv/bin/python bench/compositor.py                     # 4 and 9 inputs, VP8 and H.264, 10 s each
    .venv/bin/python bench/compositor.py --seconds 2 --inputs 4 --codecs vp8   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from media.compositor import Compositor, FrameFeed

IN_W, IN_H, IN_FPS = 640, 480, 25
CLIP_FRAMES = 50  # 2 s, looped


def synthetic_frame(index: int, width: int = IN_W, height: int = IN_H) -> np.ndarray:
    """An RGB frame with motion: a drifting colour gradient, a moving square, some noise."""
    yy, xx = np.mgrid[0:height, 0:width]
    shift = index * 4
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = ((xx + shift) * 255 // width) % 256
    rgb[..., 1] = ((yy + shift // 2) * 255 // height) % 256
    rgb[..., 2] = 128
    size = 80
    x = (index * 9) % (width - size)
    y = (index * 5) % (height - size)
    rgb[y:y + size, x:x + size] = (240, 240, 240)
    rng = np.random.default_rng(index)
    noise = rng.integers(0, 12, (height, width, 1), dtype=np.uint8)
    return rgb + noise


def encode_clip() -> list[tuple[bytes, bool]]:
    """The input clip as VP8 frames, as a browser would send; only the first is a keyframe
    (looping it gives every input a keyframe every 2 s)."""
    ctx: Any = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = IN_W, IN_H, "yuv420p"
    ctx.time_base = fractions.Fraction(1, IN_FPS)
    ctx.bit_rate = 800_000
    ctx.gop_size = 1000
    ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                   "auto-alt-ref": "0"}
    out: list[tuple[bytes, bool]] = []
    for i in range(CLIP_FRAMES):
        frame = av.VideoFrame.from_ndarray(synthetic_frame(i), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None)]
    return out


def encode_audio_clip() -> list[bytes]:
    """One second of a 440 Hz tone as 20 ms Opus frames."""
    ctx: Any = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format = 48000, "stereo", "s16"
    ctx.bit_rate = 32000
    ctx.time_base = fractions.Fraction(1, 48000)
    out: list[bytes] = []
    t = np.arange(960) / 48000
    for i in range(50):
        tone = (np.sin(2 * np.pi * 440 * (t + i * 0.02)) * 6000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16",
                                           layout="stereo")
        frame.sample_rate = 48000
        frame.pts = i * 960
        out += [bytes(p) for p in ctx.encode(frame)]
    return out


def cpu_seconds() -> float:
    """CPU time of this process, every thread, user + system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def feed(feeds: list[tuple[FrameFeed, FrameFeed]], clip: list[tuple[bytes, bool]],
               audio: list[bytes], seconds: float) -> None:
    """Push every input's next frame at 25 fps and its audio every 20 ms, in real time."""
    start = time.time()
    n_video = n_audio = 0
    lags = [i * 3 for i in range(len(feeds))]  # input i starts 3i frames later: tiles differ
    while True:
        now = time.time()
        if now - start >= seconds:
            return
        while n_video / IN_FPS <= now - start:
            for i, (video, _) in enumerate(feeds):
                if n_video < lags[i]:
                    continue
                data, key = clip[(n_video - lags[i]) % len(clip)]  # from the keyframe, in order
                video.push(data, n_video * 3600, key, start + n_video / IN_FPS)
            n_video += 1
        while n_audio * 0.02 <= now - start:
            for _, mic in feeds:
                mic.push(audio[n_audio % len(audio)], n_audio * 960, True, start + n_audio * 0.02)
            n_audio += 1
        await asyncio.sleep(0.005)


async def loop_lag(samples: list[float], interval: float = 0.005) -> None:
    """Record how late the event loop wakes a 5 ms sleeper (where forwarding runs)."""
    while True:
        t = time.perf_counter()
        await asyncio.sleep(interval)
        samples.append(time.perf_counter() - t - interval)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_case(inputs: int, codec: str, seconds: float, warmup: float,
                   clip: list[tuple[bytes, bool]], audio: list[bytes],
                   threads: int | None, speed: int | None) -> dict[str, Any]:
    """One measured run; returns the figures."""
    comp = Compositor(1280, 720, 25, codec, "grid", encoder_threads=threads,
                      encoder_speed=speed)
    feeds = []
    for i in range(inputs):
        video, mic = FrameFeed("video/VP8"), FrameFeed("audio/opus")
        comp.set_input(f"p{i}", label=f"Participant {i + 1}", video=video, audio=mic)
        feeds.append((video, mic))
    await comp.start()
    feeder = asyncio.create_task(feed(feeds, clip, audio, warmup + seconds + 0.5))
    await asyncio.sleep(warmup)
    before = comp.stats()
    lags: list[float] = []
    probe = asyncio.create_task(loop_lag(lags))
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu1, wall1 = cpu_seconds(), time.perf_counter()
    after = comp.stats()
    feeder.cancel()
    probe.cancel()
    await asyncio.gather(feeder, probe, return_exceptions=True)
    await comp.close()
    frames = after["frames"] - before["frames"]
    wall = wall1 - wall0
    return {
        "inputs": inputs, "codec": codec, "wall": wall, "cpu": cpu1 - cpu0,
        "ratio": (cpu1 - cpu0) / wall, "fps": frames / wall,
        "dropped": after["dropped_ticks"] - before["dropped_ticks"],
        "decode_ms": after["decode_ms"], "scale_ms": after["scale_ms"],
        "compose_ms": after["compose_ms"], "encode_ms": after["encode_ms"],
        "audio_ms": after["audio_ms"], "decode_errors": after["decode_errors"],
        "kbps": 8 * (after["video_bytes"] - before["video_bytes"]) / wall / 1000,
        "lag_p99_ms": 1000 * percentile(lags, 0.99), "lag_max_ms": 1000 * max(lags or [0.0]),
    }


async def main() -> int:
    """Run the cases and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per case")
    parser.add_argument("--warmup", type=float, default=1.5, help="seconds before measuring")
    parser.add_argument("--inputs", default="4,9", help="comma-separated input counts")
    parser.add_argument("--codecs", default="vp8,h264", help="comma-separated output codecs")
    parser.add_argument("--threads", type=int, default=None, help="encoder threads")
    parser.add_argument("--speed", type=int, default=None, help="libvpx cpu-used")
    args = parser.parse_args()
    counts = [int(x) for x in args.inputs.split(",")]
    codecs = args.codecs.split(",")

    print(f"compositor benchmark: 640x480 25 fps VP8 inputs (+ Opus) -> 1280x720 25 fps grid; "
          f"{args.seconds:g} s per case; {os.cpu_count()} CPUs; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    t0 = time.perf_counter()
    clip, audio = encode_clip(), encode_audio_clip()
    print(f"input clip: {len(clip)} VP8 frames ({sum(len(d) for d, _ in clip) // 1024} KiB), "
          f"encoded in {time.perf_counter() - t0:.1f} s")
    header = (f"{'inputs':>6} {'codec':>5} {'cpu/real':>8} {'fps':>5} {'dropped':>7} "
              f"{'decode':>7} {'scale':>6} {'compose':>7} {'encode':>7} {'audio':>6} {'kbps':>6}")
    print(header)
    print(" " * 37 + "(ms per input frame / output frame / 20 ms audio frame)")
    idle: list[float] = []
    probe = asyncio.create_task(loop_lag(idle))
    await asyncio.sleep(min(args.seconds, 5.0))
    probe.cancel()
    await asyncio.gather(probe, return_exceptions=True)
    print(f"{'-':>6} {'none':>5} {'':>8} {'':>5} {'':>7} {'':>7} {'':>6} {'':>7} {'':>7} {'':>6} "
          f"{'':>6} {1000 * percentile(idle, 0.99):>5.1f}/{1000 * max(idle or [0.0]):<6.1f}"
          "  (baseline: no compositor)", flush=True)
    results = []
    for codec in codecs:
        for n in counts:
            r = await run_case(n, codec, args.seconds, args.warmup, clip, audio,
                               args.threads, args.speed)
            results.append(r)
            print(f"{n:>6} {codec:>5} {r['ratio']:>8.2f} {r['fps']:>5.1f} {r['dropped']:>7} "
                  f"{r['decode_ms']:>7.2f} {r['scale_ms']:>6.2f} {r['compose_ms']:>7.2f} "
                  f"{r['encode_ms']:>7.2f} {r['audio_ms']:>6.2f} {r['kbps']:>6.0f} "
                  f"{r['lag_p99_ms']:>5.1f}/{r['lag_max_ms']:<6.1f}", flush=True)
    print("cpu/real: compositor CPU seconds per second of output (1.00 = one core)")
    print("loop p99/max: how late (ms) the event loop, where RTP is forwarded, woke a 5 ms "
          "sleeper while the compositor ran")
    nine = [r for r in results if r["inputs"] == 9 and r["codec"] == "vp8"]
    if nine:
        r = nine[0]
        verdict = "yes" if r["ratio"] < 1.0 else "no"
        print(f"9-input VP8 grid at 720p25 under one core: {verdict} ({r['ratio']:.2f})")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
