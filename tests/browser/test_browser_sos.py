"""One-tap SOS in real Chromium: the elder taps SOS, a family member's page rings, accepts, video flows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Error as PlaywrightError

from carertc.config import Settings
from tests.browser.test_browser_call import console, wait_video_playing
from tests.integration.sos_helpers import World, make_world, sos_settings

pytestmark = pytest.mark.browser

REMOTE_CAMERA = '.tile[data-source="camera"]:not([data-self]) video'


@pytest.fixture
async def world(settings: Settings, server_factory: Any) -> AsyncIterator[World]:
    """The full app with an elder, her contacts and an organisation admin."""
    w = await make_world(await server_factory(sos_settings(settings)))
    try:
        yield w
    finally:
        await w.close()


async def _sign_in(page: Any, url: str, name: str) -> None:
    await page.goto(url + "/")
    await page.fill("#name", name)
    await page.fill("#password", "pw")
    await page.click("#btn-signin")
    await page.wait_for_selector("#join:not([hidden])")


async def test_sos_pages_are_served(world: World) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/elder", "/kiosk", "/admin/sos", "/static/js/sos-ring.js",
                     "/static/js/elder.js", "/static/js/sos-log.js", "/static/sos.css"):
            async with http.get(world.server.url + path) as res:
                assert res.status == 200, path
        async with http.get(world.server.url + "/kiosk") as res:
            assert "script-src 'self'" in res.headers["Content-Security-Policy"]


async def test_elder_taps_sos_family_accepts_and_both_see_each_other(
    world: World, open_page: Any, artifacts: Path
) -> None:
    url = world.server.url
    family = await open_page()
    await _sign_in(family, url, world.users["lin"].name)
    await family.wait_for_function(
        "() => window.carertcSos && window.carertcSos.socket && window.carertcSos.socket.connected",
        timeout=10_000)

    elder = await open_page(f"{url}/elder?token={world.token('elder')}")
    await elder.wait_for_selector('#conn[data-state="online"]')
    assert "token=" not in elder.url
    await elder.screenshot(path=str(artifacts / "browser-sos-elder.png"))
    await elder.click("#btn-sos")

    ring = family.locator('#sos-ring[data-state="ringing"]')
    await ring.wait_for(state="visible", timeout=5_000)
    assert await family.text_content(".sos-ring-name") == "Mrs Wu"
    await elder.wait_for_selector('body[data-sos="ringing"]')
    await elder.wait_for_selector("#btn-cancel:not([hidden])")
    playing = await family.evaluate("() => window.carertcSos.ringtone.playing")
    assert playing, console(family)
    await family.screenshot(path=str(artifacts / "browser-sos-ring.png"))

    await family.click("#sos-accept")
    try:
        await family.wait_for_url("**/room/sos-*")
    except PlaywrightError:
        state = await family.evaluate(
            "() => [document.querySelector('#sos-ring').dataset.state,"
            " document.querySelector('.sos-ring-note').textContent, location.href]")
        raise AssertionError(f"no call page after Accept: {state}\n{console(family)}") from None
    try:
        await wait_video_playing(family, REMOTE_CAMERA)
        await elder.wait_for_selector('body[data-sos="answered"]')
        assert "Lin Wu" in (await elder.text_content("#elder-status") or "")
        await wait_video_playing(elder, "#remote-video")
    except AssertionError:
        raise AssertionError(f"elder console:\n{console(elder)}\nfamily console:\n{console(family)}")
    for page in (family, elder):
        width = await page.evaluate(
            "(sel) => document.querySelector(sel).videoWidth",
            REMOTE_CAMERA if page is family else "#remote-video")
        assert width > 0
    assert await elder.is_visible("#btn-end")
    box = await elder.locator("#btn-end").bounding_box()
    assert box is not None and box["y"] + box["height"] <= 800, box  # on screen, no scrolling
    await elder.screenshot(path=str(artifacts / "browser-sos.png"))
    await family.screenshot(path=str(artifacts / "browser-sos-family.png"))

    # the elder ends the call; the SOS log shows every step
    await elder.click("#btn-end")
    await elder.wait_for_selector('body[data-sos="ended"]')
    log = await open_page(f"{url}/admin/sos?token={world.token('admin')}")
    await log.wait_for_selector('#sos-list[data-loaded="true"] .sos-entry[data-status="ended"]')
    kinds = await log.eval_on_selector_all(".sos-steps tr[data-kind]", "rs => rs.map(r => r.dataset.kind)")
    for kind in ("raised", "ring_delivered", "accepted", "joined", "ended"):
        assert kind in kinds, kinds


async def test_someone_else_answering_stops_the_ring_and_offers_join_too(
    world: World, open_page: Any
) -> None:
    url = world.server.url
    family = await open_page()
    await _sign_in(family, url, world.users["lin"].name)
    await family.wait_for_function(
        "() => window.carertcSos && window.carertcSos.socket && window.carertcSos.socket.connected")
    chen = await world.device("chen")
    elder = await world.device("elder")
    sos = (await elder.request("sos:raise", {"vitals": {"heart_rate": 131}}))["sos"]
    await family.wait_for_selector('#sos-ring[data-state="ringing"]')
    assert "131 bpm" in (await family.text_content(".sos-ring-vitals") or "")
    await chen.request("sos:accept", {"sos_id": sos["id"]})
    await family.wait_for_selector('#sos-ring[data-state="answered"]')
    assert "Dr Chen answered" in (await family.text_content(".sos-ring-note") or "")
    assert not await family.evaluate("() => window.carertcSos.ringtone.playing")
    await family.click("#sos-join")
    await family.wait_for_url(f"**/room/{sos['room_id']}")
    await family.wait_for_selector('#status[data-state="joined"]')


async def test_the_kiosk_signs_in_from_its_link_and_one_tap_raises_an_sos(
    world: World, open_page: Any
) -> None:
    status, body = await world.http("POST", "/api/v1/sos/kiosk-tokens", "admin",
                                    json={"elder_id": world.id("elder")})
    assert status == 201
    lin = await world.device("lin")
    kiosk = await open_page(world.server.url + body["url"])
    await kiosk.wait_for_selector('#conn[data-state="online"]')
    assert "token=" not in kiosk.url
    await kiosk.click("#btn-sos")
    await kiosk.wait_for_selector('body[data-sos="ringing"]')
    ring = await lin.wait_event("sos:ring")
    assert ring["sos"]["source"] == "kiosk"
    await kiosk.click("#btn-cancel")
    await kiosk.wait_for_selector('body[data-sos="ended"]')
    stop = await lin.wait_event("sos:ring_stop")
    assert stop["reason"] == "cancelled"
