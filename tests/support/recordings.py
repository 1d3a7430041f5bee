"""Helpers for recording tests: a real encrypted WebM, organisations with members, requests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np

import vault

SECONDS = 3
FPS = 25
CHUNK = 2048  # small vault chunks, so ranges cross chunk boundaries


def write_encrypted_webm(path: Path, key: bytes, seconds: int = SECONDS) -> bytes:
    """Encode ``seconds`` of VP8 video straight into an EncryptedWriter; the plaintext."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        vault.EncryptedWriter(path, key, chunk_size=CHUNK) as writer,
        av.open(writer, mode="w", format="webm") as container,
    ):
        stream = container.add_stream("libvpx", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        xs = np.arange(160, dtype=np.int64)[None, :]
        ys = np.arange(120, dtype=np.int64)[:, None]
        for i in range(seconds * FPS):
            img = np.empty((120, 160, 3), dtype=np.uint8)
            img[..., 0] = (xs + i * 7) % 256
            img[..., 1] = (ys * 2 + i) % 256
            img[..., 2] = (xs + ys + i * 3) % 256
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with vault.EncryptedReader(path, key) as reader:
        return reader.read()


async def add_recording(
    catalog: Any,
    root: Path,
    key: bytes,
    *,
    org_id: str | None,
    room_id: str = "consult-abc",
    started_by: str | None = None,
    participants: tuple[tuple[str, str], ...] = (),
    context: dict[str, str] | None = None,
    finish: bool = True,
) -> tuple[str, str, bytes]:
    """A finished recording with one encrypted VP8 track: (recording id, file id, plaintext)."""
    rid = await catalog.create_recording(
        room_id=room_id, org_id=org_id, started_by=started_by, context=context or {},
        layout="grid", title="Follow-up",
    )
    rel = f"{rid}/camera.webm"
    started = time.time()
    plain = write_encrypted_webm(root / rel, key)
    fid = await catalog.add_file(
        rid, kind="track", user_id=started_by, name="Dr Li", source="camera",
        media_kind="video", codec="vp8", container="webm", path=rel, started_at=started,
    )
    for user_id, name in participants:
        await catalog.add_participant(rid, user_id=user_id, name=name)
    if finish:
        await catalog.update_file(fid, size=len(plain), duration=float(SECONDS),
                                  ended_at=started + SECONDS, status="complete")
        await catalog.finish_recording(rid, started + SECONDS)
    return rid, fid, plain


class Org:
    """An organisation made over HTTP by a global admin, and its members' tokens."""

    def __init__(self, url: str, admin_token: str) -> None:
        self.url = url
        self.admin_token = admin_token
        self.id = ""
        self.ids: dict[str, str] = {}
        self.tokens: dict[str, str] = {}

    async def create(self, name: str, members: dict[str, str]) -> Org:
        """The organisation with ``members`` (login name -> role), each signed in."""
        async with aiohttp.ClientSession(base_url=self.url) as http:
            auth = {"Authorization": f"Bearer {self.admin_token}"}
            async with http.post("/api/v1/orgs", json={"name": name}, headers=auth) as r:
                assert r.status == 201, await r.text()
                self.id = (await r.json())["id"]
            for login, role in members.items():
                body = {"name": login, "role": role, "password": "pw", "org_id": self.id,
                        "display_name": login.title()}
                async with http.post("/api/v1/accounts", json=body, headers=auth) as r:
                    assert r.status == 201, await r.text()
                    self.ids[login] = (await r.json())["id"]
                creds = {"name": login, "password": "pw"}
                async with http.post("/api/v1/auth/login", json=creds) as r:
                    data = await r.json()
                    assert data["org"] == self.id, data
                    self.tokens[login] = data["token"]
        return self


async def call(
    url: str, token: str | None, method: str, path: str, *, headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str], bytes]:
    """One request -> (status, JSON or None, headers, raw body)."""
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.request(
        method, url + path, headers=sent
    ) as res:
        raw = await res.read()
        data = await res.json() if res.content_type == "application/json" else None
        return res.status, data, dict(res.headers), raw
