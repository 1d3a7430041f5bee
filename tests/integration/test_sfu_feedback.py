"""RTCP towards and from subscribers: PLI/FIR become throttled PLIs upstream, and each
consumer sends sender reports with its own counts on the publisher's clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc.rtp import RtcpSrPacket
from media_helpers import encoded_audio, encoded_video, pub_sub, publish, subscriber, wait_for

from media import Router

pytestmark = pytest.mark.timeout(60)


async def test_subscriber_plis_reach_the_publisher_throttled_to_one_per_500ms() -> None:
    call = await pub_sub(encoded_video(seconds=10.0), None, frames=3)
    pub, sub, (producer,), (consumer,) = call.pub, call.sub, call.producers, call.consumers
    await asyncio.sleep(0.6)  # past the window of the PLI sent when the consumer started
    track = pub.tracks["camera"]
    before = track.keyframe_requests
    receiver = sub.pc.getTransceivers()[0].receiver
    for _ in range(5):  # a burst of PLIs from the subscriber
        await receiver._send_rtcp_pli(consumer.ssrc)
        await asyncio.sleep(0.02)
    await wait_for(lambda: consumer.keyframe_requests == 5, 2, "PLIs at the SFU")
    await asyncio.sleep(0.2)
    assert track.keyframe_requests == before + 1  # one now ...
    await asyncio.sleep(0.5)
    assert track.keyframe_requests == before + 2  # ... and one deferred to the window's end
    assert producer.dump()["stats"]["plis_sent"] >= 2
    await call.close()


async def test_consumers_send_sender_reports_with_their_counts_on_the_publishers_timeline() -> None:
    call = await pub_sub(encoded_video(), encoded_audio())
    sub, producers, consumers = call.sub, call.producers, call.consumers
    reports: dict[int, list[RtcpSrPacket]] = {c.ssrc: [] for c in consumers}
    for t in sub.pc.getTransceivers():
        original = t.receiver._handle_rtcp_packet

        async def handle(packet: Any, _orig: Any = original) -> None:
            if isinstance(packet, RtcpSrPacket) and packet.ssrc in reports:
                reports[packet.ssrc].append(packet)
            await _orig(packet)

        t.receiver._handle_rtcp_packet = handle
    await wait_for(lambda: all(p._sr is not None for p in producers), 6, "publisher SRs")
    for r in reports.values():
        r.clear()
    await wait_for(lambda: all(len(r) >= 1 for r in reports.values()), 6, "an SR per track")
    for consumer in consumers:
        sr = reports[consumer.ssrc][-1].sender_info
        assert 0 < sr.packet_count <= consumer.packets
        assert 0 < sr.octet_count <= consumer.bytes
        producer = consumer.producer
        ntp_p, rtp_p, _ = producer._sr
        # the consumer's (ntp, rtp) pair lies on the publisher's clock line (lip sync)
        elapsed = ((sr.ntp_timestamp - ntp_p) & 0xFFFFFFFFFFFFFFFF) / 2**32
        expected = (rtp_p + consumer._mapper.ts_off + int(elapsed * producer.clock_rate)) & 0xFFFFFFFF
        assert abs(((sr.rtp_timestamp - expected + 2**31) & 0xFFFFFFFF) - 2**31) <= producer.clock_rate // 100
    await call.close()


async def test_subscribers_get_abs_send_time_and_their_lowest_remb_reaches_the_publisher() -> None:
    from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci, unpack_remb_fci

    router = Router()
    send_t = await router.create_transport("send")
    pub, (producer,) = await publish(send_t, encoded_video(), None)
    upstream: list[int] = []
    psender = pub.pc.getTransceivers()[0].sender
    original = psender._handle_rtcp_packet

    async def on_rtcp(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            upstream.append(unpack_remb_fci(packet.fci)[0])
        await original(packet)

    psender._handle_rtcp_packet = on_rtcp
    subs = []
    for _ in range(2):
        recv_t = await router.create_transport("recv")
        sub = subscriber(recv_t, capture_rtp=True)
        consumer = recv_t.consume(producer)
        await sub.negotiate()
        subs.append((sub, consumer))
    for sub, consumer in subs:
        await sub.wait_frames([consumer.id], 5)
        got = [p for p in sub.received_rtp if p.ssrc == consumer.ssrc]
        assert got and all(p.extensions.abs_send_time is not None for p in got)
    # aiortc subscribers estimate bandwidth from abs-send-time and send REMB on their own
    await wait_for(lambda: all(c.remb is not None for _, c in subs), 8, "subscriber REMBs")
    # one subscriber on a poor link: the publisher is told its figure at once
    sub, consumer = subs[1]
    receiver = sub.pc.getTransceivers()[0].receiver
    rtcp_ssrc = receiver._RTCRtpReceiver__rtcp_ssrc
    await receiver._send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0,
                                             fci=pack_remb_fci(80_000, [consumer.ssrc])))
    await wait_for(lambda: 80_000 in upstream, 3, "the lowest REMB upstream")
    assert producer.dump()["stats"]["remb_sent"] is not None
    for sub, _ in subs:
        await sub.close()
    await pub.close()
    await router.close()
