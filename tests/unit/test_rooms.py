"""RoomService: the registry, membership, limits and notifications (real media routers, no peers)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rooms import Identity, RoomError, RoomService

DOCTOR = Identity(user_id="u-doc", name="Dr Li", role="doctor")
NURSE = Identity(user_id="u-nurse", name="Nurse Ana", role="nurse")
GUEST = Identity(user_id="u-guest", name="Guest", role="guest", room_grant="ward-7")


class Inbox:
    """A notifier that records what each session would receive."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    async def __call__(self, session: str, event: str, payload: dict[str, Any]) -> None:
        self.events.append((session, event, payload))

    def of(self, session: str, event: str | None = None) -> list[Any]:
        return [(e, p) if event is None else p
                for s, e, p in self.events if s == session and (event is None or e == event)]


@pytest.fixture
async def service() -> Any:
    rooms = RoomService(empty_grace_seconds=0.1, max_participants=3, ice_servers=[])
    inbox = Inbox()
    rooms.set_notifier(inbox)
    rooms.inbox = inbox  # type: ignore[attr-defined]
    yield rooms
    await rooms.close()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


async def test_rooms_open_on_demand_and_share_one_router(service: RoomService) -> None:
    assert service.stats() == {"rooms": 0, "participants": 0}
    a = await service.join("s1", DOCTOR, "ward-7")
    b = await service.join("s2", NURSE, "ward-7")
    await service.join("s3", NURSE, "ward-8")
    assert service.stats() == {"rooms": 2, "participants": 3}
    room = service.get_room("ward-7")
    assert room is not None and room.router.app_data == {"room_id": "ward-7"}
    assert len(room.router.transports) == 4  # a send and a recv transport each
    assert a["participants"] == [] and [p["id"] for p in b["participants"]] == [a["participant_id"]]
    assert a["self"]["name"] == "Dr Li" and a["permissions"] == {"publish": True, "screen": True}


async def test_joined_and_left_are_told_to_the_others_only(service: RoomService) -> None:
    inbox: Inbox = service.inbox  # type: ignore[attr-defined]
    a = await service.join("s1", DOCTOR, "ward-7")
    b = await service.join("s2", NURSE, "ward-7")
    await service.leave("s2")
    await _settle()
    assert inbox.of("s1") == [
        ("participant:joined", {"participant": b["self"]}),
        ("participant:left", {"participant_id": b["participant_id"], "reason": "left"}),
    ]
    assert inbox.of("s2") == []
    await service.leave("s1", reason="disconnected")
    assert a["participant_id"] not in str(inbox.of("s2"))


async def test_an_empty_room_closes_after_the_grace_period(service: RoomService) -> None:
    await service.join("s1", DOCTOR, "ward-7")
    router = service.get_room("ward-7").router  # type: ignore[union-attr]
    await service.leave("s1")
    assert service.stats() == {"rooms": 1, "participants": 0}  # still in its grace period
    await asyncio.sleep(0.25)
    assert service.stats() == {"rooms": 0, "participants": 0}
    assert router.closed and router.transports == []


async def test_joining_during_the_grace_period_keeps_the_room(service: RoomService) -> None:
    await service.join("s1", DOCTOR, "ward-7")
    router = service.get_room("ward-7").router  # type: ignore[union-attr]
    await service.leave("s1")
    await asyncio.sleep(0.05)
    await service.join("s2", NURSE, "ward-7")
    await asyncio.sleep(0.2)
    room = service.get_room("ward-7")
    assert room is not None and room.router is router and not router.closed


async def test_a_room_holds_at_most_max_participants(service: RoomService) -> None:
    for n in range(3):
        await service.join(f"s{n}", DOCTOR, "ward-7")
    with pytest.raises(RoomError) as err:
        await service.join("s9", DOCTOR, "ward-7")
    assert err.value.code == "room_full"
    await service.leave("s0")
    await service.join("s9", DOCTOR, "ward-7")


async def test_concurrent_joins_never_overfill_a_room(service: RoomService) -> None:
    results = await asyncio.gather(
        *(service.join(f"s{n}", DOCTOR, "ward-7") for n in range(6)), return_exceptions=True)
    codes = sorted(r.code if isinstance(r, RoomError) else "ok" for r in results)
    assert codes == ["ok"] * 3 + ["room_full"] * 3
    assert service.stats()["participants"] == 3


@pytest.mark.parametrize(
    ("identity", "room_id", "code"),
    [
        (Identity(user_id="g", name="G", role="guest"), "ward-7", "room_forbidden"),
        (Identity(user_id="g", name="G", role="guest", room_grant="ward-8"), "ward-7",
         "room_forbidden"),
        (Identity(user_id="f", name="F", role="family", room_grant="ward-8"), "ward-7",
         "room_forbidden"),
        (GUEST, "ward-7", None),
        (DOCTOR, "anything", None),
    ],
)
async def test_who_may_enter(service: RoomService, identity: Identity, room_id: str,
                             code: str | None) -> None:
    if code is None:
        await service.join("s1", identity, room_id)
    else:
        with pytest.raises(RoomError) as err:
            await service.join("s1", identity, room_id)
        assert err.value.code == code
        assert service.stats() == {"rooms": 0, "participants": 0}  # nothing was opened


async def test_one_room_per_session_and_requests_need_a_room(service: RoomService) -> None:
    await service.join("s1", DOCTOR, "ward-7")
    with pytest.raises(RoomError) as err:
        await service.join("s1", DOCTOR, "ward-8")
    assert err.value.code == "already_in_room"
    await service.leave("s1")
    for call in (
        service.leave("s1"),
        service.publish("s1", "v=0\r\n", {"0": "camera"}),
        service.answer("s1", "v=0\r\n"),
        service.set_muted("s1", "camera", True),
        service.screen_start("s1"),
        service.screen_stop("s1"),
    ):
        with pytest.raises(RoomError) as err:
            await call
        assert err.value.code == "not_in_room"


async def test_guest_publishing_a_screen_is_denied_before_any_sdp_is_read(
    service: RoomService,
) -> None:
    await service.join("s1", GUEST, "ward-7")
    with pytest.raises(RoomError) as err:
        await service.publish("s1", "garbage", {"0": "camera", "1": "screen"})
    assert err.value.code == "permission_denied"
    with pytest.raises(RoomError) as err:
        await service.screen_start("s1")
    assert err.value.code == "permission_denied"


async def test_mute_and_screen_stop_need_something_published(service: RoomService) -> None:
    await service.join("s1", DOCTOR, "ward-7")
    for call in (service.set_muted("s1", "microphone", True), service.screen_stop("s1")):
        with pytest.raises(RoomError) as err:
            await call
        assert err.value.code == "not_publishing"
    await service.screen_start("s1")  # staff may


async def test_close_closes_every_room(service: RoomService) -> None:
    await service.join("s1", DOCTOR, "ward-7")
    await service.join("s2", DOCTOR, "ward-8")
    routers = [service.get_room(r).router for r in ("ward-7", "ward-8")]  # type: ignore[union-attr]
    await service.close()
    assert service.stats() == {"rooms": 0, "participants": 0}
    assert all(r.closed for r in routers)
    with pytest.raises(RoomError):
        await service.join("s3", DOCTOR, "ward-9")


async def test_leaving_while_the_join_is_still_making_transports(
    service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.join("s0", DOCTOR, "ward-7")
    router = service.get_room("ward-7").router  # type: ignore[union-attr]
    real = router.create_transport

    async def slow(direction: str, app_data: Any = None) -> Any:
        await asyncio.sleep(0.05)
        return await real(direction, app_data=app_data)

    monkeypatch.setattr(router, "create_transport", slow)
    joining = asyncio.ensure_future(service.join("s1", NURSE, "ward-7"))
    await asyncio.sleep(0.02)
    await service.leave("s1", reason="disconnected")  # the socket went away mid-join
    with pytest.raises(RoomError) as err:
        await joining
    assert err.value.code == "not_in_room"
    await _settle()
    assert service.stats() == {"rooms": 1, "participants": 1}
    assert len(router.transports) == 2  # only s0's
    inbox: Inbox = service.inbox  # type: ignore[attr-defined]
    assert inbox.of("s0") == []  # s1 never fully joined: nothing to tell
