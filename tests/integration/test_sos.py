"""One-tap SOS end to end: real Socket.IO devices and aiortc peers against the full app."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from carertc.config import Settings
from tests.integration.sos_helpers import World, make_world, sos_settings
from tests.support.client import RequestError

AV = ("camera", "microphone")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(
    request: pytest.FixtureRequest, settings: Settings, server_factory: Any
) -> AsyncIterator[World]:
    """The full app (on SQLite, then PostgreSQL) with the care world in it."""
    custom = sos_settings(settings)
    if request.param == "postgres":
        custom = dataclasses.replace(custom, database_url=request.getfixturevalue("pg_url"))
    w = await make_world(await server_factory(custom))
    try:
        yield w
    finally:
        await w.close()


async def _events(world: World, sos_id: str) -> list[dict[str, Any]]:
    status, body = await world.http("GET", f"/api/v1/sos/{sos_id}", "admin")
    assert status == 200, body
    return list(body["events"])


async def test_core_sos_rings_every_device_one_accept_wins_and_the_video_flows(
    world: World,
) -> None:
    lin_phone = await world.device("lin")
    lin_tablet = await world.device("lin")
    chen = await world.device("chen")
    bo = await world.device("bo")  # tier 2: not rung yet
    elder = await world.device("elder")

    started = time.monotonic()
    ack = await elder.request("sos:raise", {
        "location": {"lat": 31.23, "lon": 121.47, "address": "12 Garden Rd"},
        "vitals": {"heart_rate": 128, "spo2": 91, "bp": "150/95"},
    })
    sos = ack["sos"]
    assert sos["status"] == "ringing" and sos["elder"]["name"] == "Mrs Wu"
    assert sos["room_id"] == f"sos-{sos['id']}" and sos["source"] == "app"
    # persisted before the ack: the log already holds the alert and its `raised` step
    assert next(e["kind"] for e in await _events(world, sos["id"])) == "raised"

    for device in (lin_phone, lin_tablet, chen):
        ring = await device.wait_event("sos:ring", timeout=2)
        assert ring["sos"]["id"] == sos["id"]
        assert ring["sos"]["vitals"]["heart_rate"] == 128
        assert ring["sos"]["location"]["address"] == "12 Garden Rd"
        assert device.arrived["sos:ring"][0] - started < 1.0  # type: ignore[attr-defined]
    start_call = await elder.wait_event("sos:start_call")
    assert start_call == {"sos_id": sos["id"], "room_id": sos["room_id"]}
    await asyncio.sleep(0.2)
    assert not bo.events["sos:ring"]

    # every device's ringing is logged with its sid and the delay
    async def delivered() -> list[dict[str, Any]]:
        return [e for e in await _events(world, sos["id"]) if e["kind"] == "ring_delivered"]

    for _ in range(50):
        if len(await delivered()) == 3:
            break
        await asyncio.sleep(0.05)
    rows = await delivered()
    assert len(rows) == 3
    assert {r["data"]["sid"] for r in rows} == {
        lin_phone.sio.get_sid(), lin_tablet.sio.get_sid(), chen.sio.get_sid()}
    assert all(0 <= r["data"]["delay_ms"] < 1000 for r in rows)

    # the elder's device goes straight into the call room and publishes
    await elder.join(sos["room_id"])
    await elder.publish(*AV)

    # nobody rung may enter before someone accepts; outsiders never
    for who in (chen, bo):
        with pytest.raises(RequestError) as refused:
            await who.join(sos["room_id"])
        assert refused.value.code == "room_forbidden"

    # two accepts at the same instant: exactly one winner
    results = await asyncio.gather(
        lin_phone.call("sos:accept", {"sos_id": sos["id"]}),
        chen.call("sos:accept", {"sos_id": sos["id"]}),
    )
    winners = [r for r in results if "error" not in r]
    losers = [r for r in results if "error" in r]
    assert len(winners) == 1 and len(losers) == 1, results
    winner = lin_phone if "error" not in results[0] else chen
    loser = chen if winner is lin_phone else lin_phone
    winner_name = "Lin Wu" if winner is lin_phone else "Dr Chen"
    assert winners[0]["room_id"] == sos["room_id"]
    assert losers[0]["error"]["code"] == "sos_already_answered"
    assert losers[0]["error"]["answered_by"]["name"] == winner_name
    assert winner_name in losers[0]["error"]["message"]

    # everyone else stops ringing and is told who answered (Lin's other device too)
    others = [d for d in (lin_phone, lin_tablet, chen) if d is not winner]
    for device in others:
        stop = await device.wait_event("sos:ring_stop")
        assert stop["sos_id"] == sos["id"] and stop["answered_by"]["name"] == winner_name
    update = await elder.wait_event("sos:update", lambda e: e["sos"]["status"] == "answered")
    assert update["sos"]["answered_by"]["name"] == winner_name

    # the accepter joins and decodes the elder's video (and the elder the accepter's)
    await winner.join(sos["room_id"])
    await winner.publish(*AV)
    assert winner.joined is not None and winner.joined["self"]["host"] is True
    await winner.wait_for(
        lambda: winner.frames_from(elder.participant_id, "camera") >= 5,  # type: ignore[arg-type]
        timeout=15, what="the accepter decoding the elder's camera")
    await elder.wait_for(
        lambda: elder.frames_from(winner.participant_id, "camera") >= 5,  # type: ignore[arg-type]
        timeout=15, what="the elder decoding the accepter's camera")

    # "join too": the loser may still join; tier 2 (never rung) and outsiders may not
    await loser.join(sos["room_id"])
    outsider = await world.device("outsider")
    staff = await world.device("staff")
    for who in (bo, outsider, staff):
        with pytest.raises(RequestError) as refused:
            await who.join(sos["room_id"])
        assert refused.value.code == "room_forbidden"

    # the call ends when everyone has left: the SOS is `ended`
    for device in (elder, winner, loser):
        await device.leave()
    update = await elder.wait_event("sos:update", lambda e: e["sos"]["status"] == "ended",
                                    timeout=5)
    assert update["sos"]["end_reason"] == "call_ended"
    kinds = [e["kind"] for e in await _events(world, sos["id"])]
    for kind in ("raised", "ring_delivered", "accepted", "joined", "ended"):
        assert kind in kinds, kinds
    assert kinds.index("raised") < kinds.index("accepted") < kinds.index("ended")
