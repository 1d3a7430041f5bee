"""Router/transport lifecycle: errors with stable codes, renegotiation, pause, close, no leaks."""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiortc import RTCSessionDescription
from media_helpers import (
    encoded_audio,
    encoded_video,
    pub_sub,
    publish,
    router_with_transports,
    subscriber,
    wait_for,
)

from media import MediaError, Router

pytestmark = pytest.mark.timeout(60)

GARBAGE_SDP = [
    "",
    "hello",
    "v=0\r\nthis is not sdp\r\n",
    ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
     "a=rtpmap:96 VP8/90000\r\na=mid:0\r\na=sendonly\r\n"),  # no ICE, no DTLS
    "v=0\r\nm=audio notaport RTP/AVP 0\r\n",
]


@pytest.mark.parametrize("sdp", GARBAGE_SDP)
async def test_malformed_offer_raises_bad_sdp(sdp: str) -> None:
    router = Router()
    send_t = await router.create_transport("send")
    with pytest.raises(MediaError) as info:
        await send_t.receive_offer(sdp, {})
    assert info.value.code in ("bad_sdp", "negotiation_failed")
    if sdp.strip() and "m=" in sdp:
        assert info.value.code == "bad_sdp"
    await router.close()


async def test_malformed_answer_raises_bad_sdp_and_keeps_the_offer_pending() -> None:
    router, send_t, recv_t = await router_with_transports()
    pub, producers = await publish(send_t, encoded_video(), None)
    recv_t.consume(producers[0])
    await recv_t.create_offer()
    for sdp in GARBAGE_SDP:
        with pytest.raises(MediaError) as info:
            await recv_t.receive_answer(sdp)
        assert info.value.code == "bad_sdp"
    assert recv_t.offer_pending
    await pub.close()
    await router.close()


async def test_wrong_direction_no_offer_pending_and_closed_codes() -> None:
    router, send_t, recv_t = await router_with_transports()
    with pytest.raises(MediaError) as info:
        await router.create_transport("sideways")
    assert info.value.code == "wrong_direction"
    pub, producers = await publish(send_t, encoded_video(), None)
    for call in (lambda: send_t.consume(producers[0]), lambda: recv_t.receive_offer("v=0", {}),
                 lambda: send_t.create_offer(), lambda: send_t.receive_answer("v=0")):
        with pytest.raises(MediaError) as info:
            result = call()
            if asyncio.iscoroutine(result):
                await result
        assert info.value.code == "wrong_direction"
    with pytest.raises(MediaError) as info:
        await recv_t.receive_answer("v=0\r\n")
    assert info.value.code == "no_offer_pending"
    producers[0].close()
    with pytest.raises(MediaError) as info:
        recv_t.consume(producers[0])
    assert info.value.code == "closed"
    await recv_t.close()
    with pytest.raises(MediaError) as info:
        await recv_t.create_offer()
    assert info.value.code == "closed"
    await pub.close()
    await router.close()
    with pytest.raises(MediaError) as info:
        await router.create_transport("send")
    assert info.value.code == "closed"


async def test_negotiationneeded_is_coalesced_and_waits_for_the_answer() -> None:
    router, send_t, recv_t = await router_with_transports()
    pub, producers = await publish(send_t, encoded_video(), encoded_audio())
    events: list[int] = []
    recv_t.observer.on("negotiationneeded", lambda: events.append(1))
    consumers = [recv_t.consume(p) for p in producers]
    await asyncio.sleep(0.05)
    assert events == [1]
    sub = subscriber(recv_t)
    offer, offered = await recv_t.create_offer()
    consumers[0].close()  # while the offer is outstanding: no event yet
    await asyncio.sleep(0.05)
    assert events == [1]
    await sub.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await sub.pc.setLocalDescription(await sub.pc.createAnswer())
    await recv_t.receive_answer(sub.pc.localDescription.sdp)
    await asyncio.sleep(0.05)
    assert events == [1, 1]
    _, offered = await recv_t.create_offer()
    assert [c.id for c in offered] == [consumers[1].id]
    assert "a=inactive" in recv_t._pc.localDescription.sdp
    await sub.close()
    await pub.close()
    await router.close()


async def test_publisher_renegotiation_adds_and_removes_producers() -> None:
    router = Router()
    send_t = await router.create_transport("send")
    pub, producers = await publish(send_t, encoded_video(), None)
    assert len(producers) == 1
    from media_helpers import PacketTrack
    pub.pc.addTrack(PacketTrack(encoded_audio()))
    await pub.pc.setLocalDescription(await pub.pc.createOffer())
    answer, producers2 = await send_t.receive_offer(pub.pc.localDescription.sdp, {"1": "microphone"})
    await pub.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    assert [p.kind for p in producers2] == ["video", "audio"]
    assert producers2[0] is producers[0]
    assert producers2[1].app_data == {"source": "microphone"}
    closed: list[str] = []
    producers[0].observer.on("close", lambda: closed.append("video"))
    pub.pc.getTransceivers()[0].direction = "inactive"
    await pub.pc.setLocalDescription(await pub.pc.createOffer())
    answer, producers3 = await send_t.receive_offer(pub.pc.localDescription.sdp, {})
    assert [p.kind for p in producers3] == ["audio"] and closed == ["video"]
    await pub.close()
    await router.close()


async def test_producer_pause_stops_forwarding_and_resume_restarts_at_a_keyframe() -> None:
    call = await pub_sub(encoded_video(seconds=10.0), None, frames=5)
    pub, (producer,), (consumer,) = call.pub, call.producers, call.consumers
    events: list[str] = []
    producer.observer.on("pause", lambda: events.append("pause"))
    producer.observer.on("resume", lambda: events.append("resume"))
    producer.pause()
    await asyncio.sleep(0.1)
    sent = consumer.packets
    await asyncio.sleep(0.4)
    assert consumer.packets == sent
    requests = pub.tracks["camera"].keyframe_requests
    await asyncio.sleep(0.5)  # let the keyframe throttle window pass
    producer.resume()
    await wait_for(lambda: consumer.packets > sent, 2, "forwarding after resume")
    assert pub.tracks["camera"].keyframe_requests > requests
    assert events == ["pause", "resume"]
    consumer.pause()
    await asyncio.sleep(0.1)
    sent = consumer.packets
    await asyncio.sleep(0.3)
    assert consumer.packets == sent
    consumer.resume()
    await wait_for(lambda: consumer.packets > sent, 2, "forwarding after consumer resume")
    await call.close()


async def test_closing_a_router_closes_everything_and_leaks_no_tasks_or_threads() -> None:
    await asyncio.sleep(0)
    tasks_before = len(asyncio.all_tasks())
    threads_before = threading.active_count()
    router = Router()
    clients = []
    producers = []
    for _ in range(2):
        send_t = await router.create_transport("send")
        pub, prods = await publish(send_t, encoded_video(), encoded_audio())
        clients.append(pub)
        producers += prods
    subs = []
    for _ in range(2):
        recv_t = await router.create_transport("recv")
        sub = subscriber(recv_t)
        ids = [recv_t.consume(p).id for p in producers]
        await sub.negotiate()
        subs.append((sub, ids))
    for sub, ids in subs:
        await sub.wait_frames(ids, 3)
    transports = router.transports
    closed: list[str] = []
    for t in transports:
        t.observer.on("close", lambda t=t: closed.append(t.id))
    await router.close()
    assert router.closed and not router.transports and not router.producers
    assert sorted(closed) == sorted(t.id for t in transports)
    assert all(t.connection_state == "closed" for t in transports)
    assert all(p.closed for p in producers)
    for sub, _ in subs:
        await sub.close()
    for pub in clients:
        await pub.close()
    await wait_for(lambda: len(asyncio.all_tasks()) <= tasks_before, 5,
                   f"tasks to finish: {asyncio.all_tasks()}")
    await wait_for(lambda: threading.active_count() <= threads_before, 5, "decoder threads to exit")


async def test_producer_closed_by_the_server_stays_closed_until_the_client_stops_sending_it() -> None:
    router = Router()
    send_t = await router.create_transport("send")
    pub, (video,) = await publish(send_t, encoded_video(), None)
    video.close()  # e.g. screen:stop: closed at once, before the client removes its track

    async def reoffer() -> list:
        await pub.pc.setLocalDescription(await pub.pc.createOffer())
        answer, producers = await send_t.receive_offer(pub.pc.localDescription.sdp, {"0": "camera"})
        await pub.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        return producers

    assert await reoffer() == []
    transceiver = pub.pc.getTransceivers()[0]
    transceiver.direction = "inactive"
    assert await reoffer() == []
    transceiver.direction = "sendrecv"
    (again,) = await reoffer()
    assert again.id != video.id and again.app_data == {"source": "camera"}
    await pub.close()
    await router.close()


async def test_consumer_added_or_closed_while_an_offer_is_made_gets_another_offer() -> None:
    router, send_t, recv_t = await router_with_transports()
    pub, producers = await publish(send_t, encoded_video(), encoded_audio())
    sub = subscriber(recv_t)
    events: list[int] = []
    recv_t.observer.on("negotiationneeded", lambda: events.append(1))
    video = recv_t.consume(producers[0])
    await asyncio.sleep(0)
    making = asyncio.ensure_future(recv_t.create_offer())
    await asyncio.sleep(0)  # the offer is being made (ICE gathering)
    audio = recv_t.consume(producers[1])
    video.close()
    offer, offered = await making
    assert audio not in offered  # added too late for this offer
    await asyncio.sleep(0.05)
    assert events == [1]  # nothing while the offer is outstanding
    await sub.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await sub.pc.setLocalDescription(await sub.pc.createAnswer())
    await recv_t.receive_answer(sub.pc.localDescription.sdp)
    await asyncio.sleep(0.05)
    assert events == [1, 1]
    offered = await sub.negotiate()
    assert [c.id for c in offered] == [audio.id]
    await sub.wait_frames([audio.id], 5)
    assert video._sender._RTCRtpSender__started is False  # the closed one never started
    await sub.close()
    await pub.close()
    await router.close()
