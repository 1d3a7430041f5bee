"""The messaging tables: conversations, members, messages, attachments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base
from db.times import utcnow

CONVERSATION_KINDS = ("direct", "group")
MEMBER_ROLES = ("owner", "member")


def new_id() -> str:
    """A fresh UUID4 string."""
    return str(uuid.uuid4())


class Conversation(Base):
    """A direct (two people) or group conversation, maybe beside a call."""

    __tablename__ = "im_conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    room_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    direct_key: Mapped[str | None] = mapped_column(String(80), nullable=True, unique=True)
    created_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Member(Base):
    """A user's membership of a conversation and how far they have read."""

    __tablename__ = "im_members"

    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("im_conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), default="member")
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (Index("ix_im_members_user", "user_id"),)


class Message(Base):
    """One message; ``seq`` orders it within its conversation."""

    __tablename__ = "im_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("im_conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    sender_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    client_msg_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    type: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    recalled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    recalled_by: Mapped[str | None] = mapped_column(String(36), nullable=True)

    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_im_messages_conversation_seq"),
        UniqueConstraint("sender_id", "client_msg_id", name="uq_im_messages_sender_client_msg"),
        Index("ix_im_messages_created_at", "created_at"),
    )


class Attachment(Base):
    """An uploaded file, stored under a server-generated name."""

    __tablename__ = "im_attachments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("im_conversations.id", ondelete="CASCADE"), index=True
    )
    uploader_id: Mapped[str] = mapped_column(String(36))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_name: Mapped[str] = mapped_column(String(80), unique=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    thumbnail_name: Mapped[str | None] = mapped_column(String(80), nullable=True)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
