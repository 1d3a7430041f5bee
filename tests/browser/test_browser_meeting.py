"""A remote-support meeting in real Chromium: schedule, invite link with QR, a guest joins by it.

The host schedules a meeting on the scheduler page and creates an invite link; a second
browser opens /join/<token>, enters a name and joins; both see each other's video. The host
then uses the participant list's host controls.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.browser.test_browser_call import REMOTE_CAMERA, console, wait_video_playing

pytestmark = pytest.mark.browser


async def test_meeting_pages_are_served(server: Any) -> None:
    async with aiohttp.ClientSession() as http:
        for path in (
            "/meetings",
            "/admin/records",
            "/admin/stats",
            "/join/abcdefghijklmnopqrstuvwxyz0123456789_-AB",
        ):
            async with http.get(server.url + path) as res:
                assert res.status == 200, path
                assert "text/html" in res.headers["Content-Type"]
                assert "script-src 'self'" in res.headers["Content-Security-Policy"]
        for path in (
            "/static/js/meetings.js",
            "/static/js/join.js",
            "/static/js/host-controls.js",
            "/static/js/records.js",
            "/static/js/stats.js",
            "/static/meetings.css",
        ):
            async with http.get(server.url + path) as res:
                assert res.status == 200, path
        async with http.get(server.url + "/join/short") as res:
            assert res.status == 404


async def test_host_schedules_invites_by_link_and_a_guest_joins_the_call(
    server: Any, open_page: Any, artifacts: Path
) -> None:
    await server.user(
        "dr-mei", "doctor", password="s3cret", display_name="Dr Mei", organisation="org-a"
    )

    # the host signs in on the scheduler and schedules a meeting
    host = await open_page(server.url + "/meetings")
    await host.fill("#name", "dr-mei")
    await host.fill("#password", "s3cret")
    await host.click("#btn-signin")
    await host.wait_for_selector("#app:not([hidden])")
    await host.fill("#m-title", "Home care check-in")
    await host.fill("#m-length", "45")
    await host.click("#btn-schedule")
    row = host.locator('#meetings tr[data-status="scheduled"]', has_text="Home care check-in")
    await row.wait_for()
    meeting_id = await row.get_attribute("data-meeting-id")
    assert meeting_id

    # an invite link with its QR code
    await row.locator(".btn-invite").click()
    await host.wait_for_selector("#invite-panel:not([hidden])")
    await host.click("#btn-invite-create")
    await host.wait_for_selector("#invite-result:not([hidden])")
    link = await host.input_value("#invite-url")
    assert re.fullmatch(rf"{re.escape(server.url)}/join/[A-Za-z0-9_-]{{40,}}", link), link
    await host.wait_for_function(
        "() => { const i = document.querySelector('#invite-qr');"
        " return i.complete && i.naturalWidth >= 100; }"
    )
    assert await host.locator('#invite-list tr[data-state="valid"]').count() == 1
    await host.screenshot(path=str(artifacts / "browser-meeting-scheduler.png"), full_page=True)

    # the host enters the call
    await row.locator(".btn-join").click()
    await host.wait_for_url(re.compile(rf"/room/meeting-{meeting_id}$"))
    await host.wait_for_selector('#status[data-state="joined"]', timeout=20_000)

    # a guest opens the link, enters a name and joins
    guest = await open_page(link)
    await guest.wait_for_selector("#invite:not([hidden])")
    assert await guest.text_content("#meeting-title") == "Home care check-in"
    assert "Dr Mei" in (await guest.text_content("#meeting-info") or "")
    await guest.fill("#guest-name", "Gina Guest")
    await guest.click("#btn-guest-join")
    await guest.wait_for_url(re.compile(rf"/room/meeting-{meeting_id}$"))
    await guest.wait_for_selector('#status[data-state="joined"]', timeout=20_000)

    # both see each other's video
    await wait_video_playing(host, REMOTE_CAMERA)
    await wait_video_playing(guest, REMOTE_CAMERA)
    for page, other in ((host, "Gina Guest"), (guest, "Dr Mei")):
        assert other in (await page.text_content(".tile:not([data-self]) .tile-name") or "")
        width = await page.eval_on_selector(REMOTE_CAMERA, "v => v.videoWidth")
        assert width > 0, console(page)
    # the guest may not share a screen
    assert await guest.is_disabled("#btn-screen")

    # the participant list: host controls for the host only
    await host.click("#btn-people")
    await host.wait_for_selector('#people-panel[data-host="true"]')
    guest_item = host.locator("li.person:not([data-self])")
    await guest_item.wait_for()
    assert "Gina Guest" in (await guest_item.text_content() or "")
    assert await guest_item.locator(".btn-host-remove").count() == 1
    await guest.click("#btn-people")
    await guest.wait_for_selector('#people-panel[data-host="false"]')
    assert await guest.locator(".btn-host-remove").count() == 0
    assert await guest.is_hidden("#btn-lock")

    # the host mutes the guest's camera: the guest is told, and the tile shows it
    await guest_item.locator(".btn-host-mute-cam").click()
    await guest.wait_for_selector('#notice[data-code="muted_by_host"]:not([hidden])')
    await host.wait_for_selector('.tile:not([data-self])[data-video-muted="true"]')
    await guest.click("#btn-camera")  # the guest turns it back on
    await host.wait_for_selector('.tile:not([data-self])[data-video-muted="false"]')
    await wait_video_playing(host, REMOTE_CAMERA)

    await host.screenshot(path=str(artifacts / "browser-meeting.png"))
    await guest.screenshot(path=str(artifacts / "browser-meeting-guest.png"))

    # the host locks the room, then removes the guest
    await host.click("#btn-lock")
    await host.wait_for_selector('#btn-lock[aria-pressed="true"]')
    await guest.wait_for_selector('#notice[data-code="room_locked"]:not([hidden])')
    host.on("dialog", lambda dialog: dialog.accept())
    await guest_item.locator(".btn-host-remove").click()
    await guest.wait_for_selector('body[data-room-closed="removed"]')
    await guest.wait_for_selector('#notice[data-code="removed_by_host"]:not([hidden])')
    await host.wait_for_function(
        "() => document.querySelectorAll('.tile:not([data-self])').length === 0"
    )

    # service records and statistics show the meeting (still live: the host is in it)
    records = await open_page()
    await records.goto(server.url + "/admin/records")
    await records.fill("#name", "dr-mei")
    await records.fill("#password", "s3cret")
    await records.click("#btn-signin")
    record = records.locator(f'#records tr[data-meeting-id="{meeting_id}"]')
    await record.wait_for()
    people = await record.locator(".participants li").all_text_contents()
    assert any("Gina Guest (guest)" in p for p in people), people
    assert any("Dr Mei" in p for p in people), people
    await records.screenshot(path=str(artifacts / "browser-meeting-records.png"), full_page=True)

    await records.goto(server.url + "/admin/stats")
    await records.wait_for_selector("#chart svg rect.bar")
    assert await records.text_content("#s-meetings") == "1"
    assert await records.text_content("#s-participants") == "2"
    assert (
        await records.locator('#by-category tr[data-category="realtime"] td').nth(1).text_content()
        == "1"
    )
    async with records.expect_download() as download_info:
        await records.click("#btn-csv")
    download = await download_info.value
    csv_path = artifacts / "browser-meeting-stats.csv"
    await download.save_as(str(csv_path))
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("meeting_id,title,category") and len(lines) == 2
    assert "Home care check-in" in lines[1]
    await records.screenshot(path=str(artifacts / "browser-meeting-stats.png"), full_page=True)
