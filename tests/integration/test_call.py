"""Calls end to end: real Socket.IO clients and real aiortc peers against the full app on loopback."""

from __future__ import annotations

import asyncio
import time

from tests.support.calls import Call, call_fixture, eventually  # noqa: F401
from tests.support.client import RequestError, TestClient
from tests.support.media import SIZES

AV = ("camera", "microphone")


def _gets(receiver: TestClient, sender: TestClient, source: str, frames: int = 5) -> bool:
    return receiver.frames_from(sender.participant_id, source) >= frames  # type: ignore[arg-type]


async def _wait_receiving(receiver: TestClient, sender: TestClient, *sources: str,
                          frames: int = 5, timeout: float = 10.0) -> None:
    for source in sources:
        await receiver.wait_for(
            lambda s=source: _gets(receiver, sender, s, frames),  # type: ignore[misc]
            timeout=timeout,
            what=f"{receiver.name} decoding {sender.name}'s {source}",
        )


async def _frames_during(receiver: TestClient, sender: TestClient, source: str,
                         seconds: float) -> int:
    before = receiver.frames_from(sender.participant_id, source)  # type: ignore[arg-type]
    await asyncio.sleep(seconds)
    return receiver.frames_from(sender.participant_id, source) - before  # type: ignore[arg-type]


def _media_tasks() -> list[asyncio.Task[object]]:
    """Running tasks started by rooms/, media/, aiortc or aioice."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        filename = code.co_filename if code is not None else ""
        if any(part in filename for part in ("/rooms/", "/media/", "/aiortc/", "/aioice/")):
            found.append(task)
    return found


async def test_three_participants_each_decode_the_others_audio_and_video(call: Call) -> None:
    doctor = await call.joined("ward-1", "doctor", *AV, name="doctor")
    nurse = await call.joined("ward-1", "nurse", *AV, name="nurse")
    elder = await call.joined("ward-1", "elder", *AV, name="elder")

    for receiver in (doctor, nurse, elder):
        for sender in (doctor, nurse, elder):
            if sender is not receiver:
                await _wait_receiving(receiver, sender, *AV)
        for stats in receiver.received.values():
            if stats.kind == "video" and stats.frames:
                assert stats.sizes == {SIZES["camera"]}
        # each offer was answered, and the answers were accepted
        assert receiver.answers and all(a == {"ok": True} for a in receiver.answers)
    joined = [e["participant"]["id"] for e in doctor.events["participant:joined"]]
    assert joined == [nurse.participant_id, elder.participant_id]
    assert elder.joined is not None
    assert {p["id"] for p in elder.joined["participants"]} == {
        doctor.participant_id, nurse.participant_id}
    stats = call.rooms.stats()
    assert stats == {"rooms": 1, "participants": 3}


async def test_a_leaving_participant_ends_its_tracks_for_the_others(call: Call) -> None:
    doctor = await call.joined("ward-2", "doctor", *AV, name="doctor")
    family = await call.joined("ward-2", "family", *AV, name="family")
    await _wait_receiving(doctor, family, *AV)
    family_id = family.participant_id
    family_consumers = {
        c["id"] for c in doctor.consumers.values() if c["participant_id"] == family_id}
    assert len(family_consumers) == 2

    assert await family.leave() == {"ok": True}

    left = await doctor.wait_event("participant:left")
    assert left == {"participant_id": family_id, "reason": "left"}
    await doctor.wait_for(
        lambda: {e["consumer_id"] for e in doctor.events["consumer:closed"]} >= family_consumers,
        what="consumer:closed for both tracks")
    # the next offer drops them (the client answers it) and nothing more arrives
    await doctor.wait_for(
        lambda: not any(c["participant_id"] == family_id
                        for c in doctor.events["media:offer"][-1]["consumers"]),
        what="an offer without the family's tracks")
    await asyncio.sleep(0.2)
    assert await _frames_during(doctor, family, "camera", 0.5) == 0
    room = call.rooms.get_room("ward-2")
    assert room is not None and len(room.router.transports) == 2


async def test_disconnecting_is_leaving_with_reason_disconnected(call: Call) -> None:
    doctor = await call.joined("ward-3", "doctor", *AV, name="doctor")
    guest = await call.joined("ward-3", "guest", *AV, name="guest")
    await _wait_receiving(doctor, guest, "camera")
    await guest.close()
    left = await doctor.wait_event("participant:left")
    assert left == {"participant_id": guest.participant_id, "reason": "disconnected"}
    await doctor.wait_for(lambda: len(doctor.events["consumer:closed"]) == 2)


async def test_screen_share_appears_and_disappears_for_the_others(call: Call) -> None:
    doctor = await call.joined("ward-4", "doctor", *AV, name="doctor")
    elder = await call.joined("ward-4", "elder", *AV, name="elder")
    await _wait_receiving(elder, doctor, "camera")

    ack = await doctor.start_screen()
    assert sorted(p["source"] for p in ack["producers"]) == ["camera", "microphone", "screen"]
    updated = await elder.wait_event(
        "participant:updated", lambda e: e["participant"]["screen_sharing"])
    assert updated["participant"]["id"] == doctor.participant_id
    offer = await elder.wait_event(
        "media:offer", lambda e: any(c["source"] == "screen" for c in e["consumers"]))
    screen = next(c for c in offer["consumers"] if c["source"] == "screen")
    assert screen["participant_id"] == doctor.participant_id and screen["kind"] == "video"
    await _wait_receiving(elder, doctor, "screen")
    assert elder.received[screen["mid"]].sizes == {SIZES["screen"]}

    await doctor.stop_screen()
    closed = await elder.wait_event(
        "consumer:closed", lambda e: e["consumer_id"] == screen["id"])
    assert closed["producer_id"] == screen["producer_id"]
    await elder.wait_event(
        "participant:updated",
        lambda e: not e["participant"]["screen_sharing"] and e is not updated)
    await asyncio.sleep(0.2)
    assert await _frames_during(elder, doctor, "screen", 0.5) == 0
    assert await _frames_during(elder, doctor, "camera", 0.5) > 0  # the camera goes on

    # sharing again reuses the inactive m-line: a new producer, a new consumer for the others
    ack = await doctor.start_screen()
    assert sorted(p["source"] for p in ack["producers"]) == ["camera", "microphone", "screen"]
    again = await elder.wait_event(
        "media:offer",
        lambda e: any(c["source"] == "screen" and c["id"] != screen["id"] for c in e["consumers"]))
    screen2 = next(c for c in again["consumers"] if c["source"] == "screen")
    assert screen2["producer_id"] != screen["producer_id"]
    await elder.wait_for(lambda: elder.received.get(screen2["mid"]) is not None
                         and elder.received[screen2["mid"]].frames >= 5, what="screen again")
    assert elder.received[screen2["mid"]].sizes == {SIZES["screen"]}


async def test_guest_may_publish_camera_but_not_share_a_screen(call: Call) -> None:
    guest = await call.joined("ward-5", "guest", *AV, name="guest")
    assert guest.joined is not None
    assert guest.joined["permissions"] == {"publish": True, "screen": False}
    ack = await guest.call("screen:start", {})
    assert ack["error"]["code"] == "permission_denied"
    try:
        await guest.publish("screen")
    except RequestError as exc:
        assert exc.code == "permission_denied"
    else:
        raise AssertionError("a guest published a screen")


async def test_late_joiner_decodes_the_first_video_frame_within_1s(call: Call) -> None:
    doctor = await call.joined("ward-6", "doctor", *AV, name="doctor")
    nurse = await call.joined("ward-6", "nurse", *AV, name="nurse")
    await _wait_receiving(nurse, doctor, "camera")
    await asyncio.sleep(1.0)  # the doctor's last keyframe is long gone

    late = await call.connect("psychologist", name="late")
    started = time.monotonic()
    await late.join("ward-6")
    first = await late.wait_for(
        lambda: late.first_frame_at(doctor.participant_id, "camera"), timeout=5,  # type: ignore[arg-type]
        what="first video frame")
    assert first - started < 1.0, f"first frame after {first - started:.2f}s"


async def test_mute_tells_everyone_and_stops_forwarding_until_unmute(call: Call) -> None:
    doctor = await call.joined("ward-7", "doctor", *AV, name="doctor")
    nurse = await call.joined("ward-7", "nurse", *AV, name="nurse")
    await _wait_receiving(nurse, doctor, *AV)

    assert await doctor.request("media:mute", {"source": "camera"}) == {"ok": True}
    for client in (doctor, nurse):
        event = await client.wait_event("participant:updated")
        assert event["participant"]["id"] == doctor.participant_id
        assert event["participant"]["video_muted"] is True
        assert event["participant"]["audio_muted"] is False
    await asyncio.sleep(0.3)  # what was in flight
    assert await _frames_during(nurse, doctor, "camera", 0.6) == 0
    assert await _frames_during(nurse, doctor, "microphone", 0.3) > 0  # audio still flows

    assert await doctor.request("media:unmute", {"source": "camera"}) == {"ok": True}
    await nurse.wait_event(
        "participant:updated", lambda e: e["participant"]["video_muted"] is False)
    before = nurse.frames_from(doctor.participant_id, "camera")  # type: ignore[arg-type]
    await nurse.wait_for(
        lambda: nurse.frames_from(doctor.participant_id, "camera") > before + 3,  # type: ignore[arg-type]
        what="video after unmute")

    ack = await nurse.call("media:mute", {"source": "camera"})
    assert ack == {"ok": True}
    listener = await call.joined("ward-7", "doctor", name="listener")  # publishes nothing
    ack = await listener.call("media:mute", {"source": "microphone"})
    assert ack["error"]["code"] == "not_publishing"


async def test_100_rapid_join_leave_cycles_leak_nothing_and_media_keeps_flowing(call: Call) -> None:
    doctor = await call.joined("ward-8", "doctor", *AV, name="doctor")
    nurse = await call.joined("ward-8", "nurse", *AV, name="nurse")
    await _wait_receiving(doctor, nurse, *AV)
    await _wait_receiving(nurse, doctor, *AV)
    room = call.rooms.get_room("ward-8")
    assert room is not None
    router = room.router
    churner = await call.connect("staff", name="churner")
    churner.answer_offers = False  # join and leave faster than any negotiation
    await churner.request("room:join", {"room_id": "ward-8"})  # warm-up cycle
    await churner.request("room:leave")
    await asyncio.sleep(0.3)
    tasks_steady = len(asyncio.all_tasks())
    media_steady = len(_media_tasks())

    frames_before = nurse.frames_from(doctor.participant_id, "camera")  # type: ignore[arg-type]
    started = time.monotonic()
    for cycle in range(100):
        ack = await churner.call("room:join", {"room_id": "ward-8"}, timeout=5)
        assert "participant_id" in ack, (cycle, ack)
        assert await churner.call("room:leave", {}, timeout=5) == {"ok": True}, cycle
    elapsed = time.monotonic() - started
    # the others kept receiving meanwhile
    assert nurse.frames_from(doctor.participant_id, "camera") > frames_before + 10  # type: ignore[arg-type]
    assert await _frames_during(doctor, nurse, "camera", 0.5) > 3

    # and a few full cycles: connect both peer connections, decode, publish, leave
    churner.answer_offers = True
    for cycle in range(5):
        await churner.join("ward-8")
        await churner.publish(*AV)
        await churner.wait_for(lambda: _gets(churner, doctor, "camera", 1), what=f"cycle {cycle}")
        await doctor.wait_for(lambda: _gets(doctor, churner, "camera", 1), what=f"cycle {cycle}")
        await churner.leave()

    # each cycle was announced to the others
    await doctor.wait_for(lambda: len(doctor.events["participant:left"]) == 106, what="106 lefts")
    assert len(doctor.events["participant:joined"]) == 107  # the nurse, then the churner x106
    # nothing of the churner is left on the server
    assert call.rooms.stats() == {"rooms": 1, "participants": 2}
    await eventually(lambda: len(router.transports) == 4, what="4 transports")
    assert all(len(t.consumers) == 2 for t in router.transports if t.direction == "recv")
    await eventually(lambda: len(_media_tasks()) <= media_steady,
                     what=f"media tasks back to {media_steady} (now {len(_media_tasks())})")
    await eventually(lambda: len(asyncio.all_tasks()) <= tasks_steady + 2,
                     what=f"tasks back to ~{tasks_steady} (now {len(asyncio.all_tasks())})")

    await doctor.leave()
    await nurse.leave()
    await eventually(lambda: call.rooms.stats() == {"rooms": 0, "participants": 0},
                     what="the room closed after the grace period")
    assert router.closed and router.transports == []
    await churner.close()
    for client in (doctor, nurse):
        await client.close()
    # (Socket.IO's own per-connection tasks wind down on their ping timers: not counted)
    await eventually(lambda: not _media_tasks(), what="no rooms/media/aiortc task left")
    assert elapsed < 30, f"100 cycles took {elapsed:.1f}s"


async def test_changes_during_an_outstanding_offer_fold_into_one_next_offer(call: Call) -> None:
    doctor = await call.connect("doctor", name="doctor")
    doctor.answer_offers = False
    await doctor.join("ward-9")
    nurse = await call.joined("ward-9", "nurse", *AV, name="nurse")
    first = await doctor.wait_event("media:offer")
    assert {c["participant_id"] for c in first["consumers"]} == {nurse.participant_id}

    elder = await call.joined("ward-9", "elder", *AV, name="elder")
    family = await call.joined("ward-9", "family", *AV, name="family")
    await asyncio.sleep(0.5)
    assert len(doctor.events["media:offer"]) == 1  # at most one outstanding

    doctor.answer_offers = True
    await doctor._answer(first)
    second = await doctor.wait_event("media:offer", lambda e: e is not first)
    assert sorted((c["participant_id"], c["source"]) for c in second["consumers"]) == sorted(
        (p.participant_id, s) for p in (nurse, elder, family) for s in AV)
    for sender in (nurse, elder, family):
        await _wait_receiving(doctor, sender, *AV)
    await asyncio.sleep(0.3)
    assert len(doctor.events["media:offer"]) == 2
    assert doctor.answers == [{"ok": True}, {"ok": True}]


async def test_the_first_offer_follows_the_join_ack_on_the_wire(call: Call) -> None:
    await call.joined("ward-10", "doctor", *AV, name="doctor")
    for n in range(5):
        client = await call.connect("nurse", name=f"nurse{n}")
        await client.join("ward-10")
        await client.wait_event("media:offer")
        kinds = [
            "join-ack" if kind == "ack" and isinstance(data, dict) and "participant_id" in data
            else data if kind == "event" else "ack"
            for kind, data in client.wire
        ]
        assert kinds.index("join-ack") < kinds.index("media:offer"), kinds
        await client.close()
