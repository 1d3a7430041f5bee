"""The SFU forwards real aiortc peers' RTP to real aiortc subscribers, who decode it."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from media_helpers import (
    encoded_audio,
    encoded_video,
    meeting,
    pub_sub,
    publish,
    router_with_transports,
    subscriber,
    wait_for,
)

from media import Router, totals

pytestmark = pytest.mark.timeout(60)


async def test_one_publisher_one_subscriber_decodes_audio_and_video() -> None:
    router, send_t, recv_t = await router_with_transports(app_data={"room_id": "t1"})
    pub, producers = await publish(send_t, encoded_video(), encoded_audio())
    assert {p.kind for p in producers} == {"audio", "video"}
    assert {p.app_data["source"] for p in producers} == {"camera", "microphone"}
    sub = subscriber(recv_t)
    states: list[str] = []
    recv_t.observer.on("connectionstatechange", states.append)
    consumers = [recv_t.consume(p) for p in producers]
    offered = await sub.negotiate()
    assert {c.id for c in offered} == {c.id for c in consumers}
    assert all(c.mid is not None for c in offered)
    await sub.wait_frames([c.id for c in consumers], 10)
    assert "connected" in states and recv_t.connection_state == "connected"
    dump = router.dump()
    assert dump["transports"][0]["producers"][0]["stats"]["packets"] > 0
    assert totals()["packets_forwarded"] > 0
    await sub.close()
    await pub.close()
    await router.close()


async def test_three_participants_each_decode_the_others_audio_and_video() -> None:
    router = Router()
    people = await meeting(router, 3)
    for person in people:
        assert len(person.ids) == 4
        await person.sub.wait_frames(person.ids, 15, timeout=15)
    for person in people:
        await person.sub.close()
        await person.pub.close()
    await router.close()


async def test_forwarded_video_payloads_are_byte_identical_to_what_the_publisher_sent() -> None:
    call = await pub_sub(encoded_video(), encoded_audio(), frames=30, pub_capture_rtp=True,
                         sub_capture_rtp=True)
    pub, sub, producers, consumers = call.pub, call.sub, call.producers, call.consumers
    video = next(c for c in consumers if c.kind == "video")
    vp = next(p for p in producers if p.kind == "video")
    sent = [p for p in pub.sent_rtp if p.ssrc == vp.ssrc]
    got = [p for p in sub.received_rtp if p.ssrc == video.ssrc]
    assert len(got) >= 30
    # same payloads, in the same order, from the first forwarded packet on
    sent_payloads = [p.payload for p in sent]
    start = sent_payloads.index(got[0].payload)
    assert [p.payload for p in got] == sent_payloads[start:start + len(got)]
    # rewritten header: own SSRC, continuous sequence numbers, negotiated payload type
    assert all(p.ssrc != vp.ssrc for p in got)
    seqs = [p.sequence_number for p in got]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    assert {p.payload_type for p in got} == {video.dump()["payload_type"]}
    # marker bits survive
    assert [p.marker for p in got] == [p.marker for p in sent[start:start + len(got)]]
    await call.close()


async def test_late_joiner_decodes_its_first_frame_within_1s() -> None:
    router = Router()
    send_t = await router.create_transport("send")
    # one keyframe every 10 s: the late joiner depends on the PLI the SFU sends upstream
    long_gop = encoded_video(seconds=10.0)
    pub, producers = await publish(send_t, long_gop, encoded_audio())
    early_t = await router.create_transport("recv")
    early = subscriber(early_t)
    early_ids = [early_t.consume(p).id for p in producers]
    await early.negotiate()
    await early.wait_frames(early_ids, 5)
    await asyncio.sleep(1.5)
    late_t = await router.create_transport("recv")
    late = subscriber(late_t)
    video = late_t.consume(next(p for p in producers if p.kind == "video"))
    started = time.monotonic()
    await late.negotiate()
    await late.wait_frames([video.id], 1, timeout=5)
    assert time.monotonic() - started < 1.0
    assert pub.tracks["camera"].keyframe_requests >= 1
    assert early.frames[early_ids[0]] > 0
    await late.close()
    await early.close()
    await pub.close()
    await router.close()


async def test_closed_producer_ends_the_track_for_subscribers() -> None:
    call = await pub_sub(encoded_video(), encoded_audio(), frames=5)
    router, send_t, recv_t = call.router, call.send_t, call.recv_t
    sub, producers, consumers = call.sub, call.producers, call.consumers
    video_p = next(p for p in producers if p.kind == "video")
    video_c = next(c for c in consumers if c.kind == "video")
    closed: list[str] = []
    needed: list[bool] = []
    video_c.observer.on("close", lambda: closed.append(video_c.id))
    recv_t.observer.on("negotiationneeded", lambda: needed.append(True))
    video_p.close()
    assert video_c.closed and closed == [video_c.id]
    assert video_p not in router.producers and video_p not in send_t.producers
    await wait_for(lambda: video_c.id in sub.ended, 3, "track end on the subscriber")
    await wait_for(lambda: needed, 1, "negotiationneeded")
    offer_consumers = await sub.negotiate()
    assert [c.id for c in offer_consumers] == [consumers[1 - consumers.index(video_c)].id]
    assert sub.pc.getTransceivers()[consumers.index(video_c)].currentDirection == "inactive"
    audio_id = next(c.id for c in consumers if c.kind == "audio")
    before = sub.frames[audio_id]
    await sub.wait_frames([audio_id], before + 10)
    await call.close()


@pytest.mark.parametrize("codec", ["h264", "vp8"])
async def test_publisher_codec_is_forwarded_and_decoded(codec: str) -> None:
    router, send_t, recv_t = await router_with_transports()
    pub, producers = await publish(send_t, encoded_video(codec), None)
    (producer,) = producers
    assert producer.mime_type.lower() == f"video/{codec}"
    sub = subscriber(recv_t)
    consumer = recv_t.consume(producer)
    offer, _ = await recv_t.create_offer()
    video_lines = [line for line in offer.splitlines() if line.startswith("a=rtpmap:")]
    assert len(video_lines) == 1 and codec.upper() in video_lines[0].upper()
    # the transport re-offers on negotiate(); this offer is superseded
    await sub.negotiate()
    await sub.wait_frames([consumer.id], 15)
    await sub.close()
    await pub.close()
    await router.close()
