"""Device alarms with organisation API keys, and signed webhooks with retries and a log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from carertc.app import SESSIONS
from carertc.config import Settings
from rooms.sos.models import ApiKey
from tests.integration.sos_helpers import World, make_world, sos_settings
from tests.support.client import TestClient

SECRET = "whsec-0123456789abcdef"


@pytest.fixture
async def world(settings: Settings, server_factory: Any) -> AsyncIterator[World]:
    """The full app with the care world."""
    w = await make_world(await server_factory(sos_settings(settings)))
    try:
        yield w
    finally:
        await w.close()


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records webhook calls; fails the first N of an event."""

    def __init__(self, fail_first: dict[str, int] | None = None) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = dict(fail_first or {})
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.calls.append((dict(request.headers), body))
        event = request.headers.get("X-CareRTC-Event", "")
        if self.fail_first.get(event, 0) > 0:
            self.fail_first[event] -= 1
            return web.Response(status=500)
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def events(self) -> list[str]:
        return [h["X-CareRTC-Event"] for h, _ in self.calls]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(fail_first={"sos.accepted": 2})
    await r.start()
    try:
        yield r
    finally:
        await r.close()


async def _new_key(world: World) -> dict[str, Any]:
    status, body = await world.http(
        "POST", f"/api/v1/orgs/{world.org_id}/api-keys", "admin", json={"name": "wristbands"})
    assert status == 201, body
    return dict(body)


async def test_api_keys_are_made_by_org_admins_shown_once_and_stored_hashed(world: World) -> None:
    key = await _new_key(world)
    assert key["key"].startswith("crtc_") and key["prefix"] == key["key"][:11]
    status, body = await world.http("GET", f"/api/v1/orgs/{world.org_id}/api-keys", "admin")
    assert status == 200 and [k["id"] for k in body["api_keys"]] == [key["id"]]
    assert "key" not in body["api_keys"][0]
    async with world.server.app[SESSIONS]() as s:
        row = (await s.execute(select(ApiKey))).scalar_one()
    assert row.key_hash == hashlib.sha256(key["key"].encode()).hexdigest()
    assert key["key"] not in repr(row.__dict__)
    for who in ("ada", "lin", "elder"):  # no orgs.manage
        status, body = await world.http(
            "POST", f"/api/v1/orgs/{world.org_id}/api-keys", who, json={})
        assert status == 403 and body["error"]["code"] == "permission_denied", who
    status, body = await world.http("POST", "/api/v1/orgs/nope/api-keys", "admin", json={})
    assert status in (403, 404), body


async def test_a_device_alarm_with_an_api_key_rings_the_contacts(world: World) -> None:
    key = await _new_key(world)
    lin = await world.device("lin")
    elder = await world.device("elder")
    alarm = {
        "elder_id": world.id("elder"), "device_id": "band-0042", "kind": "fall_radar",
        "location": {"lat": 31.2, "lon": 121.5, "address": "Room 204"},
        "vitals": {"heart_rate": 52, "spo2": 88.5},
    }
    status, body = await world.http("POST", "/api/v1/sos", json=alarm,
                                    headers={"X-Api-Key": key["key"]})
    assert status == 201, body
    sos = body["sos"]
    assert (sos["source"], sos["kind"], sos["device_id"]) == ("device", "fall_radar", "band-0042")
    assert sos["org_id"] == world.org_id
    ring = await lin.wait_event("sos:ring")
    assert ring["sos"]["id"] == sos["id"] and ring["sos"]["vitals"]["spo2"] == 88.5
    assert (await elder.wait_event("sos:start_call"))["room_id"] == sos["room_id"]
    # the integration may cancel what it raised
    status, body = await world.http("POST", f"/api/v1/sos/{sos['id']}/cancel",
                                    headers={"X-Api-Key": key["key"]})
    assert status == 200 and body["sos"]["status"] == "cancelled", body
    status, body = await world.http("GET", f"/api/v1/orgs/{world.org_id}/api-keys", "admin")
    assert body["api_keys"][0]["last_used_at"] is not None


async def test_device_alarms_without_a_valid_key_or_for_other_orgs_are_refused(
    world: World,
) -> None:
    key = await _new_key(world)
    alarm = {"elder_id": world.id("elder"), "kind": "wristband"}
    for headers in ({}, {"X-Api-Key": ""}, {"X-Api-Key": "crtc_wrong"},
                    {"X-Api-Key": key["key"] + "x"}):
        status, body = await world.http("POST", "/api/v1/sos", json=alarm, headers=headers)
        assert status == 401 and body["error"]["code"] == "api_key_invalid", (headers, body)
    # an elder of another organisation
    other = await make_world(world.server)
    status, body = await world.http(
        "POST", "/api/v1/sos", json={"elder_id": other.id("elder"), "kind": "one_key"},
        headers={"X-Api-Key": key["key"]})
    assert status == 403 and body["error"]["code"] == "permission_denied", body
    # bad payloads
    for bad in ({"elder_id": world.id("elder"), "kind": "toaster"},
                {"kind": "wristband"},
                {"elder_id": world.id("elder"), "kind": "wristband", "device_id": "a b"},
                {"elder_id": world.id("elder"), "kind": "other", "vitals": {"spo2": 101}}):
        status, body = await world.http("POST", "/api/v1/sos", json=bad,
                                        headers={"X-Api-Key": key["key"]})
        assert status == 400 and body["error"]["code"] == "bad_request", (bad, body)
    # a revoked key stops working
    status, _ = await world.http(
        "DELETE", f"/api/v1/orgs/{world.org_id}/api-keys/{key['id']}", "admin")
    assert status == 204
    status, body = await world.http("POST", "/api/v1/sos", json=alarm,
                                    headers={"X-Api-Key": key["key"]})
    assert status == 401 and body["error"]["code"] == "api_key_invalid"


async def test_webhooks_receive_signed_events_with_retries_and_a_delivery_log(
    world: World, receiver: Receiver
) -> None:
    status, hook = await world.http(
        "POST", f"/api/v1/orgs/{world.org_id}/webhooks", "admin",
        json={"url": receiver.url, "events": ["sos.raised", "sos.accepted", "sos.ended"],
              "secret": SECRET})
    assert status == 201 and "secret" not in hook, hook
    for bad in ({"url": "ftp://x", "events": ["sos.raised"], "secret": SECRET},
                {"url": receiver.url, "events": ["sos.nope"], "secret": SECRET},
                {"url": receiver.url, "events": ["sos.raised"], "secret": "short"}):
        status, body = await world.http(
            "POST", f"/api/v1/orgs/{world.org_id}/webhooks", "admin", json=bad)
        assert status == 400 and body["error"]["code"] == "bad_request", bad
    status, body = await world.http(
        "POST", f"/api/v1/orgs/{world.org_id}/webhooks", "lin",
        json={"url": receiver.url, "events": ["sos.raised"], "secret": SECRET})
    assert status == 403

    chen = await world.device("chen")
    elder = await world.device("elder")
    sos = (await elder.request("sos:raise", {"vitals": {"heart_rate": 120}}))["sos"]
    await chen.request("sos:accept", {"sos_id": sos["id"]})
    await chen.request("sos:end", {"sos_id": sos["id"]})

    for _ in range(100):
        if receiver.events().count("sos.accepted") >= 3 and "sos.ended" in receiver.events():
            break
        await asyncio.sleep(0.05)
    assert set(receiver.events()) == {"sos.raised", "sos.accepted", "sos.ended"}
    assert receiver.events().count("sos.accepted") == 3  # two 500s, then delivered
    for headers, raw in receiver.calls:
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-CareRTC-Signature"], expected)
        body = json.loads(raw)
        assert body["event"] == headers["X-CareRTC-Event"]
        assert body["delivery_id"] == headers["X-CareRTC-Delivery"]
        assert body["sos"]["id"] == sos["id"]
    accepted = json.loads(next(r for h, r in receiver.calls
                               if h["X-CareRTC-Event"] == "sos.accepted"))
    assert accepted["sos"]["answered_by"]["name"] == "Dr Chen"

    status, body = await world.http(
        "GET", f"/api/v1/orgs/{world.org_id}/webhooks/{hook['id']}/deliveries", "admin")
    assert status == 200
    by_event = {d["event"]: d for d in body["deliveries"]}
    assert by_event["sos.accepted"]["status"] == "sent"
    assert by_event["sos.accepted"]["attempts"] == 3
    assert by_event["sos.raised"]["attempts"] == 1
    status, detail = await world.http("GET", f"/api/v1/sos/{sos['id']}", "admin")
    sent = [e for e in detail["events"] if e["kind"] == "webhook_sent"]
    assert {e["data"]["event"] for e in sent} == {"sos.raised", "sos.accepted", "sos.ended"}


async def test_an_unreachable_webhook_fails_after_its_retries_without_slowing_the_sos(
    world: World, receiver: Receiver
) -> None:
    await receiver.close()  # nothing listens there any more
    status, hook = await world.http(
        "POST", f"/api/v1/orgs/{world.org_id}/webhooks", "admin",
        json={"url": receiver.url, "events": ["sos.*"], "secret": SECRET})
    assert status == 201
    lin = await world.device("lin")
    elder = await world.device("elder")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sos = (await elder.request("sos:raise", {}))["sos"]
    await lin.wait_event("sos:ring")
    assert loop.time() - t0 < 1.0

    async def failed() -> list[dict[str, Any]]:
        _, detail = await world.http("GET", f"/api/v1/sos/{sos['id']}", "admin")
        return [e for e in detail["events"] if e["kind"] == "webhook_failed"]

    for _ in range(100):
        if await failed():
            break
        await asyncio.sleep(0.05)
    first = (await failed())[0]["data"]
    assert first["attempts"] == 4 and first["status"] is None and first["error"]
    status, body = await world.http(
        "GET", f"/api/v1/orgs/{world.org_id}/webhooks/{hook['id']}/deliveries", "admin")
    assert any(d["status"] == "failed" for d in body["deliveries"])
    status, _ = await world.http(
        "DELETE", f"/api/v1/orgs/{world.org_id}/webhooks/{hook['id']}", "admin")
    assert status == 204


async def test_kiosk_tokens_sign_the_kiosk_in_as_the_elder(world: World) -> None:
    status, body = await world.http("POST", "/api/v1/sos/kiosk-tokens", "admin",
                                    json={"elder_id": world.id("elder")})
    assert status == 201, body
    assert body["url"] == f"/kiosk?token={body['token']}"
    claims = world.server.tokens.verify(body["token"])
    assert (claims.sub, claims.role, claims.org) == (world.id("elder"), "elder", world.org_id)
    assert claims.exp - claims.iat == 365 * 86400
    for who, elder in (("lin", world.id("elder")), ("admin", world.id("lin"))):
        status, body = await world.http("POST", "/api/v1/sos/kiosk-tokens", who,
                                        json={"elder_id": elder})
        assert status in (400, 403), (who, body)
    status, body = await world.http("POST", "/api/v1/sos/kiosk-tokens", "admin",
                                    json={"elder_id": world.id("elder")})
    kiosk = TestClient(world.server.url, body["token"], name="kiosk")
    world.clients.append(kiosk)
    await kiosk.connect()
    lin = await world.device("lin")
    sos = (await kiosk.request("sos:raise", {"kiosk": True}))["sos"]
    assert sos["source"] == "kiosk" and sos["elder"]["id"] == world.id("elder")
    assert (await lin.wait_event("sos:ring"))["sos"]["source"] == "kiosk"
