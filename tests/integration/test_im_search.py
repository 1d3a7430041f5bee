"""Message search over HTTP, on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from carertc.app import ENGINE, IM
from im.search import PG_SEARCH_TEXT, SearchService, like_pattern, snippet
from tests.conftest import RunningServer, make_settings


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: Any) -> str:
    """The database under test (tests that take ``srv`` run on both)."""
    return str(request.param)


@pytest.fixture
async def srv(backend: str, tmp_path: Path, server_factory: Any, request: Any) -> RunningServer:
    """The full app on the backend under test."""
    env = {"DATABASE_URL": request.getfixturevalue("pg_url")} if backend == "postgresql" else {}
    return await server_factory(make_settings(tmp_path / "data", **env))


class Api:
    """One user's HTTP client for the messaging routes."""

    def __init__(self, srv: RunningServer, http: aiohttp.ClientSession) -> None:
        self.srv = srv
        self.http = http

    async def conversation(self, kind: str, members: list[str], **extra: Any) -> str:
        resp = await self.http.post(
            f"{self.srv.url}/api/v1/conversations", json={"kind": kind, "members": members, **extra}
        )
        assert resp.status in (200, 201), await resp.text()
        return str((await resp.json())["id"])

    async def send(self, cid: str, body: str, type: str = "text", **extra: Any) -> dict[str, Any]:
        resp = await self.http.post(
            f"{self.srv.url}/api/v1/conversations/{cid}/messages",
            json={"client_msg_id": uuid.uuid4().hex, "type": type, "body": body, **extra},
        )
        assert resp.status == 201, await resp.text()
        return dict(await resp.json())

    async def search(self, q: str, status: int = 200, **params: Any) -> dict[str, Any]:
        resp = await self.http.get(f"{self.srv.url}/api/v1/im/search", params={"q": q, **params})
        assert resp.status == status, await resp.text()
        return dict(await resp.json())

    async def found(self, q: str, **params: Any) -> list[str]:
        """Bodies of the results for ``q``, newest first."""
        return [r["message"]["body"] for r in (await self.search(q, **params))["results"]]


def session(srv: RunningServer, user: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {srv.token(user)}"})


async def test_chinese_and_english_words_prefixes_and_cards(srv: RunningServer) -> None:
    nurse = await srv.user("nina", "nurse", display_name="Nurse Nina")
    elder = await srv.user("wang", "elder", display_name="王伯伯")
    async with session(srv, nurse) as h1, session(srv, elder) as h2:
        a, b = Api(srv, h1), Api(srv, h2)
        cid = await a.conversation("direct", [elder.id])
        first = await b.send(cid, "今天血压有点高")
        await a.send(cid, "Blood pressure is fine today 👍")
        await a.send(cid, "请按时服药, medication reminder at 8")
        await a.send(
            cid,
            "",
            type="card",
            payload={
                "card_type": "document",
                "title": "Hypertension handout",
                "description": "低盐饮食指南",
                "url": "https://example.org/h.pdf",
            },
        )

        got = await b.search("血压")
        assert [r["message"]["body"] for r in got["results"]] == ["今天血压有点高"]
        hit = got["results"][0]
        assert hit["conversation_id"] == cid and "血压" in hit["snippet"]
        assert hit["message"]["id"] == first["id"] and hit["message"]["seq"] == 1
        assert hit["message"]["sender_name"] == "王伯伯" and not hit["message"]["recalled"]
        assert got["has_more"] is False

        assert await a.found("blood") == ["Blood pressure is fine today 👍"]
        assert await a.found("PRESS") == ["Blood pressure is fine today 👍"]  # prefix, any case
        assert await a.found("pressure blood") == ["Blood pressure is fine today 👍"]
        assert await a.found("medi remind") == ["请按时服药, medication reminder at 8"]
        assert await a.found("血") == ["今天血压有点高"]  # one character: LIKE path
        assert await a.found("8 服药") == ["请按时服药, medication reminder at 8"]
        assert await a.found("today 高") == []
        cards = (await a.search("handout"))["results"]
        assert [r["message"]["type"] for r in cards] == ["card"]
        assert cards[0]["snippet"] == "Hypertension handout"
        assert [r["message"]["type"] for r in (await a.search("低盐"))["results"]] == ["card"]
        assert await a.found("糖尿病") == []
        # newest first
        assert [r["message"]["seq"] for r in (await a.search("e"))["results"]] == [4, 3, 2]


async def test_only_the_callers_conversations_are_searched(srv: RunningServer) -> None:
    nurse = await srv.user("nina", "nurse")
    elder = await srv.user("wang", "elder")
    stranger = await srv.user("x", "family")
    admin = await srv.user("root", "admin")
    async with session(srv, nurse) as h1, session(srv, stranger) as h3, session(srv, admin) as h4:
        a, s, root = Api(srv, h1), Api(srv, h3), Api(srv, h4)
        private = await a.conversation("direct", [elder.id])
        await a.send(private, "患者血压 150/95")
        group = await a.conversation("group", [elder.id], title="care team")
        await a.send(group, "group 血压 note")
        own = await s.conversation("direct", [nurse.id])
        await s.send(own, "我的血压正常")

        assert await s.found("血压") == ["我的血压正常"]
        assert await s.found("150") == []
        assert await root.found("血压") == []  # admins search their own conversations too
        assert set(await a.found("血压")) == {"患者血压 150/95", "group 血压 note", "我的血压正常"}
        assert await a.found("血压", conversation_id=group) == ["group 血压 note"]
        for cid in (private, "no-such-conversation"):
            err = await s.search("血压", status=404, conversation_id=cid)
            assert err["error"]["code"] == "conversation_not_found"
    async with aiohttp.ClientSession() as anonymous:
        resp = await anonymous.get(f"{srv.url}/api/v1/im/search", params={"q": "血压"})
        assert resp.status == 401


async def test_recalled_and_edited_messages(srv: RunningServer) -> None:
    nurse = await srv.user("nina", "nurse")
    elder = await srv.user("wang", "elder")
    async with session(srv, nurse) as h1:
        a = Api(srv, h1)
        cid = await a.conversation("direct", [elder.id])
        secret = await a.send(cid, "secret 血压值 180")
        typo = await a.send(cid, "take aspirn daily")
        assert await a.found("血压值") == ["secret 血压值 180"]
        resp = await h1.post(f"{srv.url}/api/v1/messages/{secret['id']}/recall")
        assert resp.status == 200, await resp.text()
        for q in ("血压值", "180", "secret", "18"):
            assert await a.found(q) == []
        resp = await h1.patch(
            f"{srv.url}/api/v1/messages/{typo['id']}", json={"body": "take aspirin daily"}
        )
        assert resp.status == 200, await resp.text()
        assert await a.found("aspirin") == ["take aspirin daily"]
        assert await a.found("aspirn") == []


async def test_special_characters_are_plain_text(srv: RunningServer) -> None:
    nurse = await srv.user("nina", "nurse")
    elder = await srv.user("wang", "elder")
    async with session(srv, nurse) as h1:
        a = Api(srv, h1)
        cid = await a.conversation("direct", [elder.id])
        for body in (
            "100% sure",
            "100 items",
            "file x_y.txt",
            "file xzy.txt",
            'she said "hi there"',
            "we are NEAR the clinic",
            "rate 5*3",
            "path C:\\temp\\a",
        ):
            await a.send(cid, body)
        assert await a.found("100%") == ["100% sure"]
        assert await a.found("%") == ["100% sure"]
        assert await a.found("x_y") == ["file x_y.txt"]
        assert await a.found("_") == ["file x_y.txt"]
        assert await a.found('"hi') == ['she said "hi there"']
        assert await a.found('"hi there"') == ['she said "hi there"']
        assert await a.found("NEAR") == ["we are NEAR the clinic"]
        assert await a.found("5*3") == ["rate 5*3"]
        assert await a.found("*") == ["rate 5*3"]
        assert await a.found("\\temp") == ["path C:\\temp\\a"]
        for q in (
            '"',
            '""',
            "NEAR(a b)",
            "a OR b",
            "NOT x",
            "x AND",
            "^x",
            "col:x",
            "'; DROP TABLE im_messages; --",
            "a & b | !c :*",
            "(((",
            "\\",
            "'",
        ):
            assert isinstance((await a.search(q))["results"], list), q
        assert len(await a.found("file")) == 2  # the table is still there


async def test_bad_requests_limit_and_many_concurrent_sends(srv: RunningServer) -> None:
    nurse = await srv.user("nina", "nurse")
    elder = await srv.user("wang", "elder")
    async with session(srv, nurse) as h1:
        a = Api(srv, h1)
        cid = await a.conversation("direct", [elder.id])
        for params in ({"q": ""}, {"q": "   "}, {"q": "x" * 201}):
            resp = await h1.get(f"{srv.url}/api/v1/im/search", params=params)
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "bad_request"
        resp = await h1.get(f"{srv.url}/api/v1/im/search")
        assert resp.status == 400
        for limit in ("0", "101", "abc", "-1"):
            await a.search("x", status=400, limit=limit)
        await a.search("x", status=400, conversation_id="bad id!")
        # concurrent sends are stored by the group-commit writer in batches
        acks = await asyncio.gather(*(a.send(cid, f"并发消息 {i:02d}") for i in range(30)))
        assert len({ack["seq"] for ack in acks}) == 30
        page = await a.search("并发消息", limit=100)
        assert len(page["results"]) == 30 and page["has_more"] is False
        seqs = [r["message"]["seq"] for r in page["results"]]
        assert seqs == sorted(seqs, reverse=True)
        page = await a.search("并发消息", limit=5)
        assert len(page["results"]) == 5 and page["has_more"] is True
        assert [r["message"]["seq"] for r in page["results"]] == seqs[:5]


@pytest.mark.postgres
async def test_postgresql_uses_the_trigram_index_and_has_a_word_fallback(
    tmp_path: Path, server_factory: Any, pg_url: str
) -> None:
    srv = await server_factory(make_settings(tmp_path / "data", DATABASE_URL=pg_url))
    engine = srv.app[ENGINE]
    async with engine.begin() as conn:
        installed = await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname='pg_trgm'"))
        assert installed.first() is not None
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = await conn.execute(
            text(f"EXPLAIN SELECT id FROM im_messages WHERE {PG_SEARCH_TEXT} ILIKE :p"),
            {"p": like_pattern("血压")},
        )
        assert "ix_im_messages_search_trgm" in "\n".join(r[0] for r in plan)
    nurse = await srv.user("nina", "nurse")
    elder = await srv.user("wang", "elder")
    async with session(srv, nurse) as h1:
        a = Api(srv, h1)
        cid = await a.conversation("direct", [elder.id])
        await a.send(cid, "Blood pressure is fine")
        await a.send(cid, "今天血压有点高")
    words = SearchService(srv.app[IM])
    words._trigram = False  # as if pg_trgm were not installed
    got = await words.search(nurse.id, "pressu BLOOD")
    assert [r["message"]["body"] for r in got["results"]] == ["Blood pressure is fine"]
    got = await words.search(nurse.id, "今天血压")  # whole-word prefix of the CJK run
    assert [r["message"]["body"] for r in got["results"]] == ["今天血压有点高"]
    got = await words.search(nurse.id, "100%")  # not a word: ILIKE
    assert got["results"] == []


def test_snippet_cuts_around_the_first_match() -> None:
    long = "a" * 100 + " 血压 " + "b" * 100
    cut = snippet([long], ["血压"], width=20)
    assert cut.startswith("…") and cut.endswith("…") and "血压" in cut
    assert len(cut) <= 22
    assert snippet(["short text"], ["text"]) == "short text"
    assert snippet(["", "Card title"], ["zzz"]) == "Card title"
