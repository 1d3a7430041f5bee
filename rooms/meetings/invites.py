"""Invite links and QR codes: guests join a meeting's call by a link, without an account.

The link is ``<public base>/join/<token>``; the token is random (32 bytes,
URL-safe) and only its SHA-256 is stored. A link expires (24 h by default),
can be revoked, and may have a maximum number of uses. Joining by a link makes
a guest account (role ``guest``, no password) and returns a short-lived token
whose room grant is the meeting's room.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import secrets
from datetime import timedelta
from typing import Any

import qrcode
import qrcode.image.svg
from sqlalchemy import or_, select, update

from accounts.flow_errors import FlowError
from accounts.models import User
from accounts.principal import Principal
from accounts.tokens import TokenService
from rooms.meetings import values as v
from rooms.meetings.models import ACTIVE_STATUSES, InviteLink, Meeting
from rooms.meetings.service import MeetingService

log = logging.getLogger("carertc.meetings")

DEFAULT_TTL_SECONDS = 24 * 3600
MAX_TTL_SECONDS = 30 * 24 * 3600
GUEST_TOKEN_TTL_SECONDS = 4 * 3600
MAX_TOKEN_LENGTH = 128


def hash_token(token: str) -> str:
    """The stored form of an invite token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def join_link(base_url: str, token: str) -> str:
    """``<base>/join/<token>``."""
    return f"{base_url.rstrip('/')}/join/{token}"


def _qr(data: str) -> qrcode.QRCode:  # type: ignore[type-arg]
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def qr_png(data: str) -> bytes:
    """A PNG QR code of ``data`` (CPU work: call it in a worker thread)."""
    out = io.BytesIO()
    _qr(data).make_image().save(out)
    return out.getvalue()


def qr_svg(data: str) -> bytes:
    """An SVG QR code of ``data``."""
    out = io.BytesIO()
    _qr(data).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(out)
    return out.getvalue()


class InviteService:
    """Creates, lists and revokes invite links; lets guests join by them."""

    def __init__(
        self,
        meetings: MeetingService,
        tokens: TokenService,
        *,
        default_ttl_seconds: int = DEFAULT_TTL_SECONDS,
        guest_token_ttl_seconds: int = GUEST_TOKEN_TTL_SECONDS,
    ) -> None:
        self.meetings = meetings
        self.sessions = meetings.sessions
        self.tokens = tokens
        self.default_ttl_seconds = default_ttl_seconds
        self.guest_token_ttl_seconds = guest_token_ttl_seconds

    async def create(
        self, principal: Principal, meeting_id: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        """A new link for the meeting: (its wire form, the token, shown this once)."""
        meeting = await self.meetings.managed(principal, meeting_id)
        if meeting.status not in ACTIVE_STATUSES:
            raise FlowError("bad_state", f"the meeting is {meeting.status}")
        ttl = body.get("expires_in_seconds", self.default_ttl_seconds)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 60 <= ttl <= MAX_TTL_SECONDS:
            raise v.bad(f"'expires_in_seconds' must be an integer from 60 to {MAX_TTL_SECONDS}")
        now = self.meetings.now()
        expires = now + timedelta(seconds=ttl)
        if body.get("expires_at") is not None:
            expires = v.parse_time(body["expires_at"], "expires_at")
            if not now < expires <= now + timedelta(seconds=MAX_TTL_SECONDS):
                raise v.bad("'expires_at' must be in the future, at most 30 days away")
        max_uses = body.get("max_uses")
        if max_uses is not None and (
            isinstance(max_uses, bool) or not isinstance(max_uses, int) or not 1 <= max_uses <= 1000
        ):
            raise v.bad("'max_uses' must be an integer from 1 to 1000 (or null: unlimited)")
        token = secrets.token_urlsafe(32)
        link = InviteLink(
            meeting_id=meeting.id,
            token_hash=hash_token(token),
            created_by=principal.user_id,
            created_at=now,
            expires_at=expires,
            max_uses=max_uses,
            uses=0,
        )
        async with self.sessions() as s, s.begin():
            s.add(link)
        log.info(
            "invite_created",
            extra={
                "meeting_id": meeting.id,
                "invite_id": link.id,
                "max_uses": max_uses,
                "ttl": round((expires - now).total_seconds()),
            },
        )
        return v.invite_public(link), token

    async def list(self, principal: Principal, meeting_id: str) -> list[dict[str, Any]]:
        """The meeting's links (without tokens), newest first."""
        await self.meetings.managed(principal, meeting_id)
        async with self.sessions() as s:
            rows = await s.execute(
                select(InviteLink)
                .where(InviteLink.meeting_id == meeting_id)
                .order_by(InviteLink.created_at.desc())
            )
            return [v.invite_public(link) for link in rows.scalars()]

    async def revoke(self, principal: Principal, meeting_id: str, invite: str) -> dict[str, Any]:
        """Revoke a link (by id or token); joining by it answers ``invite_invalid``."""
        await self.meetings.managed(principal, meeting_id)
        async with self.sessions() as s, s.begin():
            link = await self._find(s, meeting_id, invite)
            if link.revoked_at is None:
                link.revoked_at = self.meetings.now()
        log.info("invite_revoked", extra={"meeting_id": meeting_id, "invite_id": link.id})
        return v.invite_public(link)

    async def _find(self, s: Any, meeting_id: str, invite: str) -> InviteLink:
        if not invite or len(invite) > MAX_TOKEN_LENGTH:
            raise FlowError("invite_not_found", "no such invite link")
        link = (
            await s.execute(
                select(InviteLink).where(
                    InviteLink.meeting_id == meeting_id,
                    or_(InviteLink.id == invite, InviteLink.token_hash == hash_token(invite)),
                )
            )
        ).scalar_one_or_none()
        if link is None:
            raise FlowError("invite_not_found", "no such invite link")
        return link

    async def qr(
        self, principal: Principal, meeting_id: str, token: str, base_url: str, kind: str
    ) -> bytes:
        """The QR code (``png`` or ``svg``) of a link, given its token."""
        await self.meetings.managed(principal, meeting_id)
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise FlowError("invite_not_found", "no such invite link")
        async with self.sessions() as s:
            link = (
                await s.execute(
                    select(InviteLink).where(
                        InviteLink.meeting_id == meeting_id,
                        InviteLink.token_hash == hash_token(token),
                    )
                )
            ).scalar_one_or_none()
        if link is None:
            raise FlowError("invite_not_found", "no such invite link (give its token)")
        render = qr_png if kind == "png" else qr_svg
        return await asyncio.to_thread(render, join_link(base_url, token))

    # -- guests ---------------------------------------------------------------------------

    async def lookup(self, token: str) -> tuple[InviteLink, Meeting]:
        """The link and its meeting, if the link may still be used (else ``invite_invalid``)."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise FlowError("invite_not_found", "no such invite link")
        async with self.sessions() as s:
            link = (
                await s.execute(
                    select(InviteLink).where(InviteLink.token_hash == hash_token(token))
                )
            ).scalar_one_or_none()
            meeting = await s.get(Meeting, link.meeting_id) if link is not None else None
        if link is None or meeting is None:
            raise FlowError("invite_not_found", "no such invite link")
        self._check_usable(link, meeting)
        return link, meeting

    def _check_usable(self, link: InviteLink, meeting: Meeting) -> None:
        if link.revoked_at is not None:
            raise FlowError("invite_invalid", "this invite link was revoked")
        if v.utc(link.expires_at) <= self.meetings.now():
            raise FlowError("invite_invalid", "this invite link has expired")
        if link.max_uses is not None and link.uses >= link.max_uses:
            raise FlowError("invite_invalid", "this invite link has been used up")
        if meeting.status not in ACTIVE_STATUSES:
            raise FlowError("invite_invalid", f"the meeting is {meeting.status}")

    async def describe(self, token: str) -> dict[str, Any]:
        """What the join page shows: the meeting's title, times, host and the link's expiry."""
        link, meeting = await self.lookup(token)
        names = await self.meetings.names([meeting.host_id])
        return {
            "meeting": {
                "id": meeting.id,
                "title": meeting.title,
                "category": meeting.category,
                "status": meeting.status,
                "start_at": v.iso(meeting.start_at),
                "end_at": v.iso(meeting.end_at),
                "host_name": names.get(meeting.host_id, ""),
            },
            "expires_at": v.iso(link.expires_at),
        }

    async def join(self, token: str, name: object) -> dict[str, Any]:
        """Use the link once: a guest account and a short-lived token for the meeting's room."""
        guest_name = v.guest_name(name)
        link, meeting = await self.lookup(token)
        guest = User(
            name=f"guest-{secrets.token_hex(8)}",
            display_name=guest_name,
            role="guest",
            organisation=None,
            password_hash=None,
            disabled=False,
        )
        async with self.sessions() as s, s.begin():
            counted = await s.execute(
                update(InviteLink)
                .where(
                    InviteLink.id == link.id,
                    InviteLink.revoked_at.is_(None),
                    or_(InviteLink.max_uses.is_(None), InviteLink.uses < InviteLink.max_uses),
                )
                .values(uses=InviteLink.uses + 1)
            )
            if counted.rowcount != 1:  # type: ignore[attr-defined]
                raise FlowError("invite_invalid", "this invite link has been used up or revoked")
            s.add(guest)
        ttl = self.guest_token_ttl_seconds
        guest_token = self.tokens.issue(
            user_id=guest.id,
            name=guest_name,
            role="guest",
            org=meeting.org_id,
            room=meeting.room_id,
            ttl_seconds=ttl,
        )
        log.info(
            "invite_used",
            extra={"meeting_id": meeting.id, "invite_id": link.id, "user_id": guest.id},
        )
        return {
            "token": guest_token,
            "expires_in": ttl,
            "room_id": meeting.room_id,
            "meeting_id": meeting.id,
            "join_path": f"/room/{meeting.room_id}",
            "user": guest.public(),
        }
