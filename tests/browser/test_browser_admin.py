"""The admin pages in real Chromium against the full server: accounts and organisations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from accounts.principal import Principal
from carertc.app import ORGS

pytestmark = pytest.mark.browser


def console(page: Any) -> str:
    """The page's console, for failure messages."""
    return "\n".join(page.carertc_console[-60:])


async def sign_in(page: Any, name: str, password: str) -> None:
    """Fill the admin page's sign-in form and wait for the page to open."""
    await page.fill("#name", name)
    await page.fill("#password", password)
    await page.click("#btn-signin")
    await page.wait_for_selector("#app:not([hidden])")


async def login_status(server: Any, name: str, password: str) -> tuple[int, str]:
    """``POST /api/v1/auth/login`` -> (status, error code or "")."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/v1/auth/login", json={"name": name, "password": password}
        ) as res,
    ):
        body = await res.json()
        return res.status, (body.get("error") or {}).get("code", "")


async def test_admin_signs_in_creates_an_account_and_disables_it(
    server: Any, open_page: Any, artifacts: Path
) -> None:
    orgs = server.app[ORGS]
    org = await orgs.create("Ward Hospital", "hospital")
    boss = await server.user("boss", "guest", "boss-pw", display_name="Boss")
    await orgs.add_member(org.id, boss.id, "admin")

    page = await open_page(f"{server.url}/admin/accounts")
    await sign_in(page, "boss", "boss-pw")
    assert await page.text_content("#who-name") == "Boss"
    assert await page.input_value("#acting-org") == org.id
    await page.wait_for_selector('#accounts-body tr[data-name="boss"]')

    # a display name that looks like markup stays text
    await page.fill("#new-name", "nina")
    await page.fill("#new-display", "<b>Nina</b>")
    await page.select_option("#new-role", "nurse")
    await page.click("#btn-create")
    row = '#accounts-body tr[data-name="nina"]'
    await page.wait_for_selector(row)
    assert await page.text_content(f"{row} td:nth-child(2)") == "<b>Nina</b>"
    assert await page.locator(f"{row} b").count() == 0
    password = (await page.text_content("#secret")) or ""
    assert len(password) >= 12, console(page)
    assert (await login_status(server, "nina", password))[0] == 200

    await page.click(f"{row} .act-disable")
    await page.wait_for_selector(f'{row}[data-disabled="true"]')
    assert (await page.text_content(f"{row} .state")) == "disabled"
    assert await login_status(server, "nina", password) == (403, "user_disabled")
    await page.screenshot(path=str(artifacts / "admin-accounts.png"), full_page=True)

    # reset the password of another account and enable nina again
    await page.click(f"{row} .act-enable")
    await page.wait_for_selector(f'{row}[data-disabled="false"]')
    await page.click(f"{row} .act-reset")
    await page.wait_for_function(
        "old => { const s = document.getElementById('secret').textContent;"
        " return s && s !== old; }",
        arg=password,
    )
    fresh = (await page.text_content("#secret")) or ""
    assert (await login_status(server, "nina", fresh))[0] == 200
    assert (await login_status(server, "nina", password))[0] == 401

    # search
    await page.fill("#search", "zzz")
    await page.click("#search-form button")
    await page.wait_for_selector("#accounts-empty:not([hidden])")
    assert not [m for m in page.carertc_console if "pageerror" in m], console(page)


async def test_org_admin_edits_members_and_the_permission_grid(
    server: Any, open_page: Any, artifacts: Path
) -> None:
    orgs = server.app[ORGS]
    org = await orgs.create("Care Home", "care_institution")
    boss = await server.user("boss", "guest", "boss-pw")
    nina = await server.user("nina", "nurse")
    await orgs.add_member(org.id, boss.id, "admin")
    hospital = await orgs.create("Hospital", "hospital")
    await orgs.add_member(hospital.id, nina.id, "nurse")  # a nurse shared with the hospital

    page = await open_page(f"{server.url}/admin/orgs")
    await sign_in(page, "boss", "boss-pw")
    await page.wait_for_selector("#org-detail:not([hidden])")
    assert await page.text_content("#org-heading") == "Care Home"
    assert await page.is_hidden("#org-create-form")  # only global admins create organisations

    await page.fill("#member-name", "nina")
    await page.select_option("#member-role", "nurse")
    await page.click("#member-add-form button")
    await page.wait_for_selector(f'#members-body tr[data-user-id="{nina.id}"]')

    nurse_in_org = Principal(nina.id, "nina", "nurse", org.id)
    assert await orgs.allowed(nurse_in_org, "consult.start")
    box = '#perm-body tr[data-permission="consult.start"] input[data-role="nurse"]'
    assert await page.is_checked(box)
    await page.click(box)
    await page.wait_for_selector(
        '#perm-body tr[data-permission="consult.start"] td.overridden input[data-role="nurse"]'
    )
    assert not await page.is_checked(box)
    assert not await orgs.allowed(nurse_in_org, "consult.start")
    admin_box = '#perm-body tr[data-permission="consult.start"] input[data-role="admin"]'
    assert await page.is_disabled(admin_box)
    await page.screenshot(path=str(artifacts / "admin-orgs.png"), full_page=True)

    # unknown account name -> the stable error, shown as text
    await page.fill("#member-name", "ghost")
    await page.click("#member-add-form button")
    await page.wait_for_selector("#message.error:not([hidden])")
    assert "no account" in ((await page.text_content("#message")) or "")
    assert not [m for m in page.carertc_console if "pageerror" in m], console(page)
