"""Recording a call end to end: real aiortc peers, Socket.IO and the full app on loopback.

Who may record, the announcements (``recording:state``, the join ack, system
messages), the catalog's files after a stop, pixelation, encrypted snapshots
and the composite view.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

import aiohttp
from PIL import Image

from carertc.app import ATTACHMENTS, IM, RECORDINGS, SESSIONS, SETTINGS
from tests.support.calls import Call, call_fixture  # noqa: F401
from tests.support.client import TestClient

AV = ("camera", "microphone")


async def _error(client: TestClient, event: str, data: dict[str, Any]) -> str:
    ack = await client.call(event, data)
    assert isinstance(ack, dict) and "error" in ack, ack
    return str(ack["error"]["code"])


async def _receiving(receiver: TestClient, sender: TestClient, source: str = "camera") -> None:
    await receiver.wait_for(
        lambda: receiver.frames_from(sender.participant_id, source) >= 5,  # type: ignore[arg-type]
        timeout=15,
        what=f"{receiver.name} decoding {sender.name}'s {source}",
    )


async def _system_events(call: Call, room_id: str, user_id: str) -> list[dict[str, Any]]:
    im = call.server.app[IM]
    conversation_id = await im.room_conversation_id(room_id)
    assert conversation_id
    page = await im.sync(user_id, conversation_id, 0, 500)
    return [m["payload"] for m in page["messages"] if m["type"] == "system"]


async def test_a_host_records_a_room_everyone_is_told_and_every_track_is_filed(
    call: Call,
) -> None:
    room = "ward-rec1"
    host = await call.joined(room, "doctor", *AV, name="host")
    elder = await call.joined(room, "elder", *AV, name="elder")
    await _receiving(host, elder)
    await _receiving(elder, host)
    assert host.joined is not None and host.joined["recording"]["recording"] is False

    # a patient may not record, and nothing starts
    assert await _error(elder, "recording:start", {}) == "permission_denied"
    assert await _error(host, "recording:stop", {}) == "not_recording"
    assert "recording:state" not in host.events

    ack = await host.request("recording:start", {})
    assert ack["recording"] is True and ack["recording_id"]
    recording_id = ack["recording_id"]
    for client in (host, elder):
        state = await client.wait_event("recording:state", lambda e: e["recording"])
        assert state["recording_id"] == recording_id
        assert state["started_by"]["participant_id"] == host.participant_id
        assert state["layout"] == "grid"
    assert await _error(host, "recording:start", {}) == "recording_active"

    late = await call.joined(room, "nurse", *AV, name="late")
    assert late.joined is not None
    assert late.joined["recording"]["recording"] is True
    assert late.joined["recording"]["recording_id"] == recording_id

    assert await host.request("composite:layout", {"layout": "speaker"}) == {
        "ok": True,
        "layout": "speaker",
    }
    assert (await elder.wait_event("composite:layout"))["layout"] == "speaker"
    assert await _error(elder, "composite:layout", {"layout": "grid"}) == "permission_denied"
    await asyncio.sleep(3.0)

    assert await _error(elder, "recording:stop", {}) == "permission_denied"
    stopped = await host.request("recording:stop", {})
    assert stopped["recording"] is False and stopped["stopped_recording_id"] == recording_id
    await elder.wait_event("recording:state", lambda e: not e["recording"])

    catalog = call.server.app[RECORDINGS]
    rec = await catalog.get(recording_id)
    assert rec is not None and rec["status"] == "complete", rec
    assert rec["room_id"] == room
    kinds = [f["kind"] for f in rec["files"]]
    assert "composite" in kinds, rec["files"]
    tracks = [f for f in rec["files"] if f["kind"] == "track"]
    assert len(tracks) >= 4, tracks  # camera + microphone of host and elder (and the late one)
    assert all(f["size_bytes"] > 0 for f in rec["files"]), rec["files"]
    # everyone who was there is a participant, and each track says whose it is
    people = {c.joined["self"]["user_id"]: c.joined["self"]["name"]  # type: ignore[index]
              for c in (host, elder, late)}
    assert {p["user_id"]: p["name"] for p in rec["participants"]} == people
    assert {(f["user_id"], f["name"]) for f in tracks} == set(people.items())
    assert {f["source"] for f in tracks} == {"camera", "microphone"}

    events = await _system_events(call, room, host.joined["self"]["user_id"])
    names = [e["event"] for e in events]
    assert "recording_started" in names and "recording_stopped" in names
    started = next(e for e in events if e["event"] == "recording_started")
    assert started["recording_id"] == recording_id


async def test_a_recording_stops_when_the_room_is_ended(call: Call) -> None:
    room = "ward-rec2"
    host = await call.joined(room, "doctor", *AV, name="host")
    await host.request("recording:start", {})
    await asyncio.sleep(1.0)
    recording_id = (await host.wait_event("recording:state"))["recording_id"]
    await host.request("room:end", {})
    catalog = call.server.app[RECORDINGS]

    async def finished() -> bool:
        rec = await catalog.get(recording_id)
        return rec is not None and rec["status"] == "complete"

    for _ in range(100):
        if await finished():
            break
        await asyncio.sleep(0.1)
    assert await finished()


async def test_the_host_pixelates_a_camera_and_others_are_refused(call: Call) -> None:
    room = "ward-rec3"
    host = await call.joined(room, "doctor", *AV, name="host")
    elder = await call.joined(room, "elder", *AV, name="elder")
    await _receiving(host, elder)

    ack = await host.request(
        "host:pixelate", {"participant_id": elder.participant_id, "on": True}
    )
    assert ack == {"ok": True, "participant_id": elder.participant_id, "pixelated": True}
    for client in (host, elder):
        await client.wait_event(
            "participant:updated",
            lambda e: e["participant"]["id"] == elder.participant_id
            and e["participant"]["pixelated"],
        )
    # video keeps flowing (pixelated and re-encoded on the server)
    before = host.frames_from(elder.participant_id, "camera")  # type: ignore[arg-type]
    await host.wait_for(
        lambda: host.frames_from(elder.participant_id, "camera") > before + 5,  # type: ignore[arg-type]
        timeout=15,
        what="pixelated video",
    )
    assert (
        await _error(elder, "host:pixelate", {"participant_id": host.participant_id, "on": True})
        == "permission_denied"
    )
    assert (
        await _error(
            host,
            "host:pixelate",
            {"participant_id": elder.participant_id, "on": True, "rect": [0.5, 0.5, 2, 1]},
        )
        == "bad_request"
    )
    assert (
        await _error(host, "host:pixelate", {"participant_id": "p_0000", "on": True})
        == "participant_not_found"
    )
    await host.request("host:pixelate", {"participant_id": elder.participant_id, "on": False})
    await host.wait_event(
        "participant:updated",
        lambda e: e["participant"]["id"] == elder.participant_id
        and not e["participant"]["pixelated"],
    )
    events = await _system_events(call, room, host.joined["self"]["user_id"])  # type: ignore[index]
    names = [e["event"] for e in events]
    assert "pixelation_on" in names and "pixelation_off" in names


async def test_a_snapshot_is_stored_encrypted_and_downloads_as_a_jpeg(call: Call) -> None:
    room = "ward-rec4"
    host = await call.joined(room, "doctor", *AV, name="host")
    elder = await call.joined(room, "elder", *AV, name="elder")
    await _receiving(host, elder)

    assert (
        await _error(elder, "media:snapshot", {"participant_id": host.participant_id})
        == "permission_denied"
    )
    ack = await host.request(
        "media:snapshot", {"participant_id": elder.participant_id}, timeout=20
    )
    assert ack["attachment_id"] and ack["message_id"]
    assert (ack["width"], ack["height"]) == (160, 120)

    attachments = call.server.app[ATTACHMENTS]
    im = call.server.app[IM]
    assert host.joined is not None
    user_id = host.joined["self"]["user_id"]
    from im import Actor

    att = await attachments.get(Actor(user_id, "host", "doctor"), ack["attachment_id"])
    assert att.encrypted is True and att.thumbnail_name is None
    on_disk = attachments.path_for(att).read_bytes()
    assert not on_disk.startswith(b"\xff\xd8") and on_disk.startswith(b"CRTCENC1")

    url = f"{call.server.url}/api/v1/attachments/{ack['attachment_id']}"
    headers = {"Authorization": f"Bearer {host.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=headers) as res:
            assert res.status == 200 and res.content_type == "image/jpeg"
            jpeg = await res.read()
        async with http.get(url, headers={**headers, "Range": "bytes=0-99"}) as res:
            assert res.status == 206
            assert res.headers["Content-Range"] == f"bytes 0-99/{len(jpeg)}"
            assert await res.read() == jpeg[:100]
        async with http.get(url, headers={**headers, "Range": "bytes=-10"}) as res:
            assert res.status == 206 and await res.read() == jpeg[-10:]
    with Image.open(io.BytesIO(jpeg)) as img:
        assert img.format == "JPEG" and img.size == (160, 120)

    conversation_id = await im.room_conversation_id(room)
    page = await im.sync(user_id, conversation_id, 0, 500)
    image = next(m for m in page["messages"] if m["id"] == ack["message_id"])
    assert image["type"] == "image"
    assert image["payload"]["attachment_id"] == ack["attachment_id"]
    snap = [m for m in page["messages"] if m["payload"].get("event") == "snapshot_taken"]
    assert snap and snap[0]["payload"]["attachment_id"] == ack["attachment_id"]

    # an export of the conversation carries the snapshot decrypted
    from im.export import ConversationExporter

    out = call.server.app[SETTINGS].data_dir / "snapshot-export.zip"
    exporter = ConversationExporter(call.server.app[SESSIONS], attachments, out.parent,
                                    vault_key=attachments.vault_key)
    await exporter.write_zip(conversation_id, out, {"user_id": None, "name": "test"})
    with zipfile.ZipFile(out) as zf:
        names = [n for n in zf.namelist() if ack["attachment_id"] in n]
        assert len(names) == 1 and zf.read(names[0]) == jpeg


async def test_a_participant_switches_to_the_composite_and_back(call: Call) -> None:
    room = "ward-rec5"
    host = await call.joined(room, "doctor", *AV, name="host")
    elder = await call.joined(room, "elder", *AV, name="elder")
    viewer = await call.joined(room, "nurse", name="viewer")
    await _receiving(viewer, elder)

    assert await viewer.request("media:composite", {"on": True}, timeout=20) == {
        "ok": True,
        "on": True,
    }

    def composite(kind: str) -> list[Any]:
        return [
            viewer.received[mid]
            for mid, c in viewer.consumers.items()
            if c["source"] == "composite" and c["kind"] == kind and mid in viewer.received
        ]

    await viewer.wait_for(
        lambda: sum(r.frames for r in composite("video")) >= 10,
        timeout=20,
        what="the composite's video",
    )
    await viewer.wait_for(lambda: sum(r.frames for r in composite("audio")) >= 10,
                          what="the composite's audio")
    assert {(1280, 720)} == set().union(*(r.sizes for r in composite("video")))
    # the other tracks are paused meanwhile
    await asyncio.sleep(0.5)
    before = viewer.frames_from(elder.participant_id, "camera")  # type: ignore[arg-type]
    await asyncio.sleep(1.0)
    assert viewer.frames_from(elder.participant_id, "camera") - before <= 2  # type: ignore[arg-type]

    assert await viewer.request("media:composite", {"on": False}) == {"ok": True, "on": False}
    await viewer.wait_for(
        lambda: len(viewer.events["consumer:closed"]) >= 2, what="the composite consumers closed"
    )
    before = viewer.frames_from(elder.participant_id, "camera")  # type: ignore[arg-type]
    await viewer.wait_for(
        lambda: viewer.frames_from(elder.participant_id, "camera") > before + 5,  # type: ignore[arg-type]
        timeout=15,
        what="the tracks again",
    )
    assert host.participant_id
