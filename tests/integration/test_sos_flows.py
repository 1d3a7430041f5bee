"""SOS escalation, cancel, restart, the log and its permissions, chat lines, bad payloads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from carertc.app import IM
from carertc.config import Settings
from tests.integration.sos_helpers import World, make_world, sos_settings
from tests.support.calls import eventually
from tests.support.client import RequestError


@pytest.fixture
async def world(settings: Settings, server_factory: Any) -> AsyncIterator[World]:
    """The full app with a 1 s ring timeout per escalation step."""
    w = await make_world(await server_factory(sos_settings(settings, ring_timeout_seconds=1.0)))
    try:
        yield w
    finally:
        await w.close()


async def _detail(world: World, sos_id: str, who: str = "admin") -> dict[str, Any]:
    status, body = await world.http("GET", f"/api/v1/sos/{sos_id}", who)
    assert status == 200, body
    return dict(body)


async def test_nobody_answers_tier_two_then_the_duty_desk_is_rung(world: World) -> None:
    lin = await world.device("lin")
    chen = await world.device("chen")
    bo = await world.device("bo")
    ada = await world.device("ada")
    elder = await world.device("elder")
    t0 = time.monotonic()
    sos = (await elder.request("sos:raise", {}))["sos"]
    await lin.wait_event("sos:ring")
    await chen.wait_event("sos:ring")
    await asyncio.sleep(0.5)
    assert not bo.events["sos:ring"] and not ada.events["sos:ring"]

    await bo.wait_event("sos:ring", timeout=3)
    t_bo = bo.arrived["sos:ring"][0] - t0  # type: ignore[attr-defined]
    assert 0.9 < t_bo < 2.0, t_bo
    assert not ada.events["sos:ring"]
    await ada.wait_event("sos:ring", timeout=3)
    t_ada = ada.arrived["sos:ring"][0] - t0  # type: ignore[attr-defined]
    assert 1.9 < t_ada < 3.5, t_ada
    assert (await elder.wait_event("sos:update"))["sos"]["step"] >= 1

    # the duty desk accepts; tier 1 and 2 are still ringing until then
    ack = await ada.request("sos:accept", {"sos_id": sos["id"]})
    assert ack["room_id"] == sos["room_id"]
    for device in (lin, chen, bo):
        stop = await device.wait_event("sos:ring_stop")
        assert stop["answered_by"]["name"] == "Nurse Ada"
    detail = await _detail(world, sos["id"])
    escalations = [e["data"] for e in detail["events"] if e["kind"] == "escalated"]
    assert [(e["tier"], e["reason"]) for e in escalations] == [
        (2, "timeout"), ("duty_desk", "timeout")]
    assert escalations[0]["to"] == [world.id("bo")]
    assert escalations[1]["to"] == [world.id("ada")]
    assert sorted((r["step"], r["user"]["name"]) for r in detail["recipients"]) == [
        (0, "Dr Chen"), (0, "Lin Wu"), (1, "Bo Wu"), (2, "Nurse Ada")]
    assert detail["sos"]["status"] == "answered"


async def test_after_the_last_step_the_sos_is_logged_unanswered_and_keeps_ringing(
    world: World,
) -> None:
    lin = await world.device("lin")
    await world.device("chen")
    await world.device("bo")
    await world.device("ada")
    elder = await world.device("elder")
    sos = (await elder.request("sos:raise", {}))["sos"]

    async def kinds() -> list[str]:
        return [e["kind"] for e in (await _detail(world, sos["id"]))["events"]]

    for _ in range(100):
        if "unanswered" in await kinds():
            break
        await asyncio.sleep(0.1)
    assert (await kinds()).count("escalated") == 2 and "unanswered" in await kinds()
    # still ringing: a late accept works
    ack = await lin.request("sos:accept", {"sos_id": sos["id"]})
    assert ack["sos"]["status"] == "answered"


async def test_a_tier_nobody_is_online_for_is_skipped_at_once(world: World) -> None:
    bo = await world.device("bo")  # tier 1 (Lin, Dr Chen) is offline
    elder = await world.device("elder")
    t0 = time.monotonic()
    sos = (await elder.request("sos:raise", {}))["sos"]
    await bo.wait_event("sos:ring", timeout=2)
    assert bo.arrived["sos:ring"][0] - t0 < 0.8  # type: ignore[attr-defined]
    escalated = [e for e in (await _detail(world, sos["id"]))["events"]
                 if e["kind"] == "escalated"]
    assert escalated[0]["data"]["reason"] == "nobody_online"
    # a tier-1 device that comes online while it rings rings too
    lin = await world.device("lin")
    assert (await lin.wait_event("sos:ring"))["sos"]["id"] == sos["id"]


async def test_declines_by_everyone_rung_escalate_at_once(world: World) -> None:
    lin = await world.device("lin")
    chen = await world.device("chen")
    bo = await world.device("bo")
    elder = await world.device("elder")
    sos = (await elder.request("sos:raise", {}))["sos"]
    await lin.wait_event("sos:ring")
    assert await lin.request("sos:decline", {"sos_id": sos["id"]}) == {
        "ok": True, "status": "ringing"}
    await asyncio.sleep(0.2)
    assert not bo.events["sos:ring"]
    await chen.request("sos:decline", {"sos_id": sos["id"]})
    await bo.wait_event("sos:ring", timeout=0.8)
    detail = await _detail(world, sos["id"])
    declined = [e["user"]["name"] for e in detail["events"] if e["kind"] == "declined"]
    assert declined == ["Lin Wu", "Dr Chen"]
    assert [e["data"]["reason"] for e in detail["events"] if e["kind"] == "escalated"] == [
        "declined"]


async def test_the_elder_cancels_a_false_alarm(world: World) -> None:
    lin = await world.device("lin")
    chen = await world.device("chen")
    elder = await world.device("elder")
    sos = (await elder.request("sos:raise", {}))["sos"]
    await lin.wait_event("sos:ring")
    # only the elder may cancel
    with pytest.raises(RequestError) as refused:
        await chen.request("sos:cancel", {"sos_id": sos["id"]})
    assert refused.value.code == "sos_not_found"
    ack = await elder.request("sos:cancel", {"sos_id": sos["id"]})
    assert ack["sos"]["status"] == "cancelled" and ack["sos"]["end_reason"] == "cancelled"
    for device in (lin, chen):
        stop = await device.wait_event("sos:ring_stop")
        assert stop == {"sos_id": sos["id"], "answered_by": None, "reason": "cancelled"}
    with pytest.raises(RequestError) as late:
        await lin.request("sos:accept", {"sos_id": sos["id"]})
    assert late.value.code == "bad_state"
    with pytest.raises(RequestError) as again:
        await elder.request("sos:cancel", {"sos_id": sos["id"]})
    assert again.value.code == "bad_state"
    # no escalation after a cancel
    await asyncio.sleep(1.3)
    kinds = [e["kind"] for e in (await _detail(world, sos["id"]))["events"]]
    assert "escalated" not in kinds and "cancelled" in kinds
    with pytest.raises(RequestError) as closed:
        await elder.join(sos["room_id"])
    assert closed.value.code == "room_forbidden"


async def test_ending_an_answered_sos_and_the_chat_lines(world: World) -> None:
    chen = await world.device("chen")
    elder = await world.device("elder")
    sos = (await elder.request("sos:raise", {}))["sos"]
    await chen.request("sos:accept", {"sos_id": sos["id"]})
    status, body = await world.http("POST", f"/api/v1/sos/{sos['id']}/end", "chen")
    assert status == 200 and body["sos"]["status"] == "ended", body
    assert body["sos"]["end_reason"] == "ended_by_user"
    status, body = await world.http("POST", f"/api/v1/sos/{sos['id']}/end", "chen")
    assert status == 409 and body["error"]["code"] == "bad_state"
    im = world.server.app[IM]

    async def lines() -> list[str]:
        conv = await im.room_conversation_id(sos["room_id"])
        if conv is None:
            return []
        history = await im.history(world.id("elder"), conv, None, 50)
        return [m["payload"]["event"] for m in history["messages"] if m["type"] == "system"]

    async def has_all() -> bool:
        return {"sos_raised", "sos_answered", "sos_ended"} <= set(await lines())

    for _ in range(50):
        if await has_all():
            break
        await asyncio.sleep(0.05)
    assert await has_all(), await lines()


async def test_the_log_by_organisation_and_who_may_read_it(world: World) -> None:
    chen = await world.device("chen")
    elder = await world.device("elder")
    first = (await elder.request("sos:raise", {}))["sos"]
    await elder.request("sos:cancel", {"sos_id": first["id"]})
    second = (await elder.request("sos:raise", {"vitals": {"heart_rate": 40}}))["sos"]
    await chen.request("sos:accept", {"sos_id": second["id"]})

    q = f"/api/v1/sos?org_id={world.org_id}&include=events"
    for who in ("admin", "ada", "staff"):  # sos.log: admin, nurse, doctor
        status, body = await world.http("GET", q, who)
        assert status == 200, (who, body)
        assert [s["id"] for s in body["sos"]] == [second["id"], first["id"]]
        assert body["sos"][1]["events"][0]["kind"] == "raised"
        assert all(e["at"].endswith("Z") for e in body["sos"][1]["events"])
    for who in ("lin", "elder"):  # family and elders have no sos.log
        status, body = await world.http("GET", q, who)
        assert status == 403 and body["error"]["code"] == "permission_denied", (who, body)
    # time window
    future = "2999-01-01T00:00:00Z"
    status, body = await world.http("GET", f"/api/v1/sos?org_id={world.org_id}&from={future}",
                                    "admin")
    assert status == 200 and body["sos"] == []
    status, body = await world.http("GET", f"/api/v1/sos?org_id={world.org_id}&from=yesterday",
                                    "admin")
    assert status == 400 and body["error"]["code"] == "bad_request"
    # own SOS: the elder and those rung read theirs; others get 404
    for who in ("elder", "lin", "chen"):
        detail = await _detail(world, second["id"], who)
        assert detail["sos"]["vitals"] == {"heart_rate": 40}
    for who in ("outsider", "bo"):
        status, body = await world.http("GET", f"/api/v1/sos/{second['id']}", who)
        assert status == 404 and body["error"]["code"] == "sos_not_found", (who, body)
    status, body = await world.http("GET", "/api/v1/sos", "lin")
    assert [s["id"] for s in body["sos"]] == [second["id"], first["id"]]
    status, body = await world.http("GET", "/api/v1/sos/active", "chen")
    assert [s["id"] for s in body["sos"]] == [second["id"]]
    status, body = await world.http("GET", "/api/v1/sos/nope", "admin")
    assert status == 404 and body["error"]["code"] == "sos_not_found"


async def test_only_elders_may_raise_and_payloads_are_checked(world: World) -> None:
    lin = await world.device("lin")
    with pytest.raises(RequestError) as refused:
        await lin.request("sos:raise", {})
    assert refused.value.code == "permission_denied"
    elder = await world.device("elder")
    for bad in (
        {"location": {"lat": 91, "lon": 0}},
        {"location": {"lat": "31", "lon": 121}},
        {"location": {"lat": 31, "lon": 121, "floor": 3}},
        {"vitals": {"heart_rate": 1000}},
        {"vitals": {"heart_rate": True}},
        {"vitals": {"bp": "high"}},
        {"vitals": {"Bad Key": 1}},
        {"vitals": [1, 2]},
        {"kiosk": "yes"},
        "sos",
    ):
        with pytest.raises(RequestError) as exc:
            await elder.request("sos:raise", bad)
        assert exc.value.code == "bad_request", bad
    status, body = await world.http("POST", "/api/v1/sos", "elder",
                                    json={"location": {"lat": 0}})
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body = await world.http("POST", "/api/v1/sos", "elder",
                                    json={"location": {"lat": 1.5, "lon": 2.5}})
    assert status == 201 and body["sos"]["location"] == {"lat": 1.5, "lon": 2.5}
    with pytest.raises(RequestError) as exc:
        await elder.request("sos:accept", {"sos_id": "../x"})
    assert exc.value.code == "bad_request"


async def test_a_restart_re_arms_the_escalation_timer(
    settings: Settings, server_factory: Any
) -> None:
    custom = sos_settings(settings, ring_timeout_seconds=1.5)
    first = await server_factory(custom)
    world = await make_world(first)
    elder = await world.device("elder")
    await world.device("lin")
    sos = (await elder.request("sos:raise", {}))["sos"]
    await world.close()
    await first.close()

    second = await server_factory(custom)
    world.server = second
    world.clients = []
    try:
        bo = await world.device("bo")
        ring = await bo.wait_event("sos:ring", timeout=4)  # tier 2, rung by the re-armed timer
        assert ring["sos"]["id"] == sos["id"]
        await eventually(lambda: True)
    finally:
        await world.close()
