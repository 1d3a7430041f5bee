"""The recording tables: recordings, their files and participants, and the access log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base
from db.times import utcnow

RECORDING_STATUSES = ("recording", "complete", "partial", "failed")
FILE_KINDS = ("track", "composite")
MEDIA_KINDS = ("audio", "video", "av")
CONTAINERS = ("webm", "mkv")
FILE_STATUSES = ("recording", "complete", "partial", "failed")
ACCESS_ACTIONS = ("list", "view", "download", "export", "delete")


def new_id() -> str:
    """A fresh UUID4 string."""
    return str(uuid.uuid4())


class Recording(Base):
    """One recording of a room: its files are per-track recordings and the composite."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    consult_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    meeting_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    layout: Mapped[str] = mapped_column(String(16), default="grid")
    status: Mapped[str] = mapped_column(String(16), default="recording")
    started_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # the server process making it, and when it last said so (recovery after a crash)
    node: Mapped[str | None] = mapped_column(String(100), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index("ix_recordings_org_started", "org_id", "started_at"),
        Index("ix_recordings_room_started", "room_id", "started_at"),
        Index("ix_recordings_started", "started_at"),
        Index("ix_recordings_status", "status"),
        Index("ix_recordings_consult", "consult_id"),
        Index("ix_recordings_meeting", "meeting_id"),
    )


class RecordingFile(Base):
    """One file of a recording (a track of one participant, or the composite)."""

    __tablename__ = "recording_files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    recording_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("recordings.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(32), default="")
    media_kind: Mapped[str] = mapped_column(String(8))
    codec: Mapped[str] = mapped_column(String(32), default="")
    container: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default="recording")

    __table_args__ = (Index("ix_recording_files_recording", "recording_id", "started_at"),)


class RecordingParticipant(Base):
    """Someone who was in the room while it was recorded."""

    __tablename__ = "recording_participants"

    recording_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (
        Index("ix_recording_participants_user", "user_id"),
        Index("ix_recording_participants_name", "name"),
    )


class RecordingAccess(Base):
    """One access to recordings (list, view, download, export, delete); outlives the recording."""

    __tablename__ = "recording_access_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    user_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32), default="")
    org_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    recording_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    file_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    range: Mapped[str | None] = mapped_column(String(100), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)

    __table_args__ = (
        Index("ix_recording_access_log_org_at", "org_id", "at"),
        Index("ix_recording_access_log_recording_at", "recording_id", "at"),
        Index("ix_recording_access_log_user_at", "user_id", "at"),
    )
