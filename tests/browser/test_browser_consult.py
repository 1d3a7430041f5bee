"""The consults page in real Chromium against the full server: a clinician and a patient."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Error as PlaywrightError

pytestmark = pytest.mark.browser

REMOTE_VIDEO = "#call-tiles .tile:not([data-self]) video"


def console(page: Any) -> str:
    """The page's console, for failure messages."""
    return "\n".join(page.carertc_console[-60:])


async def api(server: Any, token: str, method: str, path: str, body: Any = None) -> Any:
    """One JSON request to the HTTP API with a Bearer token."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.request(method, server.url + "/api/v1" + path, json=body) as res,
    ):
        assert res.status < 300, (path, res.status, await res.text())
        return await res.json()


async def wait(page: Any, selector: str, timeout: float = 20_000, state: str = "visible") -> None:
    """Wait for ``selector``; fail with the page's console."""
    try:
        await page.locator(selector).first.wait_for(state=state, timeout=timeout)
    except PlaywrightError as exc:
        raise AssertionError(f"{selector} on {page.url}: {exc}\n{console(page)}") from None


async def wait_fn(page: Any, script: str, arg: Any = None, timeout: float = 20_000) -> None:
    """Wait until ``script`` is truthy in the page; fail with the page's console."""
    try:
        await page.wait_for_function(script, arg=arg, timeout=timeout)
    except PlaywrightError as exc:
        raise AssertionError(f"{script} on {page.url}: {exc}\n{console(page)}") from None


REMOTE_PLAYING = """(sel) => Array.from(document.querySelectorAll(sel))
    .some((v) => v.videoWidth > 0 && v.readyState >= 2 && !v.paused)"""


async def send_chat(page: Any, text: str) -> None:
    """Type a chat message and press Enter."""
    await page.click("#consult-chat .chat-input")
    await page.keyboard.type(text, delay=10)
    await page.keyboard.press("Enter")


def chat_text(text: str) -> str:
    """The chat message whose text is ``text``."""
    return f'#consult-chat .msg:has(.msg-text:text-is("{text}"))'


async def test_consults_page_and_scripts_are_served(server: Any) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + "/consults") as res:
            assert res.status == 200
            assert "text/html" in res.headers["Content-Type"]
            assert "script-src 'self'" in res.headers["Content-Security-Policy"]
        for path in (
            "js/consult-page.js",
            "js/consult-view.js",
            "js/consult-call.js",
            "js/consult-api.js",
            "consult.css",
        ):
            async with http.get(f"{server.url}/static/{path}") as res:
                assert res.status == 200, path


async def test_clinician_and_patient_chat_then_switch_to_video_and_voice(
    server: Any, open_page: Any, artifacts: Path
) -> None:
    doctor = await server.user("dr.li", "doctor", display_name="Dr Li")
    patient = await server.user("pat", "elder", display_name="Pat Lee")
    doctor_token, patient_token = server.token(doctor), server.token(patient)

    # the clinician opens a consult with the patient now (created, then started in text)
    doc = await open_page(f"{server.url}/consults?token={doctor_token}")
    await wait(doc, "#new-consult")
    assert await doc.text_content("#new-who-label") == "Patient"
    await doc.fill("#new-who", "pat")
    await doc.click("#btn-create")
    await wait(doc, '#consult[data-status="active"][data-my-role="clinician"]')
    cid = await doc.get_attribute("#consult", "data-consult-id")
    assert cid and "token=" not in doc.url
    assert await doc.get_attribute("#btn-mode-text", "aria-pressed") == "true"
    await wait(doc, f'.consult-item[data-consult-id="{cid}"][data-status="active"]')

    # the patient sees it in their list and opens it: no clinician controls
    pat = await open_page(f"{server.url}/consults?token={patient_token}")
    await wait(pat, f'.consult-item[data-consult-id="{cid}"]')
    assert (
        await pat.locator("#new-who-label").text_content()
        == "Clinician (doctor, nurse or psychologist)"
    )
    await pat.click(f'.consult-item[data-consult-id="{cid}"]')
    await wait(pat, '#consult[data-status="active"][data-my-role="patient"]')
    assert await pat.locator("#modes").is_hidden()
    assert await pat.locator("#btn-end").is_hidden()
    assert await pat.locator("#consult-tools").is_hidden()
    assert "Dr Li" in await pat.text_content("#consult-title")

    # text: a message each way
    await wait(doc, '#consult-chat .chat[data-state="ready"]')
    await wait(pat, '#consult-chat .chat[data-state="ready"]')
    await send_chat(doc, "Good morning, how is the pain today?")
    await wait(pat, chat_text("Good morning, how is the pain today?"))
    await send_chat(pat, "Better, about 3 out of 10")
    await wait(doc, chat_text("Better, about 3 out of 10"))
    assert await doc.get_attribute("#consult-call", "data-mode") == "text"
    assert await doc.locator("#call-tiles").is_hidden()  # text: no media, no tiles
    assert await doc.evaluate("() => !window.carertcConsultCall.hasLocalMedia()")

    # the clinician switches to video: both send camera and microphone, both see the other
    await doc.click("#btn-mode-video")
    await wait(pat, '#consult[data-mode="video"]')
    await wait_fn(doc, REMOTE_PLAYING, REMOTE_VIDEO, timeout=30_000)
    await wait_fn(pat, REMOTE_PLAYING, REMOTE_VIDEO, timeout=30_000)
    await wait(doc, "#call-audio audio", state="attached")
    for page in (doc, pat):
        width = await page.eval_on_selector(REMOTE_VIDEO, "v => v.videoWidth")
        assert width > 0, console(page)
    record = await api(server, doctor_token, "GET", f"/consults/{cid}")
    assert record["modes_used"] == ["text", "video"] and record["current_mode"] == "video"

    # a questionnaire for the patient, from the clinician's form
    await doc.select_option("#card-type", "questionnaire")
    await doc.fill("#card-title", "Pain diary")
    await doc.fill("#card-desc", "Once a day for a week")
    await doc.fill("#card-url", "https://forms.example.org/pain")
    await doc.click("#btn-card")
    await wait(pat, '#consult-chat .msg-card[data-card-type="questionnaire"]')
    await doc.wait_for_timeout(500)  # let the tiles settle for the screenshot
    await doc.screenshot(path=str(artifacts / "browser-consult.png"))
    await pat.screenshot(path=str(artifacts / "browser-consult-patient.png"))

    # voice: the cameras stop, the sound goes on
    await doc.click("#btn-mode-voice")
    await wait(pat, '#consult[data-mode="voice"]')
    await wait(doc, "#call-tiles .tile:not([data-self]).no-video")
    await wait(pat, "#call-tiles .tile:not([data-self]).no-video")
    await wait(pat, "#call-audio audio", state="attached")
    await wait_fn(
        pat,
        "() => !window.carertcConsultCall.tracks.camera && !!window.carertcConsultCall.tracks.microphone",
    )

    # end with a summary: both see it, the call is over
    await doc.click("#btn-end")
    await doc.fill("#end-summary", "Pain improving; keep the diary.")
    await doc.click("#btn-end-confirm")
    await wait(doc, '#consult[data-status="ended"]')
    await wait(pat, '#consult[data-status="ended"]')
    assert await pat.text_content("#summary-text") == "Pain improving; keep the diary."
    assert await pat.locator("#call-tiles .tile").count() == 0
    record = await api(server, patient_token, "GET", f"/consults/{cid}")
    assert record["modes_used"] == ["text", "video", "voice"]
    assert record["duration_seconds"] > 0
    errors = [line for line in doc.carertc_console + pat.carertc_console if "[pageerror]" in line]
    assert not errors, errors


async def test_someone_else_cannot_open_the_consult(server: Any, open_page: Any) -> None:
    nurse = await server.user("nina", "nurse", display_name="Nurse Nina")
    await server.user("pat", "elder", display_name="Pat Lee")
    other = await server.user("olga", "nurse", display_name="Nurse Olga")
    consult = await api(server, server.token(nurse), "POST", "/consults", {"patient": "pat"})
    page = await open_page(f"{server.url}/consults?token={server.token(other)}#{consult['id']}")
    await wait(page, '#error[data-code="consult_not_found"]')
    assert await page.locator("#consult").is_hidden()
    assert await page.locator(".consult-item").count() == 0
