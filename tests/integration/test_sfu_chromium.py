"""Interop with a real browser: Debian's Chromium publishes into and subscribes from the SFU.

Driven at the Router level (no signaling server): the page only runs RTCPeerConnection
code, SDP is passed with page.evaluate. Chromium offers RTX, transport-cc, many codecs
and sends padding probes, which aiortc test peers do not.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from media_helpers import encoded_audio, encoded_video, publish, subscriber, wait_for

from media import Router

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

CHROMIUM = os.environ.get("CARERTC_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required", "--no-sandbox", "--disable-gpu",
        "--disable-dev-shm-usage", "--disable-features=WebRtcHideLocalIpsWithMdns"]

GATHERED = """new Promise(r => { if (pc.iceGatheringState === 'complete') r();
  else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); })"""
JS_PUBLISH = """async () => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 320, height: 240}});
  const pc = window.pub = new RTCPeerConnection();
  for (const t of stream.getTracks()) pc.addTransceiver(t, {direction: 'sendonly', streams: [stream]});
  await pc.setLocalDescription(await pc.createOffer());
  await __GATHERED__;
  const sources = {};
  for (const t of pc.getTransceivers()) sources[t.mid] = t.sender.track.kind === 'video' ? 'camera' : 'microphone';
  return {sdp: pc.localDescription.sdp, sources};
}""".replace("__GATHERED__", GATHERED)
JS_SUBSCRIBE = """async (sdp) => {
  if (!window.sub) {
    window.sub = new RTCPeerConnection();
    window.tracks = [];
    window.sub.ontrack = e => window.tracks.push(
      {mid: e.transceiver.mid, track: e.track.id, streams: e.streams.map(s => s.id)});
  }
  const pc = window.sub;
  await pc.setRemoteDescription({type: 'offer', sdp});
  await pc.setLocalDescription(await pc.createAnswer());
  await __GATHERED__;
  return pc.localDescription.sdp;
}""".replace("__GATHERED__", GATHERED)
JS_INBOUND = """async () => {
  const out = {audio: [], video: []};
  (await window.sub.getStats()).forEach(s => { if (s.type === 'inbound-rtp')
    out[s.kind].push({ssrc: s.ssrc, packets: s.packetsReceived, frames: s.framesDecoded || 0,
                      lost: s.packetsLost}); });
  out.directions = window.sub.getTransceivers().map(t => t.currentDirection);
  return out;
}"""


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    """A Chromium page on a localhost origin (getUserMedia needs a secure context)."""
    from playwright.async_api import async_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium not found at {CHROMIUM}")
    app = web.Application()

    async def index(_: web.Request) -> web.Response:
        return web.Response(text="<html><body>sfu</body></html>", content_type="text/html")

    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            tab = await browser.new_page()
            await tab.goto(f"http://127.0.0.1:{port}/")
            yield tab
        finally:
            await browser.close()
            await runner.cleanup()


async def test_chromium_publishes_and_subscribes_through_the_sfu(page: Any) -> None:
    router = Router()
    # Chromium publishes; an aiortc peer subscribes and decodes
    send_t = await router.create_transport("send")
    offer = await page.evaluate(JS_PUBLISH)
    answer, browser_producers = await send_t.receive_offer(offer["sdp"], offer["sources"])
    await page.evaluate("async (sdp) => window.pub.setRemoteDescription({type: 'answer', sdp})", answer)
    assert sorted(p.app_data["source"] for p in browser_producers) == ["camera", "microphone"]
    aiortc_sub = subscriber(await router.create_transport("recv"), capture_rtp=True)
    ids = [aiortc_sub.transport.consume(p).id for p in browser_producers]
    await aiortc_sub.negotiate()
    # an aiortc peer publishes H.264; Chromium subscribes to it and to its own VP8 + Opus
    pub, producers = await publish(await router.create_transport("send"),
                                   encoded_video("h264"), encoded_audio())
    recv_t = await router.create_transport("recv")
    consumers = [recv_t.consume(p) for p in producers + browser_producers]
    sdp, _ = await recv_t.create_offer()
    await recv_t.receive_answer(await page.evaluate(JS_SUBSCRIBE, sdp))

    await aiortc_sub.wait_frames(ids, 10, timeout=15)
    stats: dict[str, Any] = {}

    async def poll() -> None:
        stats.update(await page.evaluate(JS_INBOUND))

    for _ in range(100):
        await poll()
        video, audio = stats.get("video", []), stats.get("audio", [])
        if (len(video) == 2 and all(v["frames"] >= 10 for v in video)
                and len(audio) == 2 and all(a["packets"] >= 20 for a in audio)):
            break
        await asyncio.sleep(0.1)
    assert len(stats["video"]) == 2 and all(v["frames"] >= 10 for v in stats["video"]), stats
    assert len(stats["audio"]) == 2 and all(a["packets"] >= 20 for a in stats["audio"]), stats
    # Chromium's audio level (header extension) is forwarded to subscribers
    audio_ssrc = next(c.ssrc for c in aiortc_sub.transport.consumers if c.kind == "audio")
    audio = [p for p in aiortc_sub.received_rtp if p.ssrc == audio_ssrc]
    assert audio and all(p.extensions.audio_level is not None for p in audio)
    # Chromium estimates its downlink from our abs-send-time and sends REMB
    await wait_for(lambda: any(c.remb for c in consumers if c.kind == "video"), 10, "REMB")

    # a closed producer: its m-line goes inactive in Chromium after the next offer
    next(p for p in producers if p.kind == "video").close()
    sdp, remaining = await recv_t.create_offer()
    assert sorted(c.kind for c in remaining) == ["audio", "audio", "video"]
    await recv_t.receive_answer(await page.evaluate(JS_SUBSCRIBE, sdp))
    await poll()
    index = [c.kind for c in consumers].index("video")
    assert stats["directions"][index] == "inactive"

    # a new VP8 track reuses that (H.264) m-line: Chromium fires ontrack again and decodes it
    old_mid = consumers[index].mid
    vp8_send = await router.create_transport("send")
    vp8_pub, (vp8,) = await publish(vp8_send, encoded_video("vp8"), None)
    reused = recv_t.consume(vp8)
    sdp, _ = await recv_t.create_offer()
    assert reused.mid == old_mid and len([x for x in sdp.splitlines() if x.startswith("m=")]) == 4
    await recv_t.receive_answer(await page.evaluate(JS_SUBSCRIBE, sdp))
    for _ in range(100):
        await poll()
        new = [v for v in stats["video"] if v["ssrc"] == reused.ssrc]
        if new and new[0]["frames"] >= 10:
            break
        await asyncio.sleep(0.1)
    assert new and new[0]["frames"] >= 10, stats
    assert stats["directions"][index] == "recvonly"
    tracks = await page.evaluate("() => window.tracks")
    again = [t for t in tracks if t["mid"] == old_mid]
    assert len(again) == 2 and again[1]["streams"] == [vp8_send.id], tracks
    assert again[1]["track"] == again[0]["track"]  # the receiver keeps its track object
    await vp8_pub.close()
    await aiortc_sub.close()
    await pub.close()
    await router.close()
