"""A server killed while recording: after a restart the recording is ``partial`` and plays."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import av

from accounts.tokens import TokenService
from tests.conftest import TEST_JWT_SECRET
from tests.integration.test_im_reliability import CARERTC, _serve
from tests.support.client import TestClient

AV = ("camera", "microphone")
ROOM = "ward-kill"


def _add_user(env: dict[str, str], name: str, role: str) -> str:
    out = subprocess.run(
        [str(CARERTC), "user", "add", name, "--role", role, "--password", "pw"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    match = re.search(r"[0-9a-f-]{36}", out.stdout + out.stderr)
    assert match, out
    return match.group(0)


def _video_seconds(data: bytes) -> float:
    """Seconds of decodable video in a WebM/Matroska file (PyAV)."""
    times: list[float] = []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.pts is not None and frame.time_base is not None:
                times.append(float(frame.pts * frame.time_base))
    assert times, "no video frame decoded"
    return max(times) - min(times)


async def _get(http: aiohttp.ClientSession, url: str, token: str, **headers: str) -> Any:
    async with http.get(url, headers={"Authorization": f"Bearer {token}", **headers}) as res:
        body = await res.read()
        return res.status, res.headers, body


async def test_a_recording_cut_off_by_sigkill_is_partial_and_plays(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARERTC_")}
    env.update(
        CARERTC_DATA_DIR=str(data),
        CARERTC_AUTH_JWT_SECRET=TEST_JWT_SECRET,
        CARERTC_LOG_LEVEL="WARNING",
        DATABASE_URL=f"sqlite:///{data / 'carertc.db'}",
    )
    env.pop("REDIS_URL", None)
    doctor_id = _add_user(env, "doc", "doctor")
    elder_id = _add_user(env, "eli", "elder")
    tokens = TokenService(TEST_JWT_SECRET, "carertc", "carertc")
    doctor_token = tokens.issue(user_id=doctor_id, name="doc", role="doctor", ttl_seconds=3600)
    elder_token = tokens.issue(
        user_id=elder_id, name="eli", role="elder", room=ROOM, ttl_seconds=3600
    )
    proc, url = _serve(env, tmp_path / "server.log")
    clients: list[TestClient] = []
    try:
        for token, name in ((doctor_token, "doc"), (elder_token, "eli")):
            client = TestClient(url, token, name=name)
            clients.append(client)
            await client.connect()
            await client.join(ROOM)
            await client.publish(*AV)
        host, elder = clients
        await host.wait_for(
            lambda: host.frames_from(elder.participant_id, "camera") >= 5,  # type: ignore[arg-type]
            timeout=15,
            what="media flowing",
        )
        recording_id = (await host.request("recording:start", {}))["recording_id"]
        await asyncio.sleep(3.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)  # noqa: ASYNC101 - the process is already dead
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    proc, url = _serve(env, tmp_path / "server.log")
    try:
        async with aiohttp.ClientSession() as http:
            status, _, body = await _get(
                http, f"{url}/api/v1/recordings/{recording_id}", doctor_token
            )
            assert status == 200, body
            rec = json.loads(body)
            assert rec["status"] == "partial", rec
            videos = [f for f in rec["files"] if f["media_kind"] in ("video", "av")]
            assert any(f["kind"] == "composite" for f in videos), rec["files"]
            assert any(f["kind"] == "track" for f in videos), rec["files"]
            for f in videos:
                media = f"{url}/api/v1/recordings/{recording_id}/files/{f['id']}/media"
                status, headers, head = await _get(http, media, doctor_token, Range="bytes=0-1023")
                assert status == 206, (status, head[:200])
                assert head[:4] == b"\x1a\x45\xdf\xa3"  # EBML: WebM/Matroska, decrypted
                size = int(headers["Content-Range"].rsplit("/", 1)[1])
                status, _, whole = await _get(http, media, doctor_token, Range=f"bytes=0-{size - 1}")
                assert status == 206 and len(whole) == size
                seconds = await asyncio.to_thread(_video_seconds, whole)
                assert seconds >= 2.0, (f["kind"], f["name"], seconds)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)  # noqa: ASYNC101
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)  # noqa: ASYNC101
