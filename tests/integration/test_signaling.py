"""Signaling edge cases against the full app: auth on connect, validation, error codes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.calls import Call, call_fixture, call_settings  # noqa: F401
from tests.support.client import ConnectRefused

GOOD_ROOM = "ward-1"


async def _refused_code(call: Call, token: str | None) -> str | None:
    client = call.client(token, name="refused")
    with pytest.raises(ConnectRefused) as err:
        await client.connect()
    return err.value.code


async def test_connect_without_a_token_is_refused_with_token_missing(call: Call) -> None:
    assert await _refused_code(call, None) == "token_missing"
    assert await _refused_code(call, "") == "token_missing"


async def test_expired_token_is_refused_with_token_expired(call: Call) -> None:
    assert await _refused_code(call, await call.token("doctor", ttl=-10)) == "token_expired"


async def test_token_for_another_audience_is_refused_with_token_audience(call: Call) -> None:
    from accounts.tokens import TokenService

    user = await call.server.user("aud-user", "doctor")
    auth = call.server.settings.auth
    other = TokenService(auth.jwt_secret, auth.issuer, "some-other-server")
    token = other.issue(user_id=user.id, name="x", role="doctor")
    assert await _refused_code(call, token) == "token_audience"


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "x" * 9000, 12345])
async def test_garbage_token_is_refused_with_token_invalid(call: Call, garbage: Any) -> None:
    assert await _refused_code(call, garbage) == "token_invalid"


async def test_token_signed_with_another_secret_is_refused_with_token_invalid(call: Call) -> None:
    from accounts.tokens import TokenService

    user = await call.server.user("forger", "admin")
    auth = call.server.settings.auth
    forged = TokenService("not-the-secret-" * 3, auth.issuer, auth.audience)
    assert await _refused_code(call, forged.issue(user_id=user.id, name="x", role="admin")) == (
        "token_invalid")


async def test_disabled_user_is_refused_with_user_disabled(call: Call) -> None:
    user = await call.server.user("gone", "nurse")
    token = call.server.token(user)
    await call.server.users.set_disabled(user.id)
    assert await _refused_code(call, token) == "user_disabled"


async def test_refusal_carries_the_error_object_as_connect_error_data(call: Call) -> None:
    client = call.client(await call.token("doctor", ttl=-10))
    with pytest.raises(ConnectRefused) as err:
        await client.connect()
    data = err.value.data
    assert data["data"] == {"error": {"code": "token_expired", "message": data["message"]}}


async def test_unknown_event_answers_unknown_event(call: Call) -> None:
    client = await call.connect("doctor")
    ack = await client.call("room:dance", {"room_id": GOOD_ROOM})
    assert ack["error"]["code"] == "unknown_event"
    ack = await client.call("nothing")
    assert ack["error"]["code"] == "unknown_event"
    assert (await client.join(GOOD_ROOM))["room_id"] == GOOD_ROOM  # and the socket still works


BAD_REQUESTS = [
    ("room:join", None),
    ("room:join", {}),
    ("room:join", {"room_id": 7}),
    ("room:join", {"room_id": ""}),
    ("room:join", {"room_id": "../etc"}),
    ("room:join", {"room_id": "x" * 65}),
    ("room:join", "ward-1"),
    ("room:join", ["ward-1"]),
    ("room:leave", "now"),
    ("media:publish", {}),
    ("media:publish", {"sdp": "v=0"}),
    ("media:publish", {"sdp": 3, "sources": {}}),
    ("media:publish", {"sdp": "v=0", "sources": {"0": "hologram"}}),
    ("media:publish", {"sdp": "v=0", "sources": ["camera"]}),
    ("media:publish", {"sdp": "", "sources": {"0": "camera"}}),
    ("media:answer", {}),
    ("media:answer", {"sdp": None}),
    ("media:mute", {}),
    ("media:mute", {"source": "screen"}),
    ("media:unmute", {"source": 1}),
    ("screen:start", 5),
    ("recording:start", "now"),
    ("recording:stop", [1]),
    ("composite:layout", {}),
    ("composite:layout", {"layout": "carousel"}),
    ("media:composite", {"on": "yes"}),
    ("media:composite", {}),
    ("host:pixelate", {"on": True}),
    ("host:pixelate", {"participant_id": 7, "on": True}),
    ("host:pixelate", {"participant_id": "p_x", "on": 1}),
    ("host:pixelate", {"participant_id": "p_x", "on": True, "rect": [0, 0, 0.5]}),
    ("host:pixelate", {"participant_id": "p_x", "on": True, "rect": [-0.1, 0, 0.5, 0.5]}),
    ("host:pixelate", {"participant_id": "p_x", "on": True, "rect": "all"}),
    ("media:snapshot", {}),
    ("media:snapshot", {"participant_id": ["p_x"]}),
    ("media:snapshot", {"participant_id": "p_x", "source": "microphone"}),
]


@pytest.mark.parametrize(("event", "payload"), BAD_REQUESTS)
async def test_missing_or_mistyped_fields_answer_bad_request(
    call: Call, event: str, payload: Any
) -> None:
    client = await call.connect("doctor")
    if not event.startswith("room:"):
        await client.join(GOOD_ROOM)
    ack = await client.call(event, payload)
    assert ack["error"]["code"] == "bad_request", ack


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("room:leave", {}),
        ("media:publish", {"sdp": "v=0\r\n", "sources": {"0": "camera"}}),
        ("media:answer", {"sdp": "v=0\r\n"}),
        ("media:mute", {"source": "camera"}),
        ("media:unmute", {"source": "microphone"}),
        ("screen:start", {}),
        ("screen:stop", {}),
        ("recording:start", {}),
        ("recording:stop", {}),
        ("composite:layout", {"layout": "grid"}),
        ("media:composite", {"on": True}),
        ("host:pixelate", {"participant_id": "p_x", "on": True}),
        ("media:snapshot", {"participant_id": "p_x"}),
    ],
)
async def test_media_requests_before_joining_answer_not_in_room(
    call: Call, event: str, payload: Any
) -> None:
    client = await call.connect("doctor")
    ack = await client.call(event, payload)
    assert ack["error"]["code"] == "not_in_room", ack


@pytest.mark.parametrize(
    "sdp",
    [
        "not an sdp at all",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
        "v=0\r\nm=audio banana\r\n",
    ],
)
async def test_malformed_sdp_answers_bad_sdp(call: Call, sdp: str) -> None:
    client = await call.connect("doctor")
    await client.join(GOOD_ROOM)
    ack = await client.call("media:publish", {"sdp": sdp, "sources": {"0": "camera"}})
    assert ack["error"]["code"] == "bad_sdp", ack


async def test_malformed_answer_answers_bad_sdp_and_a_good_one_still_works(call: Call) -> None:
    doctor = await call.joined(GOOD_ROOM, "doctor", "camera", "microphone", name="doctor")
    nurse = await call.connect("nurse", name="nurse")
    nurse.answer_offers = False
    await nurse.join(GOOD_ROOM)
    await nurse.wait_event("media:offer")
    ack = await nurse.call("media:answer", {"sdp": "v=0\r\nthis is no answer\r\n"})
    assert ack["error"]["code"] == "bad_sdp", ack
    nurse.answer_offers = True
    await nurse._answer(nurse.events["media:offer"][-1])  # the offer is still pending
    assert nurse.answers[-1] == {"ok": True}
    await nurse.wait_for(lambda: nurse.frames_from(doctor.participant_id, "camera") > 0)  # type: ignore[arg-type]


async def test_answer_without_an_offer_answers_no_offer_pending(call: Call) -> None:
    client = await call.connect("doctor")
    await client.join(GOOD_ROOM)  # alone: nothing to receive, so no offer
    ack = await client.call("media:answer", {"sdp": "v=0\r\n"})
    assert ack["error"]["code"] == "no_offer_pending", ack


async def test_guest_without_a_grant_is_forbidden_and_with_one_admitted(call: Call) -> None:
    nobody = await call.connect("guest", room=None, name="guest-no-grant")
    ack = await nobody.call("room:join", {"room_id": GOOD_ROOM})
    assert ack["error"]["code"] == "room_forbidden"
    elsewhere = await call.connect("family", room="ward-2", name="family-elsewhere")
    ack = await elsewhere.call("room:join", {"room_id": GOOD_ROOM})
    assert ack["error"]["code"] == "room_forbidden"

    invited = await call.connect("guest", room=GOOD_ROOM, name="guest-invited")
    ack = await invited.request("room:join", {"room_id": GOOD_ROOM})
    assert ack["room_id"] == GOOD_ROOM
    assert ack["self"]["role"] == "guest"
    assert ack["permissions"] == {"publish": True, "screen": False}
    staff = await call.connect("staff", room=None, name="staff")
    ack = await staff.request("room:join", {"room_id": "any-room-at-all"})
    assert ack["permissions"] == {"publish": True, "screen": True}


async def test_join_ack_describes_the_room(call: Call) -> None:
    first = await call.connect("doctor", name="first")
    await first.join(GOOD_ROOM)
    second = await call.connect("nurse", name="second")
    ack = await second.join(GOOD_ROOM)
    assert set(ack) >= {"room_id", "participant_id", "self", "participants", "permissions",
                        "ice_servers"}
    me = ack["self"]
    assert set(me) == {"id", "user_id", "name", "role", "host", "audio_muted", "video_muted",
                       "screen_sharing", "pixelated"}
    assert me["host"] is True  # staff host rooms no flow claims
    assert me["id"] == ack["participant_id"] and me["role"] == "nurse"
    assert (me["audio_muted"], me["video_muted"], me["screen_sharing"]) == (False, False, False)
    assert [p["id"] for p in ack["participants"]] == [first.participant_id]
    assert ack["ice_servers"] == call.server.settings.media.ice_servers
    joined = await first.wait_event("participant:joined")
    assert joined == {"participant": ack["self"]}


async def test_second_join_answers_already_in_room_and_leave_twice_not_in_room(call: Call) -> None:
    client = await call.connect("doctor")
    await client.join(GOOD_ROOM)
    ack = await client.call("room:join", {"room_id": "ward-2"})
    assert ack["error"]["code"] == "already_in_room"
    assert await client.call("room:leave", {}) == {"ok": True}
    assert (await client.call("room:leave", {}))["error"]["code"] == "not_in_room"
    assert (await client.join("ward-2"))["room_id"] == "ward-2"  # free to join another now


async def test_room_full_past_max_participants(settings: Any, server_factory: Any) -> None:
    server = await server_factory(call_settings(settings, max_participants=2))
    small = Call(server)
    try:
        for _ in range(2):
            await (await small.connect("doctor")).join(GOOD_ROOM)
        third = await small.connect("doctor")
        ack = await third.call("room:join", {"room_id": GOOD_ROOM})
        assert ack["error"]["code"] == "room_full"
        assert (await third.join("ward-2"))["room_id"] == "ward-2"
    finally:
        await small.close()


async def test_a_failing_handler_answers_internal_error_and_the_server_lives_on(
    call: Call, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = await call.connect("doctor")

    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("boom: secret details")

    monkeypatch.setattr(call.rooms, "join", broken)
    ack = await client.call("room:join", {"room_id": GOOD_ROOM})
    assert ack == {"error": {"code": "internal_error", "message": "internal error"}}
    monkeypatch.undo()
    assert (await client.join(GOOD_ROOM))["room_id"] == GOOD_ROOM
    assert any(r.getMessage() == "request_failed" for r in caplog.records)


async def test_logs_carry_ids_but_never_tokens_or_sdp(
    call: Call, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    token = await call.token("doctor")
    client = call.client(token, name="logged")
    await client.connect()
    await client.join(GOOD_ROOM)
    ack = await client.publish("camera")
    text = "\n".join(
        f"{r.getMessage()} {vars(r)}"
        for r in caplog.records if r.name.startswith("carertc")
    )
    assert "room_joined" in text and client.participant_id in text  # type: ignore[operator]
    assert token not in text
    assert ack["sdp"] not in text and "a=fingerprint" not in text


async def test_socket_still_usable_after_events_without_ack(call: Call) -> None:
    client = await call.connect("doctor")
    await client.sio.emit("room:join", {"room_id": GOOD_ROOM})  # no ack asked
    await client.sio.emit("who:knows", {})
    await client.sio.emit("room:join", "garbage")
    assert isinstance(await client.call("room:leave", {}), dict)  # still answered


async def test_publish_must_name_the_source_of_every_sending_track(call: Call) -> None:
    from aiortc import RTCPeerConnection

    from tests.support.media import track_for

    client = await call.connect("doctor")
    await client.join(GOOD_ROOM)
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver(track_for("camera"), direction="sendonly")
        pc.addTransceiver(track_for("microphone"), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        ack = await client.call("media:publish",
                                {"sdp": pc.localDescription.sdp, "sources": {"0": "camera"}})
        assert ack["error"]["code"] == "bad_request" and "1" in ack["error"]["message"]
    finally:
        await pc.close()
