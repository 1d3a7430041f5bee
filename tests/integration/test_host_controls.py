"""Host controls end to end: real aiortc peers, Socket.IO and the full app on loopback."""

from __future__ import annotations

import asyncio

from tests.support.calls import Call, call_fixture  # noqa: F401
from tests.support.client import TestClient

AV = ("camera", "microphone")


async def _receiving(
    receiver: TestClient, sender: TestClient, source: str, frames: int = 5
) -> None:
    await receiver.wait_for(
        lambda: receiver.frames_from(sender.participant_id, source) >= frames,  # type: ignore[arg-type]
        timeout=15,
        what=f"{receiver.name} decoding {sender.name}'s {source}",
    )


async def _frames_during(
    receiver: TestClient, sender: TestClient, source: str, seconds: float
) -> int:
    before = receiver.frames_from(sender.participant_id, source)  # type: ignore[arg-type]
    await asyncio.sleep(seconds)
    return receiver.frames_from(sender.participant_id, source) - before  # type: ignore[arg-type]


async def _error(client: TestClient, event: str, data: dict[str, object]) -> str:
    ack = await client.call(event, data)
    assert isinstance(ack, dict) and "error" in ack, ack
    return str(ack["error"]["code"])


async def test_host_removes_a_participant_whose_media_stops_for_everyone(call: Call) -> None:
    room = "ward-h1"
    host = await call.joined(room, "doctor", *AV, name="host")
    third = await call.joined(room, "nurse", *AV, name="third")
    removed = await call.joined(room, "elder", *AV, name="removed")
    await _receiving(third, removed, "camera")
    await _receiving(host, removed, "camera")
    removed_consumers = {
        c["id"] for c in third.consumers.values() if c["participant_id"] == removed.participant_id
    }
    assert len(removed_consumers) == 2

    ack = await host.request("room:remove_participant", {"participant_id": removed.participant_id})
    assert ack == {"ok": True}

    event = await removed.wait_event("room:removed")
    assert event == {"room_id": room, "by": host.participant_id}
    left = await third.wait_event(
        "participant:left", lambda e: e["participant_id"] == removed.participant_id
    )
    assert left["reason"] == "removed"
    await third.wait_for(
        lambda: {e["consumer_id"] for e in third.events["consumer:closed"]} >= removed_consumers,
        what="consumer:closed for the removed participant's tracks",
    )
    await asyncio.sleep(0.3)
    assert await _frames_during(third, removed, "camera", 0.8) == 0
    assert await _frames_during(third, removed, "microphone", 0.5) == 0
    # the others still flow
    assert await _frames_during(third, host, "camera", 0.8) > 0
    # the removed participant's transports are closed on the server
    srv_room = call.rooms.get_room(room)
    assert srv_room is not None
    assert removed.participant_id not in srv_room.participants
    assert len(srv_room.router.transports) == 4

    # it cannot come back, not even on a fresh connection
    with_error = await _error(removed, "room:join", {"room_id": room})
    assert with_error == "room_forbidden"
    again = call.client(removed.token, name="removed-again")
    await again.connect()
    assert await _error(again, "room:join", {"room_id": room}) == "room_forbidden"
    # nor may the host remove itself, or someone who is not there
    assert (
        await _error(host, "room:remove_participant", {"participant_id": host.participant_id})
        == "bad_request"
    )
    assert (
        await _error(host, "room:remove_participant", {"participant_id": "p_0000000000000000"})
        == "participant_not_found"
    )


async def test_host_mutes_a_participant(call: Call) -> None:
    room = "ward-h2"
    host = await call.joined(room, "doctor", *AV, name="host")
    elder = await call.joined(room, "elder", *AV, name="elder")
    await _receiving(host, elder, "camera")

    await host.request(
        "room:mute_participant", {"participant_id": elder.participant_id, "source": "camera"}
    )
    assert await elder.wait_event("room:muted_by_host") == {
        "source": "camera",
        "by": host.participant_id,
    }
    updated = await host.wait_event(
        "participant:updated",
        lambda e: (
            e["participant"]["id"] == elder.participant_id and e["participant"]["video_muted"]
        ),
    )
    assert updated["participant"]["audio_muted"] is False
    await asyncio.sleep(0.3)
    assert await _frames_during(host, elder, "camera", 0.8) == 0
    assert await _frames_during(host, elder, "microphone", 0.5) > 0

    # the participant may turn it back on
    before = host.frames_from(elder.participant_id, "camera")  # type: ignore[arg-type]
    await elder.request("media:unmute", {"source": "camera"})
    await host.wait_for(
        lambda: host.frames_from(elder.participant_id, "camera") > before + 3,  # type: ignore[arg-type]
        what="the camera back after unmuting",
    )

    assert (
        await _error(
            host,
            "room:mute_participant",
            {"participant_id": elder.participant_id, "source": "screen"},
        )
        == "bad_request"
    )
    listener = await call.joined(room, "nurse", name="listener")
    assert (
        await _error(
            host,
            "room:mute_participant",
            {"participant_id": listener.participant_id, "source": "microphone"},
        )
        == "not_publishing"
    )


async def test_a_locked_room_refuses_new_joins_until_unlocked(call: Call) -> None:
    room = "ward-h3"
    host = await call.joined(room, "doctor", name="host")
    inside = await call.joined(room, "elder", name="inside")
    assert host.joined is not None and host.joined["locked"] is False

    assert await host.request("room:lock", {"locked": True}) == {"ok": True, "locked": True}
    assert (await inside.wait_event("room:locked"))["locked"] is True

    newcomer = await call.connect("family", room=room, name="newcomer")
    assert await _error(newcomer, "room:join", {"room_id": room}) == "room_locked"
    # someone who was inside when it was locked may come back (a dropped connection)
    await inside.leave()
    back = await call.connect("elder", room=room, name="other-elder")
    assert await _error(back, "room:join", {"room_id": room}) == "room_locked"
    rejoined = call.client(inside.token, name="inside-again")
    await rejoined.connect()
    ack = await rejoined.join(room)
    assert ack["locked"] is True
    # hosts are let in
    colleague = await call.joined(room, "nurse", name="colleague")
    assert colleague.joined is not None and colleague.joined["self"]["host"] is True

    await host.request("room:lock", {"locked": False})
    assert (await rejoined.wait_event("room:locked", lambda e: not e["locked"]))["locked"] is False
    ack = await newcomer.join(room)
    assert ack["locked"] is False


async def test_end_for_all_closes_the_room(call: Call) -> None:
    room = "ward-h4"
    host = await call.joined(room, "doctor", *AV, name="host")
    others = [await call.joined(room, role, *AV, name=role) for role in ("nurse", "elder")]
    await _receiving(others[0], others[1], "camera")

    assert await host.request("room:end", {}) == {"ok": True}
    for client in (host, *others):
        assert await client.wait_event("room:ended") == {"room_id": room, "by": host.participant_id}
    assert call.rooms.get_room(room) is None
    assert call.rooms.stats() == {"rooms": 0, "participants": 0}
    # the connections are free to join again (the room opens anew)
    assert await _error(others[1], "media:mute", {"source": "camera"}) == "not_in_room"
    ack = await others[1].join(room)
    assert ack["participants"] == []


async def test_only_the_host_may_use_host_controls(call: Call) -> None:
    room = "ward-h5"
    host = await call.joined(room, "doctor", name="host")
    elder = await call.joined(room, "elder", *AV, name="elder")
    family = await call.joined(room, "family", *AV, name="family")
    assert elder.joined is not None and elder.joined["self"]["host"] is False
    target = {"participant_id": family.participant_id}
    for event, data in [
        ("room:mute_participant", {**target, "source": "microphone"}),
        ("room:remove_participant", target),
        ("room:lock", {"locked": True}),
        ("room:end", {}),
    ]:
        assert await _error(elder, event, data) == "permission_denied", event
    room_state = call.rooms.get_room(room)
    assert room_state is not None and not room_state.locked and len(room_state.participants) == 3
    # outside a room, host controls answer not_in_room; malformed ones bad_request
    outsider = await call.connect("doctor", name="outsider")
    assert await _error(outsider, "room:end", {}) == "not_in_room"
    assert await _error(host, "room:lock", {"locked": "yes"}) == "bad_request"
    assert await _error(host, "room:remove_participant", {}) == "bad_request"
    await asyncio.sleep(0.2)
    assert family.events["room:ended"] == [] and family.events["room:removed"] == []
