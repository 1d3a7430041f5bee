"""The web chat in real Chromium against the full server: /chat and the panel beside the call."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Error as PlaywrightError

pytestmark = pytest.mark.browser

OWN_TEXT = '.msg[data-own="true"]'


def console(page: Any) -> str:
    """The page's console, for failure messages."""
    return "\n".join(page.carertc_console[-60:])


def png_bytes(width: int = 160, height: int = 120) -> bytes:
    """A small PNG with some structure (so the thumbnail is not blank)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), (20, 184, 166))
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 20, width - 20, height - 20), fill=(15, 23, 42))
    draw.ellipse(
        (width // 2 - 25, height // 2 - 25, width // 2 + 25, height // 2 + 25), fill=(245, 158, 11)
    )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def wav_bytes(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A short mono WAV (a quiet tone)."""
    import math
    import struct
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = (
            struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(b"".join(frames))
    return buf.getvalue()


async def api(server: Any, token: str, method: str, path: str, body: Any = None) -> Any:
    """One JSON request to the HTTP API with a Bearer token."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.request(method, server.url + path, json=body) as res,
    ):
        assert res.status < 300, (path, res.status, await res.text())
        return await res.json()


def message_with_text(text: str) -> str:
    """A selector for the message (li) whose text is ``text``."""
    return f'.chat-log .msg:has(.msg-text:text-is("{text}"))'


async def wait_chat_ready(page: Any, cid: str) -> None:
    """Wait until the conversation ``cid`` is open and loaded."""
    try:
        await page.wait_for_selector(
            f'.chat[data-conversation-id="{cid}"]:is([data-state="ready"], [data-state="empty"])',
            timeout=20_000,
        )
    except PlaywrightError as exc:
        raise AssertionError(
            f"chat {cid} not ready on {page.url}: {exc}\n{console(page)}"
        ) from None


async def type_and_send(page: Any, text: str) -> None:
    """Type into the composer key by key (typing events go out) and press Enter."""
    await page.click(".chat-input")
    await page.keyboard.type(text, delay=20)
    await page.keyboard.press("Enter")


async def test_chat_page_is_served_with_the_page_headers(server: Any) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + "/chat") as res:
            assert res.status == 200
            assert "text/html" in res.headers["Content-Type"]
            assert "script-src 'self'" in res.headers["Content-Security-Policy"]
            assert res.headers["Referrer-Policy"] == "no-referrer"
        for path in ("chat.js", "chat-store.js", "chat-page.js", "room-chat.js"):
            async with http.get(f"{server.url}/static/js/{path}") as res:
                assert res.status == 200, path
                assert "javascript" in res.headers["Content-Type"]


async def test_chat_page_without_a_token_asks_to_sign_in(server: Any, open_page: Any) -> None:
    page = await open_page(f"{server.url}/chat")
    await page.locator('#error[data-code="token_missing"]').wait_for(state="visible")
    assert "sign in" in (await page.text_content("#error-text")).lower()
    assert await page.get_attribute("#btn-signin-again", "href") == "/"


async def test_two_people_chat_read_ticks_image_typing_and_recall(
    server: Any, open_page: Any, artifacts: Path
) -> None:
    nurse = await server.user("nina", "nurse", display_name="Nurse Nina")
    patient = await server.user("pat", "elder", display_name="Pat Lee")
    nurse_token, patient_token = server.token(nurse), server.token(patient)
    conv = await api(
        server,
        nurse_token,
        "POST",
        "/api/v1/conversations",
        {"kind": "direct", "members": [patient.id]},
    )
    cid = conv["id"]
    # an earlier group conversation with an unread message for Pat: a badge in Pat's list
    group = await api(
        server,
        nurse_token,
        "POST",
        "/api/v1/conversations",
        {"kind": "group", "members": [patient.id], "title": "Care team"},
    )
    await api(
        server,
        nurse_token,
        "POST",
        f"/api/v1/conversations/{group['id']}/messages",
        {"client_msg_id": "g-1", "type": "text", "body": "Welcome to the care team"},
    )

    a = await open_page(f"{server.url}/chat?token={nurse_token}#{cid}")
    b = await open_page(f"{server.url}/chat?token={patient_token}#{cid}")
    await wait_chat_ready(a, cid)
    await wait_chat_ready(b, cid)
    assert "token=" not in a.url
    assert await b.text_content(".chat-title") == "Nurse Nina"
    badge = b.locator(f'.conv[data-conversation-id="{group["id"]}"] .conv-unread')
    await badge.wait_for(state="visible")
    assert await badge.text_content() == "1"
    assert await b.is_hidden(f'.conv[data-conversation-id="{cid}"] .conv-unread')

    # A types: B sees "Nurse Nina is typing…"; A sends: B gets the text and the line goes away
    await a.click(".chat-input")
    await a.keyboard.type("Good morning Pat", delay=20)
    await b.wait_for_function(
        "() => document.querySelector('.chat-typing').textContent === 'Nurse Nina is typing…'"
    )
    await a.keyboard.press("Enter")
    await b.wait_for_selector(message_with_text("Good morning Pat"))
    await b.wait_for_function("() => document.querySelector('.chat-typing').textContent === ''")

    # B has it on screen with the window focused: A's message shows the read tick
    mine = a.locator(f"{OWN_TEXT}:has(.msg-text:text-is('Good morning Pat'))")
    tick = mine.locator('.msg-tick[data-state="read"]')
    try:
        await tick.wait_for(timeout=10_000)
    except PlaywrightError as exc:
        raise AssertionError(f"no read tick: {exc}\n{console(a)}\n{console(b)}") from None
    assert await tick.text_content() == "✓✓"
    assert "Pat Lee" in (await tick.get_attribute("aria-label"))

    # B answers with an emoji from the picker
    await b.click(".chat-emoji")
    await b.click('.chat-emoji-choice[data-emoji="👍"]')
    await b.keyboard.type(" Morning", delay=10)
    await b.click(".chat-send")
    await a.wait_for_selector(message_with_text("👍 Morning"))
    assert await a.locator(".chat-log .msg").count() == 2

    # A sends a PNG: progress while uploading, then the image inline on B (thumbnail loaded)
    await a.set_input_files(
        ".chat-file", files=[{"name": "wound.png", "mimeType": "image/png", "buffer": png_bytes()}]
    )
    image = '.chat-log .msg[data-type="image"]:not(.msg-pending) .msg-image img'
    try:
        await b.wait_for_function(
            "(sel) => { const i = document.querySelector(sel); return !!i && i.complete && i.naturalWidth > 0; }",
            arg=image,
            timeout=20_000,
        )
    except PlaywrightError as exc:
        raise AssertionError(f"image not shown on B: {exc}\n{console(a)}\n{console(b)}") from None
    assert "/thumbnail?token=" in await b.get_attribute(image, "src")
    await a.wait_for_selector('.msg[data-type="image"][data-own="true"]:not(.msg-pending)')
    assert await a.locator(".msg-pending").count() == 0
    # clicking the thumbnail opens the full image
    await b.click(".msg-image")
    await b.wait_for_function(
        "() => { const d = document.querySelector('.chat-viewer'); const i = d && d.querySelector('img');"
        " return d.open && i.complete && i.naturalWidth === 160; }"
    )
    await b.keyboard.press("Escape")

    # A recalls the text: B shows the tombstone
    await mine.locator(".msg-recall").click()
    recalled = b.locator('.chat-log .msg[data-state="recalled"]')
    await recalled.wait_for()
    assert (await recalled.text_content()).strip().startswith("Message recalled")
    assert await b.locator(message_with_text("Good morning Pat")).count() == 0
    await a.wait_for_selector('.chat-log .msg[data-own="true"][data-state="recalled"]')

    # B opens the group conversation: the badge goes, its message is there
    await b.click(f'.conv[data-conversation-id="{group["id"]}"]')
    await wait_chat_ready(b, group["id"])
    await b.wait_for_selector(message_with_text("Welcome to the care team"))
    await badge.wait_for(state="hidden")
    await b.click(f'.conv[data-conversation-id="{cid}"]')
    await wait_chat_ready(b, cid)
    await b.wait_for_function(
        "() => [...document.querySelectorAll('.msg-image img')].every((i) => i.complete && i.naturalWidth > 0)"
    )

    await b.screenshot(path=str(artifacts / "browser-chat.png"))
    await a.screenshot(path=str(artifacts / "browser-chat-sender.png"))
    for page in (a, b):
        errors = [line for line in page.carertc_console if line.startswith("[pageerror]")]
        assert not errors, errors


async def test_cards_and_system_messages_render_safely(server: Any, open_page: Any) -> None:
    nurse = await server.user("nina", "nurse", display_name="Nurse Nina")
    patient = await server.user("pat", "elder", display_name="Pat Lee")
    token = server.token(nurse)
    conv = await api(
        server, token, "POST", "/api/v1/conversations", {"kind": "direct", "members": [patient.id]}
    )
    cid = conv["id"]
    base = f"/api/v1/conversations/{cid}/messages"
    await api(
        server,
        token,
        "POST",
        base,
        {
            "client_msg_id": "c-1",
            "type": "card",
            "payload": {
                "card_type": "questionnaire",
                "title": "Sleep questionnaire",
                "description": "Five questions, two minutes",
                "url": "/forms/sleep",
            },
        },
    )
    await api(
        server,
        token,
        "POST",
        base,
        {
            "client_msg_id": "c-2",
            "type": "text",
            "body": '<img src=x onerror="window.pwned=1"> **not markup**',
        },
    )
    page = await open_page(f"{server.url}/chat?token={server.token(patient)}#{cid}")
    await wait_chat_ready(page, cid)
    card = page.locator('.msg[data-type="card"] .msg-card[data-card-type="questionnaire"]')
    await card.wait_for()
    assert await card.locator(".msg-card-title").text_content() == "Sleep questionnaire"
    assert await card.locator(".msg-card-desc").text_content() == "Five questions, two minutes"
    link = card.locator("a.msg-card-link")
    assert await link.get_attribute("href") == "/forms/sleep"
    assert await link.get_attribute("rel") == "noopener noreferrer"
    text = page.locator('.msg[data-type="text"] .msg-text')
    assert (await text.text_content()).startswith("<img src=x")
    assert await page.locator(".chat-log img").count() == 0
    assert await page.evaluate("() => window.pwned") is None


async def test_files_and_audio_are_sent_and_shown_from_history(server: Any, open_page: Any) -> None:
    nurse = await server.user("nina", "nurse", display_name="Nurse Nina")
    patient = await server.user("pat", "elder", display_name="Pat Lee")
    token = server.token(nurse)
    conv = await api(
        server, token, "POST", "/api/v1/conversations", {"kind": "direct", "members": [patient.id]}
    )
    cid = conv["id"]
    a = await open_page(f"{server.url}/chat?token={token}#{cid}")
    b = await open_page(f"{server.url}/chat?token={server.token(patient)}#{cid}")
    await wait_chat_ready(a, cid)
    await wait_chat_ready(b, cid)
    notes = b"Blood pressure: 120/80\n" * 100
    await a.set_input_files(
        ".chat-file",
        files=[
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": notes},
            {"name": "breathing.wav", "mimeType": "audio/wav", "buffer": wav_bytes()},
        ],
    )
    file_link = b.locator('.msg[data-type="file"] a.msg-file')
    await file_link.wait_for()
    assert await file_link.locator(".msg-file-name").text_content() == "notes.txt"
    assert await file_link.locator(".msg-file-size").text_content() == "2.2 KB"
    assert await file_link.get_attribute("download") == "notes.txt"
    audio = '.msg[data-type="audio"] audio[controls]'
    await b.wait_for_selector(audio, state="attached")
    try:
        # metadata comes through the Range-served download with the token in the URL
        await b.wait_for_function(
            "(sel) => { const el = document.querySelector(sel); return el.readyState >= 1 && el.duration > 0.4; }",
            arg=audio,
        )
    except PlaywrightError as exc:
        raise AssertionError(f"audio not loaded: {exc}\n{console(b)}") from None
    href = await file_link.get_attribute("href")
    async with aiohttp.ClientSession() as http, http.get(server.url + href) as res:
        assert res.status == 200
        assert await res.read() == notes
    # the same from history after a reload
    await a.reload()
    await wait_chat_ready(a, cid)
    await a.wait_for_selector(
        '.msg[data-own="true"][data-type="file"] .msg-file-name:text-is("notes.txt")'
    )
    await a.wait_for_selector(
        '.msg[data-own="true"][data-type="audio"] audio[controls]', state="attached"
    )


async def test_scrolling_up_loads_older_pages(server: Any, open_page: Any) -> None:
    nurse = await server.user("nina", "nurse", display_name="Nurse Nina")
    patient = await server.user("pat", "elder", display_name="Pat Lee")
    token = server.token(nurse)
    conv = await api(
        server, token, "POST", "/api/v1/conversations", {"kind": "direct", "members": [patient.id]}
    )
    cid = conv["id"]
    for i in range(1, 71):
        await api(
            server,
            token,
            "POST",
            f"/api/v1/conversations/{cid}/messages",
            {"client_msg_id": f"h-{i}", "type": "text", "body": f"Line {i}"},
        )
    page = await open_page(f"{server.url}/chat?token={server.token(patient)}#{cid}")
    await wait_chat_ready(page, cid)
    await page.wait_for_selector(message_with_text("Line 70"))
    assert await page.locator(".chat-log .msg").count() == 50  # the newest page
    assert await page.is_visible(".chat-older")
    # the newest message is in view, the oldest page is not loaded yet
    assert await page.locator(message_with_text("Line 70")).is_visible()
    await page.eval_on_selector(".chat-scroll", "el => { el.scrollTop = 0; }")
    await page.wait_for_selector(message_with_text("Line 1"), state="attached")
    assert await page.locator(".chat-log .msg").count() == 70
    assert await page.is_hidden(".chat-older")
    # the view stayed where it was: the message that was on top is still near the top
    top = await page.eval_on_selector(
        ".chat-scroll",
        """(el) => { const m = [...el.querySelectorAll('.msg')].find((x) => x.textContent.startsWith('Line 21'));
                     return m.getBoundingClientRect().top - el.getBoundingClientRect().top; }""",
    )
    assert 0 <= top < 200, top
    seqs = await page.eval_on_selector_all(".chat-log .msg", "els => els.map(e => +e.dataset.seq)")
    assert seqs == list(range(1, 71))


async def test_room_chat_beside_the_call_with_badge_and_system_line(
    server: Any, open_page: Any, artifacts: Path
) -> None:
    room = "ward-9"
    doctor = await server.user("dr-li", "doctor", display_name="Dr Li")
    elder = await server.user("mr-wu", "elder", display_name="Mr Wu")
    a = await open_page(f"{server.url}/room/{room}?token={server.token(doctor)}")
    await a.wait_for_selector('#status[data-state="joined"]', timeout=20_000)
    await a.wait_for_selector("#btn-chat:not([disabled])")
    b = await open_page(f"{server.url}/room/{room}?token={server.token(elder, room=room)}")
    await b.wait_for_selector('#status[data-state="joined"]', timeout=20_000)
    await b.wait_for_selector("#btn-chat:not([disabled])")
    assert await a.is_hidden("#chat-panel")

    # A opens the chat: the elder's "joined" line is there; A writes
    await a.click("#btn-chat")
    assert await a.get_attribute("#btn-chat", "aria-pressed") == "true"
    await a.wait_for_selector('#chat-panel .msg-system:has-text("Mr Wu joined")')
    await type_and_send(a, "Can you see me?")
    # B's panel is closed: the toggle shows 1 unread
    await b.wait_for_selector('#chat-badge:not([hidden]):text-is("1")')
    await b.click("#btn-chat")
    await b.wait_for_selector(f"#chat-panel {message_with_text('Can you see me?')}")
    await b.wait_for_selector("#chat-badge", state="hidden")
    await a.wait_for_selector(
        f'{OWN_TEXT}:has(.msg-text:text-is("Can you see me?")) .msg-tick[data-state="read"]'
    )
    await type_and_send(b, "Yes, clearly")
    await a.wait_for_selector(message_with_text("Yes, clearly"))
    # the call goes on beside the chat
    await a.wait_for_selector('.tile[data-source="camera"]:not([data-self])')
    await a.screenshot(path=str(artifacts / "browser-chat-room.png"))
    # closing the panel brings the badge back for new messages
    await a.click(".chat-close")
    await a.wait_for_selector("#chat-panel", state="hidden")
    await type_and_send(b, "One more thing")
    await a.wait_for_selector('#chat-badge:not([hidden]):text-is("1")')


async def test_offline_sends_go_out_once_and_missed_messages_are_caught_up(
    server: Any, open_page: Any
) -> None:
    nurse = await server.user("nina", "nurse", display_name="Nurse Nina")
    patient = await server.user("pat", "elder", display_name="Pat Lee")
    nurse_token, patient_token = server.token(nurse), server.token(patient)
    conv = await api(
        server,
        nurse_token,
        "POST",
        "/api/v1/conversations",
        {"kind": "direct", "members": [patient.id]},
    )
    cid = conv["id"]
    a = await open_page(f"{server.url}/chat?token={nurse_token}#{cid}")
    b = await open_page(f"{server.url}/chat?token={patient_token}#{cid}")
    await wait_chat_ready(a, cid)
    await wait_chat_ready(b, cid)

    # A loses the connection (and does not get it back by itself for now)
    await a.evaluate(
        """() => { const s = window.carertcChat; s.socket.io.reconnection(false); s.socket.io.engine.close(); }"""
    )
    await a.wait_for_selector('#status[data-state="offline"]')
    await type_and_send(a, "Written while offline")
    await a.wait_for_selector(
        '.msg-pending[data-state="pending"]:has(.msg-text:text-is("Written while offline"))'
    )
    # meanwhile B writes (A misses the live event)
    await type_and_send(b, "Are you there?")
    await b.wait_for_selector(
        f'{OWN_TEXT}:has(.msg-text:text-is("Are you there?")) .msg-tick[data-state="sent"]'
    )

    # back online: A catches up and its message goes out
    await a.evaluate(
        "() => { const s = window.carertcChat; s.socket.io.reconnection(true); s.socket.connect(); }"
    )
    await a.wait_for_selector(message_with_text("Are you there?"))
    await a.wait_for_selector(
        f'{OWN_TEXT}:not(.msg-pending):has(.msg-text:text-is("Written while offline"))'
    )
    await b.wait_for_selector(message_with_text("Written while offline"))

    # an ack lost on the way: the message is stored, the client resends, the server dedupes
    await a.evaluate(
        """() => {
            const s = window.carertcChat;
            const request = s.request.bind(s);
            let dropped = false;
            s.request = async (event, data) => {
                const res = await request(event, data);
                if (event === "im:send" && !dropped) {
                    dropped = true;
                    s.socket.io.engine.close();  // the ack never arrives as far as the page knows
                    throw Object.assign(new Error("lost"), { code: "timeout" });
                }
                return res;
            };
        }"""
    )
    await type_and_send(a, "Sent exactly once")
    await a.wait_for_selector(
        f'{OWN_TEXT}:not(.msg-pending):has(.msg-text:text-is("Sent exactly once"))'
    )
    await b.wait_for_selector(message_with_text("Sent exactly once"))
    # a full re-sync from the start duplicates nothing
    await a.evaluate(
        f"""async () => {{ const s = window.carertcChat; s.thread("{cid}").syncedSeq = 0; await s.sync("{cid}"); }}"""
    )
    for page in (a, b):
        texts = await page.locator(".chat-log .msg-text").all_text_contents()
        assert texts == ["Are you there?", "Written while offline", "Sent exactly once"], texts
        seqs = await page.eval_on_selector_all(
            ".chat-log .msg[data-seq]", "els => els.map(e => +e.dataset.seq)"
        )
        assert seqs == sorted(set(seqs)), seqs
    assert await a.locator(".msg-pending").count() == 0
