"""HTTP routes for messaging: conversations, messages, receipts, recall (thin over ImService)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accounts.tokens import Claims
from api.auth import AuthRoutes
from api.errors import read_json_object
from im import Actor, ImError, ImService
from im import validation as v
from rooms import Identity, RoomError, RoomService


class ImRoutes:
    """``/api/v1/conversations``, ``/api/v1/messages`` and ``/api/v1/rooms/{id}/conversation``."""

    def __init__(self, auth: AuthRoutes, im: ImService, rooms: RoomService) -> None:
        self.auth = auth
        self.im = im
        self.rooms = rooms

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        r = app.router
        r.add_get("/api/v1/conversations", self.list_conversations)
        r.add_post("/api/v1/conversations", self.create_conversation)
        r.add_get("/api/v1/conversations/{cid}", self.get_conversation)
        r.add_post("/api/v1/conversations/{cid}/members", self.add_member)
        r.add_delete("/api/v1/conversations/{cid}/members/{uid}", self.remove_member)
        r.add_get("/api/v1/conversations/{cid}/messages", self.messages)
        r.add_post("/api/v1/conversations/{cid}/messages", self.send)
        r.add_post("/api/v1/conversations/{cid}/read", self.read)
        r.add_get("/api/v1/messages/{mid}", self.get_message)
        r.add_patch("/api/v1/messages/{mid}", self.edit)
        r.add_post("/api/v1/messages/{mid}/recall", self.recall)
        r.add_get("/api/v1/rooms/{rid}/conversation", self.room_conversation)

    async def actor(self, request: web.Request) -> tuple[Actor, Claims]:
        """The verified caller."""
        claims, user = await self.auth.authenticate(request)
        return Actor(user.id, user.display_name, user.role), claims

    async def list_conversations(self, request: web.Request) -> web.Response:
        """The caller's conversations with unread counts."""
        actor, _ = await self.actor(request)
        return web.json_response({"conversations": await self.im.conversations(actor.user_id)})

    async def create_conversation(self, request: web.Request) -> web.Response:
        """``{kind, members, title?}`` -> Conversation."""
        actor, _ = await self.actor(request)
        body = await read_json_object(request)
        kind = body.get("kind", "group")
        members = body.get("members", [])
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise v.bad("'members' must be a list of user ids")
        if len(members) > 500:
            raise v.bad("at most 500 members")
        title = body.get("title")
        if title is not None and (not isinstance(title, str) or len(title) > 200):
            raise v.bad("'title' must be a string of at most 200 characters")
        conv = await self.im.create_conversation(actor, str(kind), members, title=title)
        return web.json_response(conv, status=201)

    async def get_conversation(self, request: web.Request) -> web.Response:
        """One conversation."""
        actor, _ = await self.actor(request)
        return web.json_response(await self.im.conversation(actor.user_id, _cid(request)))

    async def add_member(self, request: web.Request) -> web.Response:
        """``{user_id}`` -> Conversation."""
        actor, _ = await self.actor(request)
        body = await read_json_object(request)
        conv = await self.im.add_member(actor, _cid(request), v.ident(body, "user_id"))
        return web.json_response(conv)

    async def remove_member(self, request: web.Request) -> web.Response:
        """Remove a member (or leave)."""
        actor, _ = await self.actor(request)
        uid = v.ident({"user_id": request.match_info["uid"]}, "user_id")
        await self.im.remove_member(actor, _cid(request), uid)
        return web.json_response({"ok": True})

    async def messages(self, request: web.Request) -> web.Response:
        """``?since_seq=`` (catch-up) or ``?before_seq=`` (history); ``limit``."""
        actor, _ = await self.actor(request)
        q: dict[str, Any] = dict(request.query)
        cid = _cid(request)
        before = v.seq(q, "before_seq") if "before_seq" in q else None
        if "since_seq" in q:
            result = await self.im.sync(actor.user_id, cid, v.seq(q, "since_seq"), v.limit(q))
        else:
            result = await self.im.history(actor.user_id, cid, before, v.limit(q))
        return web.json_response(result)

    async def send(self, request: web.Request) -> web.Response:
        """Send a message; 201 when stored, 200 when it was a resend."""
        actor, _ = await self.actor(request)
        body = await read_json_object(request)
        req = v.send_request(
            body, max_text_length=self.im.max_text_length, conversation_id=_cid(request)
        )
        ack = await self.im.send(actor, req)
        return web.json_response(ack, status=200 if ack["duplicate"] else 201)

    async def read(self, request: web.Request) -> web.Response:
        """``{seq}`` -> ``{read_seq}``."""
        actor, _ = await self.actor(request)
        body = await read_json_object(request)
        read_seq = await self.im.mark_read(actor, _cid(request), v.seq(body, "seq"))
        return web.json_response({"read_seq": read_seq})

    async def get_message(self, request: web.Request) -> web.Response:
        """One message."""
        actor, _ = await self.actor(request)
        return web.json_response(await self.im.get_message(actor, _mid(request)))

    async def edit(self, request: web.Request) -> web.Response:
        """``{body}`` -> Message."""
        actor, _ = await self.actor(request)
        body = await read_json_object(request)
        text = v.text_body(body, max_text_length=self.im.max_text_length)
        return web.json_response(await self.im.edit(actor, _mid(request), text))

    async def recall(self, request: web.Request) -> web.Response:
        """Recall or remove -> Message (a tombstone)."""
        actor, _ = await self.actor(request)
        return web.json_response(await self.im.recall(actor, _mid(request)))

    async def room_conversation(self, request: web.Request) -> web.Response:
        """The conversation beside a call, for someone allowed in the room."""
        actor, claims = await self.actor(request)
        rid = request.match_info["rid"]
        identity = Identity(actor.user_id, actor.name, actor.role, claims.room, claims.org)
        if len(rid) > 64:
            raise ImError("room_forbidden", "this account may not enter that room")
        try:
            await self.rooms.access.check(identity, rid)
        except RoomError:
            raise ImError("room_forbidden", "this account may not enter that room") from None
        return web.json_response(await self.im.room_conversation(actor, rid))


def _cid(request: web.Request) -> str:
    return v.ident({"conversation_id": request.match_info["cid"]}, "conversation_id")


def _mid(request: web.Request) -> str:
    return v.ident({"message_id": request.match_info["mid"]}, "message_id")
