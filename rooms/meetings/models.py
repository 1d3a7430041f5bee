"""Tables of remote-support meetings: meetings, invitees, invite links, attendance."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base
from db.times import utcnow

CATEGORIES = ("quick", "realtime")
STATUSES = ("scheduled", "live", "ended", "cancelled")
ACTIVE_STATUSES = ("scheduled", "live")  # the room may be entered, invite links work
RESPONSES = ("accepted", "declined")
ROOM_PREFIX = "meeting-"


def new_id() -> str:
    """A fresh UUID4 string."""
    return str(uuid.uuid4())


def room_of(meeting_id: str) -> str:
    """The room id of a meeting's call."""
    return f"{ROOM_PREFIX}{meeting_id}"


class Meeting(Base):
    """A remote-support meeting: quick (started now) or scheduled real-time support."""

    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    host_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    room_id: Mapped[str] = mapped_column(String(64), unique=True)
    conversation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    reminder_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_meetings_org_started", "org_id", "started_at"),
        Index("ix_meetings_host", "host_id"),
        Index("ix_meetings_status_start", "status", "start_at"),
    )


class MeetingInvitee(Base):
    """A user invited to a meeting; ``reminded_at`` records the reminder sent."""

    __tablename__ = "meeting_invitees"

    meeting_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    response: Mapped[str | None] = mapped_column(String(16), nullable=True)

    __table_args__ = (Index("ix_meeting_invitees_user", "user_id"),)


class InviteLink(Base):
    """A join link for guests: only the SHA-256 of its random token is stored."""

    __tablename__ = "meeting_invite_links"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    meeting_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("meetings.id", ondelete="CASCADE")
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (Index("ix_meeting_invite_links_meeting", "meeting_id"),)


class Attendance(Base):
    """One stay of one participant in a meeting's call (from room join to leave)."""

    __tablename__ = "meeting_attendance"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    meeting_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("meetings.id", ondelete="CASCADE")
    )
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    guest_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_meeting_attendance_meeting", "meeting_id", "joined_at"),)
