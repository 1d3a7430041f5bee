"""Consults end to end: the HTTP API, the consult room's rule, modes with real aiortc peers, cards."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from accounts.principal import Principal
from api.consults import CONSULTS
from carertc.config import Settings
from tests.support.calls import call_settings, eventually
from tests.support.client import RequestError, TestClient
from tests.support.im_client import ImClient

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ORG = "General Hospital"
AV = ("camera", "microphone")


async def api(
    srv: Any, token: str | None, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """One request to ``/api/v1`` -> (status, JSON body)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.request(method, f"{srv.url}/api/v1{path}", json=body) as res,
    ):
        return res.status, await res.json()


async def ok(srv: Any, token: str, method: str, path: str, body: Any = None) -> Any:
    """A request that must succeed; its JSON body."""
    status, data = await api(srv, token, method, path, body)
    assert status in (200, 201), (method, path, status, data)
    return data


async def refused(
    srv: Any, token: str | None, method: str, path: str, body: Any, status: int, code: str
) -> None:
    """A request that must fail with ``status`` and the stable ``code``."""
    got, data = await api(srv, token, method, path, body)
    assert (got, data.get("error", {}).get("code")) == (status, code), (method, path, data)


@pytest.fixture(params=BACKENDS)
async def srv(
    request: pytest.FixtureRequest,
    settings: Settings,
    server_factory: Callable[..., Awaitable[Any]],
) -> Any:
    """The full app on SQLite and on a fresh PostgreSQL database."""
    custom = call_settings(settings)
    if request.param == "postgres":
        custom = dataclasses.replace(custom, database_url=request.getfixturevalue("pg_url"))
    return await server_factory(custom)


@dataclasses.dataclass
class People:
    """Accounts of one organisation and their tokens."""

    srv: Any
    users: dict[str, Any]

    def token(self, name: str) -> str:
        """A token for ``name``."""
        return str(self.srv.token(self.users[name]))

    def id(self, name: str) -> str:
        """The user id of ``name``."""
        return str(self.users[name].id)


async def people(srv: Any) -> People:
    """A doctor, two nurses, a psychologist, staff, an elder (patient), family and an admin."""
    users = {}
    for name, role, display in [
        ("dr.li", "doctor", "Dr Li"),
        ("nina", "nurse", "Nurse Nina"),
        ("olga", "nurse", "Nurse Olga"),
        ("psy", "psychologist", "Dr Psy"),
        ("sam", "staff", "Sam Staff"),
        ("pat", "elder", "Pat Lee"),
        ("fay", "family", "Fay Lee"),
    ]:
        users[name] = await srv.user(name, role, display_name=display, organisation=ORG)
    return People(srv, users)


async def new_consult(p: People, by: str, **body: Any) -> dict[str, Any]:
    """Create a consult as ``by``."""
    status, data = await api(p.srv, p.token(by), "POST", "/consults", body)
    assert status == 201, data
    return dict(data)


def soon(minutes: int = 60) -> str:
    """An ISO time ``minutes`` from now."""
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def test_text_then_video_in_the_same_consult_with_real_peers(
    settings: Settings, server_factory: Callable[..., Awaitable[Any]]
) -> None:
    srv = await server_factory(call_settings(settings))
    p = await people(srv)
    consult = await new_consult(p, "dr.li", patient="pat")
    assert consult["status"] == "scheduled" and consult["kind"] == "medical"
    assert consult["room_id"] == f"consult-{consult['id']}"
    assert (consult["clinician"]["name"], consult["patient"]["name"]) == ("Dr Li", "Pat Lee")
    assert consult["my_role"] == "clinician"
    cid, room = consult["id"], consult["room_id"]
    started = await ok(srv, p.token("dr.li"), "POST", f"/consults/{cid}/start")
    assert (started["status"], started["current_mode"]) == ("active", "text")

    doctor = TestClient(srv.url, p.token("dr.li"), name="doctor")
    patient = TestClient(srv.url, p.token("pat"), name="patient")
    try:
        for client in (doctor, patient):
            await client.connect()
        assert (await doctor.join(room))["self"]["host"] is True
        assert (await patient.join(room))["self"]["host"] is False
        # text: both are in the consult's room and send nothing
        assert not doctor.events["media:offer"] and not patient.events["media:offer"]

        record = await ok(srv, p.token("dr.li"), "POST", f"/consults/{cid}/mode", {"mode": "video"})
        assert record["current_mode"] == "video"
        for client in (doctor, patient):
            event = await client.wait_event("consult:mode")
            assert (event["consult_id"], event["mode"], event["by"]) == (
                cid,
                "video",
                p.id("dr.li"),
            )
            await client.publish(*AV)  # the client switches its publishing
        for receiver, sender in ((doctor, patient), (patient, doctor)):
            for source in AV:
                await receiver.wait_for(
                    lambda r=receiver, s=sender, src=source: (
                        r.frames_from(s.participant_id, src) >= 5
                    ),
                    what=f"{receiver.name} decoding {sender.name}'s {source}",
                )

        record = await ok(srv, p.token("dr.li"), "GET", f"/consults/{cid}")
        assert record["modes_used"] == ["text", "video"]
        assert [c["mode"] for c in record["mode_changes"]] == ["text", "video"]
        assert all(c["at"].endswith("Z") for c in record["mode_changes"])
        assert set(record["mode_seconds"]) == {"text", "video"}
        # the same mode again changes nothing
        again = await ok(srv, p.token("dr.li"), "POST", f"/consults/{cid}/mode", {"mode": "video"})
        assert again["modes_used"] == ["text", "video"] and len(again["mode_changes"]) == 2

        ended = await ok(
            srv, p.token("dr.li"), "POST", f"/consults/{cid}/end", {"summary": "BP 150/95; recheck"}
        )
        assert ended["status"] == "ended" and ended["summary"] == "BP 150/95; recheck"
        assert ended["duration_seconds"] > 0 and ended["ended_at"] >= ended["started_at"]
        update = await patient.wait_event(
            "consult:update", lambda e: e["consult"]["status"] == "ended"
        )
        assert update["consult"]["my_role"] == "patient"
        # the call ended for both, and nobody may enter the consult's room any more
        await eventually(
            lambda: srv.rooms.get_room(room) is None or not srv.rooms.get_room(room).participants
        )
        late = TestClient(srv.url, p.token("pat"), name="late")
        try:
            await late.connect()
            with pytest.raises(RequestError) as err:
                await late.join(room)
            assert err.value.code == "room_forbidden"
        finally:
            await late.close()
        seen = await ok(srv, p.token("pat"), "GET", f"/consults/{cid}")
        assert seen["summary"] == "BP 150/95; recheck" and seen["modes_used"] == ["text", "video"]
    finally:
        await doctor.close()
        await patient.close()


async def test_only_participants_enter_the_room_and_read_the_consult(srv: Any) -> None:
    p = await people(srv)
    consult = await new_consult(p, "nina", patient="pat")
    cid, room = consult["id"], consult["room_id"]
    await ok(srv, p.token("nina"), "POST", f"/consults/{cid}/start")
    for outsider in ("olga", "sam", "dr.li"):  # another nurse, staff, a doctor
        await refused(
            srv, p.token(outsider), "GET", f"/consults/{cid}", None, 404, "consult_not_found"
        )
        await refused(
            srv,
            p.token(outsider),
            "GET",
            f"/rooms/{room}/conversation",
            None,
            403,
            "room_forbidden",
        )
        await refused(
            srv,
            p.token(outsider),
            "POST",
            f"/consults/{cid}/mode",
            {"mode": "video"},
            404,
            "consult_not_found",
        )
        client = TestClient(srv.url, p.token(outsider), name=outsider)
        try:
            await client.connect()
            with pytest.raises(RequestError) as err:
                await client.join(room)
            assert err.value.code == "room_forbidden"
        finally:
            await client.close()
    # a token granting the room does not open it either
    granted = srv.token(p.users["olga"], room=room)
    await refused(srv, granted, "GET", f"/rooms/{room}/conversation", None, 403, "room_forbidden")
    # the participants do get in, and share the consult's conversation
    conv = await ok(srv, p.token("pat"), "GET", f"/rooms/{room}/conversation")
    assert conv["id"] == consult["conversation_id"]
    assert {m["user_id"]: m["role"] for m in conv["members"]} == {
        p.id("nina"): "owner",
        p.id("pat"): "member",
    }
    # the nurse's own list has it; another nurse's has not; stats.view sees a service record
    mine = await ok(srv, p.token("nina"), "GET", "/consults")
    assert [c["id"] for c in mine["consults"]] == [cid]
    assert (await ok(srv, p.token("olga"), "GET", "/consults"))["consults"] == []
    stats = (await ok(srv, p.token("sam"), "GET", "/consults"))["consults"]
    assert [c["id"] for c in stats] == [cid]
    assert "summary" not in stats[0] and "conversation_id" not in stats[0]
    assert stats[0]["my_role"] is None


async def test_a_questionnaire_card_reaches_the_patient_as_a_card_message(srv: Any) -> None:
    p = await people(srv)
    consult = await new_consult(p, "psy", patient="pat")
    assert consult["kind"] == "psychological"
    cid = consult["id"]
    patient = await ImClient(srv.url, p.token("pat")).connect()
    try:
        card = {
            "card_type": "questionnaire",
            "title": "PHQ-9",
            "description": "Nine questions about the last two weeks",
            "url": "https://forms.example.org/phq9",
        }
        ack = await ok(srv, p.token("psy"), "POST", f"/consults/{cid}/cards", card)
        assert ack["conversation_id"] == consult["conversation_id"]
        msg = await patient.wait_for("im:message", lambda m: m["type"] == "card")
        assert msg["sender_id"] == p.id("psy")
        assert msg["payload"]["card_type"] == "questionnaire"
        assert msg["payload"]["title"] == "PHQ-9"
        assert msg["payload"]["url"] == "https://forms.example.org/phq9"
        # materials: a document and a video link
        for kind in ("document", "video"):
            material = {"card_type": kind, "title": f"About sleep ({kind})", "url": "/files/sleep"}
            await ok(srv, p.token("psy"), "POST", f"/consults/{cid}/cards", material)
        history = await patient.sync_all(consult["conversation_id"])
        cards = [m["payload"]["card_type"] for m in history if m["type"] == "card"]
        assert cards == ["questionnaire", "document", "video"]
        assert any(m["payload"].get("event") == "consult_created" for m in history)
        # the patient cannot push cards; a questionnaire needs a URL; scripts are no URL
        await refused(
            srv, p.token("pat"), "POST", f"/consults/{cid}/cards", card, 403, "permission_denied"
        )
        no_url = {"card_type": "questionnaire", "title": "PHQ-9"}
        await refused(
            srv, p.token("psy"), "POST", f"/consults/{cid}/cards", no_url, 400, "bad_request"
        )
        script = {**card, "url": "javascript:alert(1)"}
        await refused(
            srv, p.token("psy"), "POST", f"/consults/{cid}/cards", script, 400, "bad_request"
        )
        await refused(
            srv, p.token("nina"), "POST", f"/consults/{cid}/cards", card, 404, "consult_not_found"
        )
    finally:
        await patient.disconnect()


async def test_states_bad_input_and_wrong_roles_answer_stable_codes(srv: Any) -> None:
    p = await people(srv)
    doc = p.token("dr.li")
    consult = await new_consult(p, "dr.li", patient=p.id("pat"), kind="nursing")
    assert consult["kind"] == "nursing" and consult["patient"]["id"] == p.id("pat")
    cid = consult["id"]
    path = f"/consults/{cid}"
    # not started yet
    await refused(srv, doc, "POST", f"{path}/mode", {"mode": "voice"}, 409, "bad_state")
    await refused(srv, doc, "POST", f"{path}/end", {"summary": "x"}, 409, "bad_state")
    # the patient may not run it
    await refused(srv, p.token("pat"), "POST", f"{path}/start", {}, 403, "permission_denied")
    await refused(srv, doc, "POST", f"{path}/start", {"mode": "hologram"}, 400, "bad_request")
    started = await ok(srv, doc, "POST", f"{path}/start", {"mode": "voice"})
    assert started["modes_used"] == ["voice"]
    await refused(srv, doc, "POST", f"{path}/start", {}, 409, "bad_state")
    await refused(srv, doc, "POST", f"{path}/cancel", None, 409, "bad_state")
    await refused(srv, doc, "POST", f"{path}/mode", {"mode": "hologram"}, 400, "bad_request")
    await refused(srv, doc, "POST", f"{path}/mode", {}, 400, "bad_request")
    await refused(
        srv, p.token("pat"), "POST", f"{path}/mode", {"mode": "video"}, 403, "permission_denied"
    )
    await refused(srv, doc, "POST", f"{path}/end", {"summary": 42}, 400, "bad_request")
    await refused(srv, p.token("pat"), "POST", f"{path}/end", {}, 403, "permission_denied")
    ended = await ok(srv, doc, "POST", f"{path}/end", {})
    assert ended["status"] == "ended" and ended["summary"] is None
    await refused(srv, doc, "POST", f"{path}/end", {"summary": "again"}, 409, "bad_state")
    await refused(srv, doc, "POST", f"{path}/mode", {"mode": "text"}, 409, "bad_state")
    await refused(srv, doc, "POST", f"{path}/start", {}, 409, "bad_state")

    # a scheduled consult can be cancelled (by the patient too), then nothing else
    later = await new_consult(p, "dr.li", patient="pat", scheduled_at=soon(120))
    cancelled = await ok(srv, p.token("pat"), "POST", f"/consults/{later['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    await refused(srv, doc, "POST", f"/consults/{later['id']}/start", {}, 409, "bad_state")
    await refused(srv, doc, "POST", f"/consults/{later['id']}/cancel", {}, 409, "bad_state")

    # creating: bad input, unknown people, roles without consult.start
    bad_bodies: list[dict[str, Any]] = [
        {},  # no patient
        {"patient": "pat", "kind": "surgical"},
        {"patient": "pat", "scheduled_at": "tomorrow"},
        {"patient": "pat", "scheduled_at": "2030-01-01T09:00:00"},  # no timezone
        {"patient": "pat", "scheduled_at": "2001-01-01T09:00:00Z"},  # long past
        {"patient": "pat", "title": ""},
        {"patient": ["pat"]},
        {"patient": "dr.li"},  # oneself
        {"patient": "pat", "clinician": "nina"},  # a clinician books as themselves
    ]
    for body in bad_bodies:
        await refused(srv, doc, "POST", "/consults", body, 400, "bad_request")
    await refused(srv, doc, "POST", "/consults", {"patient": "nobody"}, 404, "user_not_found")
    for role_without in ("sam", "fay"):
        await refused(
            srv,
            p.token(role_without),
            "POST",
            "/consults",
            {"patient": "pat"},
            403,
            "permission_denied",
        )
    await refused(srv, None, "POST", "/consults", {"patient": "pat"}, 401, "token_missing")
    await refused(srv, doc, "GET", "/consults/not-a-consult", None, 404, "consult_not_found")
    await refused(srv, doc, "GET", "/consults?status=done", None, 400, "bad_request")
    await refused(srv, doc, "GET", "/consults?from=yesterday", None, 400, "bad_request")
    await refused(srv, doc, "GET", "/consults?limit=0", None, 400, "bad_request")
    status, body = await api(srv, doc, "POST", "/consults", None)
    assert (status, body["error"]["code"]) == (400, "bad_request")


async def test_an_elder_books_a_clinician_but_never_someone_who_is_not_one(srv: Any) -> None:
    p = await people(srv)
    elder = p.token("pat")
    consult = await new_consult(p, "pat", clinician="dr.li", scheduled_at=soon(30))
    assert (consult["clinician"]["id"], consult["patient"]["id"]) == (p.id("dr.li"), p.id("pat"))
    assert consult["status"] == "scheduled" and consult["my_role"] == "patient"
    assert consult["kind"] == "medical"
    by_id = await new_consult(p, "pat", clinician_id=p.id("nina"))
    assert by_id["kind"] == "nursing"
    for not_a_clinician in ("fay", "sam"):
        await refused(
            srv, elder, "POST", "/consults", {"clinician": not_a_clinician}, 400, "bad_request"
        )
    await refused(srv, elder, "POST", "/consults", {}, 400, "bad_request")
    await refused(
        srv,
        elder,
        "POST",
        "/consults",
        {"clinician": "dr.li", "patient": "fay"},
        400,
        "bad_request",
    )
    await refused(srv, elder, "POST", "/consults", {"clinician": "ghost"}, 404, "user_not_found")
    # the doctor sees the booking and runs it (the nurse's only as a service record: stats.view)
    listed = (await ok(srv, p.token("dr.li"), "GET", "/consults"))["consults"]
    assert {c["id"]: c["my_role"] for c in listed} == {
        consult["id"]: "clinician",
        by_id["id"]: None,
    }
    await ok(srv, p.token("dr.li"), "POST", f"/consults/{consult['id']}/start")


async def test_listing_filters_by_status_and_time(srv: Any) -> None:
    p = await people(srv)
    now = datetime.now(UTC)
    first = await new_consult(p, "nina", patient="pat", scheduled_at=soon(60))
    second = await new_consult(p, "nina", patient="fay", scheduled_at=soon(60 * 24 * 3))
    third = await new_consult(p, "nina", patient="pat")
    await ok(srv, p.token("nina"), "POST", f"/consults/{third['id']}/start")
    nurse = p.token("nina")

    def ids(body: Any) -> list[str]:
        return [c["id"] for c in body["consults"]]

    everything = await ok(srv, nurse, "GET", "/consults")
    assert ids(everything) == [third["id"], first["id"], second["id"]]
    newest_first = await ok(srv, nurse, "GET", "/consults?order=desc&limit=2")
    assert ids(newest_first) == [second["id"], first["id"]]
    active = await ok(srv, nurse, "GET", "/consults?status=active")
    assert ids(active) == [third["id"]]
    both = await ok(srv, nurse, "GET", "/consults?status=scheduled,active")
    assert len(ids(both)) == 3
    end_of_tomorrow = (now + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    today = await ok(srv, nurse, "GET", f"/consults?to={end_of_tomorrow}")
    assert ids(today) == [third["id"], first["id"]]
    after = (now + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    assert ids(await ok(srv, nurse, "GET", f"/consults?from={after}")) == [second["id"]]
    # the patient sees only theirs
    assert ids(await ok(srv, p.token("pat"), "GET", "/consults")) == [third["id"], first["id"]]


async def test_may_record_is_for_the_clinician_of_an_active_consult(srv: Any) -> None:
    p = await people(srv)
    consult = await new_consult(p, "dr.li", patient="pat")
    cid = consult["id"]
    service = srv.app[CONSULTS]

    def who(name: str) -> Principal:
        user = p.users[name]
        return Principal(user.id, user.display_name, user.role, ORG)

    assert not await service.may_record(who("dr.li"), cid)  # not started
    await ok(srv, p.token("dr.li"), "POST", f"/consults/{cid}/start")
    assert await service.may_record(who("dr.li"), cid)
    assert not await service.may_record(who("pat"), cid)
    assert not await service.may_record(who("nina"), cid)
    assert not await service.may_record(who("dr.li"), "no-such-consult")
    await ok(srv, p.token("dr.li"), "POST", f"/consults/{cid}/end", {"summary": "ok"})
    assert not await service.may_record(who("dr.li"), cid)
