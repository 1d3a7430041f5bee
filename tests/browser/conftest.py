"""Browser fixtures: Debian's Chromium (never a downloaded one) driven by Playwright's async API.

``chromium`` -> playwright Browser, headless, with a fake camera, microphone and screen
(``--use-fake-device-for-media-stream`` + ``--use-fake-ui-for-media-stream`` make getUserMedia
and getDisplayMedia succeed without a prompt; the fake screen is "screen:-3:0", 1280x720).

``open_page`` -> ``async (url=None, **context_options) -> Page``: a page in a fresh context
(so sessionStorage is not shared), its console collected in ``page.carertc_console``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CARERTC_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",  # also auto-picks a screen for getDisplayMedia
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


# The user says "no" to the camera/microphone prompt (getUserMedia: NotAllowedError).
DENYING_ARGS = [
    arg
    for arg in CHROMIUM_ARGS
    if arg
    not in ("--use-fake-ui-for-media-stream", "--disable-features=WebRtcHideLocalIpsWithMdns")
] + ["--deny-permission-prompts"]


async def _launch(args: list[str]) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium not found at {CHROMIUM} (scripts/setup --system installs it)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium with fake media devices, camera/microphone/screen allowed."""
    async for browser in _launch(CHROMIUM_ARGS):
        yield browser


@pytest.fixture
async def chromium_denying_media() -> AsyncIterator[Any]:
    """A headless Chromium whose user denies camera and microphone access."""
    async for browser in _launch(DENYING_ARGS):
        yield browser


@pytest.fixture
async def open_page(chromium: Any) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Open pages, each in its own browser context; contexts are closed after the test.

    ``browser=`` picks another browser (e.g. ``chromium_denying_media``).
    """
    contexts: list[Any] = []

    async def _open(url: str | None = None, browser: Any = None, **context_options: Any) -> Any:
        context_options.setdefault("viewport", {"width": 1280, "height": 800})
        context = await (browser or chromium).new_context(**context_options)
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        page.carertc_console = []
        page.on(
            "console",
            lambda msg: page.carertc_console.append(f"[{msg.type}] {msg.text}"),
        )
        page.on("pageerror", lambda exc: page.carertc_console.append(f"[pageerror] {exc}"))
        if url is not None:
            await page.goto(url)
        return page

    yield _open
    for context in contexts:
        await context.close()


@pytest.fixture
def artifacts() -> Path:
    """``test-artifacts/`` at the repository root (created)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
