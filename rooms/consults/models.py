"""The consult tables: one row per consult and one per participant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from accounts.models import _now, _uuid
from db.base import Base

KINDS = ("nursing", "psychological", "medical")
STATUSES = ("scheduled", "active", "ended", "cancelled")
MODES = ("text", "voice", "video")
PARTICIPANT_ROLES = ("clinician", "patient", "staff")
# Roles that run consults as the clinician, and the kind a consult gets by default.
CLINICIAN_ROLES = ("doctor", "nurse", "psychologist")
DEFAULT_KIND = {"doctor": "medical", "nurse": "nursing", "psychologist": "psychological"}
ROOM_PREFIX = "consult-"


class Consult(Base):
    """A clinician's consult with a patient, in text, voice or video, now or scheduled."""

    __tablename__ = "consults"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    org_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    clinician_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id"))
    patient_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    scheduled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    room_id: Mapped[str] = mapped_column(String(64), unique=True)
    conversation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    # [{"mode": "text", "at": "<ISO 8601>"}, ...] in the order the modes were switched to
    modes_used: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    current_mode: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    __table_args__ = (
        Index("ix_consults_clinician", "clinician_id", "scheduled_at"),
        Index("ix_consults_patient", "patient_id", "scheduled_at"),
        Index("ix_consults_org", "org_id", "scheduled_at"),
    )


class ConsultParticipant(Base):
    """Someone who takes part in a consult: the clinician, the patient, or staff."""

    __tablename__ = "consult_participants"

    consult_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("consults.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))

    __table_args__ = (Index("ix_consult_participants_user", "user_id"),)
