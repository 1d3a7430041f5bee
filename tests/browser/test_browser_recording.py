"""Recording in real Chromium: the host records a call, everyone sees the indicator, and the
admin recordings page plays the recording with the view in the access log."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError

from carertc.app import ORGS

pytestmark = pytest.mark.browser


def console(page: Any) -> str:
    """The page's console, for failure messages."""
    return "\n".join(page.carertc_console[-60:])


async def test_host_records_the_other_sees_rec_and_the_admin_plays_it(
    server: Any, open_page: Any, artifacts: Path
) -> None:
    orgs = server.app[ORGS]
    org = await orgs.create("Rec Clinic", "hospital")
    doctor = await server.user("recdoc", "doctor", display_name="Dr Rec", organisation=org.id)
    elder = await server.user("recelder", "elder", display_name="Ella", organisation=org.id)
    boss = await server.user("recboss", "guest", "boss-pw", display_name="Boss")
    await orgs.add_member(org.id, doctor.id, "doctor")
    await orgs.add_member(org.id, elder.id, "elder")
    await orgs.add_member(org.id, boss.id, "admin")
    room = "rec-browser-1"

    host = await open_page(f"{server.url}/room/{room}?token={server.token(doctor)}")
    other = await open_page(f"{server.url}/room/{room}?token={server.token(elder, room=room)}")
    for page in (host, other):
        await page.wait_for_selector('#status[data-state="joined"]')
    await host.wait_for_function(
        """() => { const v = document.querySelector('.tile[data-source="camera"]:not([data-self]) video');
                   return !!v && v.videoWidth > 0 && v.currentTime > 0; }""",
        timeout=30_000,
    )
    assert await other.is_hidden("#rec-indicator")
    assert await other.is_hidden("#btn-record")  # not a host

    await host.click("#btn-record")
    try:
        await other.wait_for_selector("#rec-indicator:not([hidden])", timeout=15_000)
    except PlaywrightError:
        raise AssertionError(f"no indicator\n{console(host)}\n{console(other)}") from None
    assert "REC" in (await other.text_content("#rec-indicator") or "")
    assert await host.get_attribute("#btn-record", "aria-pressed") == "true"
    await other.screenshot(path=str(artifacts / "recording-indicator.png"))
    await host.screenshot(path=str(artifacts / "recording-host.png"))
    await asyncio.sleep(3.5)
    await host.click("#btn-record")
    await other.wait_for_selector("#rec-indicator", state="hidden", timeout=15_000)

    admin = await open_page(f"{server.url}/admin/recordings")
    await admin.fill("#name", "recboss")
    await admin.fill("#password", "boss-pw")
    await admin.click("#btn-signin")
    await admin.wait_for_selector("#app:not([hidden])")
    row = '#recordings-body tr[data-status="complete"]'
    await admin.wait_for_selector(row, timeout=15_000)
    listed = await admin.text_content(row) or ""
    assert room in listed and "Dr Rec" in listed and "Ella" in listed, listed
    await admin.click(f"{row} .act-play")
    try:
        await admin.wait_for_function(
            "() => { const v = document.getElementById('player'); return v.currentTime > 0.5; }",
            timeout=20_000,
        )
    except PlaywrightError:
        raise AssertionError(f"the recording does not play\n{console(admin)}") from None
    t0 = await admin.eval_on_selector("#player", "v => v.currentTime")
    await admin.wait_for_function(
        "(t0) => document.getElementById('player').currentTime > t0 + 0.3", arg=t0
    )
    await admin.wait_for_selector('#audit-body tr[data-action="view"]', timeout=15_000)
    assert await admin.get_attribute("#player-download", "href")
    await admin.screenshot(path=str(artifacts / "admin-recordings.png"), full_page=True)
