"""Long meetings: closed consumers' m-lines are reused, publisher receivers run no decoder."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from media_helpers import (
    Subscriber,
    encoded_audio,
    encoded_video,
    meeting,
    publish,
    router_with_transports,
    subscriber,
)

from media import Router

pytestmark = pytest.mark.timeout(90)


def _mlines(sdp: str) -> list[str]:
    return [line for line in sdp.splitlines() if line.startswith("m=")]


def _section(sdp: str, mid: str) -> str:
    """The m-section of `mid` in an SDP."""
    for part in sdp.split("\r\nm=")[1:]:
        if f"\r\na=mid:{mid}\r\n" in "\r\n" + part + "\r\n":
            return part
    raise AssertionError(f"no m-line {mid}")


async def test_ten_publishers_coming_and_going_keep_the_subscription_at_four_mlines() -> None:
    router = Router()
    recv_t = await router.create_transport("recv")
    sub = subscriber(recv_t)
    video, audio = encoded_video(), encoded_audio()
    previous = None  # (publisher, send transport, consumers)
    seen_ids: set[str] = set()
    closed: list[str] = []
    reused_mids: set[str | None] = set()
    for i in range(10):
        send_t = await router.create_transport("send")
        pub, producers = await publish(send_t, video, audio)
        consumers = [recv_t.consume(p) for p in producers]
        for c in consumers:
            c.observer.on("close", lambda c=c: closed.append(c.id))
        assert all(c.mid is None for c in consumers)  # not offered yet, even on a reused m-line
        offered = await sub.negotiate()
        assert {c.id for c in offered} >= {c.id for c in consumers}
        assert not seen_ids & {c.id for c in consumers}  # fresh ids
        seen_ids |= {c.id for c in consumers}
        await sub.wait_frames([c.id for c in consumers], 3, timeout=10)
        if previous is not None:  # at most two publishers live at a time
            old_pub, old_t, old_consumers = previous
            if i >= 2:  # the m-lines of publisher i-2 were inactive, answered: reused
                assert {c.mid for c in consumers} == reused_mids
            await old_t.close()
            await old_pub.close()
            assert all(c.closed for c in old_consumers)
            reused_mids = {c.mid for c in old_consumers}
            offered = await sub.negotiate()  # the closed ones go inactive
            assert {c.id for c in offered} == {c.id for c in consumers}
            for mid in reused_mids:
                assert "a=inactive" in _section(sub.offers[-1], mid)
        previous = (pub, send_t, consumers)
    assert all(len(_mlines(offer)) <= 4 for offer in sub.offers), [len(_mlines(o)) for o in sub.offers]
    assert len(sub.pc.getTransceivers()) == 4
    assert len(closed) == 18  # every closed track was announced
    # the last publisher: audio and video keep decoding on recycled m-lines
    last = previous[2]
    before = {c.id: sub.frames[c.id] for c in last}
    await sub.wait_frames([c.id for c in last], max(before.values()) + 20, timeout=10)
    assert len(sub.recycled) == 16  # publishers 2..9, two m-lines each
    # earlier tracks ended for the client
    assert len(sub.ended) >= 16
    await sub.close()
    await previous[0].close()
    await router.close()


async def test_a_reused_mline_switches_codec_from_vp8_to_h264() -> None:
    router = Router()
    recv_t = await router.create_transport("recv")
    sub = subscriber(recv_t)
    send_a = await router.create_transport("send")
    pub_a, (vp8,) = await publish(send_a, encoded_video("vp8"), None)
    first = recv_t.consume(vp8)
    await sub.negotiate()
    await sub.wait_frames([first.id], 5)
    mid = first.mid
    await send_a.close()
    await pub_a.close()
    await sub.negotiate()

    send_b = await router.create_transport("send")
    pub_b, (h264,) = await publish(send_b, encoded_video("h264"), None)
    second = recv_t.consume(h264)
    offered = await sub.negotiate()
    assert [c.id for c in offered] == [second.id] and second.mid == mid
    section = _section(sub.offers[-1], mid)
    rtpmaps = [line for line in section.split("\r\n") if line.startswith("a=rtpmap:")]
    assert len(rtpmaps) == 1 and "H264" in rtpmaps[0]
    assert f"msid:{send_b.id} {second.id}" in section and f"a=ssrc:{second.ssrc} " in section
    await sub.wait_frames([second.id], 10)
    assert second.dump()["payload_type"] != first.dump()["payload_type"]
    assert len(_mlines(sub.offers[-1])) == 1
    await sub.close()
    await pub_b.close()
    await router.close()


async def test_an_mline_is_reused_only_after_its_inactive_answer() -> None:
    router, send_t, recv_t = await router_with_transports()
    pub, (video,) = await publish(send_t, encoded_video(), None)
    sub = subscriber(recv_t)
    a = recv_t.consume(video)
    await sub.negotiate()
    a.close()
    b = recv_t.consume(video)  # a's m-line is not negotiated inactive yet: a new one
    offer, offered = await recv_t.create_offer()
    assert [c.id for c in offered] == [b.id] and b.mid != a.mid
    c = recv_t.consume(video)  # offered inactive but not answered yet: still not reusable
    await _answer(sub, offer)
    d = recv_t.consume(video)  # now it is
    offered = await sub.negotiate()
    assert {x.id for x in offered} == {b.id, c.id, d.id}
    assert d.mid == a.mid and c.mid not in (a.mid, b.mid)
    await sub.wait_frames([b.id, c.id, d.id], 5)
    # a consumer closed before it was ever offered on a reused m-line frees it again at once
    d.close()
    await sub.negotiate()
    e = recv_t.consume(video)
    e.close()
    f = recv_t.consume(video)
    assert e.mid is None and f.mid is None
    offered = await sub.negotiate()
    assert f.mid == a.mid and {x.id for x in offered} == {b.id, c.id, f.id}
    await sub.wait_frames([f.id], 5)
    assert e._sender._RTCRtpSender__started is False
    assert len(sub.pc.getTransceivers()) == 3
    await sub.close()
    await pub.close()
    await router.close()


async def _answer(sub: Subscriber, offer: str) -> None:
    from aiortc import RTCSessionDescription

    from media.client import recycle_receivers

    await recycle_receivers(sub.pc, offer)
    await sub.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await sub.pc.setLocalDescription(await sub.pc.createAnswer())
    await sub.transport.receive_answer(sub.pc.localDescription.sdp)


async def test_publisher_receivers_start_no_decoder_thread_and_forwarding_works() -> None:
    router = Router()
    people = await meeting(router, 3)
    for person in people:
        await person.sub.wait_frames(person.ids, 15, timeout=15)
    server_receivers = [t.receiver for person in people for t in person.send_t._pc.getTransceivers()]
    assert len(server_receivers) == 6
    assert all(r._RTCRtpReceiver__started for r in server_receivers)  # RTCP task running
    assert all(r._RTCRtpReceiver__decoder_thread is None for r in server_receivers)
    # every decoder thread alive belongs to a client subscriber
    client_threads = {t.receiver._RTCRtpReceiver__decoder_thread
                      for person in people for t in person.sub.pc.getTransceivers()}
    decoders = [t for t in threading.enumerate() if t.name.endswith("-decoder")]
    assert len(decoders) == 12 and set(decoders) <= client_threads
    # NACK generation is kept, and receiver reports still reach the publishers
    for person in people:
        video = next(p for p in person.producers if p.kind == "video")
        assert video._nack is not None and video._stream is not None
    for person in people:
        deadline = time.monotonic() + 5
        while True:
            stats = await person.pub.pc.getStats()
            kinds = {s.kind for s in stats.values() if s.type == "remote-inbound-rtp"}
            if kinds == {"audio", "video"}:
                break
            assert time.monotonic() < deadline, f"no receiver reports: {kinds}"
            await asyncio.sleep(0.1)
    for person in people:
        await person.sub.close()
        await person.pub.close()
    await router.close()
