"""Recording playback over HTTP: who may see what, Range streaming, downloads, the audit log.

Refusals: a role without ``recording.view`` (a nurse) and a patient answer 403
``permission_denied``; another organisation's admin answers 404
``recording_not_found`` (the recording's existence is not revealed).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
import pytest

from carertc.app import RECORDING_PLAYBACK, RECORDINGS
from carertc.config import Settings
from tests.conftest import RunningServer
from tests.support.recordings import Org, add_recording, call

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
WEBM_MAGIC = bytes.fromhex("1a45dfa3")
UA = "CareRTC-test/1.0 (playback)"


@dataclasses.dataclass
class World:
    """A server, two organisations, and one recording of the first."""

    srv: RunningServer
    org: Org
    other: Org
    root_token: str
    rid: str
    fid: str
    plain: bytes
    path: Path

    def media(self, kind: str = "media", fid: str | None = None) -> str:
        """The path of the file's media or download route."""
        return f"/api/v1/recordings/{self.rid}/files/{fid or self.fid}/{kind}"

    async def get(self, who: str, path: str, **headers: str) -> tuple[int, Any, dict, bytes]:
        """GET as ``who`` (a member login of either organisation, or ``root``)."""
        token = self.root_token if who == "root" else (
            self.org.tokens.get(who) or self.other.tokens[who])
        return await call(self.srv.url, token, "GET", path, headers={"User-Agent": UA, **headers})


@pytest.fixture(params=BACKENDS)
async def world(
    request: pytest.FixtureRequest,
    settings: Settings,
    server_factory: Callable[..., Awaitable[RunningServer]],
) -> World:
    """The full app on SQLite and on a fresh PostgreSQL database."""
    custom = settings
    if request.param == "postgres":
        custom = dataclasses.replace(settings, database_url=request.getfixturevalue("pg_url"))
    srv = await server_factory(custom)
    root = await srv.user("root", "admin", display_name="Global Admin")
    root_token = srv.token(root)
    org = await Org(srv.url, root_token).create("Clinic", {
        "dr.li": "doctor", "nina": "nurse", "pat": "elder", "ada": "admin"})
    other = await Org(srv.url, root_token).create("Elsewhere", {"eve": "admin"})
    playback = srv.app[RECORDING_PLAYBACK]
    rid, fid, plain = await add_recording(
        srv.app[RECORDINGS], playback.root, playback.key, org_id=org.id,
        room_id="consult-42", started_by=org.ids["dr.li"],
        participants=((org.ids["dr.li"], "Dr.Li"), (org.ids["pat"], "Pat")),
        context={"consult_id": "c-42"},
    )
    return World(srv, org, other, root_token, rid, fid, plain, playback.root / rid / "camera.webm")


async def test_doctor_streams_exact_ranges_and_the_download_decodes(world: World) -> None:
    w, size = world, len(world.plain)
    on_disk = w.path.read_bytes()
    assert not on_disk.startswith(WEBM_MAGIC) and on_disk.startswith(b"CRTCENC1")
    assert w.plain.startswith(WEBM_MAGIC) and w.plain[:64] not in on_disk
    assert oct(w.path.parent.parent.stat().st_mode & 0o777) == "0o700"

    status, _, headers, body = await w.get("dr.li", w.media(), Range="bytes=100-4999")
    assert status == 206 and body == w.plain[100:5000]
    assert headers["Content-Range"] == f"bytes 100-4999/{size}"
    assert headers["Content-Type"] == "video/webm" and headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Disposition"].startswith("inline;")
    assert int(headers["Content-Length"]) == 4900
    for asked, want in ((f"bytes={size - 10}-", w.plain[-10:]), ("bytes=-7", w.plain[-7:]),
                        (f"bytes=2047-{size + 999}", w.plain[2047:]), ("bytes=0-0", w.plain[:1])):
        status, _, _, body = await w.get("dr.li", w.media(), Range=asked)
        assert (status, body) == (206, want), asked
    status, data, headers, _ = await w.get("dr.li", w.media(), Range=f"bytes={size}-")
    assert (status, data["error"]["code"]) == (416, "range_not_satisfiable")
    assert headers["Content-Range"] == f"bytes */{size}"
    status, _, headers, body = await w.get("dr.li", w.media())
    assert status == 200 and body == w.plain and "Content-Range" not in headers

    token = w.org.tokens["ada"]  # ?token= for <video src>, no header
    status, _, headers, body = await call(
        w.srv.url, None, "GET", w.media("download") + f"?token={token}")
    assert status == 200 and body == w.plain
    assert headers["Content-Disposition"].startswith('attachment; filename="recording-')
    assert '.webm"' in headers["Content-Disposition"]
    with av.open(io.BytesIO(body)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 75 and (frames[0].width, frames[0].height) == (160, 120)

    status, data, _, _ = await w.get("root", w.media())  # the global admin acts for no org
    assert (status, data["error"]["code"]) == (404, "recording_not_found")
    status, data, _, _ = await w.get("dr.li", w.media(fid="no-such-file"))
    assert (status, data["error"]["code"]) == (404, "recording_file_not_found")


async def test_patient_nurse_and_another_organisations_admin_are_refused(world: World) -> None:
    w = world
    detail = f"/api/v1/recordings/{w.rid}"
    for who, expect in (("pat", (403, "permission_denied")), ("nina", (403, "permission_denied")),
                        ("eve", (404, "recording_not_found"))):
        for path in (detail, w.media(), w.media("download")):
            status, data, _, _ = await w.get(who, path)
            assert (status, data["error"]["code"]) == expect, (who, path)
    status, data, _, _ = await w.get("pat", "/api/v1/recordings")
    assert (status, data["error"]["code"]) == (403, "permission_denied")
    status, data, _, _ = await w.get("eve", "/api/v1/recordings")
    assert status == 200 and data["recordings"] == []  # only her own organisation's
    status, data, _, _ = await call(w.srv.url, None, "GET", w.media())
    assert (status, data["error"]["code"]) == (401, "token_missing")
    status, data, _, _ = await w.get("eve", f"/api/v1/recordings/audit?recording_id={w.rid}")
    assert status == 200 and data["entries"] == []  # another organisation's log is not hers
    status, data, _, _ = await w.get("dr.li", "/api/v1/recordings/audit")
    assert (status, data["error"]["code"]) == (403, "permission_denied")
    status, data, _, _ = await call(w.srv.url, w.other.tokens["eve"], "DELETE", detail)
    assert (status, data["error"]["code"]) == (404, "recording_not_found")
    status, data, _, _ = await call(w.srv.url, w.org.tokens["dr.li"], "DELETE", detail)
    assert (status, data["error"]["code"]) == (403, "permission_denied")


async def test_list_and_details_search_by_date_room_and_participant(world: World) -> None:
    w = world
    status, data, _, _ = await w.get("dr.li", "/api/v1/recordings")
    assert status == 200 and [r["id"] for r in data["recordings"]] == [w.rid]
    assert data["has_more"] is False and "files" not in data["recordings"][0]
    for query, hit in (("room_id=consult-42", True), ("room_id=consult-1", False),
                       ("participant=pat", True), ("participant=nobody", False),
                       (f"participant={w.org.ids['dr.li']}", True), ("consult_id=c-42", True),
                       ("meeting_id=m-1", False), ("from=2000-01-01&to=2999-01-01", True),
                       ("to=2000-01-01", False), ("status=complete", True)):
        status, data, _, _ = await w.get("dr.li", f"/api/v1/recordings?{query}")
        assert status == 200 and bool(data["recordings"]) is hit, query
    for bad in ("limit=0", "limit=x", "from=yesterday", "status=done", "offset=-1"):
        status, data, _, _ = await w.get("dr.li", f"/api/v1/recordings?{bad}")
        assert (status, data["error"]["code"]) == (400, "bad_request"), bad
    status, rec, _, _ = await w.get("ada", f"/api/v1/recordings/{w.rid}")
    assert status == 200 and rec["consult_id"] == "c-42" and rec["status"] == "complete"
    assert {p["name"] for p in rec["participants"]} == {"Dr.Li", "Pat"}
    [f] = rec["files"]
    assert f["media_url"] == w.media() and f["download_url"] == w.media("download")
    assert f["size_bytes"] == len(w.plain) and f["content_type"] == "video/webm"


async def test_every_access_is_audited_with_ip_and_user_agent_and_exported_as_csv(
    world: World,
) -> None:
    w = world
    await w.get("dr.li", "/api/v1/recordings?room_id=consult-42")
    await w.get("dr.li", f"/api/v1/recordings/{w.rid}")
    await w.get("dr.li", w.media(), Range="bytes=0-999")  # a playback starts
    await w.get("dr.li", w.media(), Range="bytes=1000-1999")  # ... and buffers on: same session
    await w.get("dr.li", w.media(), Range=f"bytes={len(w.plain) + 5}-")  # refused, still logged
    await w.get("ada", w.media("download"))
    status, data, _, _ = await w.get("ada", f"/api/v1/recordings/audit?recording_id={w.rid}")
    assert status == 200
    got = [(e["action"], e["user_id"], e["range"]) for e in reversed(data["entries"])]
    doc, ada = w.org.ids["dr.li"], w.org.ids["ada"]
    assert got == [
        ("list", doc, None), ("view", doc, "bytes=0-999"),
        ("view", doc, f"bytes={len(w.plain) + 5}-"), ("download", ada, None),
    ]
    for e in data["entries"]:
        assert e["ip"] == "127.0.0.1" and e["user_agent"] == UA and e["org_id"] == w.org.id
        assert e["at"] and e["file_id"] in (None, w.fid)
    assert {e["user_name"] for e in data["entries"]} == {"Dr.Li", "Ada"}
    assert {e["role"] for e in data["entries"]} == {"doctor", "admin"}
    status, data, _, _ = await w.get("ada", "/api/v1/recordings/audit?action=list")
    assert [(e["recording_id"], e["user_id"]) for e in data["entries"]] == [
        (w.rid, doc), (None, doc)]  # the detail, then the search (newest first)
    status, data, _, _ = await w.get("ada", f"/api/v1/recordings/audit?user_id={ada}")
    assert [e["action"] for e in data["entries"]] == ["download"]
    status, data, _, _ = await w.get("ada", "/api/v1/recordings/audit?to=2000-01-01")
    assert data["entries"] == []
    status, data, _, _ = await w.get("ada", "/api/v1/recordings/audit?limit=2")
    assert len(data["entries"]) == 2 and data["has_more"] is True

    status, _, headers, body = await w.get("ada", "/api/v1/recordings/audit.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [r["action"] for r in reversed(rows)] == [  # the export logs itself first
        "list", "list", "view", "view", "download", "export"]
    assert all(r["ip"] == "127.0.0.1" and r["user_agent"] == UA for r in rows)
    assert rows[0]["user_id"] == w.org.ids["ada"] and rows[0]["recording_id"] == ""
    status, data, _, _ = await w.get("ada", "/api/v1/recordings/audit?action=export")
    assert [(e["action"], e["user_id"]) for e in data["entries"]] == [("export", ada)]

    status, data, _, _ = await call(w.srv.url, w.org.tokens["ada"], "DELETE",
                                    f"/api/v1/recordings/{w.rid}", headers={"User-Agent": UA})
    assert status == 200 and data == {"deleted": True, "files_removed": True}
    assert not w.path.exists()
    status, data, _, _ = await w.get("ada", f"/api/v1/recordings/{w.rid}")
    assert (status, data["error"]["code"]) == (404, "recording_not_found")
    status, data, _, _ = await w.get("ada", f"/api/v1/recordings/audit?recording_id={w.rid}")
    assert [e["action"] for e in data["entries"]][:1] == ["delete"]  # the log outlives it
    assert len(data["entries"]) == 5
