"""Loss recovery: subscriber NACKs are answered from the producer's packet cache, and
losses on the publisher leg are NACKed upstream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from media_helpers import encoded_video, pub_sub, wait_for

from media import totals

pytestmark = pytest.mark.timeout(60)


async def test_packet_dropped_towards_a_subscriber_is_retransmitted_on_its_nack() -> None:
    call = await pub_sub(encoded_video(), None, frames=5, sub_capture_rtp=True)
    sub, (producer,), (consumer,) = call.sub, call.producers, call.consumers
    dropped: list[int] = []
    original = consumer._sendto

    def lossy_sendto(data: bytes, addr: Any) -> None:
        seq = int.from_bytes(data[2:4], "big")
        if not dropped and consumer.packets > 40:
            dropped.append(seq)  # lose exactly one packet on the way to the subscriber
            return
        original(data, addr)

    consumer._sendto = lossy_sendto
    before = totals()["retransmissions"]
    await wait_for(lambda: consumer.retransmissions >= 1, 5, "a retransmission")
    await wait_for(lambda: dropped[0] in {p.sequence_number for p in sub.received_rtp
                                          if p.ssrc == consumer.ssrc}, 2, "the lost packet")
    assert consumer.nacks >= 1
    assert totals()["retransmissions"] > before
    # the retransmitted payload is the original one
    resent = [p for p in sub.received_rtp if p.ssrc == consumer.ssrc and p.sequence_number == dropped[0]]
    cached = producer._cache.get(consumer._mapper.source_seq(dropped[0]))
    assert cached is not None and resent[0].payload == cached.payload
    await call.close()


async def test_packet_lost_from_the_publisher_is_nacked_upstream_and_recovered() -> None:
    call = await pub_sub(encoded_video(), None, frames=5)
    pub, (producer,) = call.pub, call.producers
    # lose one packet on the wire from the publisher (before SRTP, so it is a real loss)
    dtls = pub.pc.getTransceivers()[0].sender.transport
    send_rtp = dtls._send_rtp
    lost: list[int] = []

    async def lossy(data: bytes) -> None:
        is_rtp = not (192 <= data[1] <= 223)
        if is_rtp and not lost and producer.packets > 40:
            lost.append(int.from_bytes(data[2:4], "big"))
            return
        await send_rtp(data)

    dtls._send_rtp = lossy
    await wait_for(lambda: lost and producer._cache.get(lost[0]) is not None, 5,
                   "the lost packet to be resent by the publisher")
    assert producer.nacks_sent >= 1
    await call.close()


async def test_padding_only_packets_are_forwarded_as_padding_with_contiguous_sequence() -> None:
    from aiortc.rtp import RtpPacket

    call = await pub_sub(encoded_video(), None, frames=5, sub_capture_rtp=True)
    pub, sub, (producer,), (consumer,) = call.pub, call.sub, call.producers, call.consumers
    # what a browser sends to probe bandwidth when RTX is not negotiated
    await pub.close()  # stop the real stream so the injected seq is not reused
    await asyncio.sleep(0.2)  # packets still in flight
    seq = (producer._stream.max_seq + 1) & 0xFFFF
    out_before = consumer._mapper.out_seq
    probe = RtpPacket(payload_type=producer.payload_type, sequence_number=seq, timestamp=0,
                      ssrc=producer.ssrc)
    probe.padding_size = 200
    await producer._on_rtp(probe, 0)
    await wait_for(lambda: any(p.padding_size for p in sub.received_rtp), 2, "padding packet")
    pad = next(p for p in sub.received_rtp if p.padding_size)
    assert pad.payload == b"" and pad.padding_size == 200 and pad.ssrc == consumer.ssrc
    assert pad.sequence_number == (out_before + 1) & 0xFFFF
    assert producer.dump()["stats"]["padding"] == 1
    await sub.close()
    await call.router.close()
