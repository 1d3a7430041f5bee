"""The web client in real Chromium against the full server (signaling + SFU), on loopback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Error as PlaywrightError

pytestmark = pytest.mark.browser

REMOTE_CAMERA = '.tile[data-source="camera"]:not([data-self]) video'
REMOTE_SCREEN = '.tile[data-source="screen"]:not([data-self]) video'


def console(page: Any) -> str:
    """The page's console, for failure messages."""
    return "\n".join(page.carertc_console[-60:])


async def wait_video_playing(page: Any, selector: str, timeout: float = 30_000) -> None:
    """Wait until the video at ``selector`` has frames (videoWidth > 0), its clock advances and
    new frames keep being presented (requestVideoFrameCallback), i.e. media really flows."""
    try:
        await page.wait_for_function(
            """(sel) => { const v = document.querySelector(sel);
                          return !!v && v.videoWidth > 0 && v.readyState >= 2 && v.currentTime > 0; }""",
            arg=selector,
            timeout=timeout,
        )
        t0 = await page.eval_on_selector(selector, "v => v.currentTime")
        await page.wait_for_function(
            "([sel, t0]) => document.querySelector(sel).currentTime > t0 + 0.3",
            arg=[selector, t0],
            timeout=5_000,
        )
        frames = await page.eval_on_selector(
            selector,
            """(v) => new Promise((resolve) => {
                 let n = 0;
                 const step = () => { if (++n >= 5) resolve(n); else v.requestVideoFrameCallback(step); };
                 v.requestVideoFrameCallback(step);
                 setTimeout(() => resolve(n), 5000);
               })""",
        )
        assert frames >= 5, f"only {frames} new frames in 5 s"
    except (PlaywrightError, AssertionError) as exc:
        status = await page.text_content("#status")
        raise AssertionError(
            f"{selector} is not playing on {page.url} (status: {status!r}): {exc}\n{console(page)}"
        ) from None


async def sign_in(page: Any, base_url: str, name: str, password: str) -> None:
    """Sign in through the sign-in form."""
    await page.goto(base_url + "/")
    await page.fill("#name", name)
    await page.fill("#password", password)
    await page.click("#btn-signin")
    await page.wait_for_selector("#join:not([hidden])")


async def test_pages_assets_and_vendored_socketio_client_are_served(server: Any) -> None:
    async with aiohttp.ClientSession() as http:
        for path, kind in [
            ("/", "text/html"),
            ("/room/ward-7", "text/html"),
            ("/static/app.css", "text/css"),
            ("/static/js/call.js", "javascript"),
            ("/static/js/room.js", "javascript"),
            ("/static/vendor/socket.io.min.js", "javascript"),
            ("/static/vendor/socket.io.esm.min.js", "javascript"),
        ]:
            async with http.get(server.url + path) as res:
                assert res.status == 200, path
                assert kind in res.headers["Content-Type"], (path, res.headers["Content-Type"])
        async with http.get(server.url + "/room/bad%20room!") as res:
            assert res.status == 404
        async with http.get(server.url + "/static/../web/__init__.py") as res:
            assert res.status == 404
        async with http.get(server.url + "/room/ward-7") as res:
            assert res.headers["Referrer-Policy"] == "no-referrer"
            assert "script-src 'self'" in res.headers["Content-Security-Policy"]


async def test_wrong_password_shows_a_clear_message(server: Any, open_page: Any) -> None:
    await server.user("nina", "nurse", password="right")
    page = await open_page(server.url + "/")
    await page.fill("#name", "nina")
    await page.fill("#password", "wrong")
    await page.click("#btn-signin")
    message = page.locator("#message")
    await message.wait_for(state="visible")
    await page.wait_for_function(
        "() => /wrong name or password/i.test(document.querySelector('#message').textContent)"
    )
    assert await page.is_hidden("#join")


@pytest.mark.parametrize(
    ("make_token", "code", "text"),
    [
        (lambda server, user: server.token(user, ttl=-60), "token_expired", "expired"),
        (lambda server, user: "not-a-jwt", "token_invalid", "not valid"),
        (lambda server, user: server.token(user) + "x", "token_invalid", "not valid"),
    ],
    ids=["expired", "garbage", "bad-signature"],
)
async def test_a_bad_token_shows_a_clear_message_and_a_way_to_sign_in(
    server: Any, open_page: Any, make_token: Any, code: str, text: str
) -> None:
    user = await server.user("omar", "doctor")
    page = await open_page(f"{server.url}/room/ward-7?token={make_token(server, user)}")
    error = page.locator(f'#error[data-code="{code}"]')
    try:
        await error.wait_for(state="visible")
    except PlaywrightError as exc:
        raise AssertionError(f"no {code} error shown: {exc}\n{console(page)}") from None
    assert text in (await page.text_content("#error-text")).lower()
    assert await page.get_attribute("#status", "data-state") == "failed"
    href = await page.get_attribute("#btn-signin-again", "href")
    assert href is not None and href.startswith("/?room=ward-7")
    assert "token=" not in page.url  # the token does not stay in the address bar


async def test_no_token_asks_to_sign_in(server: Any, open_page: Any) -> None:
    page = await open_page(f"{server.url}/room/ward-7")
    await page.locator('#error[data-code="token_missing"]').wait_for(state="visible")
    assert "sign in" in (await page.text_content("#error-text")).lower()


async def test_two_browsers_see_and_hear_each_other_and_a_screen_share(
    server: Any, open_page: Any, artifacts: Path
) -> None:
    room = "ward-7"
    await server.user("dr-li", "doctor", password="s3cret", display_name="Dr Li")
    nurse = await server.user("nurse-ana", "nurse", display_name="Nurse Ana")

    # A signs in through the UI and joins from the "join room" box
    a = await open_page()
    await sign_in(a, server.url, "dr-li", "s3cret")
    assert (await a.text_content("#user-name")) == "Dr Li"
    await a.fill("#room-id", room)
    await a.click("#btn-join")
    await a.wait_for_url(re.compile(rf"/room/{room}$"))
    await a.wait_for_selector('#status[data-state="joined"]', timeout=20_000)

    # B opens the room with a token in the link
    b = await open_page(f"{server.url}/room/{room}?token={server.token(nurse)}")
    await b.wait_for_selector('#status[data-state="joined"]', timeout=20_000)

    # each sees (and has an audio element for) the other
    await wait_video_playing(a, REMOTE_CAMERA)
    await wait_video_playing(b, REMOTE_CAMERA)
    assert "Nurse Ana" in await a.text_content(".tile:not([data-self]) .tile-name")
    assert "Dr Li" in await b.text_content(".tile:not([data-self]) .tile-name")
    await a.wait_for_selector("#audio-sink audio[data-participant-id]", state="attached")
    await b.wait_for_selector("#audio-sink audio[data-participant-id]", state="attached")
    a_id = await b.get_attribute(
        '.tile[data-source="camera"]:not([data-self])', "data-participant-id"
    )
    assert a_id

    # A mutes the microphone: B's tile for A shows it
    await a.click("#btn-mic")
    assert await a.get_attribute("#btn-mic", "aria-pressed") == "true"
    await b.wait_for_selector(
        f'.tile[data-participant-id="{a_id}"][data-source="camera"][data-audio-muted="true"]'
    )
    await a.click("#btn-mic")
    await b.wait_for_selector(
        f'.tile[data-participant-id="{a_id}"][data-source="camera"][data-audio-muted="false"]'
    )

    # A turns the camera off: B shows A's avatar instead; back on: the video plays again
    await a.click("#btn-camera")
    assert await a.get_attribute("#btn-camera", "aria-pressed") == "true"
    await b.wait_for_selector(
        f'.tile.no-video[data-participant-id="{a_id}"][data-video-muted="true"]'
    )
    await a.click("#btn-camera")
    await b.wait_for_selector(
        f'.tile[data-participant-id="{a_id}"][data-video-muted="false"]:not(.no-video)'
    )
    await wait_video_playing(b, REMOTE_CAMERA)

    # A shares the screen: B gets a second video, playing
    await a.click("#btn-screen")
    await a.wait_for_selector('#btn-screen[aria-pressed="true"]')
    await wait_video_playing(b, REMOTE_SCREEN)
    assert await b.locator(".tile:not([data-self]) video").count() == 2
    await wait_video_playing(b, REMOTE_CAMERA)  # the camera still plays next to it

    await b.screenshot(path=str(artifacts / "browser-call.png"))
    await a.screenshot(path=str(artifacts / "browser-call-sharer.png"))

    # A stops sharing: the screen tile goes away on B, the camera stays
    await a.click("#btn-screen")
    await b.wait_for_selector(REMOTE_SCREEN, state="detached")
    await wait_video_playing(b, REMOTE_CAMERA)

    # and shares again (the send connection reuses its screen m-line)
    await a.click("#btn-screen")
    await wait_video_playing(b, REMOTE_SCREEN)
    await a.click("#btn-screen")
    await b.wait_for_selector(REMOTE_SCREEN, state="detached")

    # B leaves: A's tile for B goes away
    await b.click("#btn-leave")
    await b.wait_for_selector('#status[data-state="left"]')
    await a.wait_for_selector('.tile[data-source="camera"]:not([data-self])', state="detached")


async def test_without_camera_permission_joins_to_watch_and_says_so(
    server: Any, open_page: Any, chromium_denying_media: Any
) -> None:
    doctor = await server.user("dr-li", "doctor", display_name="Dr Li")
    elder = await server.user("mr-wu", "elder", display_name="Mr Wu")
    a = await open_page(f"{server.url}/room/home-1?token={server.token(doctor)}")
    await a.wait_for_selector('#status[data-state="joined"]', timeout=20_000)
    b = await open_page(
        f"{server.url}/room/home-1?token={server.token(elder, room='home-1')}",
        browser=chromium_denying_media,
    )
    await b.wait_for_selector('#status[data-state="joined"]', timeout=20_000)
    notice = b.locator('#notice[data-code="media_permission_denied"]')
    await notice.wait_for(state="visible")
    assert "without sending audio or video" in await b.text_content("#notice-text")
    # B still sees and hears A; A sees B's tile, without video
    await wait_video_playing(b, REMOTE_CAMERA)
    await b.wait_for_selector("#audio-sink audio[data-participant-id]", state="attached")
    await a.wait_for_selector(
        '.tile:not([data-self])[data-video-muted="true"] .tile-name:text("Mr Wu")'
    )
    assert await b.is_disabled("#btn-mic")
    assert await b.is_disabled("#btn-camera")
    assert await b.is_disabled("#btn-screen")  # an elder may not share a screen anyway


async def test_a_dropped_connection_reconnects_rejoins_and_renegotiates(
    server: Any, open_page: Any
) -> None:
    doctor = await server.user("dr-li", "doctor", display_name="Dr Li")
    nurse = await server.user("nurse-ana", "nurse", display_name="Nurse Ana")
    a = await open_page(f"{server.url}/room/ward-7?token={server.token(doctor)}")
    b = await open_page(f"{server.url}/room/ward-7?token={server.token(nurse)}")
    await wait_video_playing(a, REMOTE_CAMERA)
    await wait_video_playing(b, REMOTE_CAMERA)
    old_b_id = await a.get_attribute(
        '.tile[data-source="camera"]:not([data-self])', "data-participant-id"
    )

    # B's transport drops (as when the network goes away); Socket.IO reconnects by itself
    await b.evaluate(
        """() => {
            window.statesSeen = [];
            window.carertc.addEventListener("status", (ev) => window.statesSeen.push(ev.detail.state));
            window.carertc.socket.io.engine.close();
        }"""
    )
    await b.wait_for_function("() => window.statesSeen.includes('joined')", timeout=20_000)
    states = await b.evaluate("() => window.statesSeen")
    assert states.index("reconnecting") < states.index("joining") < states.index("joined"), states

    # B is back as a new participant, and media flows both ways again
    await a.wait_for_function(
        """(old) => { const t = document.querySelector('.tile[data-source="camera"]:not([data-self])');
                      return !!t && t.dataset.participantId !== old; }""",
        arg=old_b_id,
        timeout=20_000,
    )
    await wait_video_playing(a, REMOTE_CAMERA)
    await wait_video_playing(b, REMOTE_CAMERA)
    assert await a.locator(".tile:not([data-self])").count() == 1


async def test_room_forbidden_is_explained(server: Any, open_page: Any) -> None:
    family = await server.user("li-jun", "family")
    page = await open_page(f"{server.url}/room/ward-7?token={server.token(family, room='home-1')}")
    await page.locator('#error[data-code="room_forbidden"]').wait_for(state="visible")
    assert "not allowed to join this room" in await page.text_content("#error-text")
    assert await page.get_attribute("#status", "data-state") == "failed"


async def test_room_full_is_explained(settings: Any, server_factory: Any, open_page: Any) -> None:
    from dataclasses import replace

    from carertc.config import RoomsSettings

    server = await server_factory(replace(settings, rooms=RoomsSettings(max_participants=1)))
    doctor = await server.user("dr-li", "doctor")
    nurse = await server.user("nurse-ana", "nurse")
    a = await open_page(f"{server.url}/room/ward-7?token={server.token(doctor)}")
    await a.wait_for_selector('#status[data-state="joined"]', timeout=20_000)
    b = await open_page(f"{server.url}/room/ward-7?token={server.token(nurse)}")
    await b.locator('#error[data-code="room_full"]').wait_for(state="visible")
    assert "room is full" in await b.text_content("#error-text")
    assert await b.locator("#btn-retry").count() == 1


async def test_sign_in_again_after_an_expired_session_returns_to_the_room(
    server: Any, open_page: Any
) -> None:
    user = await server.user("omar", "doctor", password="pw2")
    page = await open_page(f"{server.url}/room/ward-7?token={server.token(user, ttl=-60)}")
    await page.locator('#error[data-code="token_expired"]').wait_for(state="visible")
    await page.click("#btn-signin-again")
    await page.wait_for_selector("#signin:not([hidden])")
    assert "expired" in (await page.text_content("#message")).lower()
    await page.fill("#name", "omar")
    await page.fill("#password", "pw2")
    await page.click("#btn-signin")
    await page.wait_for_url(re.compile(r"/room/ward-7$"))
    await page.wait_for_selector('#status[data-state="joined"]', timeout=20_000)
